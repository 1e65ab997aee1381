// What every page gets from the router.

export interface Session {
  readonly actor: string;
  readonly tokenId: string;
  readonly csrfToken: string;
  readonly expiresAt: string;
}

export interface PageContext {
  readonly main: HTMLElement;
  /** The hash path: ['tenants', 'acme']. */
  readonly path: readonly string[];
  readonly params: URLSearchParams;
  /** Says something to screen readers (a polite live region). */
  announce(text: string): void;
  navigate(hash: string): void;
  signedIn(session: Session): void;
}

/** The reason an API call failed, in words for the page. */
export function problem(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
