/** What a test expects to fail: one home for "this call rejects with an error of that class". */
import { expect } from 'vitest';

/**
 * The error `promise` rejects with, checked to be an instance of `type` (the test fails when the
 * promise resolves or rejects with anything else).
 */
export async function caught<E extends Error>(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => E,
): Promise<E> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(type);
  return error as E;
}

/** {@link caught} for one error class: `const caughtDmf = caughtAs(DmfApiError)`. */
export function caughtAs<E extends Error>(
  type: abstract new (...args: never[]) => E,
): (promise: Promise<unknown>) => Promise<E> {
  return (promise) => caught(promise, type);
}
