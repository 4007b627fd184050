// Checking SMTP AUTH credentials against the secrets file's `server` lines (E-MailRelay section 6.2).
// PLAIN and LOGIN need a `server plain` line; CRAM-<hash> works with a `server plain` line (HMAC keyed
// with the password) and CRAM-MD5 also with a `server md5` hashed secret (emailrelay-passwd).
import { timingSafeEqual } from 'node:crypto';
import { cramHash, hmacFromKey, hmacMd5FromState } from './cram';
import { findServerAccount, type Secrets } from './secrets';

/** What smtp-server hands to onAuth (the CRAM-SHA* ones come from src/smtp/sasl-cram.ts). */
export interface AuthAttempt {
  method: string;
  username: string;
  password?: string;
  challenge?: string;
  challengeResponse?: string;
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** True if the attempt's credentials match a server account. Never throws on client input. */
export function verifyWithSecrets(secrets: Secrets, attempt: AuthAttempt): boolean {
  const method = attempt.method.toUpperCase();
  if (method === 'PLAIN' || method === 'LOGIN') {
    const account = findServerAccount(secrets, 'plain', attempt.username);
    return !!account && attempt.password !== undefined && account.secret.equals(attempt.password);
  }
  const hash = cramHash(method);
  if (!hash || attempt.challenge === undefined || attempt.challengeResponse === undefined) return false;
  const response = attempt.challengeResponse.toLowerCase();
  const plain = findServerAccount(secrets, 'plain', attempt.username);
  if (plain) return sameText(hmacFromKey(hash, plain.secret.bytes(), attempt.challenge).toString('hex'), response);
  if (hash === 'md5') {
    const hashed = findServerAccount(secrets, 'md5', attempt.username);
    if (hashed) return sameText(hmacMd5FromState(hashed.secret.bytes(), attempt.challenge).toString('hex'), response);
  }
  return false;
}
