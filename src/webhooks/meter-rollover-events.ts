// meter.reset when a meter's period rolls over by itself (an operator's reset is announced by its
// own write, webhook-events.ts). Nothing is written at a period's end (a new period is a new
// counter row, created by its first consume), so a periodic task on every instance reads the
// counters of periods that ended since it last looked, with usage in them, and records one
// event each, keyed by tenant, meter and period start: recorded once, whichever instance looks.

import { decide } from '../entitlements/decide.js';
import { tenantState } from '../entitlements/tenant-directory.js';
import type { MaintenanceTask } from '../maintenance/maintenance.js';
import { UNLIMITED, type FeatureDefinition, type MeterPeriod, type PolicySnapshot } from '../policy/types.js';
import type { WebhookOutboxStore } from '../store/repositories/webhook-outbox.js';
import type { CounterCursor, UsedCounter, WebhookScanStore } from '../store/repositories/webhook-scans.js';
import type { ChangeFeed, TenantSnapshot } from '../store/store.js';
import { allowanceOf } from '../usage/meter-state.js';
import { anchoredPeriodAt, periodAt } from '../usage/period.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** The shortest and longest a period of each kind lasts (anchored months are 28 to 31 days). */
const LENGTHS: Readonly<Record<Exclude<MeterPeriod, 'none'>, readonly [number, number]>> = {
  hour: [HOUR_MS, HOUR_MS],
  day: [DAY_MS, DAY_MS],
  week: [7 * DAY_MS, 7 * DAY_MS],
  month: [28 * DAY_MS, 31 * DAY_MS],
};

export interface MeterRolloverOptions {
  readonly scans: Pick<WebhookScanStore, 'subscribedTypes' | 'countersStarted'>;
  readonly snapshots: Pick<ChangeFeed, 'load'>;
  readonly outbox: Pick<WebhookOutboxStore, 'recordOnce'>;
  readonly policy: () => PolicySnapshot;
  /** How often to look (default 30 s): an event comes at most this long (plus jitter) after its period ends. */
  readonly everyMs?: number;
  /** Periods that ended further back than this when an instance starts are not announced (default 1 day). */
  readonly lookbackMs?: number;
  /** Counters read at a time (default 250). */
  readonly pageSize?: number;
}

/** Events recorded per transaction. */
const RECORD_BATCH = 25;

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * When the period that starts at `start` ends, for this tenant: its billing cycle's when the
 * meter resets with billing and the anchor still lands on `start`, else the calendar's when
 * `start` is a calendar boundary, else one period from `start` (an anchor that moved since).
 */
function periodEnd(feature: FeatureDefinition, start: string, cycleAnchor: string | undefined): number | null {
  const kind = feature.meter?.period ?? 'none';
  if (kind === 'none') return null;
  const startMs = Date.parse(start);
  const candidates = [
    ...(feature.meter?.reset === 'billing' && cycleAnchor
      ? [anchoredPeriodAt(kind, Date.parse(cycleAnchor), startMs)]
      : []),
    periodAt(kind, startMs),
  ];
  const period = candidates.find((candidate) => candidate.start === start) ?? anchoredPeriodAt(kind, startMs, startMs);
  return period.end === null ? null : Date.parse(period.end);
}

export function meterRolloverTask(options: MeterRolloverOptions): MaintenanceTask {
  const lookbackMs = options.lookbackMs ?? DAY_MS;
  const limit = options.pageSize ?? 250;
  let lookedUntil: number | undefined;
  return {
    name: 'webhook-meter-rollover',
    everyMs: options.everyMs ?? 30_000,
    run: async (now) => {
      const from = Math.max(lookedUntil ?? 0, now - lookbackMs);
      if (!(await options.scans.subscribedTypes()).has('meter.reset')) {
        lookedUntil = now;
        return 0;
      }
      const snapshot = options.policy();
      let recorded = 0;
      for (const feature of snapshot.features.values()) {
        const kind = feature.meter?.period;
        if (kind === undefined || kind === 'none') continue;
        // Calendar periods that ended in (from, now] start in [start of from's period, start of now's).
        const ranges = [{ from: periodAt(kind, from).start, to: periodAt(kind, now).start }];
        // Periods on a billing cycle start anywhere: every start whose period may have ended in the window.
        if (feature.meter?.reset === 'billing') {
          const [shortest, longest] = LENGTHS[kind];
          ranges.push({ from: iso(from - longest), to: iso(now - shortest + 1) });
        }
        const seen = new Set<string>();
        for (const range of ranges) {
          if (range.from >= range.to) continue;
          let after: CounterCursor | undefined;
          for (;;) {
            const page = await options.scans.countersStarted(feature.key, range, after, limit);
            const fresh = page.filter((counter) => !seen.has(`${counter.tenantId}:${counter.periodStart}`));
            recorded += await announce(feature, fresh, { from, now });
            if (ranges.length > 1) for (const counter of fresh) seen.add(`${counter.tenantId}:${counter.periodStart}`);
            const last = page.at(-1);
            if (!last || page.length < limit) break;
            after = { periodStart: last.periodStart, tenantId: last.tenantId };
          }
        }
      }
      lookedUntil = now;
      return recorded;
    },
  };

  async function announce(
    feature: FeatureDefinition,
    counters: readonly UsedCounter[],
    window: { readonly from: number; readonly now: number },
  ): Promise<number> {
    if (counters.length === 0) return 0;
    const snapshot = options.policy();
    const tenants = new Map<string, TenantSnapshot>(
      (await options.snapshots.load([...new Set(counters.map((counter) => counter.tenantId))])).map((tenant) => [
        tenant.tenant.id,
        tenant,
      ]),
    );
    const drafts = [];
    for (const counter of counters) {
      const tenant = tenants.get(counter.tenantId);
      if (!tenant) continue;
      const state = tenantState(tenant);
      const anchor = decide(snapshot, state, feature.key, window.now)?.billing?.cycleAnchor;
      const end = periodEnd(feature, counter.periodStart, anchor);
      if (end === null || end <= window.from || end > window.now) continue;
      const decision = decide(snapshot, state, feature.key, end - 1);
      const allowance = decision ? allowanceOf(decision) : 0;
      drafts.push({
        key: `meter.reset:${counter.tenantId}:${feature.key}:${counter.periodStart}`,
        type: 'meter.reset',
        tenantId: counter.tenantId,
        data: {
          feature: feature.key,
          periodStart: counter.periodStart,
          periodEnd: iso(end),
          used: counter.used,
          allowance: allowance ?? UNLIMITED,
          cause: 'period.ended',
        },
      });
    }
    // Short transactions with requests between them: a month's end can end every tenant's period at once.
    let recorded = 0;
    for (let start = 0; start < drafts.length; start += RECORD_BATCH) {
      recorded += await options.outbox.recordOnce(drafts.slice(start, start + RECORD_BATCH));
      await new Promise((resolve) => setImmediate(resolve));
    }
    return recorded;
  }
}
