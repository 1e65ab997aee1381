// The account e-mail from an OpenID Connect ID token.

/**
 * Reads `email` (or an e-mail-shaped `preferred_username`) from an ID token's payload. The
 * signature is not checked: the token came straight from the provider's token endpoint over
 * TLS in answer to our own request, and the e-mail is only shown, never used to authorize.
 */
export function emailFromIdToken(idToken: string | null | undefined): string | null {
  const payload = idToken?.split('.')[1];
  if (!payload) return null;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
      email?: unknown;
      preferred_username?: unknown;
    };
    if (typeof claims.email === 'string') return claims.email;
    // preferred_username may be a phone number: only an e-mail-shaped one will do.
    return typeof claims.preferred_username === 'string' && claims.preferred_username.includes('@')
      ? claims.preferred_username
      : null;
  } catch {
    return null;
  }
}
