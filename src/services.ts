// The long-lived pieces of a running Entitle, opened in dependency order and closed in reverse:
// store → policy → tenant directory → OpenFeature provider and client.

import { randomUUID } from 'node:crypto';
import { NOOP_PROVIDER, OpenFeature, type Client } from '@openfeature/server-sdk';
import { AuditRetention } from './audit/audit-retention.js';
import { BillingReconciler } from './billing/billing-reconciler.js';
import { BillingSync } from './billing/billing-sync.js';
import type { Logger } from './logger.js';
import { Maintenance } from './maintenance/maintenance.js';
import { purgeExpiredStatesTask } from './oauth/oauth-state.js';
import { instrumentStore } from './metrics/instrument-store.js';
import { EntitleMetrics } from './metrics/metrics.js';
import type { Config } from './config.js';
import { EntitleProvider } from './entitlements/entitle-provider.js';
import type { ReleaseSwitch } from './entitlements/release-switch.js';
import { TenantDirectory } from './entitlements/tenant-directory.js';
import { storedVersionCounts, versionLosses } from './entitlements/version-guard.js';
import { openTokenCipher } from './secrets/encryption-keys.js';
import type { TokenCipher } from './secrets/token-crypto.js';
import { PolicyReader } from './policy/policy-reader.js';
import { PolicyWatcher } from './policy/watch.js';
import { reportIgnoredRollouts, UnleashReleaseSwitch } from './interop/unleash-release-switch.js';
import type { PolicySnapshot } from './policy/types.js';
import { openStore } from './store/open-store.js';
import type { EntitleStore } from './store/store.js';
import { TenantOperations } from './tenants/tenant-operations.js';
import { Meters } from './usage/meters.js';
import { DeliveryWorker } from './webhooks/delivery-worker.js';
import { billingClockTask } from './webhooks/billing-clock-events.js';
import { meterRolloverTask } from './webhooks/meter-rollover-events.js';
import { overrideExpiryTask } from './webhooks/override-expiry.js';
import { PolicyReloadEvents } from './webhooks/policy-reload-events.js';
import { webhookDescriber } from './webhooks/webhook-events.js';
import type { WebhookTargets } from './webhooks/safe-target.js';
import { Webhooks } from './webhooks/webhooks.js';

export interface EntitleServices {
  readonly config: Config;
  readonly clock: () => number;
  readonly store: EntitleStore;
  readonly policy: PolicyWatcher;
  /** Reads proposed policies in worker threads (validation requests; hot reloads go through it too). */
  readonly policyReader: PolicyReader;
  readonly tenants: TenantDirectory;
  readonly provider: EntitleProvider;
  /** The OpenFeature client every decision goes through (its own domain: several apps can share a process). */
  readonly client: Client;
  readonly cipher: TokenCipher;
  readonly operations: TenantOperations;
  /** Metered usage: consume, refund, reserve, grant, read. */
  readonly meters: Meters;
  /** Periodic store upkeep (expired OAuth states, …): register a task, the server runs it. */
  readonly maintenance: Maintenance;
  /** Release toggles (`rollout.unleash`), when Unleash is configured: every surface applies them as the provider does. */
  readonly releases: ReleaseSwitch | undefined;
  /** Billing events and reconcile, when Stripe is configured. */
  readonly billing: BillingSync | undefined;
  /** Archives audit rows past ENTITLE_AUDIT_RETENTION, when it is set. */
  readonly auditRetention: AuditRetention | undefined;
  /** Prometheus metrics (/metrics); every service reports into them. */
  readonly metrics: EntitleMetrics;
  /** Webhook endpoints and their delivery log; the worker that sends (started by the server, not the CLI). */
  readonly webhooks: Webhooks;
  readonly webhookWorker: DeliveryWorker;
  /** Announces policy reloads to webhook receivers (entitlements.changed for each tenant they change). */
  readonly policyReloadEvents: PolicyReloadEvents;
  close(): Promise<void>;
}

export interface OpenServicesOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly clock?: () => number;
  /** How webhook target hosts resolve (default: the system's DNS; tests give names that reach nothing). */
  readonly webhookTargets?: WebhookTargets;
}

