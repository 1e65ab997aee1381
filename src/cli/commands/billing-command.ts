// entitle billing reconcile [--dry-run] [--json]: compares every subscription in the billing
// system with what Entitle stored, reports the drift and (without --dry-run) fixes it.

import type { Command } from 'commander';
import { BillingSync, type ReconcileReport } from '../../billing/billing-sync.js';
import { StripeSource } from '../../billing/stripe/stripe-source.js';
import { formatTable, type CliContext } from '../cli-context.js';
import { UsageError } from './validate-command.js';

export function registerBilling(program: Command, context: CliContext): void {
  const billing = program.command('billing').description('billing: reconcile subscriptions with Stripe');

  billing
    .command('reconcile')
    .description('page through every Stripe subscription, report drift and fix it')
    .option('--dry-run', 'report only; change nothing')
    .option('--json', 'print JSON')
    .action(async (options: { dryRun?: boolean; json?: boolean }) => {
      const stripe = context.config.billing?.stripe;
      if (!stripe?.apiKey)
        throw new UsageError(
          'reconcile reads subscriptions from Stripe: set STRIPE_API_KEY (and STRIPE_API_URL for stripe-mock)',
        );
      const policy = await context.policy();
      const store = await context.store();
      const source = new StripeSource({
        webhookSecrets: stripe.webhookSecrets,
        apiKey: stripe.apiKey,
        apiUrl: stripe.apiUrl,
      });
      const report = await new BillingSync({ store, source, policy: () => policy }).reconcile({
        dryRun: options.dryRun === true,
      });
      if (options.json) context.json(report);
      else context.out(reportText(report));
    });
}

function reportText(report: ReconcileReport): string {
  const head = `checked ${report.checked} subscription(s): ${report.drift.length} drifted${report.dryRun ? ' (dry run: nothing changed)' : `, ${report.fixed} fixed`}`;
  if (report.drift.length === 0) return head;
  const rows = report.drift.map((d) => [
    d.subscriptionId,
    d.customerId,
    d.tenantId ?? '-',
    d.kind,
    String(d.stored?.status ?? '-'),
    String(d.actual.status),
  ]);
  return `${head}\n${formatTable(['SUBSCRIPTION', 'CUSTOMER', 'TENANT', 'DRIFT', 'STORED', 'STRIPE'], rows)}`;
}
