// Webhook endpoints as operators manage them (admin API, CLI, console): the checks on every
// change (safe target, known event types), secrets made here and shown once, the delivery log
// and replays. Holds no SQL: the store's repositories own the transactions.

import { InvalidInputError, WebhookDeliveryNotFoundError, WebhookLimitError, WebhookNotFoundError } from '../errors.js';
import type {
  WebhookEndpoint,
  WebhookEndpointChange,
  WebhookEndpointStore,
} from '../store/repositories/webhook-endpoints.js';
import {
  randomId,
  type DeliveryStatus,
  type WebhookAttempt,
  type WebhookDelivery,
  type WebhookOutboxStore,
} from '../store/repositories/webhook-outbox.js';
import type { TokenCipher } from '../secrets/token-crypto.js';
import type { Page, WriteContext } from '../store/store.js';
import { WEBHOOK_EVENT_TYPES } from './webhook-event-types.js';
import { resolvedTargetProblem, SYSTEM_TARGETS, type WebhookTargets } from './safe-target.js';
import { newSigningSecret, sealSigningSecret } from './webhook-signing.js';

/** Deliveries one range replay may send again. */
export const MAX_REPLAY = 1000;
const MAX_DESCRIPTION = 500;

export interface WebhooksDeps {
  readonly endpoints: WebhookEndpointStore;
  readonly outbox: WebhookOutboxStore;
  readonly clock: () => number;
  readonly allowPrivate: boolean;
  readonly maxEndpointsPerPrincipal: number;
  readonly secretOverlapMs: number;
  /** Encrypts signing secrets before they reach the store. */
  readonly cipher: TokenCipher;
  /** How target hosts resolve (default: the system's DNS; tests give names that reach nothing). */
  readonly targets?: WebhookTargets;
}

export interface NewEndpointInput {
  readonly url: string;
  readonly events: readonly string[];
  readonly description?: string;
}

export class Webhooks {
  constructor(private readonly deps: WebhooksDeps) {}

  /** Registers an endpoint; its signing secret is in this answer only. */
  async create(input: NewEndpointInput, context: WriteContext): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    await this.#checkUrl(input.url);
    const events = checkEvents(input.events);
    const description = checkDescription(input.description ?? '');
    const secret = newSigningSecret();
    const id = randomId('ep');
    const endpoint = await this.deps.endpoints.create(
      { id, url: input.url, events, description, secret: sealSigningSecret(this.deps.cipher, id, secret) },
      context,
      this.deps.maxEndpointsPerPrincipal,
    );
    if (!endpoint) throw new WebhookLimitError(this.deps.maxEndpointsPerPrincipal);
    return { endpoint, secret };
  }

  list(): Promise<readonly WebhookEndpoint[]> {
    return this.deps.endpoints.list();
  }

  async get(id: string): Promise<WebhookEndpoint> {
    const endpoint = await this.deps.endpoints.get(id);
    if (!endpoint) throw new WebhookNotFoundError(id);
    return endpoint;
  }

  async update(id: string, change: WebhookEndpointChange, context: WriteContext): Promise<WebhookEndpoint> {
    if (change.url !== undefined) await this.#checkUrl(change.url);
    const checked: WebhookEndpointChange = {
      ...change,
      ...(change.events !== undefined ? { events: checkEvents(change.events) } : {}),
      ...(change.description !== undefined ? { description: checkDescription(change.description) } : {}),
    };
    const endpoint = await this.deps.endpoints.update(id, checked, context);
    if (!endpoint) throw new WebhookNotFoundError(id);
    return endpoint;
  }

  async remove(id: string, context: WriteContext): Promise<void> {
    if (!(await this.deps.endpoints.delete(id, context))) throw new WebhookNotFoundError(id);
  }

  /** A new secret, shown once; the old one keeps signing beside it for the configured overlap. */
  async rotateSecret(id: string, context: WriteContext): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    const secret = newSigningSecret();
    const until = new Date(this.deps.clock() + this.deps.secretOverlapMs).toISOString();
    const sealed = sealSigningSecret(this.deps.cipher, id, secret);
    const endpoint = await this.deps.endpoints.rotateSecret(id, sealed, until, context);
    if (!endpoint) throw new WebhookNotFoundError(id);
    return { endpoint, secret };
  }

  async deliveries(
    id: string,
    options: { readonly status?: DeliveryStatus; readonly after?: string; readonly limit?: number },
  ): Promise<Page<WebhookDelivery>> {
    await this.get(id);
    return this.deps.outbox.deliveries(id, options);
  }

  /** The attempts kept of one of the endpoint's deliveries, newest first. */
  async attempts(id: string, deliveryId: string): Promise<readonly WebhookAttempt[]> {
    await this.get(id);
    if (!(await this.deps.outbox.delivery(id, deliveryId))) throw new WebhookDeliveryNotFoundError(deliveryId);
    return this.deps.outbox.attempts(deliveryId);
  }

  /** Sends one delivery again, or every delivery of the endpoint made in [from, to) (at most MAX_REPLAY). */
  async replay(
    id: string,
    which: { readonly deliveryId: string } | { readonly from: string; readonly to: string },
  ): Promise<{ replayed: number }> {
    await this.get(id);
    if ('deliveryId' in which) {
      const replayed = await this.deps.outbox.replay(id, which, 1);
      if (replayed === 0) throw new WebhookDeliveryNotFoundError(which.deliveryId);
      return { replayed };
    }
    const from = Date.parse(which.from);
    const to = Date.parse(which.to);
    if (Number.isNaN(from)) throw new InvalidInputError('from: must be an ISO 8601 time');
    if (Number.isNaN(to)) throw new InvalidInputError('to: must be an ISO 8601 time');
    if (to <= from) throw new InvalidInputError('to: must be after from');
    const range = { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
    return { replayed: await this.deps.outbox.replay(id, range, MAX_REPLAY) };
  }

  async #checkUrl(url: string): Promise<void> {
    if (url.length > 2048) throw new InvalidInputError('url: at most 2048 characters');
    const { lookup, isPrivate } = this.deps.targets ?? SYSTEM_TARGETS;
    const problem = await resolvedTargetProblem(url, this.deps.allowPrivate, lookup, isPrivate);
    if (problem) throw new InvalidInputError(`url: ${problem}`);
  }
}

function checkEvents(events: readonly string[]): string[] {
  if (events.length === 0) throw new InvalidInputError('events: name at least one event type');
  const known = new Set<string>(WEBHOOK_EVENT_TYPES);
  const unknown = events.find((type) => !known.has(type));
  if (unknown !== undefined)
    throw new InvalidInputError(`events: "${unknown}" is not an event type (one of ${WEBHOOK_EVENT_TYPES.join(', ')})`);
  return [...new Set(events)];
}

function checkDescription(description: string): string {
  const trimmed = description.trim();
  if (trimmed.length > MAX_DESCRIPTION)
    throw new InvalidInputError(`description: at most ${MAX_DESCRIPTION} characters`);
  return trimmed;
}
