// A tenant's billing as the APIs show it: the link, what billing makes of the tenant now
// (plan, cause, trial or grace end, cycle anchor) and the subscriptions behind it.

import { Type, type Static } from 'typebox';
import type { PolicySnapshot } from '../policy/types.js';
import type { TenantBilling } from '../store/store.js';
import { evaluateBilling } from './effective-plan.js';

const Time = Type.String({ format: 'date-time' });

export const BillingStatusBody = Type.Object(
  {
    provider: Type.String(),
    customerId: Type.Union([Type.String(), Type.Null()]),
    /** null when no subscription decides the plan (no subscription yet, or no billing section in the policy). */
    plan: Type.Union([Type.String(), Type.Null()]),
    cause: Type.Union([
      Type.Literal('ACTIVE'),
      Type.Literal('TRIAL'),
      Type.Literal('CANCELING'),
      Type.Literal('GRACE_PERIOD'),
      Type.Literal('ENDED'),
      Type.Null(),
    ]),
    status: Type.Union([Type.String(), Type.Null()]),
    trial: Type.Optional(Type.Object({ endsAt: Time })),
    gracePeriod: Type.Optional(Type.Object({ endsAt: Time })),
    endsAt: Type.Optional(Time),
    cycleAnchor: Type.Optional(Time),
    subscriptions: Type.Array(
      Type.Object({
        id: Type.String(),
        status: Type.String(),
        prices: Type.Array(Type.String()),
        currentPeriodEnd: Type.Union([Time, Type.Null()]),
        cancelAtPeriodEnd: Type.Boolean(),
        cancelAt: Type.Union([Time, Type.Null()]),
        trialEnd: Type.Union([Time, Type.Null()]),
      }),
    ),
  },
  { description: "The tenant's billing: link, what it makes of the plan now, and the subscriptions behind it" },
);
export type BillingStatus = Static<typeof BillingStatusBody>;

/** The billing status of a tenant at `now`; null for a tenant billing knows nothing of. */
export function billingStatus(
  snapshot: PolicySnapshot,
  billing: TenantBilling | undefined,
  now: number,
): BillingStatus | null {
  if (!billing) return null;
  const evaluation = evaluateBilling(snapshot, billing.subscriptions, now);
  const provider = billing.link?.provider ?? billing.subscriptions[0]?.provider ?? 'stripe';
  return {
    provider,
    customerId: billing.link?.customerId ?? null,
    plan: evaluation?.plan ?? null,
    cause: evaluation?.cause ?? null,
    status: evaluation?.status ?? null,
    ...(evaluation?.trialEndsAt ? { trial: { endsAt: evaluation.trialEndsAt } } : {}),
    ...(evaluation?.graceEndsAt ? { gracePeriod: { endsAt: evaluation.graceEndsAt } } : {}),
    ...(evaluation?.endsAt ? { endsAt: evaluation.endsAt } : {}),
    ...(evaluation?.cycleAnchor ? { cycleAnchor: evaluation.cycleAnchor } : {}),
    subscriptions: billing.subscriptions.map((s) => ({
      id: s.id,
      status: s.status,
      prices: [...s.prices],
      currentPeriodEnd: s.currentPeriodEnd,
      cancelAtPeriodEnd: s.cancelAtPeriodEnd,
      cancelAt: s.cancelAt,
      trialEnd: s.trialEnd,
    })),
  };
}
