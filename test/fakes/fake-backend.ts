// The state both fake providers share: accounts with calendars and a change log of events,
// authorization codes bound to a PKCE challenge, access and refresh tokens, canned failures
// and a log of requests. The Google and Microsoft fakes render it in their own protocols.

import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FakeCalendar, FakeEvent, FakeFailure, FakeProvider, RecordedRequest } from './fake-provider.js';

interface EventEntry {
  event: FakeEvent;
  deleted: boolean;
  seq: number;
}

interface Account {
  calendars: FakeCalendar[];
  events: Map<string, Map<string, EventEntry>>;
}

interface PendingCode {
  email: string;
  challenge: string;
  redirectUri: string;
  clientId: string;
  scopes: string[];
}

interface TokenRecord {
  email: string;
  scopes: string[];
}

export interface TokenGrant {
  accessToken: string;
  refreshToken: string;
  email: string;
  scopes: string[];
}

/** One entry of an incremental listing. */
export interface Change {
  readonly id: string;
  readonly event: FakeEvent;
  readonly deleted: boolean;
}

export const DEFAULT_EMAIL = 'user@example.com';

export class FakeBackend {
  readonly requests: RecordedRequest[] = [];
  readonly revokedTokens: string[] = [];
  /** Every access and refresh token ever issued, for tests that search for leaks. */
  readonly issuedTokens: string[] = [];
  readonly #accounts = new Map<string, Account>();
  readonly #codes = new Map<string, PendingCode>();
  #accessTokens = new Map<string, TokenRecord>();
  #refreshTokens = new Map<string, TokenRecord>();
  readonly #failures: (FakeFailure & { seen: number; used: number })[] = [];
  #seq = 0;
  /** Bumped by expireSyncState: sync states from an older epoch are refused. */
  epoch = 1;

  constructor(
    private readonly clientId: string,
    private readonly defaultCalendars: (email: string) => FakeCalendar[],
  ) {}

  account(email: string): Account {
    let account = this.#accounts.get(email);
    if (!account) {
      account = { calendars: this.defaultCalendars(email), events: new Map() };
      this.#accounts.set(email, account);
    }
    return account;
  }

  setCalendars(email: string, calendars: FakeCalendar[]): void {
    this.account(email).calendars = calendars.map((calendar) => ({ ...calendar }));
  }

  /** A calendar id as the fake knows it (Google's "primary" alias resolved). */
  resolveCalendar(email: string, calendarId: string): FakeCalendar | undefined {
    const { calendars } = this.account(email);
    if (calendarId === 'primary') return calendars.find((calendar) => calendar.primary) ?? calendars[0];
    return calendars.find((calendar) => calendar.id === calendarId);
  }

