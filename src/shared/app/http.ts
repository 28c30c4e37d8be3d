/** The HTTP answers every route of the app shares. */
import type { HttpResponseInit } from '@azure/functions';

/** JSON error answer: `{ "error": { "code", "message" } }`. */
export function problem(status: number, code: string, message: string): HttpResponseInit {
  return { status, jsonBody: { error: { code, message } } };
}
