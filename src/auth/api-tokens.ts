// API tokens: `ent_<id>_<secret>`. The id names the token in lists and audit rows; only a
// SHA-256 of the whole token is stored, so a database leak does not leak usable tokens.

import { hash, randomBytes } from 'node:crypto';
import { InvalidInputError } from '../errors.js';
import { ROLES, type ApiToken, type EntitleStore, type Role, type WriteContext } from '../store/store.js';
import { checkTenantId } from '../tenants/tenant-operations.js';

const TOKEN_PATTERN = /^ent_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;
export const USER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9@._+-]{0,127}$/;

/** The stored form of a token. */
export function hashToken(token: string): string {
  // One-shot hash: about twice as fast as createHash on every authenticated request.
  return hash('sha256', token, 'hex');
}

/** Whether a string has the shape of one of our API tokens (cheap, before any lookup). */
export function looksLikeApiToken(token: string): boolean {
  return TOKEN_PATTERN.test(token);
}

export interface IssueTokenInput {
  readonly tenantId: string;
  readonly userId: string;
  readonly role?: Role;
  readonly name?: string;
  readonly expiresAt?: string | null;
}

/** Creates a token and returns it with its secret: the only time the secret exists. */
export async function issueApiToken(
  store: Pick<EntitleStore, 'tokens'>,
  input: IssueTokenInput,
  context: WriteContext,
): Promise<{ token: string; record: ApiToken }> {
  checkTenantId(input.tenantId);
  if (!USER_ID_PATTERN.test(input.userId))
    throw new InvalidInputError('user: 1 to 128 letters, digits or @._+- characters');
  const role = input.role ?? 'member';
  if (!ROLES.includes(role))
    throw new InvalidInputError(`role: must be one of ${ROLES.join(', ')} (got ${JSON.stringify(role)})`);
  const id = randomBytes(6).toString('hex');
  const token = `ent_${id}_${randomBytes(32).toString('base64url')}`;
  const record = await store.tokens.create(
    {
      id,
      tenantId: input.tenantId,
      userId: input.userId,
      role,
      name: input.name ?? null,
      secretHash: hashToken(token),
      expiresAt: input.expiresAt ?? null,
    },
    context,
  );
  return { token, record };
}
