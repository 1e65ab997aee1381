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
  readonly httpDuration = this.#latency(
    'entitle_http_request_duration_seconds',
    'HTTP request duration by route pattern, method and status',
    ['method', 'route', 'status'],
  );
  readonly decisions = this.#counter(
    'entitle_decisions_total',
    'Decisions the provider made, by feature, source (override, plan, default) and cause',
    ['feature', 'source', 'cause'],
  );
  readonly gateDenials = this.#counter(
    'entitle_gate_denials_total',
    'Requests the gate refused, by feature and reason',
    ['feature', 'reason'],
  );
  readonly storeDuration = this.#latency(
    'entitle_store_operation_duration_seconds',
    'Store operation latency by repository operation (e.g. tenants.get), failed ones included',
    ['operation', 'outcome'],
  );
  readonly policyReloadFailures = this.#counter(
    'entitle_policy_reload_failures_total',
    'Policy reloads refused because the new policy was invalid (the previous one stays in force)',
  );
  readonly billingEvents = this.#counter(
    'entitle_billing_events_total',
    'Billing webhook events handled, by type and outcome (applied, unchanged, stale, duplicate, unmapped_price, unlinked_customer, …)',
    ['type', 'outcome'],
  );
  readonly billingUnmappedPrices = this.#counter(
    'entitle_billing_unmapped_prices_total',
    'Billing events naming a price no plan maps (audited as billing.unmapped_price; nothing changed)',
  );
  readonly calendarProviderErrors = this.#counter(
    'entitle_calendar_provider_errors_total',
    'Failed calls to a calendar provider, by provider and error code',
    ['provider', 'code'],
  );
  readonly usageConsumes = this.#counter(
    'entitle_usage_consumes_total',
    'Consumes of meters, by feature and outcome (granted, refused)',
    ['feature', 'outcome'],
  );
  readonly usageUnits = this.#counter(
    'entitle_usage_units_consumed_total',
    'Units of meters consumed (granted consumes), by feature',
    ['feature'],
  );
  readonly usageThresholds = this.#counter(
    'entitle_usage_threshold_crossings_total',
    "First crossings of 80 % and 100 % of a meter's allowance in a period, by feature and threshold",
    ['feature', 'threshold'],
  );
  readonly webhookDeliveries = this.#counter(
    'entitle_webhook_deliveries_total',
    'Webhook delivery attempts by outcome (delivered, retry, failed, gone)',
    ['outcome'],
  );
  /** Where the webhook queue gauges read from (the store), once set. */
  #webhookQueue: (() => Promise<{ pending: number; oldestCreatedAt: string | null }>) | undefined;
  /** Holders of audit rows not yet written (the denial backlog, the read-audit batch). */
  readonly #backlogs = new Set<() => number>();
  /** Decision counters by feature and cause: looked up, not hashed from a labels object, on every decision. */
  readonly #decisionChildren = new Map<string, Counter.Internal>();

  constructor(sources: MetricSources) {
    // process_* and nodejs_* (event-loop lag, heap, GC) under their usual names, for the usual dashboards.
    collectDefaultMetrics({ register: this.registry });
    this.#gauge(
      'entitle_store_stale',
      '1 while the store is out of reach and decisions come from the last known state (STALE), else 0',
      () => (sources.staleSince() === undefined ? 0 : 1),
    );
    this.#gauge('entitle_store_stale_seconds', 'How long the store has been out of reach (0 when it answers)', () => {
      const since = sources.staleSince();
      return since === undefined ? 0 : Math.max(0, (sources.clock() - since) / 1000);
    });
    new Gauge({
      name: 'entitle_policy_info',
      help: 'The policy version in force (label version), always 1',
      labelNames: ['version'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        this.set({ version: sources.policyVersion() }, 1);
      },
    });
    const backlogs = this.#backlogs;
    this.#gauge(
      'entitle_audit_backlog_events',
      'Audit rows held in memory, not yet in the store (denials during an outage, batched read rows)',
      () => {
        let size = 0;
        for (const backlog of backlogs) size += backlog();
        return size;
      },
    );
    this.#webhookGauges(sources.clock);
  }

  // Webhook queue: read from the store when scraped (every instance sees the whole queue).
  #webhookGauges(clock: () => number): void {
    const read = () => this.#webhookQueue?.() ?? Promise.resolve({ pending: 0, oldestCreatedAt: null });
    new Gauge({
      name: 'entitle_webhook_queue_depth',
      help: 'Webhook deliveries waiting to be sent (pending, to enabled endpoints)',
      registers: [this.registry],
      async collect() {
        this.set((await read()).pending);
      },
    });
    new Gauge({
      name: 'entitle_webhook_oldest_pending_seconds',
      help: 'Age of the oldest webhook delivery still pending (0 when none)',
      registers: [this.registry],
      async collect() {
        const { oldestCreatedAt } = await read();
        this.set(oldestCreatedAt === null ? 0 : Math.max(0, (clock() - Date.parse(oldestCreatedAt)) / 1000));
      },
    });
  }

  /** Sets what the webhook queue gauges read. */
  watchWebhookQueue(read: () => Promise<{ pending: number; oldestCreatedAt: string | null }>): void {
    this.#webhookQueue = read;
  }

  // The declarations in one place each: every metric lands in this app's registry, and the two
  // latency histograms share their buckets. (Private methods exist before the fields above run.)
  #counter<Label extends string = string>(
    name: string,
    help: string,
    labelNames: readonly Label[] = [],
  ): Counter<Label> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  #latency<Label extends string>(name: string, help: string, labelNames: readonly Label[]): Histogram<Label> {
    return new Histogram({ name, help, labelNames, buckets: LATENCY_BUCKETS, registers: [this.registry] });
  }

  /** A label-free gauge that reads `value` when scraped. */
  #gauge(name: string, help: string, value: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(value());
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
    if (child === undefined)
      this.#decisionChildren.set(key, (child = this.decisions.labels({ feature, source, cause })));
    child.inc();
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ readonly contentType: string; readonly text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}
