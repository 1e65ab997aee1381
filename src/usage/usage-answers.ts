// How usage results look over HTTP, in one place: the body of a granted consume, and a refusal
// as the 403 "Limit reached" error (errors.ts) that the usage routes, the meter gate and
// `request.entitlements.consume` all answer with.

import { LimitReachedError, withDetails, type EntitleError } from '../errors.js';
import type { ConsumeResult, Refusal, ReservationEndResult } from './meters.js';

/** The fields a refusal adds to the 403 body: the meter's state, the plan that gives more, and why. */
export function refusalDetails(refusal: Refusal): Record<string, unknown> {
  return { granted: false, ...refusal.reading, requiredPlan: refusal.requiredPlan, message: refusal.message };
}

/** A refusal as the error the error handler renders (403 Limit reached). */
export function limitReached(refusal: Refusal): EntitleError {
  return withDetails(new LimitReachedError(), refusalDetails(refusal));
}

/** A consume's answer as the usage API gives it (a refusal as its 403 body). */
export function consumeBody(result: ConsumeResult): Record<string, unknown> {
  if (!result.granted) {
    const error = new LimitReachedError();
    return { error: error.message, code: error.code, ...refusalDetails(result) };
  }
  return { granted: true, ...result.reading, from: result.from };
}

/** A commit's or release's answer: what it consumed and gave back, and the meter after it. */
export function endedBody(ended: ReservationEndResult) {
  return { reservationId: ended.reservationId, committed: ended.committed, released: ended.released, ...ended.reading };
}