  putEvent(email: string, calendarId: string, event: FakeEvent): void {
    const id = this.resolveCalendar(email, calendarId)?.id ?? calendarId;
    const events = this.#eventsOf(email, id);
    events.set(event.id, { event: { ...event }, deleted: false, seq: ++this.#seq });
  }

  deleteEvent(email: string, calendarId: string, eventId: string): void {
    const id = this.resolveCalendar(email, calendarId)?.id ?? calendarId;
    const entry = this.#eventsOf(email, id).get(eventId);
    if (entry) Object.assign(entry, { deleted: true, seq: ++this.#seq });
  }

  #eventsOf(email: string, calendarId: string): Map<string, EventEntry> {
    const account = this.account(email);
    let events = account.events.get(calendarId);
    if (!events) account.events.set(calendarId, (events = new Map()));
    return events;
  }

  /** The current position of the change log. */
  get seq(): number {
    return this.#seq;
  }

  /** Changes after `after` up to `upto`; a full listing (after = null) leaves out deleted events. */
  changes(email: string, calendarId: string, after: number | null, upto: number): Change[] {
    const entries = [...this.#eventsOf(email, calendarId).entries()]
      .filter(([, entry]) => entry.seq <= upto && (after === null ? !entry.deleted : entry.seq > after))
      .sort((a, b) => a[1].seq - b[1].seq);
    return entries.map(([id, entry]) => ({ id, event: entry.event, deleted: entry.deleted }));
  }

  // OAuth

  /** Checks an authorization URL the way the consent screen would, and issues a code. */
  authorize(
    authorizationUrl: string,
    email: string,
    requiredScopes: readonly string[],
  ): { code: string; state: string } {
    const query = new URL(authorizationUrl).searchParams;
    const expect = (name: string, ok: (value: string | null) => boolean) => {
      if (!ok(query.get(name)))
        throw new Error(`fake consent: bad ${name} in the authorization URL: ${query.get(name)}`);
    };
    expect('client_id', (value) => value === this.clientId);
    expect('response_type', (value) => value === 'code');
    expect('code_challenge_method', (value) => value === 'S256');
    expect('code_challenge', (value) => value !== null && /^[A-Za-z0-9_-]{43}$/.test(value));
    expect('redirect_uri', (value) => value !== null && URL.canParse(value));
    expect('state', (value) => value !== null && value.length > 0);
    const scopes = (query.get('scope') ?? '').split(' ').filter(Boolean);
    for (const scope of requiredScopes)
      if (!scopes.includes(scope)) throw new Error(`fake consent: scope ${scope} was not requested`);
    this.account(email);
    const code = `code-${randomBytes(12).toString('base64url')}`;
    this.#codes.set(code, {
      email,
      challenge: query.get('code_challenge') as string,
      redirectUri: query.get('redirect_uri') as string,
      clientId: this.clientId,
      scopes,
    });
    return { code, state: query.get('state') as string };
  }

  /** The authorization-code grant: single-use code, matching client, redirect URI and PKCE verifier. */
  exchange(form: URLSearchParams, clientSecretOk: boolean): TokenGrant | { error: string; description: string } {
    const code = form.get('code') ?? '';
    const pending = this.#codes.get(code);
    this.#codes.delete(code); // single-use, even when the attempt fails
    if (!clientSecretOk) return { error: 'invalid_client', description: 'client authentication failed' };
    if (!pending) return { error: 'invalid_grant', description: 'the code is unknown or was used already' };
    if (form.get('redirect_uri') !== pending.redirectUri)
      return { error: 'invalid_grant', description: 'redirect_uri does not match the authorization request' };
    const verifier = form.get('code_verifier') ?? '';
    if (createHash('sha256').update(verifier).digest('base64url') !== pending.challenge)
      return { error: 'invalid_grant', description: 'PKCE verification failed' };
    return this.#grant(pending.email, pending.scopes);
  }

  refresh(
    form: URLSearchParams,
    clientSecretOk: boolean,
    rotate: boolean,
  ): TokenGrant | { error: string; description: string } {
    if (!clientSecretOk) return { error: 'invalid_client', description: 'client authentication failed' };
    const refreshToken = form.get('refresh_token') ?? '';
    const record = this.#refreshTokens.get(refreshToken);
    if (!record) return { error: 'invalid_grant', description: 'the refresh token is invalid, expired or revoked' };
    if (rotate) this.#refreshTokens.delete(refreshToken);
    const grant = this.#grant(record.email, record.scopes, rotate ? undefined : refreshToken);
    return grant;
  }

  #grant(email: string, scopes: string[], keepRefreshToken?: string): TokenGrant {
    const accessToken = `at-${randomBytes(18).toString('base64url')}`;
    const refreshToken = keepRefreshToken ?? `rt-${randomBytes(18).toString('base64url')}`;
    this.issuedTokens.push(accessToken, refreshToken);
    this.#accessTokens.set(accessToken, { email, scopes });
    this.#refreshTokens.set(refreshToken, { email, scopes });
    return { accessToken, refreshToken, email, scopes };
  }

  revoke(token: string): boolean {
    this.revokedTokens.push(token);
    const known = this.#accessTokens.delete(token) || this.#refreshTokens.delete(token);
    return known;
  }

  /** The account behind a bearer token, or undefined when the token is not (or no longer) valid. */
  authenticate(authorization: string | undefined): string | undefined {
    const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
    return token ? this.#accessTokens.get(token)?.email : undefined;
  }

  validAccessTokens(): string[] {
    return [...this.#accessTokens.keys()];
  }

  expireAccessTokens(): void {
    this.#accessTokens = new Map();
  }

  revokeGrants(): void {
    this.#refreshTokens = new Map();
  }

  // Failures and the request log

  failNext(failure: FakeFailure): void {
    this.#failures.push({ ...failure, seen: 0, used: 0 });
  }

  /** The controls every fake hands a test, over this state; `requiredScopes` are what consent must grant. */
  controls(requiredScopes: readonly string[]): Omit<FakeProvider, 'provider' | 'baseUrl' | 'env' | 'close'> {
    return {
      requests: this.requests,
      revokedTokens: this.revokedTokens,
      issuedTokens: this.issuedTokens,
      authorize: (authorizationUrl, account = {}) =>
        this.authorize(authorizationUrl, account.email ?? DEFAULT_EMAIL, requiredScopes),
      setCalendars: (email, calendars) => this.setCalendars(email, calendars),
      putEvent: (email, calendarId, event) => this.putEvent(email, calendarId, event),
      deleteEvent: (email, calendarId, eventId) => this.deleteEvent(email, calendarId, eventId),
      expireSyncState: () => void this.epoch++,
      expireAccessTokens: () => this.expireAccessTokens(),
      revokeGrants: () => this.revokeGrants(),
      failNext: (failure) => this.failNext(failure),
      validAccessTokens: () => this.validAccessTokens(),
    };
  }

  /** Records the request; answers it with a canned failure when one matches. Returns true when it did. */
  intercept(request: IncomingMessage, body: unknown, response: ServerResponse): boolean {
    const url = request.url ?? '/';
    this.requests.push({ method: request.method ?? 'GET', url, authorization: request.headers.authorization, body });
    const path = url.split('?')[0] as string;
    for (const failure of this.#failures) {
      if (failure.method && failure.method !== request.method) continue;
      if (typeof failure.path === 'string' ? !path.includes(failure.path) : !failure.path.test(path)) continue;
      if (failure.used >= (failure.times ?? 1)) continue;
      failure.seen++;
      if (failure.seen <= (failure.after ?? 0)) continue;
      failure.used++;
      response.writeHead(failure.status, { 'content-type': 'application/json', ...failure.headers });
      response.end(failure.body === undefined ? '' : JSON.stringify(failure.body));
      return true;
    }
    return false;
  }
}

/** Reads a request body (form or JSON) with a size bound. */
export async function readBody(
  request: IncomingMessage,
): Promise<{ text: string; form: URLSearchParams; json: unknown }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > 1_000_000) throw new Error('fake: request body too large');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  let json: unknown;
  try {
    json = text && (request.headers['content-type'] ?? '').includes('json') ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { text, form: new URLSearchParams(text), json };
}

export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  response.end(JSON.stringify(body));
}

/** An ID token as providers send it: header.payload.signature (the fake does not sign). */
export function idToken(claims: Record<string, unknown>): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ iat: Math.floor(Date.now() / 1000), ...claims })}.fake-signature`;
}

/** Client credentials from the form or from HTTP Basic authentication. */
export function clientCredentials(
  request: IncomingMessage,
  form: URLSearchParams,
): { id: string | null; secret: string | null } {
  const basic = /^Basic (.+)$/.exec(request.headers.authorization ?? '')?.[1];
  if (basic) {
    const [id, secret] = Buffer.from(basic, 'base64').toString('utf8').split(':');
    return { id: decodeURIComponent(id ?? ''), secret: decodeURIComponent(secret ?? '') };
  }
  return { id: form.get('client_id'), secret: form.get('client_secret') };
}

/** Opaque page/sync tokens: JSON, base64url. */
export function encodeToken(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function decodeToken<T>(token: string): T | undefined {
  try {
    return JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as T;
  } catch {
    return undefined;
  }
}
