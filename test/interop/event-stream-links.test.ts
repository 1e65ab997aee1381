// Stream links are signed once per grant and window: the same token all window long, and a new
// one (valid from the new window) as soon as the window moves on.

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { STREAM_WINDOW_MS, StreamLinks } from '../../src/interop/event-stream-links.js';

const grant = {
  tenantId: 'acme',
  userId: 'alice',
  role: 'member' as const,
  fingerprint: 'fp1',
  principal: 'token:abc123',
  tokenId: 'abc123',
};
const issuedAt = (token: string) =>
  (JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as { iat: number }).iat;

describe('stream links', () => {
  it('give the same token for the same grant within a window, and a fresh one in the next', async () => {
    let now = Date.parse('2030-01-01T00:00:10Z');
    const links = new StreamLinks(randomBytes(32), () => now);
    const first = await links.issue(grant);
    expect(await links.issue({ ...grant })).toBe(first);
    expect(await links.issue({ ...grant, fingerprint: 'fp2' })).not.toBe(first);
    expect(await links.issue({ ...grant, role: 'admin' })).not.toBe(first);

    now += STREAM_WINDOW_MS;
    const next = await links.issue(grant);
    expect(next).not.toBe(first);
    expect(issuedAt(next) - issuedAt(first)).toBe(STREAM_WINDOW_MS / 1000);
    // Both still open a stream (a token is accepted for two windows), and say who it is for.
    expect(await links.verify(first)).toEqual(grant);
    expect(await links.verify(next)).toEqual(grant);
    now += 2 * STREAM_WINDOW_MS;
    await expect(links.verify(first)).rejects.toThrow(/invalid stream link/);
  });
});
