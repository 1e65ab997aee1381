// Entity tags for cacheable answers (OFREP bulk evaluation, the Unleash client API): a hash of
// the answer itself, and If-None-Match the way RFC 9110 reads it.

import { hash } from 'node:crypto';

/** A strong ETag for a serialized answer: it changes exactly when the answer changes. */
export function etagOf(text: string): string {
  return `"${hash('sha256', text, 'base64url').slice(0, 27)}"`;
}

/**
 * Whether an If-None-Match header matches `etag`: `*`, or a comma-separated list of tags where
 * weak ones (W/"…") count too, since If-None-Match compares weakly.
 */
export function noneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const wanted = opaque(etag);
  for (const part of header.split(',')) {
    const tag = part.trim();
    if (tag === '*') return true;
    if (tag !== '' && opaque(tag) === wanted) return true;
  }
  return false;
}

function opaque(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}
