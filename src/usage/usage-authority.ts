// Who may change a meter, in one table: the usage routes admit and scope every request by it,
// the operator routes are its admin rows, and docs/metered-usage.md and docs/authentication.md
// print it (test/docs checks both say the same words as this table).

import type { Principal } from '../auth/principal.js';
import { actorOf } from '../auth/principal.js';
import { RoleNotAllowedError } from '../errors.js';
import type { Role } from '../store/store.js';

/** How far a role reaches for one action: its own tenant, reservations it made, any tenant, or not at all. */
export type Reach = 'own' | 'held' | 'any' | 'none';

/** What can be done to a meter. */
export type UsageAction = 'read' | 'consume' | 'reserve' | 'end' | 'refund' | 'operate';

/** The order the table lists roles and actions in. */
const ROLE_ORDER = ['member', 'service', 'client', 'admin'] as const satisfies readonly Role[];

/** The authority model for usage. */
export const USAGE_AUTHORITY: Readonly<Record<UsageAction, Readonly<Record<Role, Reach>>>> = {
  read: { member: 'own', service: 'own', client: 'any', admin: 'any' },
  consume: { member: 'own', service: 'own', client: 'none', admin: 'any' },
  reserve: { member: 'own', service: 'own', client: 'none', admin: 'any' },
  end: { member: 'held', service: 'own', client: 'none', admin: 'any' },
  refund: { member: 'none', service: 'own', client: 'none', admin: 'any' },
  operate: { member: 'none', service: 'none', client: 'none', admin: 'any' },
};

const ACTION_WORDS: Readonly<Record<UsageAction, string>> = {
  read: 'read meters (`GET /api/usage`)',
  consume: 'consume',
  reserve: 'reserve',
  end: 'commit or release a reservation',
  refund: 'refund a consume (named by its `idempotencyKey`)',
  operate: 'grant, reset, list and release reservations (admin API, CLI, console; audited)',
};

const REACH_WORDS: Readonly<Record<Reach, string>> = {
  own: 'its own tenant',
  held: 'its own tenant, reservations it made',
  any: 'any tenant',
  none: 'no',
};

/** The roles that may do `action` at all: a route's `config.auth`. */
export function rolesFor(action: UsageAction): Role[] {
  return ROLE_ORDER.filter((role) => USAGE_AUTHORITY[action][role] !== 'none');
}

/** What a principal may do to one tenant's meters for `action`. */
export interface UsageScope {
  readonly tenantId: string;
  /** Set when the principal may only end reservations it made: their holder must be this. */
  readonly holder?: string;
}

/**
 * The tenant a request works on, checked against the table: its own unless its role reaches
 * any tenant and `tenantId` names another. The tenant comes from the credential and only an
 * operator or a read-only client token may name another.
 */
export function usageScope(principal: Principal, action: UsageAction, tenantId: string | undefined): UsageScope {
  const reach = USAGE_AUTHORITY[action][principal.role];
  if (reach === 'none') throw new RoleNotAllowedError(principal.role, rolesFor(action).join(' or '));
  const other = tenantId !== undefined && tenantId !== principal.tenantId;
  if (other && reach !== 'any') throw new RoleNotAllowedError(principal.role, `an admin token to name another tenant`);
  const tenant = other ? tenantId : principal.tenantId;
  return reach === 'held' ? { tenantId: tenant, holder: actorOf(principal) } : { tenantId: tenant };
}

/** The table's cells, header first: what docs print (test/docs checks every page that prints it). */
export function authorityRows(): string[][] {
  return [
    ['', ...ROLE_ORDER.map((role) => `\`${role}\``)],
    ...(Object.keys(USAGE_AUTHORITY) as UsageAction[]).map((action) => [
      ACTION_WORDS[action],
      ...ROLE_ORDER.map((role) => REACH_WORDS[USAGE_AUTHORITY[action][role]]),
    ]),
  ];
}
