// The usage part of the store's contract: what a meter's counters, grants, reservations and
// idempotent outcomes look like, and what the usage repository promises. Each write is one
// transaction the repository owns; an idempotent write records its domain outcome (figures and
// sources, never an HTTP answer) with its key in that same transaction.

import type { WriteContext } from './store.js';

/** One meter of one tenant in one period. */
export interface MeterKey {
  readonly tenantId: string;
  readonly feature: string;
  /** ISO start of the period (see usage/period.ts). */
  readonly periodStart: string;
}

/** A counter as stored: units from the allowance, from grants, and held by reservations. */
export interface MeterCounter {
  readonly used: number;
  readonly fromGrants: number;
  readonly reserved: number;
}

/** A meter's figures at one moment: its counter (open reservations only) and the balance of its usable grants. */
export interface MeterFigures {
  readonly counter: MeterCounter;
  readonly grantBalance: number;
}

/** Units consumed, by where they came from: the period's allowance first, then grants soonest-expiring first. */
export interface UsageSources {
  readonly allowance: number;
  readonly grants: readonly { readonly id: string; readonly amount: number }[];
}

/** A top-up: extra units an operator granted, used after the period's allowance. */
export interface UsageGrant {
  readonly id: string;
  readonly tenantId: string;
  readonly feature: string;
  readonly amount: number;
  readonly remaining: number;
  readonly reason: string;
  readonly actor: string;
  /** ISO 8601; null for a grant that never expires. */
  readonly expiresAt: string | null;
  readonly createdAt: string;
}

/** Units held for work that takes time, until committed, released or expired. */
export interface UsageReservation {
  readonly id: string;
  readonly tenantId: string;
  readonly feature: string;
  readonly periodStart: string;
  readonly amount: number;
  /** Who made it (the audit log's name for the principal); null for reservations made before it was kept. */
  readonly holder: string | null;
  readonly expiresAt: string;
  readonly createdAt: string;
}

/** Shares of the allowance whose first crossing in a period is reported. */
export type Threshold = 80 | 100;

/** An idempotency key with the hash of the request that first used it. */
export interface IdempotencyClaim {
  readonly key: string;
  readonly requestHash: string;
  /** ISO 8601: after this the key may be used again. */
  readonly expiresAt: string;
}

/** What an idempotent write gives: its outcome, and whether it was recorded by an earlier call with the key. */
export interface Recorded<T> {
  readonly outcome: T;
  readonly replayed: boolean;
}

export interface ConsumeRequest {
  readonly meter: MeterKey;
  readonly amount: number;
  /** The period's allowance; null for unlimited. */
  readonly limit: number | null;
  /** ISO 8601 now: decides which grants and reservations have expired. */
  readonly now: string;
  /** Who consumes, for the audit rows of threshold crossings. */
  readonly context: WriteContext;
}

/** A consume: granted with its sources and the thresholds it crossed first, or refused; with the figures after it. */
export type ConsumeOutcome =
  | {
      readonly granted: true;
      readonly figures: MeterFigures;
      readonly sources: UsageSources;
      readonly crossed: readonly Threshold[];
    }
  | { readonly granted: false; readonly figures: MeterFigures };

export interface ReserveRequest extends ConsumeRequest {
  readonly expiresAt: string;
  /** Who holds it: only they (or an operator, or a service of the tenant) may end it. */
  readonly holder: string;
}

/** A reservation: held, or refused because neither the allowance nor grants cover it. */
export type ReserveOutcome =
  | { readonly granted: true; readonly reservation: UsageReservation; readonly figures: MeterFigures }
  | { readonly granted: false; readonly figures: MeterFigures };

/** A refund names the consume it undoes by its idempotency key; without an amount it gives back all it took. */
export interface RefundRequest {
  readonly tenantId: string;
  readonly feature: string;
  readonly key: string;
  readonly amount?: number | undefined;
  readonly now: string;
  readonly context: WriteContext;
}

export interface RefundOutcome {
  /** The meter the consume counted in (its period, which may have ended since). */
  readonly meter: MeterKey;
  readonly refunded: number;
  /** What the refund gave back (allowance units first, then the grants the consume took from). */
  readonly sources: UsageSources;
  /** The figures of the consume's period after the refund. */
  readonly figures: MeterFigures;
  /** This refund was recorded by an earlier call: nothing was given back now. */
  readonly replayed: boolean;
}

