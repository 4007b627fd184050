// The CSRF token in every status page form: an HMAC of the time it was issued and the client's
// address, under a key made at start-up. A page on another site cannot read ours (the Host check
// stops DNS rebinding), so it cannot produce a token, and a POST without one is refused before the
// admin password is looked at.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const KEY = randomBytes(32);
/** How long a rendered page's forms stay usable. */
export const FORM_TOKEN_LIFETIME_MS = 12 * 3600_000;

function mac(issued: string, address: string): Buffer {
  return createHmac('sha256', KEY).update(`${issued}|${address}`).digest();
}

export function issueFormToken(address: string, now = Date.now()): string {
  const issued = Math.floor(now / 1000).toString(36);
  return `${issued}.${mac(issued, address).toString('base64url')}`;
}

export type FormTokenCheck = 'ok' | 'expired' | 'invalid';

export function checkFormToken(token: string, address: string, now = Date.now()): FormTokenCheck {
  const m = /^([0-9a-z]{1,12})\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!m) return 'invalid';
  const given = Buffer.from(m[2]!, 'base64url');
  if (given.length !== 32 || !timingSafeEqual(given, mac(m[1]!, address))) return 'invalid';
  const age = now - parseInt(m[1]!, 36) * 1000;
  return age < -60_000 || age > FORM_TOKEN_LIFETIME_MS ? 'expired' : 'ok';
}
