// Server side of one SASL exchange (reference section 6.2) for protocols that do not get one from a
// library (POP3; smtp-server does its own for SMTP). CRAM-* is checked here against the `server`
// lines of a secrets file with the SMTP server's verifier (server-verify.ts); PLAIN and LOGIN end in
// a user and password for the caller to check (secrets file or PAM). The caller does the base64
// framing, the "*" cancel and the replies.
import { randomBytes } from 'node:crypto';
import type { CramMechanism } from './cram';
import type { Secrets } from './secrets';
import { verifyWithSecrets } from './server-verify';

export type ServerMechanism = CramMechanism | 'PLAIN' | 'LOGIN';

export type SaslStep =
  | { kind: 'challenge'; data: Buffer }
  | { kind: 'success'; user: string }
  /** PLAIN or LOGIN got its credentials: the caller checks them. */
  | { kind: 'password'; user: string; password: string }
  | { kind: 'failure'; user?: string; reason: string };

/** CRAM challenge in E-MailRelay's form: <random.unixtime@domain>. */
export function cramChallenge(domain: string): string {
  return `<${randomBytes(8).readBigUInt64BE()}.${Math.floor(Date.now() / 1000)}@${domain}>`;
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
    if (this.mechanism === 'PLAIN') {
      const parts = response.toString('utf8').split('\0');
      if (parts.length !== 3) return { kind: 'failure', reason: 'malformed PLAIN response' };
      const [authz, user, password] = parts as [string, string, string];
      if (authz && authz !== user) return { kind: 'failure', user, reason: 'authorisation id differs from the authentication id' };
      return { kind: 'password', user, password };
    }
    if (this.mechanism === 'LOGIN') {
      if (this.stage === 1) {
        this.loginUser = response.toString('utf8');
        this.stage = 2;
        return { kind: 'challenge', data: Buffer.from('Password:') };
      }
      const user = this.loginUser;
      return { kind: 'password', user, password: response.toString('utf8') };
    }
    const text = response.toString('utf8');
    const space = text.lastIndexOf(' ');
    if (space <= 0) return { kind: 'failure', reason: `malformed ${this.mechanism} response` };
    const user = text.slice(0, space);
    const hex = text.slice(space + 1);
    if (!/^[0-9A-Fa-f]+$/.test(hex)) return { kind: 'failure', user, reason: `malformed ${this.mechanism} response` };
    const ok = verifyWithSecrets(this.secrets(), { method: this.mechanism, username: user, challenge: this.challenge, challengeResponse: hex });
    return ok ? { kind: 'success', user } : { kind: 'failure', user, reason: 'wrong user or password' };
  }
}
