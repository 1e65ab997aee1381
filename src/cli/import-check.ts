// `entitle import` checks every row as the API would have checked it when it was written — ids,
// plans of the policy in force, override values against their feature's type and bounds, token
// roles, webhook endpoints, events and deliveries — before anything is written: a refusal names
// the table, the row and the field, and the store stays empty.

import { USER_ID_PATTERN } from '../auth/api-tokens.js';
import { InvalidInputError } from '../errors.js';
import type { PolicySnapshot } from '../policy/types.js';
import { valueProblem } from '../policy/validate.js';
import { ROLES, type Role } from '../store/store.js';
import type { Row, StoreDump } from '../store/transfer.js';
import { TENANT_ID_PATTERN } from '../tenants/tenant-operations.js';
import { WEBHOOK_EVENT_TYPES } from '../webhooks/webhook-events.js';

const MAX_NAME = 200;
const MAX_REASON = 500;
const SECRET_HASH = /^[0-9a-f]{64}$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;

export interface ImportCheckOptions {
  /** Whether a sealed webhook signing secret opens with this deployment's keys (default: not checked). */
  readonly opensSecret?: (endpointId: string, sealed: string) => boolean;
}

/** Throws InvalidInputError at the first row the API would have refused. */
export function checkImportRows(
  tables: StoreDump['tables'],
  policy: PolicySnapshot,
  options: ImportCheckOptions = {},
): void {
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
  checkWebhookRows(tables, options);
}

const KNOWN_EVENT_TYPES = new Set<string>(WEBHOOK_EVENT_TYPES);
const DELIVERY_STATUSES = new Set(['pending', 'delivered', 'failed']);
const MAX_URL = 2048;

/**
 * Webhook endpoints, events, sequences and deliveries as the API and the outbox write them. An
 * event's tenant need not be in the dump (tenant.deleted outlives its tenant); a delivery names
 * an event and an endpoint of the dump; a tenant's sequence is at least its last event's.
 */
function checkWebhookRows(tables: StoreDump['tables'], options: ImportCheckOptions): void {
  const endpoints = new Set<string>();
  each(tables, 'webhook_endpoints', (row, refuse) => {
    const id = text(row.id, 'id', refuse);
    if (!/^ep_[A-Za-z0-9_-]{1,64}$/.test(id)) refuse('id', `${JSON.stringify(id)} is not an endpoint id (ep_…)`);
    const url = text(row.url, 'url', refuse);
    let protocol = '';
    try {
      protocol = new URL(url).protocol;
    } catch {
      refuse('url', 'not a URL');
    }
    if ((protocol !== 'https:' && protocol !== 'http:') || url.length > MAX_URL)
      refuse('url', `must be an https (or, allowed privately, http) URL of at most ${MAX_URL} characters`);
    let events: unknown;
    try {
      events = JSON.parse(text(row.events, 'events', refuse));
    } catch {
      refuse('events', 'not JSON');
    }
    if (!Array.isArray(events) || events.length === 0) refuse('events', 'must be a list of at least one event type');
    const unknown = (events as unknown[]).find((type) => typeof type !== 'string' || !KNOWN_EVENT_TYPES.has(type));
    if (unknown !== undefined) refuse('events', `${JSON.stringify(unknown)} is not an event type`);
    for (const field of ['secret', 'previous_secret'] as const) {
      const sealed = row[field];
      if (field === 'previous_secret' && sealed === null) continue;
      if (options.opensSecret && !options.opensSecret(id, text(sealed, field, refuse)))
        refuse(field, "does not open with this deployment's encryption keys (ENTITLE_ENCRYPTION_KEYS of the export's)");
    }
    if ((row.previous_secret === null) !== (row.previous_secret_until === null))
      refuse('previous_secret_until', 'is set exactly when previous_secret is');
    for (const field of ['previous_secret_until', 'disabled_at'] as const)
      if (row[field] !== null) timestamp(row[field], field, refuse);
    count(row.failure_streak, 'failure_streak', refuse);
    text(row.created_by, 'created_by', refuse);
    timestamp(row.created_at, 'created_at', refuse);
    timestamp(row.updated_at, 'updated_at', refuse);
    endpoints.add(id);
  });
  const events = new Set<string>();
  const lastSequence = new Map<string, number>();
  each(tables, 'webhook_events', (row, refuse) => {
    const id = text(row.id, 'id', refuse);
    if (!id.startsWith('msg_')) refuse('id', `${JSON.stringify(id)} is not an event id (msg_…)`);
    const tenant = tenantId(row.tenant_id, 'tenant_id', refuse);
    const type = text(row.type, 'type', refuse);
    if (!KNOWN_EVENT_TYPES.has(type)) refuse('type', `${JSON.stringify(type)} is not an event type`);
    const sequence = count(row.sequence, 'sequence', refuse);
    let payload: { type?: unknown; data?: { tenantId?: unknown } } | undefined;
    try {
      payload = JSON.parse(text(row.payload, 'payload', refuse)) as typeof payload;
    } catch {
      refuse('payload', 'not JSON');
    }
    if (payload?.type !== type || payload.data?.tenantId !== tenant)
      refuse('payload', "must be the event's body: its type and data.tenantId as the row's");
    timestamp(row.created_at, 'created_at', refuse);
    events.add(id);
    lastSequence.set(tenant, Math.max(lastSequence.get(tenant) ?? 0, sequence));
  });
  each(tables, 'webhook_sequences', (row, refuse) => {
    const tenant = tenantId(row.tenant_id, 'tenant_id', refuse);
    const last = lastSequence.get(tenant) ?? 0;
    if (count(row.sequence, 'sequence', refuse) < last)
      refuse('sequence', `below the tenant's last event (${last}): new events would repeat numbers`);
  });
  each(tables, 'webhook_deliveries', (row, refuse) => {
    if (!text(row.id, 'id', refuse).startsWith('dlv_')) refuse('id', 'is not a delivery id (dlv_…)');
    if (!events.has(String(row.event_id)))
      refuse('event_id', `${JSON.stringify(row.event_id)} is not an event of the dump`);
    if (!endpoints.has(String(row.endpoint_id)))
      refuse('endpoint_id', `${JSON.stringify(row.endpoint_id)} is not an endpoint of the dump`);
    if (!DELIVERY_STATUSES.has(String(row.status)))
      refuse('status', `must be one of ${[...DELIVERY_STATUSES].join(', ')} (got ${JSON.stringify(row.status)})`);
    count(row.attempts, 'attempts', refuse);
    if (row.status === 'pending') timestamp(row.next_attempt_at, 'next_attempt_at', refuse);
    timestamp(row.created_at, 'created_at', refuse);
    timestamp(row.updated_at, 'updated_at', refuse);
  });
}

function text(value: unknown, field: string, refuse: Refuse): string {
  if (typeof value !== 'string' || value.length === 0) refuse(field, 'must be non-empty text');
  return value;
}

function count(value: unknown, field: string, refuse: Refuse): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    refuse(field, 'must be a whole number, 0 or more');
  return value;
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
