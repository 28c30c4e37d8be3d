/** The HTTP answers and routes every API of the app shares. */
import { app, type HttpHandler, type HttpMethod, type HttpResponseInit } from '@azure/functions';
import * as df from 'durable-functions';

/** JSON error answer: `{ "error": { "code", "message" } }`. */
export function problem(status: number, code: string, message: string): HttpResponseInit {
  return { status, jsonBody: { error: { code, message } } };
}

/** Registers an HTTP route behind the function key; its handler may read the durable client. */
export function keyedRoute(name: string, method: HttpMethod, route: string, handler: HttpHandler): void {
  app.http(name, {
    methods: [method],
    authLevel: 'function',
    route,
    extraInputs: [df.input.durableClient()],
    handler,
  });
}
