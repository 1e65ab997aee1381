// How a database failure leaves the store, the same on both dialects.

import { isClientFacing, StoreUnavailableError } from '../errors.js';

/** Our own errors pass through; anything the database throws becomes a 503 with no internals. */
export function translateError(error: unknown): Error {
  if (isClientFacing(error)) return error;
  const wrapped = new StoreUnavailableError();
  (wrapped as Error & { cause?: unknown }).cause = error;
  return wrapped;
}
