// Stored rows and the records they map to, one mapping per table for both dialects (both store
// timestamps as ISO text and JSON as text, so a row reads the same from either).

import type { CalendarProviderName } from '../calendar-shapes.js';
import type { FeatureValue } from '../../policy/types.js';
import type {
  ApiToken,
  AuditRecord,
  Connection,
  OAuthState,
  Override,
  Role,
  StoredBusyBlock,
  SyncCounts,
  Tenant,
} from '../store.js';

export interface TenantRow {
  id: string;
  name: string;
  plan: string;
  plan_version: number;
  created_at: string;
  updated_at: string;
  [column: string]: unknown;
}

export function tenantFromRow(row: TenantRow): Tenant {
  return {
    id: row.id,
    name: row.name,
    plan: row.plan,
    planVersion: Number(row.plan_version),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export interface OverrideRow {
  tenant_id: string;
  feature: string;
  value: string;
  reason: string;
  actor: string;
  expires_at: string | null;
  created_at: string;
  updated_at: string;
  version: number;
  [column: string]: unknown;
}

export function overrideFromRow(row: OverrideRow): Override {
  return {
    tenantId: row.tenant_id,
    feature: row.feature,
    value: JSON.parse(row.value) as FeatureValue,
    reason: row.reason,
    actor: row.actor,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    version: row.version,
  };
}

export interface AuditRow {
  seq: number;
  at: string;
  actor: string;
  tenant_id: string | null;
  action: string;
  target: string | null;
  outcome: string;
  details: string | null;
  prev_hash: string;
  hash: string;
  [column: string]: unknown;
}

export function auditRecordFromRow(row: AuditRow): AuditRecord {
  return {
    seq: row.seq,
    at: row.at,
    actor: row.actor,
    tenantId: row.tenant_id,
    action: row.action,
    target: row.target,
    outcome: row.outcome as AuditRecord['outcome'],
    ...(row.details === null ? {} : { details: JSON.parse(row.details) as Record<string, unknown> }),
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

export interface TokenRow {
  id: string;
  tenant_id: string;
  user_id: string;
  role: string;
  name: string | null;
  secret_hash: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  [column: string]: unknown;
}

export function tokenFromRow(row: TokenRow): ApiToken {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    userId: row.user_id,
    role: row.role as Role,
    name: row.name,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  };
}

export interface ConnectionRow {
  id: string;
  tenant_id: string;
  user_id: string;
  provider: string;
  purpose: string;
  account_email: string | null;
  status: string;
  invalid_reason: string | null;
  scopes: string;
  access_token: string | null;
  refresh_token: string | null;
  token_expires_at: string | null;
  created_at: string;
  updated_at: string;
  last_sync_at: string | null;
  last_sync: string | null;
  [column: string]: unknown;
}

export function connectionFromRow(row: ConnectionRow): Connection {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    userId: row.user_id,
    provider: row.provider as CalendarProviderName,
    purpose: row.purpose,
    accountEmail: row.account_email,
    status: row.status as Connection['status'],
    invalidReason: row.invalid_reason,
    scopes: JSON.parse(row.scopes) as string[],
    tokenExpiresAt: row.token_expires_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastSyncAt: row.last_sync_at,
    lastSync: row.last_sync === null ? null : (JSON.parse(row.last_sync) as SyncCounts),
  };
}

export interface BusyBlockRow {
  connection_id: string;
  calendar_id: string;
  event_id: string;
  start_at: string;
  end_at: string;
  all_day: number;
  show_as: string;
  [column: string]: unknown;
}

export function busyBlockFromRow(row: BusyBlockRow): StoredBusyBlock {
  return {
    connectionId: row.connection_id,
    calendarId: row.calendar_id,
    eventId: row.event_id,
    start: row.start_at,
    end: row.end_at,
    allDay: row.all_day === 1,
    showAs: row.show_as as StoredBusyBlock['showAs'],
  };
}

export interface StateRow {
  state_hash: string;
  tenant_id: string;
  user_id: string;
  provider: string;
  purpose: string;
  redirect_uri: string;
  code_verifier: string;
  created_at: string;
  expires_at: string;
  [column: string]: unknown;
}

export function oauthStateFromRow(row: StateRow): OAuthState {
  return {
    stateHash: row.state_hash,
    tenantId: row.tenant_id,
    userId: row.user_id,
    provider: row.provider as CalendarProviderName,
    purpose: row.purpose,
    redirectUri: row.redirect_uri,
    codeVerifier: row.code_verifier,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
}

/** `count(*)` as a number: PostgreSQL returns a bigint as text. */
export function countOf(row: { n?: unknown } | undefined): number {
  return Number(row?.n ?? 0);
}
