// The admin API from the page: same origin, the session cookie, and the session's CSRF token on
// every write. Errors keep the API's status, code and words.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: Record<string, unknown>,
  ) {
    super(message);
  }
}

let csrfToken: string | undefined;

export function useCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

export interface Answer<T> {
  readonly body: T;
  readonly headers: Headers;
  readonly status: number;
}

export async function call<T>(
  method: string,
  path: string,
  options: { body?: unknown; yaml?: string; headers?: Record<string, string> } = {},
): Promise<Answer<T>> {
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let body: string | undefined;
  if (options.yaml !== undefined) {
    headers['content-type'] = 'application/yaml';
    body = options.yaml;
  } else if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  const response = await fetch(path, { method, headers, body, credentials: 'same-origin' });
  const text = await response.text();
  const parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  if (!response.ok && !(response.status === 422 && parsed.valid === false)) {
    throw new ApiError(
      response.status,
      String(parsed.code ?? `HTTP_${response.status}`),
      String(parsed.message ?? parsed.error ?? response.statusText),
      parsed,
    );
  }
  return { body: parsed as T, headers: response.headers, status: response.status };
}

export const get = async <T>(path: string): Promise<T> => (await call<T>('GET', path)).body;

/** A query string from the set values only. */
export function query(values: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values))
    if (value !== undefined && value !== '') params.set(key, String(value));
  const text = params.toString();
  return text ? `?${text}` : '';
}
