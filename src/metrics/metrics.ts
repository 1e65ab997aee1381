// The service's Prometheus metrics, in a registry of its own per app (no module-level state: a
// test process builds many apps). Labels are bounded sets — route patterns, feature keys,
// causes, provider names, error codes — never a tenant or user id.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What the gauges read when scraped. */
export interface MetricSources {
  /** Since when the store is out of reach (decisions come from the last known state), if it is. */
  readonly staleSince: () => number | undefined;
  readonly policyVersion: () => string;
  readonly clock: () => number;
}

/** Decision labels as the provider reports them. */
export interface DecisionLabels {
  readonly feature: string;
  readonly source: string;
  readonly cause: string;
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export class EntitleMetrics {
  readonly registry = new Registry();
  readonly httpDuration = new Histogram({
    name: 'entitle_http_request_duration_seconds',
    help: 'HTTP request duration by route pattern, method and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly decisions = new Counter({
    name: 'entitle_decisions_total',
    help: 'Decisions the provider made, by feature, source (override, plan, default) and cause',
    labelNames: ['feature', 'source', 'cause'] as const,
    registers: [this.registry],
  });
  readonly gateDenials = new Counter({
    name: 'entitle_gate_denials_total',
    help: 'Requests the gate refused, by feature and reason',
    labelNames: ['feature', 'reason'] as const,
    registers: [this.registry],
  });
  readonly storeDuration = new Histogram({
    name: 'entitle_store_operation_duration_seconds',
    help: 'Store operation latency by repository operation (e.g. tenants.get), failed ones included',
    labelNames: ['operation', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly policyReloadFailures = new Counter({
    name: 'entitle_policy_reload_failures_total',
    help: 'Policy reloads refused because the new policy was invalid (the previous one stays in force)',
    registers: [this.registry],
  });
  readonly billingEvents = new Counter({
    name: 'entitle_billing_events_total',
    help: 'Billing webhook events handled, by type and outcome (applied, unchanged, stale, duplicate, unmapped_price, unlinked_customer, …)',
    labelNames: ['type', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly billingUnmappedPrices = new Counter({
    name: 'entitle_billing_unmapped_prices_total',
    help: 'Billing events naming a price no plan maps (audited as billing.unmapped_price; nothing changed)',
    registers: [this.registry],
  });
  readonly calendarProviderErrors = new Counter({
    name: 'entitle_calendar_provider_errors_total',
    help: 'Failed calls to a calendar provider, by provider and error code',
    labelNames: ['provider', 'code'] as const,
    registers: [this.registry],
  });
  readonly usageConsumes = new Counter({
    name: 'entitle_usage_consumes_total',
    help: 'Consumes of meters, by feature and outcome (granted, refused)',
    labelNames: ['feature', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly usageUnits = new Counter({
    name: 'entitle_usage_units_consumed_total',
    help: 'Units of meters consumed (granted consumes), by feature',
    labelNames: ['feature'] as const,
    registers: [this.registry],
  });
  readonly usageThresholds = new Counter({
    name: 'entitle_usage_threshold_crossings_total',
    help: "First crossings of 80 % and 100 % of a meter's allowance in a period, by feature and threshold",
    labelNames: ['feature', 'threshold'] as const,
    registers: [this.registry],
  });
  /** Holders of audit rows not yet written (the denial backlog, the read-audit batch). */
  readonly #backlogs = new Set<() => number>();
  /** Decision counters by feature and cause: looked up, not hashed from a labels object, on every decision. */
  readonly #decisionChildren = new Map<string, Counter.Internal>();

  constructor(sources: MetricSources) {
    // process_* and nodejs_* (event-loop lag, heap, GC) under their usual names, for the usual dashboards.
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    new Gauge({
      name: 'entitle_store_stale',
      help: '1 while the store is out of reach and decisions come from the last known state (STALE), else 0',
      registers,
      collect() {
        this.set(sources.staleSince() === undefined ? 0 : 1);
      },
    });
    new Gauge({
      name: 'entitle_store_stale_seconds',
      help: 'How long the store has been out of reach (0 when it answers)',
      registers,
      collect() {
        const since = sources.staleSince();
        this.set(since === undefined ? 0 : Math.max(0, (sources.clock() - since) / 1000));
      },
    });
    new Gauge({
      name: 'entitle_policy_info',
      help: 'The policy version in force (label version), always 1',
      labelNames: ['version'] as const,
      registers,
      collect() {
        this.reset();
        this.set({ version: sources.policyVersion() }, 1);
      },
    });
    const backlogs = this.#backlogs;
    new Gauge({
      name: 'entitle_audit_backlog_events',
      help: 'Audit rows held in memory, not yet in the store (denials during an outage, batched read rows)',
      registers,
      collect() {
        let size = 0;
        for (const backlog of backlogs) size += backlog();
        this.set(size);
      },
    });
  }

  /** Adds a holder of unwritten audit rows to the backlog gauge; returns its removal. */
  watchAuditBacklog(size: () => number): () => void {
    this.#backlogs.add(size);
    return () => void this.#backlogs.delete(size);
  }

  /** Counts one decision (the provider calls it for every evaluation). */
  countDecision({ feature, source, cause }: DecisionLabels): void {
    const key = `${feature}\u0000${source}\u0000${cause}`;
    let child = this.#decisionChildren.get(key);
    if (child === undefined) this.#decisionChildren.set(key, (child = this.decisions.labels({ feature, source, cause })));
    child.inc();
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ readonly contentType: string; readonly text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}
