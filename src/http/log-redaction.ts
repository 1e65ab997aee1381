// What the access log may say about a request: its URL without the secrets a query string can
// carry (an OAuth callback's code and state, a token someone pasted), and no headers.

import type { FastifyRequest } from 'fastify';

/** Query parameters whose values never reach a log line. */
const SECRET_PARAMETERS = new Set([
  'code',
  'state',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'client_secret',
  'code_verifier',
]);

/** `/cb?code=abc&state=xyz&x=1` → `/cb?code=[redacted]&state=[redacted]&x=1`. */
export function redactUrl(url: string): string {
  const question = url.indexOf('?');
  if (question < 0) return url;
  const parts = url
    .slice(question + 1)
    .split('&')
    .map((part) => {
      const equals = part.indexOf('=');
      const name = decodeName(equals < 0 ? part : part.slice(0, equals));
      return SECRET_PARAMETERS.has(name.toLowerCase())
        ? `${part.slice(0, equals < 0 ? part.length : equals)}=[redacted]`
        : part;
    });
  return `${url.slice(0, question)}?${parts.join('&')}`;
}

function decodeName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '));
  } catch {
    return name;
  }
}

/** pino's `req` serializer: fastify's fields, with the URL redacted. */
export function requestForLog(request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    url: redactUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}
