// /metrics: Prometheus text exposition for operator and SDK-client tokens only, parsed with a
// real text-format parser; every family the operations guide lists is there and moves with the
// traffic; no tenant or user id appears as a label value.

import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';
import { describe, expect, it } from 'vitest';
import type { TestApp } from '../support/app.js';
import { connectCalendar, useCalendarApps } from '../support/calendar.js';

describe('GET /metrics', () => {
  const apps = useCalendarApps();

  /**
   * The families as parsed, plus every histogram's series (`_bucket`, `_sum`, `_count`) parsed
   * again with the TYPE line erased: the parser folds a labelled histogram into one sample.
   */
  async function scrape(app: TestApp, token: string): Promise<Map<string, ParsedFamily>> {
    const response = await app.app.inject({ method: 'GET', url: '/metrics', headers: app.auth(token) });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = parsePrometheusTextFormat(response.body);
    const series = parsePrometheusTextFormat(response.body.replace(/^# TYPE \S+ histogram$/gm, ''));
    const byName = new Map<string, ParsedFamily>();
    // Erased of its type, each run of a series is a family of its own: gathered by name.
    for (const family of [...series, ...families]) {
      const known = byName.get(family.name);
      byName.set(
        family.name,
        known && family.type === 'UNTYPED' ? { ...known, metrics: [...known.metrics, ...family.metrics] } : family,
      );
    }
    return byName;
  }

  const samples = (families: Map<string, ParsedFamily>, name: string) => families.get(name)?.metrics ?? [];

  it('is refused without a token (401) and to a tenant member (403), served to admin and client tokens', async () => {
    const t = await apps.build();
    const member = await t.token('acme', 'alice', { plan: 'pro' });
    const admin = await t.token('ops', 'olivia', { role: 'admin' });
    const client = await t.token('ops', 'sdk', { role: 'client' });
    expect((await t.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/metrics', headers: t.auth(member) })).statusCode).toBe(403);
    await scrape(t, admin);
    await scrape(t, client);
  });

  it('counts requests by route, decisions by cause, gate denials by reason, store latency, provider errors, and reports state', async () => {
    const t = await apps.build();
    const pro = await t.token('acme', 'alice', { plan: 'pro' });
    const free = await t.token('globex', 'bob', { plan: 'free' });
    const admin = await t.token('ops', 'olivia', { role: 'admin' });
    await connectCalendar(t, apps.fakes.google, pro);
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/calendar/status/', headers: t.auth(free) })).statusCode,
    ).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/api/calendar/list/', headers: t.auth(free) })).statusCode).toBe(
      403,
    );
    apps.fakes.google.failNext({
      method: 'GET',
      path: /calendar/i,
      status: 500,
      body: { error: { code: 500, message: 'backend error' } },
    });
    expect((await t.app.inject({ method: 'GET', url: '/api/calendar/list/', headers: t.auth(pro) })).statusCode).toBe(
      502,
    );

    const families = await scrape(t, admin);
    expect(families.get('entitle_http_request_duration_seconds')?.type).toBe('HISTOGRAM');
    expect(samples(families, 'entitle_http_request_duration_seconds_count')).toContainEqual({
      labels: { method: 'GET', route: '/api/calendar/status/', status: '200' },
      value: '1',
    });
    expect(samples(families, 'entitle_http_request_duration_seconds_count')).toContainEqual({
      labels: { method: 'GET', route: '/api/calendar/list/', status: '403' },
      value: '1',
    });
    expect(samples(families, 'entitle_decisions_total')).toContainEqual({
      labels: { feature: 'can_use_calendar_sync', source: 'default', cause: 'NOT_IN_PLAN' },
      value: expect.any(String),
    });
    expect(samples(families, 'entitle_gate_denials_total')).toEqual([
      { labels: { feature: 'can_use_calendar_sync', reason: 'NOT_IN_PLAN' }, value: '1' },
    ]);
    expect(families.get('entitle_store_operation_duration_seconds')?.type).toBe('HISTOGRAM');
    expect(samples(families, 'entitle_store_operation_duration_seconds_count')).toContainEqual({
      labels: { operation: 'connections.list', outcome: 'ok' },
      value: expect.stringMatching(/^[1-9]/),
    });
    expect(samples(families, 'entitle_calendar_provider_errors_total')).toEqual([
      { labels: { provider: 'google', code: 'ENT_ERR_PROVIDER_FAILED' }, value: '1' },
    ]);
    expect(samples(families, 'entitle_store_stale')).toEqual([{ value: '0' }]);
    expect(samples(families, 'entitle_store_stale_seconds')).toEqual([{ value: '0' }]);
    expect(samples(families, 'entitle_policy_info')).toEqual([
      { labels: { version: t.app.entitle.policy.snapshot.version }, value: '1' },
    ]);
    expect(samples(families, 'entitle_policy_reload_failures_total')).toEqual([{ value: '0' }]);
    expect(samples(families, 'entitle_audit_backlog_events')).toEqual([{ value: '0' }]);
    expect(samples(families, 'process_cpu_user_seconds_total')).toHaveLength(1);
    expect(samples(families, 'nodejs_eventloop_lag_seconds')).toHaveLength(1);

    // Labels are bounded sets: no tenant or user id, anywhere.
    const labelValues = [...families.values()].flatMap((family) =>
      family.metrics.flatMap((sample) => Object.values(sample.labels ?? {})),
    );
    for (const id of ['acme', 'globex', 'ops', 'alice', 'bob', 'olivia']) expect(labelValues).not.toContain(id);
  });
});
