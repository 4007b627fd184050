// Server side of SASL (reference section 6.2): which mechanisms the `server` lines of a secrets file
// allow, and checking one exchange of PLAIN, LOGIN or CRAM-*. Protocol-neutral: the caller (the POP
// server here) does the base64 framing, the "*" cancel and the replies.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { cramDigest, type CramMechanism } from './cram';
import { findServerAccount, type Secrets, type ServerAccount } from './secrets';

export type ServerMechanism = CramMechanism | 'PLAIN' | 'LOGIN';

const CRAM_WITH_PLAIN: CramMechanism[] = ['CRAM-SHA512', 'CRAM-SHA256', 'CRAM-SHA1', 'CRAM-MD5'];

/**
 * E-MailRelay's list: any `server plain` line allows every CRAM-* plus PLAIN and LOGIN; hashed md5
 * lines alone allow only CRAM-MD5. (Hashed sha* states would need a resumable SHA: not offered.)
 */
export function serverMechanisms(secrets: Secrets): ServerMechanism[] {
  if (secrets.serverTypes.has('plain')) return [...CRAM_WITH_PLAIN, 'PLAIN', 'LOGIN'];
  if (secrets.serverTypes.has('md5')) return ['CRAM-MD5'];
  return [];
}

export type SaslStep =
  | { kind: 'challenge'; data: Buffer }
  | { kind: 'success'; user: string }
  | { kind: 'failure'; user?: string; reason: string };

/** The password of a user's `server plain` line checked in constant time. */
export function checkPlainPassword(secrets: Secrets, user: string, password: string | Buffer): boolean {
  const account = findServerAccount(secrets, 'plain', user);
  return !!account && account.secret.equals(password);
}

/** CRAM challenge in E-MailRelay's form: <random.unixtime@domain>. */
export function cramChallenge(domain: string): string {
  return `<${randomBytes(8).readBigUInt64BE()}.${Math.floor(Date.now() / 1000)}@${domain}>`;
}

function cramAccount(secrets: Secrets, mechanism: CramMechanism, user: string): ServerAccount | undefined {
  return findServerAccount(secrets, 'plain', user) ?? (mechanism === 'CRAM-MD5' ? findServerAccount(secrets, 'md5', user) : undefined);
}

/** One authentication exchange. start() once, then step() with each client response. */
export class SaslExchange {
  private stage = 0;
  private challenge = '';
  private loginUser = '';

  constructor(
    readonly mechanism: ServerMechanism,
    private readonly secrets: () => Secrets,
    private readonly domain: string,
  ) {}

  /** Server-first mechanisms (CRAM-*) must not get an initial response; `null` means none was sent. */
  start(initial: Buffer | null): SaslStep {
    if (this.mechanism.startsWith('CRAM-')) {
      if (initial !== null) return { kind: 'failure', reason: 'initial response not allowed for a server-first mechanism' };
      this.challenge = cramChallenge(this.domain);
      this.stage = 1;
      return { kind: 'challenge', data: Buffer.from(this.challenge) };
    }
    if (initial === null) {
      this.stage = 1;
      return { kind: 'challenge', data: this.mechanism === 'LOGIN' ? Buffer.from('Username:') : Buffer.alloc(0) };
    }
    this.stage = 1;
    return this.step(initial);
  }

  step(response: Buffer): SaslStep {
    const secrets = this.secrets();
    if (this.mechanism === 'PLAIN') {
      const parts = response.toString('utf8').split('\0');
      if (parts.length !== 3) return { kind: 'failure', reason: 'malformed PLAIN response' };
      const [authz, user, password] = parts as [string, string, string];
      if (authz && authz !== user) return { kind: 'failure', user, reason: 'authorisation id differs from the authentication id' };
      return checkPlainPassword(secrets, user, password) ? { kind: 'success', user } : { kind: 'failure', user, reason: 'wrong user or password' };
    }
    if (this.mechanism === 'LOGIN') {
      if (this.stage === 1) {
        this.loginUser = response.toString('utf8');
        this.stage = 2;
        return { kind: 'challenge', data: Buffer.from('Password:') };
      }
      const user = this.loginUser;
      return checkPlainPassword(secrets, user, response) ? { kind: 'success', user } : { kind: 'failure', user, reason: 'wrong user or password' };
    }
    const text = response.toString('utf8');
    const space = text.lastIndexOf(' ');
    if (space <= 0) return { kind: 'failure', reason: `malformed ${this.mechanism} response` };
    const user = text.slice(0, space);
    const hex = text.slice(space + 1).toLowerCase();
    const account = cramAccount(secrets, this.mechanism, user);
    if (!account || !/^[0-9a-f]+$/.test(hex)) return { kind: 'failure', user, reason: 'wrong user or password' };
    const secret = account.type === 'plain'
      ? { type: 'plain' as const, value: account.secret.bytes() }
      : { type: 'md5' as const, value: account.secret.bytes() };
    const expected = cramDigest(this.mechanism, secret, Buffer.from(this.challenge));
    const given = Buffer.from(hex, 'hex');
    const ok = given.length === expected.length && timingSafeEqual(given, expected);
    return ok ? { kind: 'success', user } : { kind: 'failure', user, reason: 'wrong user or password' };
  }
}