export async function openServices({
  config,
  logger,
  clock = Date.now,
  webhookTargets,
}: OpenServicesOptions): Promise<EntitleServices> {
  const closers: (() => Promise<void> | void)[] = [];
  const close = async (): Promise<void> => {
    for (const closer of closers.splice(0).reverse()) await closer();
  };
  // Filled in as the pieces open: the gauges read them only when scraped.
  let current: { policy?: PolicyWatcher; tenants?: TenantDirectory } = {};
  const metrics = new EntitleMetrics({
    staleSince: () => current.tenants?.staleSince,
    policyVersion: () => current.policy?.snapshot.version ?? 'none',
    clock,
  });
  try {
    const store = instrumentStore(await openStore(config, { clock }), metrics.storeDuration);
    closers.push(() => store.close());
    const policyReader = new PolicyReader();
    closers.push(() => policyReader.close());
    // The first read is in-thread (nothing is served yet); reloads parse off the event loop.
    const policy = await PolicyWatcher.open({
      directory: config.policyDirectory,
      logger,
      read: (dir) => policyReader.readDirectory(dir),
      // Plan versions tenants are on keep what they were sold: a reload that takes from them is refused.
      // Counted by the store (one aggregate query), not from memory: the directory holds only recent tenants.
      check: async (next, previous) =>
        current.tenants ? versionLosses(previous, next, await storedVersionCounts(store.tenants)) : [],
    });
    closers.push(() => policy.close());
    const onInvalid = () => metrics.policyReloadFailures.inc();
    policy.on('invalid', onInvalid);
    closers.push(() => void policy.off('invalid', onInvalid));
    const tenants = await TenantDirectory.open(store, { logger, clock, maxTenants: config.directory.maxTenants });
    closers.push(() => tenants.close());
    current = { policy, tenants };
    let releases: UnleashReleaseSwitch | undefined;
    if (config.unleash) {
      releases = await UnleashReleaseSwitch.start(config.unleash, {
        logger,
        refreshInterval: config.unleash.refreshIntervalMs,
      });
      const started = releases;
      closers.push(() => started.close());
    } else {
      reportIgnoredRollouts(policy.snapshot, logger);
      const report = (snapshot: PolicySnapshot) => reportIgnoredRollouts(snapshot, logger);
      policy.on('change', report);
      closers.push(() => void policy.off('change', report));
    }
    const meters = new Meters({
      usage: store.usage,
      policy,
      tenants,
      clock,
      logger,
      onConsume: ({ feature, amount, granted, crossed }) => {
        metrics.usageConsumes.inc({ feature, outcome: granted ? 'granted' : 'refused' });
        if (granted) metrics.usageUnits.inc({ feature }, amount);
        for (const threshold of crossed) metrics.usageThresholds.inc({ feature, threshold: String(threshold) });
      },
    });
    const provider = new EntitleProvider({
      meters: (tenantId, decision) => meters.readDecided(tenantId, decision),
      policy,
      tenants,
      clock,
      staleBoundMs: config.staleBoundMs,
      onDecision: (decision) => metrics.countDecision(decision),
      ...(releases ? { releases } : {}),
    });
    const domain = `entitle-${randomUUID()}`;
    await OpenFeature.setProviderAndWait(domain, provider);
    closers.push(() => OpenFeature.setProviderAndWait(domain, NOOP_PROVIDER));
    let auditRetention: AuditRetention | undefined;
    if (config.auditRetention) {
      const retention = new AuditRetention({ audit: store.audit, ...config.auditRetention, clock, logger });
      await retention.start();
      closers.push(() => retention.close());
      auditRetention = retention;
    }
    const cipher = openTokenCipher(config.encryption, config.databasePath);
    const operations = new TenantOperations({ store, policy: () => policy.snapshot, clock });
    // Started by the server (buildApp), not here: the CLI opens services too and purges nothing behind one's back.
    const maintenance = new Maintenance({ clock, logger });
    maintenance.register(purgeExpiredStatesTask(store));
    // Expired idempotent usage answers and reservations: their units already count no more, the rows go.
    maintenance.register({
      name: 'usage-expired',
      everyMs: 60 * 60_000,
      run: (now) => store.usage.purgeExpired(new Date(now).toISOString()),
    });
    // Before the store closes: a purge in progress finishes first.
    closers.push(() => maintenance.close());
    const billing = await openBilling({
      billing: config.billing,
      store,
      policy: () => policy.snapshot,
      clock,
      logger,
      metrics,
      maintenance,
      onClose: (closer) => closers.push(closer),
    });
    const { webhooks, webhookWorker } = openWebhooks({
      webhooks: config.webhooks,
      store,
      policy: () => policy.snapshot,
      clock,
      logger,
      metrics,
      cipher,
      targets: webhookTargets,
    });
    closers.push(() => webhookWorker.close());
    // Overrides reaching their expiry change decisions with no write: announced by whichever instance looks first.
    maintenance.register(
      overrideExpiryTask({
        overrides: store.overrides,
        outbox: store.outbox,
        policy: () => policy.snapshot,
        tenant: (tenantId) => tenants.load(tenantId),
      }),
    );
    // The same for billing ending by the clock and meter periods rolling over; a reload is noticed by every instance.
    const scanned = { scans: store.webhookScans, snapshots: store.changes, outbox: store.outbox };
    maintenance.register(billingClockTask({ ...scanned, policy: () => policy.snapshot }));
    maintenance.register(meterRolloverTask({ ...scanned, policy: () => policy.snapshot }));
    const policyReloadEvents = new PolicyReloadEvents({ ...scanned, tenants: store.tenants, clock, logger });
    const onReload = (next: PolicySnapshot, previous: PolicySnapshot) =>
      void policyReloadEvents.reloaded(next, previous).catch(() => undefined);
    policy.on('change', onReload);
    closers.push(async () => {
      policy.off('change', onReload);
      await policyReloadEvents.close();
    });
    if (config.auditRetention) {
      // Delivered webhook rows go with the audit rows of their age; failed and pending ones stay.
      const { retentionMs } = config.auditRetention;
      maintenance.register({
        name: 'webhook-retention',
        everyMs: 60 * 60_000,
        run: (now) => store.outbox.prune(new Date(now - retentionMs).toISOString()),
      });
    }
    return {
      config,
      clock,
      store,
      policy,
      policyReader,
      tenants,
      provider,
      client: OpenFeature.getClient(domain),
      cipher,
      operations,
      meters,
      maintenance,
      releases,
      billing,
      metrics,
      auditRetention,
      webhooks,
      webhookWorker,
      policyReloadEvents,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** What billing needs from the services opened before it. */
interface OpenBillingOptions {
  /** The billing section of the configuration; none: billing is off. */
  readonly billing: Config['billing'];
  readonly store: EntitleStore;
  readonly policy: () => PolicySnapshot;
  readonly clock: () => number;
  readonly logger: Logger;
  readonly metrics: EntitleMetrics;
  readonly maintenance: Maintenance;
  /** Registers what must stop before the store closes. */
  readonly onClose: (closer: () => Promise<void> | void) => void;
}

async function openBilling(options: OpenBillingOptions): Promise<BillingSync | undefined> {
  const { billing, store, policy, clock, logger, metrics, maintenance } = options;
  if (!billing) return undefined;
  const { stripe, reconcileIntervalMs } = billing;
  // The stripe package (~0.2 s to load) only when billing is configured.
  const { StripeSource } = await import('./billing/stripe/stripe-source.js');
  const source = new StripeSource({
    webhookSecrets: stripe.webhookSecrets,
    apiKey: stripe.apiKey,
    apiUrl: stripe.apiUrl,
    clock,
  });
  const sync = new BillingSync({ store, source, policy, logger, clock });
  sync.onOutcome(({ type, outcome, duplicate }) => {
    metrics.billingEvents.inc({ type, outcome: duplicate ? 'duplicate' : outcome });
    if (outcome === 'unmapped_price' && !duplicate) metrics.billingUnmappedPrices.inc();
  });
  if (reconcileIntervalMs !== undefined) {
    // A maintenance task: the server runs it, a CLI command that opens services does not.
    const reconciler = new BillingReconciler({ sync, store, intervalMs: reconcileIntervalMs, logger });
    maintenance.register({
      name: 'billing-reconcile',
      everyMs: reconcileIntervalMs,
      run: async () => (await reconciler.runOnce())?.fixed ?? 0,
    });
    options.onClose(() => reconciler.close());
  }
  return sync;
}

interface OpenWebhooksOptions {
  readonly webhooks: Config['webhooks'];
  readonly store: EntitleStore;
  readonly policy: () => PolicySnapshot;
  readonly clock: () => number;
  readonly logger: Logger;
  readonly metrics: EntitleMetrics;
  /** Seals and opens the endpoints' signing secrets. */
  readonly cipher: TokenCipher;
  readonly targets: WebhookTargets | undefined;
}

function openWebhooks({
  webhooks: settings,
  store,
  policy,
  clock,
  logger,
  metrics,
  cipher,
  targets,
}: OpenWebhooksOptions): {
  webhooks: Webhooks;
  webhookWorker: DeliveryWorker;
} {
  // Every write's audit rows are the outbox, whoever writes (server, CLI); the server's worker
  // turns them into events with these rules, and sends them.
  store.outbox.describeWith(webhookDescriber({ policy }));
  metrics.watchWebhookQueue(() => store.outbox.queue());
  const webhooks = new Webhooks({
    endpoints: store.webhooks,
    outbox: store.outbox,
    clock,
    allowPrivate: settings.allowPrivate,
    maxEndpointsPerPrincipal: settings.maxEndpointsPerPrincipal,
    secretOverlapMs: settings.secretOverlapMs,
    cipher,
    ...(targets ? { targets } : {}),
  });
  const webhookWorker = new DeliveryWorker({
    outbox: store.outbox,
    clock,
    logger,
    retryScheduleMs: settings.retryScheduleMs,
    allowPrivate: settings.allowPrivate,
    disableAfter: settings.disableAfter,
    attemptTimeoutMs: settings.attemptTimeoutMs,
    cipher,
    onAttempt: (outcome) => metrics.webhookDeliveries.inc({ outcome }),
    ...(targets ? { targets } : {}),
  });
  return { webhooks, webhookWorker };
}
