// The usage_outcomes table: what an idempotent usage write did, kept with its key for 24 hours.
// A row holds the domain outcome (granted or not, the figures after it, where the units came
// from, the reservation it made), never an HTTP answer: a replay is rebuilt from it, and a
// refund finds in it what the consume took. Refused writes keep their figures only.

import type { SqlExecutor, SqlRow } from '../sql-port.js';
import type {
  ConsumeOutcome,
  IdempotencyClaim,
  MeterFigures,
  MeterKey,
  ReserveOutcome,
  UsageSources,
} from '../usage-repository.js';

export type UsageOperation = 'consume' | 'reserve';

/** Figures as stored: [used, fromGrants, reserved, grantBalance]. */
type StoredFigures = readonly [number, number, number, number];

interface StoredOutcome {
  readonly figures: StoredFigures;
  readonly sources?: UsageSources;
  readonly reservation?: { readonly id: string; readonly amount: number; readonly expiresAt: string };
}

/** A recorded outcome as found: the request hash, and the outcome of its operation. */
export type FoundOutcome =
  | { readonly requestHash: string; readonly operation: 'consume'; readonly outcome: ConsumeOutcome }
  | { readonly requestHash: string; readonly operation: 'reserve'; readonly outcome: ReserveOutcome };

/** A consume as a refund finds it. */
export interface RecordedConsume {
  readonly meter: MeterKey;
  readonly outcome: ConsumeOutcome;
  /** What a refund of it gave back, once; with the figures after the refund. */
  readonly refund: { readonly amount: number; readonly sources: UsageSources; readonly figures: MeterFigures } | null;
}

const packFigures = ({ counter, grantBalance }: MeterFigures): StoredFigures => [
  counter.used,
  counter.fromGrants,
  counter.reserved,
  grantBalance,
];

const unpackFigures = ([used, fromGrants, reserved, grantBalance]: StoredFigures): MeterFigures => ({
  counter: { used, fromGrants, reserved },
  grantBalance,
});

function consumeOf(granted: boolean, stored: StoredOutcome): ConsumeOutcome {
  const figures = unpackFigures(stored.figures);
  return granted
    ? { granted: true, figures, sources: stored.sources ?? { allowance: 0, grants: [] }, crossed: [] }
    : { granted: false, figures };
}

function reserveOf(row: SqlRow, granted: boolean, stored: StoredOutcome): ReserveOutcome {
  const figures = unpackFigures(stored.figures);
  if (!granted || !stored.reservation) return { granted: false, figures };
  return {
    granted: true,
    figures,
    reservation: {
      ...stored.reservation,
      tenantId: String(row.tenant_id),
      feature: String(row.feature),
      periodStart: String(row.period_start),
      holder: null,
      createdAt: String(row.created_at),
    },
  };
}

/** The unexpired outcome recorded with a tenant's key, if any. */
export async function findOutcome(
  db: SqlExecutor,
  tenantId: string,
  key: string,
  now: string,
): Promise<FoundOutcome | undefined> {
  const row = await db.get('SELECT * FROM usage_outcomes WHERE tenant_id = $1 AND key = $2 AND expires_at > $3', [
    tenantId,
    key,
    now,
  ]);
  if (!row) return undefined;
  const stored = JSON.parse(String(row.outcome)) as StoredOutcome;
  const granted = Number(row.granted) === 1;
  const requestHash = String(row.request_hash);
  return row.operation === 'reserve'
    ? { requestHash, operation: 'reserve', outcome: reserveOf(row, granted, stored) }
    : { requestHash, operation: 'consume', outcome: consumeOf(granted, stored) };
}

/** Records an outcome with its key (replacing an expired record of the key). */
export async function recordOutcome(
  tx: SqlExecutor,
  claim: IdempotencyClaim,
  meter: MeterKey,
  now: string,
  recorded:
    | { readonly operation: 'consume'; readonly outcome: ConsumeOutcome }
    | { readonly operation: 'reserve'; readonly outcome: ReserveOutcome },
): Promise<void> {
  const { outcome } = recorded;
  const stored: StoredOutcome = {
    figures: packFigures(outcome.figures),
    ...(recorded.operation === 'consume' && recorded.outcome.granted ? { sources: recorded.outcome.sources } : {}),
    ...(recorded.operation === 'reserve' && recorded.outcome.granted
      ? {
          reservation: {
            id: recorded.outcome.reservation.id,
            amount: recorded.outcome.reservation.amount,
            expiresAt: recorded.outcome.reservation.expiresAt,
          },
        }
      : {}),
  };
  await tx.run(
    `INSERT INTO usage_outcomes (tenant_id, key, request_hash, operation, feature, period_start, granted, outcome, refunded, refund, created_at, expires_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL, $9, $10)
      ON CONFLICT (tenant_id, key) DO UPDATE SET request_hash = excluded.request_hash, operation = excluded.operation,
        feature = excluded.feature, period_start = excluded.period_start, granted = excluded.granted, outcome = excluded.outcome,
        refunded = NULL, refund = NULL, created_at = excluded.created_at, expires_at = excluded.expires_at`,
    [
      meter.tenantId,
      claim.key,
      claim.requestHash,
      recorded.operation,
      meter.feature,
      meter.periodStart,
      outcome.granted ? 1 : 0,
      JSON.stringify(stored),
      now,
      claim.expiresAt,
    ],
  );
}

/** The unexpired consume of `feature` recorded with the key, locked for a refund; undefined when there is none. */
export async function findConsume(
  tx: SqlExecutor,
  tenantId: string,
  feature: string,
  key: string,
  now: string,
): Promise<RecordedConsume | undefined> {
  // A no-op update takes the row lock (PostgreSQL): two refunds of one consume are serialized.
  const row = await tx.get(
    `UPDATE usage_outcomes SET expires_at = expires_at
      WHERE tenant_id = $1 AND key = $2 AND feature = $3 AND operation = 'consume' AND expires_at > $4 RETURNING *`,
    [tenantId, key, feature, now],
  );
  if (!row) return undefined;
  const stored = JSON.parse(String(row.outcome)) as StoredOutcome;
  const refund =
    row.refund === null || row.refund === undefined
      ? null
      : (JSON.parse(String(row.refund)) as { sources: UsageSources; figures: StoredFigures });
  return {
    meter: { tenantId, feature, periodStart: String(row.period_start) },
    outcome: consumeOf(Number(row.granted) === 1, stored),
    refund: refund && {
      amount: Number(row.refunded),
      sources: refund.sources,
      figures: unpackFigures(refund.figures),
    },
  };
}

/** Records that the consume named by the key was refunded (once). */
export async function markRefunded(
  tx: SqlExecutor,
  tenantId: string,
  key: string,
  refund: { readonly amount: number; readonly sources: UsageSources; readonly figures: MeterFigures },
): Promise<void> {
  await tx.run('UPDATE usage_outcomes SET refunded = $3, refund = $4 WHERE tenant_id = $1 AND key = $2', [
    tenantId,
    key,
    refund.amount,
    JSON.stringify({ sources: refund.sources, figures: packFigures(refund.figures) }),
  ]);
}

export async function purgeOutcomes(tx: SqlExecutor, now: string): Promise<number> {
  return (await tx.run('DELETE FROM usage_outcomes WHERE expires_at <= $1', [now])).changes;
}
