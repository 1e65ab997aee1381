// The token cache in front of the store: exact while the store answers, and the last known
// tokens (within the stale bound) while it cannot.

import { describe, expect, it } from 'vitest';
import { TokenCache } from '../../src/auth/token-cache.js';
import { StoreUnavailableError } from '../../src/errors.js';
import type { ApiToken, ChangeFeed } from '../../src/store/store.js';

const token = (overrides: Partial<ApiToken> = {}): ApiToken => ({
  id: 'tok1',
  tenantId: 'acme',
  userId: 'alice',
  role: 'member',
  name: null,
  createdAt: '2026-01-01T00:00:00.000Z',
  expiresAt: null,
  revokedAt: null,
  ...overrides,
});

/** A store seen through the cache's eyes: rows, an outage switch, and the two change signals. */
function harness(trusted = true) {
  const rows = new Map<string, ApiToken>([['h1', token()]]);
  let down = false;
  let lookups = 0;
  let afterWrite: () => void = () => undefined;
  let signal: () => void = () => undefined;
  /** Runs while the next lookup is under way (after the store read, before the answer is returned). */
  let duringLookup: (() => void) | undefined;
  const store = {
    afterWrite: (hook: () => void) => ((afterWrite = hook), () => undefined),
    changes: { watch: (hook: () => void) => ((signal = hook), () => undefined) } as unknown as ChangeFeed,
  };
  const cache = new TokenCache(
    async (hash) => {
      lookups++;
      if (down) throw new StoreUnavailableError();
      const row = rows.get(hash);
      const during = duringLookup;
      duringLookup = undefined;
      during?.();
      return row;
    },
    store,
    { trustLastKnown: () => trusted },
  );
  return {
    cache,
    rows,
    lookups: () => lookups,
    outage: (value: boolean) => void (down = value),
    ownWrite: () => afterWrite(),
    otherProcessWrote: () => signal(),
    whileLookingUp: (work: () => void) => void (duringLookup = work),
  };
}

describe('token cache', () => {
  it('answers repeated lookups from memory and looks again after a change signal', async () => {
    const h = harness();
    expect(await h.cache.find('h1')).toEqual(token());
    expect(await h.cache.find('h1')).toEqual(token());
    expect(h.lookups()).toBe(1);
    h.rows.set('h1', token({ revokedAt: '2026-02-01T00:00:00.000Z' }));
    h.otherProcessWrote();
    expect(await h.cache.find('h1')).toEqual(token({ revokedAt: '2026-02-01T00:00:00.000Z' }));
    expect(h.lookups()).toBe(2);
  });

  it('keeps accepting a token last seen valid while the store is out of reach', async () => {
    const h = harness();
    await h.cache.find('h1');
    h.otherProcessWrote();
    h.outage(true);
    expect(await h.cache.find('h1')).toEqual(token());
  });

  it('trusts a token in an outage when another process wrote while it was first looked up', async () => {
    const h = harness();
    h.whileLookingUp(() => h.otherProcessWrote());
    expect(await h.cache.find('h1')).toEqual(token());
    h.outage(true);
    expect(await h.cache.find('h1')).toEqual(token());
  });

  it('does not keep an answer that crossed its own write, even as last known', async () => {
    const h = harness();
    h.whileLookingUp(() => {
      h.rows.set('h1', token({ revokedAt: '2026-02-01T00:00:00.000Z' }));
      h.ownWrite();
    });
    await h.cache.find('h1');
    h.outage(true);
    await expect(h.cache.find('h1')).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('stops trusting last known tokens once the stale bound has passed', async () => {
    const h = harness(false);
    await h.cache.find('h1');
    h.otherProcessWrote();
    h.outage(true);
    await expect(h.cache.find('h1')).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('forgets last known tokens after its own write, so a token it revoked never comes back', async () => {
    const h = harness();
    await h.cache.find('h1');
    h.ownWrite();
    h.outage(true);
    await expect(h.cache.find('h1')).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('forgets a token the store no longer knows', async () => {
    const h = harness();
    await h.cache.find('h1');
    h.rows.delete('h1');
    h.otherProcessWrote();
    expect(await h.cache.find('h1')).toBeUndefined();
    h.outage(true);
    await expect(h.cache.find('h1')).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});