export interface EndReservationRequest {
  readonly tenantId: string;
  readonly id: string;
  /** A commit consumes `amount` (default: all reserved) and gives the rest back; a release gives all back. */
  readonly end: { readonly kind: 'commit'; readonly amount?: number | undefined } | { readonly kind: 'release' };
  /** When set, only a reservation this holder made is found (a member ends its own reservations only). */
  readonly holder?: string | undefined;
  /** The allowance of a feature's meter now: a commit consumes against it. */
  readonly limitOf: (feature: string) => number | null;
  /** An operator's release is audited. */
  readonly audited?: boolean;
  readonly now: string;
  readonly context: WriteContext;
}

export interface ReservationEnd {
  readonly reservation: UsageReservation;
  readonly committed: number;
  readonly released: number;
  /** The figures of the reservation's period after it ended. */
  readonly figures: MeterFigures;
}

/** A period's usage as kept for reports. */
export interface UsagePeriodRecord {
  readonly feature: string;
  readonly periodStart: string;
  readonly used: number;
  readonly fromGrants: number;
}

/**
 * The usage of meters: counters per period, grants, reservations and idempotent outcomes. Every
 * write is one transaction of its own; the rule that keeps a meter from being over-consumed is
 * the database's (a conditional update), so processes and instances can race on one meter.
 */
export interface UsageRepository {
  /**
   * Consumes `request.amount` if the allowance (then unexpired grants) covers it. With a claim,
   * a repeat of the key with the same request hash gets the recorded outcome and consumes
   * nothing; with another hash it throws IdempotencyConflictError.
   */
  consume(request: ConsumeRequest, claim?: IdempotencyClaim): Promise<Recorded<ConsumeOutcome>>;
  /** Gives back what a consume took, to where it came from (the gate's give-back when a handler fails). */
  giveBack(meter: MeterKey, sources: UsageSources, now: string): Promise<void>;
  /**
   * Undoes (part of) a granted consume named by its key, once, audited. Throws
   * ConsumeNotFoundError (no such consume of the feature in the last 24 hours),
   * RefundRefusedError (it was refused, already refunded with another amount, or `amount` is
   * more than it took). The same refund again gets its recorded outcome.
   */
  refund(request: RefundRequest): Promise<RefundOutcome>;
  /** Holds units until `expiresAt` if the allowance (then grants) covers them. Idempotent like {@link consume}. */
  reserve(request: ReserveRequest, claim?: IdempotencyClaim): Promise<Recorded<ReserveOutcome>>;
  /**
   * Commits or releases a reservation of the tenant. Throws ReservationNotFoundError,
   * ReservationExpiredError (its units already went back), InvalidInputError (a commit over the
   * amount reserved).
   */
  endReservation(request: EndReservationRequest): Promise<ReservationEnd>;
  /** The tenant's open (unexpired) reservations, oldest first. */
  reservations(tenantId: string, now: string, filter?: { readonly feature?: string }): Promise<UsageReservation[]>;
  /** A meter's figures now (expired reservations and grants not counted). */
  figures(meter: MeterKey, now: string): Promise<MeterFigures>;
  /** Every period's counter of a tenant, newest first per feature. */
  history(tenantId: string, feature?: string): Promise<UsagePeriodRecord[]>;
  /** Adds a top-up, audited. */
  grant(
    input: {
      readonly tenantId: string;
      readonly feature: string;
      readonly amount: number;
      readonly reason: string;
      readonly expiresAt: string | null;
    },
    context: WriteContext,
  ): Promise<UsageGrant>;
  /** Unexpired grants with units left, soonest-expiring first. */
  grants(tenantId: string, feature: string, now: string): Promise<UsageGrant[]>;
  /**
   * Sets a period's usage back to zero and releases the meter's open reservations of the period,
   * audited; returns the counter before and the units released.
   */
  reset(meter: MeterKey, context: WriteContext): Promise<{ before: MeterCounter; released: number }>;
  /** Puts the tenant in the change feed: a meter of it ran out or got units back. */
  announce(tenantId: string): Promise<void>;
  /** Deletes expired idempotent outcomes and reservations; returns how many. */
  purgeExpired(now: string): Promise<number>;
}
