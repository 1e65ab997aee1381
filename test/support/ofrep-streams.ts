// OFREP as a browser app uses it, over real HTTP: a listening app, the bulk evaluation, the event
// stream it advertises, and its refetchEvaluation events, each awaited within a bound.

import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig, type Env } from '../../src/config.js';
import { buildTestApp, dropSchema, type TestApp, type TestAppOptions } from './app.js';
import { openSse, type SseStream } from './sse.js';

/** What a test closes after it, last opened first. */
export type Closing = (() => Promise<void>)[];

export interface ListeningApp {
  readonly t: TestApp;
  readonly url: string;
  /** An admin token (tenant `ops`). */
  readonly admin: string;
}

export async function listeningApp(closing: Closing, options: TestAppOptions = {}): Promise<ListeningApp> {
  const t = await buildTestApp({ ...options, env: { ENTITLE_RATE_LIMIT_ADMIN: '100000', ...options.env } });
  closing.push(() => t.close());
  const admin = await t.token('ops', 'olga', { role: 'admin' });
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = t.app.server.address() as { port: number };
  return { t, url: `http://127.0.0.1:${port}`, admin };
}

/**
 * Two instances of the app on one PostgreSQL schema of their own (DATABASE_URL; dropped when the
 * test closes), with `policies`: what one writes, the other learns through the change feed.
 */
export async function twoPostgresInstances(
  closing: Closing,
  policies: string,
  schemaPrefix: string,
): Promise<[FastifyInstance, FastifyInstance]> {
  const url = process.env.DATABASE_URL as string;
  const schema = `${schemaPrefix}_${randomBytes(6).toString('hex')}`;
  const env: Env = {
    ENTITLE_DB: ':memory:',
    ENTITLE_POLICIES: policies,
    ENTITLE_SEED_DEMO: 'false',
    DATABASE_URL: url,
    DATABASE_SCHEMA: schema,
    ENTITLE_SESSION_SECRET: randomBytes(24).toString('hex'),
  };
  const apps: FastifyInstance[] = [];
  closing.push(async () => {
    for (const app of apps) await app.close();
    await dropSchema(url, schema);
  });
  for (let i = 0; i < 2; i++) apps.push(await buildApp({ config: loadConfig(env), logger: false }));
  return apps as [FastifyInstance, FastifyInstance];
}

export interface BulkResponse {
  readonly status: number;
  readonly etag: string;
  readonly body:
    | {
        flags: { key: string; value: unknown }[];
        eventStreams?: { type: string; url: string; inactivityDelaySec: number }[];
      }
    | undefined;
}

/** A bulk evaluation over HTTP, as a browser app makes it. */
export async function bulk(url: string, token: string, headers: Record<string, string> = {}): Promise<BulkResponse> {
  const response = await fetch(`${url}/ofrep/v1/evaluate/flags`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
    body: '{}',
  });
  const body = response.status === 200 ? ((await response.json()) as BulkResponse['body']) : undefined;
  return { status: response.status, etag: response.headers.get('etag') ?? '', body };
}

/** One flag's value in a bulk answer. */
export const valueOf = (answer: BulkResponse, key: string): unknown =>
  answer.body?.flags.find((flag) => flag.key === key)?.value;

/** Opens the stream the caller's bulk answer advertises. */
export async function openStream(closing: Closing, url: string, token: string): Promise<SseStream> {
  const { body } = await bulk(url, token);
  const sse = await openSse(body?.eventStreams?.[0]?.url as string);
  closing.push(async () => sse.close());
  expect(sse.status).toBe(200);
  return sse;
}

export interface RefetchEvent {
  readonly type: string;
  readonly etag: string;
  readonly lastModified: number;
}

/** The stream's next refetchEvaluation; rejects when none comes within `withinMs`. */
export function refetch(sse: SseStream, withinMs = 5_000): Promise<RefetchEvent> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no refetchEvaluation within ${withinMs} ms`)), withinMs);
  });
  const event = sse
    .next((candidate) => candidate.data !== undefined)
    .then((candidate) => JSON.parse(candidate.data as string) as RefetchEvent);
  return Promise.race([event, timeout]).finally(() => clearTimeout(timer));
}
