// `entitle import` checks every row as the API would have checked it when it was written — ids,
// plans of the policy in force, override values against their feature's type and bounds, token
// roles — before anything is written: a refusal names the table, the row and the field, and the
// store stays empty.

import { USER_ID_PATTERN } from '../auth/api-tokens.js';
import { InvalidInputError } from '../errors.js';
import type { PolicySnapshot } from '../policy/types.js';
import { valueProblem } from '../policy/validate.js';
import { ROLES, type Role } from '../store/store.js';
import type { Row, StoreDump } from '../store/transfer.js';
import { TENANT_ID_PATTERN } from '../tenants/tenant-operations.js';

const MAX_NAME = 200;
const MAX_REASON = 500;
const SECRET_HASH = /^[0-9a-f]{64}$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;

/** Throws InvalidInputError at the first row the API would have refused. */
export function checkImportRows(tables: StoreDump['tables'], policy: PolicySnapshot): void {
  const tenants = new Set<string>();
  each(tables, 'tenants', (row, refuse) => {
    const id = tenantId(row.id, 'id', refuse);
    const name = row.name;
    if (typeof name !== 'string' || name.trim().length === 0 || name.length > MAX_NAME)
      refuse('name', `must be 1 to ${MAX_NAME} characters`);
    if (typeof row.plan !== 'string' || !policy.plans.has(row.plan))
      refuse(
        'plan',
        `${JSON.stringify(row.plan)} is not a plan of the policy in force (${[...policy.plans.keys()].join(', ')})`,
      );
    timestamp(row.created_at, 'created_at', refuse);
    timestamp(row.updated_at, 'updated_at', refuse);
    tenants.add(id);
  });
  each(tables, 'overrides', (row, refuse) => {
    ofTenant(row, tenants, refuse);
    const feature = typeof row.feature === 'string' ? policy.features.get(row.feature) : undefined;
    if (!feature) return refuse('feature', `${JSON.stringify(row.feature)} is not a feature of the policy in force`);
    let value: unknown;
    try {
      value = JSON.parse(String(row.value));
    } catch {
      refuse('value', 'not JSON');
    }
    const problem = valueProblem(value, feature.type, feature);
    if (problem) refuse('value', problem);
    const reason = typeof row.reason === 'string' ? row.reason.trim() : '';
    if (reason.length === 0 || reason.length > MAX_REASON) refuse('reason', `must be 1 to ${MAX_REASON} characters`);
    if (row.expires_at !== null) timestamp(row.expires_at, 'expires_at', refuse);
  });
  each(tables, 'api_tokens', (row, refuse) => {
    ofTenant(row, tenants, refuse);
    if (typeof row.user_id !== 'string' || !USER_ID_PATTERN.test(row.user_id))
      refuse('user_id', '1 to 128 letters, digits or @._+- characters');
    if (!ROLES.includes(row.role as Role))
      refuse('role', `must be one of ${ROLES.join(', ')} (got ${JSON.stringify(row.role)})`);
    if (typeof row.secret_hash !== 'string' || !SECRET_HASH.test(row.secret_hash))
      refuse('secret_hash', 'must be 64 lower-case hex digits (a SHA-256)');
  });
  for (const table of [
    'connections',
    'billing_links',
    'billing_subscriptions',
    'billing_addons',
    'usage_counters',
    'usage_grants',
  ] as const)
    each(tables, table, (row, refuse) => ofTenant(row, tenants, refuse));
}

type Refuse = (field: string, problem: string) => never;

function each(
  tables: StoreDump['tables'],
  table: keyof StoreDump['tables'],
  check: (row: Row, refuse: Refuse) => void,
): void {
  tables[table].forEach((row, index) => {
    check(row, (field, problem) => {
      throw new InvalidInputError(`${table}[${index}].${field}: ${problem}; nothing was imported`);
    });
  });
}

function tenantId(value: unknown, field: string, refuse: Refuse): string {
  if (typeof value !== 'string' || !TENANT_ID_PATTERN.test(value))
    refuse(
      field,
      `${JSON.stringify(value)}: tenant ids are 1 to 64 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit`,
    );
  return value;
}

function ofTenant(row: Row, tenants: ReadonlySet<string>, refuse: Refuse): void {
  const id = tenantId(row.tenant_id, 'tenant_id', refuse);
  if (!tenants.has(id)) refuse('tenant_id', `${JSON.stringify(id)} is not a tenant of the dump`);
}

function timestamp(value: unknown, field: string, refuse: Refuse): void {
  if (typeof value !== 'string' || !TIMESTAMP.test(value) || Number.isNaN(Date.parse(value)))
    refuse(field, 'must be an ISO 8601 timestamp');
}
