// JSON Schemas every group of routes shares: the error body and the errors an authenticated or
// rate-limited route may answer, feature values, pages. Documented once, in the OpenAPI document.

import { Type, type TSchema } from 'typebox';

export const FeatureValueSchema = Type.Union([Type.Boolean(), Type.Number(), Type.String({ maxLength: 1024 })]);

export const ErrorBody = Type.Object(
  { error: Type.String(), code: Type.String() },
  {
    additionalProperties: true,
    description: 'Every error: a message for people and a code for programs, plus details.',
  },
);

/**
 * The errors of an authenticated route: no or a bad credential (401), a credential without the
 * role (403), and 429: every authenticated route is rate-limited per principal.
 */
export const AUTH_ERRORS = {
  401: Type.Object(
    { error: Type.String(), code: Type.String() },
    { additionalProperties: true, description: 'No credential, or an invalid, expired or revoked one' },
  ),
  403: Type.Object(
    { error: Type.String(), code: Type.String() },
    { additionalProperties: true, description: "The credential's role may not use this route" },
  ),
  429: Type.Object(
    { error: Type.String(), code: Type.String(), retryAfterSeconds: Type.Optional(Type.Integer()) },
    {
      additionalProperties: true,
      description: 'Too many requests, or too many failed authentications from this address; see Retry-After',
    },
  ),
} as const;

/** The same errors, under the name the admin and OAuth routes have used. */
export const LIMITED_ERRORS = AUTH_ERRORS;

/** A page of a list: `nextCursor` goes into `after` to read the next page; absent on the last. */
export const pageOf = <T extends TSchema>(item: T) =>
  Type.Object({ items: Type.Array(item), nextCursor: Type.Optional(Type.String()) });

/** A response without a body (202, 304): documented without content, and send() takes no payload. */
export const noContent = (description: string) => Type.Unsafe<undefined>({ type: 'null', description });
