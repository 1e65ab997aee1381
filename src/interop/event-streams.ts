// Open OFREP event streams, grouped by tenant and caller. When a tenant's decisions may have
// changed (a write, a policy reload, the store coming back, an override reaching its expiry, a
// used-up meter's period ending, or anything that calls `changed`), each group's answer is
// evaluated once and every stream whose last known answer differs gets a `refetchEvaluation`
// event. Caps bound the streams in all, per tenant and per user (the credential behind the link,
// and for a client token the user it vouches for); a heartbeat comment keeps proxies from closing
// quiet streams; every few seconds the credentials behind open streams are checked again, and a
// stream whose token was revoked or whose tenant was deleted is closed.

import type { Logger } from '../logger.js';
import type { Role } from '../store/store.js';

/** Streams that see the same answer: one tenant, one user, one role. */
export interface StreamGroup {
  readonly tenantId: string;
  readonly userId: string;
  readonly role: Role;
}

/** Where a stream's bytes go (an HTTP response). */
export interface StreamSink {
  write(chunk: string): boolean;
  end(): void;
  /** Bytes queued and not yet sent: a stream that never drains is dropped. */
  readonly writableLength: number;
}

/** A group's answer as the streams need it. */
export interface GroupAnswer {
  readonly fingerprint: string;
  /** When (ms since the epoch) the answer changes with no write, if it will: a used-up meter's period ends. */
  readonly changesAt?: number | undefined;
}

/** What keeps a stream open: its tenant still exists, and the API token behind its link (if any) still authenticates. */
export interface StreamCredential {
  readonly tenantId: string;
  readonly tokenId: string | null;
}

/** Who owns a stream: the user it counts against, and the credential checked while it is open. */
export interface StreamOwner {
  /** The per-user cap's key. */
  readonly user: string;
  readonly credential: StreamCredential;
}

export const credentialKey = (credential: StreamCredential): string =>
  `${credential.tenantId}\u0000${credential.tokenId ?? ''}`;

export interface EventStreamsOptions {
  readonly max: number;
  readonly perTenant: number;
  readonly perUser: number;
  readonly heartbeatMs: number;
  /** How often the credentials of open streams are checked again (ms). */
  readonly checkMs: number;
  /** Of these credentials, the keys ({@link credentialKey}) that may still hold streams open. */
  readonly stillValid: (credentials: readonly StreamCredential[]) => Promise<ReadonlySet<string>>;
  /** The group's current answer. */
  readonly evaluate: (group: StreamGroup) => Promise<GroupAnswer>;
  /** The ETag a re-fetch will answer with, for a fingerprint. */
  readonly etag: (fingerprint: string) => string;
  /** When the tenant's next override expires (ms since the epoch), if one will. */
  readonly nextExpiry: (tenantId: string) => number | undefined;
  readonly clock?: () => number;
  readonly logger?: Logger;
}

export type Refusal = 'total' | 'tenant' | 'user';
export type OpenResult = { ok: true; close: () => void } | { ok: false; reason: Refusal };

interface Group {
  readonly key: StreamGroup;
  readonly streams: Set<Stream>;
  fingerprint: string | undefined;
  changesAt: number | undefined;
}

interface Stream {
  readonly sink: StreamSink;
  readonly owner: StreamOwner;
  /** The answer this stream's client last had (or was told to fetch). */
  fingerprint: string;
}

/** A stream whose client has not read this much is dropped rather than buffered further. */
const MAX_BUFFERED_BYTES = 256 * 1024;
/** setTimeout's largest delay. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class EventStreams {
  readonly #groups = new Map<string, Group>();
  readonly #perTenant = new Map<string, number>();
  readonly #perUser = new Map<string, number>();
  #size = 0;
  #check: NodeJS.Timeout | undefined;
  #checking = false;
  #eventId = 0;
  #pending: Set<string> | 'all' | undefined;
  #running: Promise<void> | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #clock: () => number;

  constructor(private readonly options: EventStreamsOptions) {
    this.#clock = options.clock ?? Date.now;
  }

  get size(): number {
    return this.#size;
  }

  /** Why a new stream for this tenant and user would be refused, if it would. */
  refusal(tenantId: string, user: string): Refusal | undefined {
    if (this.#closed || this.#size >= this.options.max) return 'total';
    if ((this.#perTenant.get(tenantId) ?? 0) >= this.options.perTenant) return 'tenant';
    if ((this.#perUser.get(user) ?? 0) >= this.options.perUser) return 'user';
    return undefined;
  }

  /** Registers a stream; `fingerprint` is the answer its client holds. Refused past a cap. */
  open(key: StreamGroup, fingerprint: string, sink: StreamSink, owner: StreamOwner): OpenResult {
    const refused = this.refusal(key.tenantId, owner.user);
    if (refused) return { ok: false, reason: refused };
    const inTenant = this.#perTenant.get(key.tenantId) ?? 0;
    const id = `${key.tenantId}\u0000${key.userId}\u0000${key.role}`;
    let group = this.#groups.get(id);
    if (!group) {
      group = { key, streams: new Set(), fingerprint: undefined, changesAt: undefined };
      this.#groups.set(id, group);
    }
    const stream: Stream = { sink, owner, fingerprint };
    group.streams.add(stream);
    this.#perTenant.set(key.tenantId, inTenant + 1);
    this.#perUser.set(owner.user, (this.#perUser.get(owner.user) ?? 0) + 1);
    this.#size++;
    this.#heartbeat ??= setInterval(() => this.#beat(), this.options.heartbeatMs).unref();
    this.#check ??= setInterval(() => void this.checkCredentials(), this.options.checkMs).unref();
    const holder = group;
    let open = true;
    if (inTenant === 0) this.#scheduleExpiry();
    // The answer may have changed between the bulk fetch and this connection: check once.
    this.changed([key.tenantId]);
    return {
      ok: true,
      close: () => {
        if (!open) return;
        open = false;
        this.#remove(id, holder, stream);
      },
    };
  }

  /** The tenants' decisions may have changed ('all': every tenant's). Resolves once every stream that needed one has its event. */
  changed(tenantIds: readonly string[] | 'all'): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (tenantIds === 'all' || this.#pending === 'all') this.#pending = 'all';
    else {
      this.#pending ??= new Set();
      for (const tenantId of tenantIds) if (this.#perTenant.has(tenantId)) this.#pending.add(tenantId);
    }
    this.#running ??= this.#drain().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /**
   * Checks the credentials behind open streams once more and closes the streams of a revoked or
   * expired token or a deleted tenant (run every `checkMs` while streams are open). Resolves
   * with the number of streams closed.
   */
  async checkCredentials(): Promise<number> {
    if (this.#checking || this.#closed || this.#size === 0) return 0;
    this.#checking = true;
    try {
      const credentials = new Map<string, StreamCredential>();
      for (const group of this.#groups.values())
        for (const stream of group.streams)
          credentials.set(credentialKey(stream.owner.credential), stream.owner.credential);
      let valid: ReadonlySet<string>;
      try {
        valid = await this.options.stillValid([...credentials.values()]);
      } catch (error) {
        // The store is out of reach: streams stay as they are until the next check can answer.
        this.options.logger?.warn({ err: error }, 'OFREP event streams: could not check their credentials');
        return 0;
      }
      let closed = 0;
      for (const [id, group] of [...this.#groups])
        for (const stream of [...group.streams]) {
          if (valid.has(credentialKey(stream.owner.credential))) continue;
          stream.sink.end();
          this.#remove(id, group, stream);
          closed++;
        }
      return closed;
    } finally {
      this.#checking = false;
    }
  }

  /** Ends every stream (shutdown). */
  close(): void {
    this.#closed = true;
    clearInterval(this.#heartbeat);
    clearInterval(this.#check);
    clearTimeout(this.#expiryTimer);
    for (const group of this.#groups.values()) for (const stream of group.streams) stream.sink.end();
    this.#groups.clear();
    this.#perTenant.clear();
    this.#perUser.clear();
    this.#size = 0;
  }

  async #drain(): Promise<void> {
    // Changes that arrive while groups are evaluated are picked up by the next round.
    while (this.#pending !== undefined && !this.#closed) {
      const pending = this.#pending;
      this.#pending = undefined;
      for (const group of [...this.#groups.values()]) {
        if (pending !== 'all' && !pending.has(group.key.tenantId)) continue;
        await this.#refresh(group);
      }
      this.#scheduleExpiry();
    }
  }

  async #refresh(group: Group): Promise<void> {
    let fingerprint: string;
    try {
      const answer = await this.options.evaluate(group.key);
      fingerprint = answer.fingerprint;
      group.changesAt = answer.changesAt;
    } catch (error) {
      // No timer for an answer that could not be read: the next change evaluates it again.
      group.changesAt = undefined;
      this.options.logger?.warn(
        { err: error, tenant: group.key.tenantId },
        'OFREP event stream: could not evaluate the answer',
      );
      return;
    }
    group.fingerprint = fingerprint;
    let event: string | undefined;
    for (const stream of group.streams) {
      if (stream.fingerprint === fingerprint) continue;
      stream.fingerprint = fingerprint;
      event ??= `id: ${++this.#eventId}\nevent: message\ndata: ${JSON.stringify({ type: 'refetchEvaluation', etag: this.options.etag(fingerprint), lastModified: Math.floor(this.#clock() / 1000) })}\n\n`;
      this.#send(stream, event);
    }
  }

  #send(stream: Stream, chunk: string): void {
    if (stream.sink.writableLength > MAX_BUFFERED_BYTES) {
      stream.sink.end();
      return;
    }
    stream.sink.write(chunk);
  }

  #beat(): void {
    for (const group of this.#groups.values())
      for (const stream of group.streams) this.#send(stream, ': heartbeat\n\n');
  }

  #remove(id: string, group: Group, stream: Stream): void {
    if (!group.streams.delete(stream)) return;
    if (group.streams.size === 0) this.#groups.delete(id);
    const left = (this.#perTenant.get(group.key.tenantId) ?? 1) - 1;
    if (left === 0) this.#perTenant.delete(group.key.tenantId);
    else this.#perTenant.set(group.key.tenantId, left);
    const user = stream.owner.user;
    const ofUser = (this.#perUser.get(user) ?? 1) - 1;
    if (ofUser === 0) this.#perUser.delete(user);
    else this.#perUser.set(user, ofUser);
    this.#size--;
    if (this.#size === 0) {
      clearInterval(this.#heartbeat);
      this.#heartbeat = undefined;
      clearInterval(this.#check);
      this.#check = undefined;
    }
  }

  /**
   * One timer for the soonest moment a tenant with streams changes without a write: an override
   * expires, or the period of a meter an answer shows used up ends (its units come back).
   */
  #scheduleExpiry(): void {
    clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    if (this.#closed) return;
    const now = this.#clock();
    const expiries = new Map<string, number>();
    const note = (tenantId: string, at: number | undefined) => {
      const known = expiries.get(tenantId);
      if (at !== undefined && (known === undefined || at < known)) expiries.set(tenantId, at);
    };
    for (const tenantId of this.#perTenant.keys()) note(tenantId, this.options.nextExpiry(tenantId));
    for (const group of this.#groups.values()) note(group.key.tenantId, group.changesAt);
    let soonest: number | undefined;
    for (const at of expiries.values()) if (soonest === undefined || at < soonest) soonest = at;
    if (soonest === undefined) return;
    const at = soonest;
    const due = [...expiries].filter(([, expiry]) => expiry === at).map(([tenantId]) => tenantId);
    this.#expiryTimer = setTimeout(
      () => {
        this.#expiryTimer = undefined;
        void this.changed(due);
      },
      Math.min(Math.max(at - now, 0) + 1, MAX_TIMER_MS),
    ).unref();
  }
}
