// A loopback SMTP server that replays one provider profile from test/fixtures/providers/*.json,
// line for line: greeting, EHLO before and after STARTTLS, the AUTH exchanges with the provider's
// own success and failure replies (Gmail's 334 JSON challenge included), MAIL/RCPT/DATA/RSET/QUIT,
// and the provider's reply to commands it does not know. Raw net + tls (not smtp-server), so that
// every line on the wire is exactly the fixture's. It judges credentials for real: passwords it is
// given, static tokens, or tokens issued by the OAuth stand-in (test/lib/oauth-standin.ts).
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { SCOPE_GOOGLE, SCOPE_OUTLOOK, type StandIn } from './oauth-standin';

export const FIXTURE_DIR = path.resolve(__dirname, '../fixtures/providers');

/** One reply line as the provider sends it, and where it was seen. */
export interface SourcedLine {
  line: string;
  source: string;
}
export type Reply = SourcedLine[];

export interface MechanismReplies {
  /** The 334 the server sends when the client gives no initial response. */
  challenge?: SourcedLine;
  userChallenge?: SourcedLine;
  passwordChallenge?: SourcedLine;
  ok?: Reply;
  fail?: Reply;
  /** Sent instead of `fail` first (Gmail: base64 JSON); the client's answer is read, then `fail`. */
  errorChallenge?: SourcedLine;
}

export interface ProviderProfile {
  profile: string;
  provider: string;
  endpoint: string;
  notes?: string[];
  greeting: Reply;
  ehloBeforeTls: Reply;
  ehloAfterTls: Reply;
  heloReply: Reply;
  starttlsReply: Reply;
  /** TLS versions older than this get `tooOld` after the handshake (Microsoft's 421 4.7.66). */
  tls?: { minVersion: string; tooOld?: Reply };
  mechanisms: Record<string, MechanismReplies>;
  accepts: {
    password: { mechanisms: string[]; refusedWith?: Reply; note?: string };
    token: { mechanisms: string[]; issuer: 'microsoft' | 'google' | 'none'; note?: string };
    grants: string[];
  };
  replies: {
    mailOk: Reply;
    rcptOk: Reply;
    dataGo: Reply;
    dataOk: Reply;
    rset: Reply;
    noop: Reply;
    quit: Reply;
    unknownCommand: Reply;
    unknownMechanism: Reply;
    authRequired: Reply;
    badSequence: Reply;
    authCancelled: Reply;
    badBase64: Reply;
    lineTooLong: Reply;
    tlsRequired?: Reply;
  };
  /** The provider's typical error texts, keyed by enhanced status code. */
  errors: Record<string, Reply>;
}

export function loadProfile(name: string): ProviderProfile {
  return JSON.parse(readFileSync(path.join(FIXTURE_DIR, `${name}.json`), 'utf8')) as ProviderProfile;
}

export function profileNames(): string[] {
  return readdirSync(FIXTURE_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -5))
    .sort();
}

/** The AUTH mechanisms an EHLO reply offers (from its "AUTH ..." line, not "AUTH=..."). */
export function offeredMechanisms(ehlo: Reply): string[] {
  for (const l of ehlo) {
    const m = /^250[- ]AUTH (.*)$/i.exec(l.line);
    if (m)
      return m[1]!
        .trim()
        .split(/\s+/)
        .map((x) => x.toUpperCase());
  }
  return [];
}

export type InjectAt = 'EHLO' | 'AUTH' | 'MAIL' | 'RCPT' | 'DATA-END';

export interface ReplayOptions {
  profile: ProviderProfile;
  key: Buffer;
  cert: Buffer;
  /** Accounts that may sign in with a password: user -> password. */
  passwords?: Record<string, string>;
  /** Static access tokens this server accepts: token -> user. */
  staticTokens?: Record<string, string>;
  /** Tokens issued by this stand-in are checked for scope, expiry, user and mailbox permission. */
  standIn?: StandIn;
  /** Override the profile: does this tenant still accept passwords (basic authentication)? */
  passwordsAllowed?: boolean;
  /** Answer this command with an error from the profile's catalogue (e.g. Gmail's 454 4.7.0). */
  inject?: { at: InjectAt; error: string; close?: boolean };
  /**
   * Sessions that may send at once (Exchange Online: three per mailbox). A session opened while that
   * many are open gets the profile's 4.3.2 error at the end of each message's data.
   */
  maxSessions?: number;
}

export interface AuthAttempt {
  mechanism: string;
  user?: string;
  ok: boolean;
  why?: string;
  /** What the client answered to an error challenge (XOAUTH2: "", OAUTHBEARER: "AQ=="). */
  challengeAnswer?: string;
}

export interface ReplayedMessage {
  from: string;
  to: string[];
  data: Buffer;
  mechanism?: string;
  user?: string;
  tls?: string;
}

export interface ReplaySession {
  tls?: string;
  commands: string[];
  auth: AuthAttempt[];
  messages: ReplayedMessage[];
  /** Messages refused with 4.3.2 because the session was one over maxSessions. */
  refusedOverLimit?: number;
}

export interface ReplayServer {
  port: number;
  profile: ProviderProfile;
  sessions: ReplaySession[];
  messages: ReplayedMessage[];
  close(): Promise<void>;
}

const MAX_LINE = 16 * 1024;
const MAX_DATA = 10 * 1024 * 1024;

class LineTooLong extends Error {}
class Closed extends Error {}

/** A socket read as CRLF lines, with every read bounded. */
class LineReader {
  private buf = Buffer.alloc(0);
  private wake: (() => void) | null = null;
  private ended = false;
  private sock!: net.Socket;

  constructor(sock: net.Socket) {
    this.attach(sock);
  }

  attach(sock: net.Socket): void {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    sock.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.wake?.();
    });
    const end = () => {
      this.ended = true;
      this.wake?.();
    };
    sock.on('end', end);
    sock.on('close', end);
    sock.on('error', end);
  }

  /** Detach from the plain socket before STARTTLS, dropping anything the client pipelined after it. */
  detach(): void {
    this.sock.removeAllListeners('data');
    this.sock.removeAllListeners('end');
    this.sock.removeAllListeners('close');
    this.buf = Buffer.alloc(0);
    this.ended = false;
  }

  async line(limit = MAX_LINE): Promise<string> {
    for (;;) {
      const nl = this.buf.indexOf('\n');
      if (nl >= 0 && nl <= limit) {
        const raw = this.buf.subarray(0, nl);
        this.buf = this.buf.subarray(nl + 1);
        const text = raw.toString('latin1');
        return text.endsWith('\r') ? text.slice(0, -1) : text;
      }
      if (this.buf.length > limit) throw new LineTooLong();
      if (this.ended) throw new Closed();
      await new Promise<void>((r) => {
        this.wake = r;
      });
      this.wake = null;
    }
  }
}

const lines = (r: Reply, vars: Record<string, string> = {}) => r.map((l) => l.line.replace(/\{(\w+)\}/g, (m, k: string) => vars[k] ?? m)).join('\r\n') + '\r\n';

const b64 = (s: string): string | null => {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return null;
  return Buffer.from(s, 'base64').toString('latin1');
};

export async function startReplay(opts: ReplayOptions): Promise<ReplayServer> {
  const p = opts.profile;
  const sessions: ReplaySession[] = [];
  const messages: ReplayedMessage[] = [];
  const open = new Set<net.Socket>();
  /** The sessions counted against maxSessions. */
  const sending = new Set<net.Socket>();
  const passwordsAllowed = opts.passwordsAllowed ?? !p.accepts.password.refusedWith;

  function tokenUser(user: string, token: string): { ok: true } | { ok: false; why: string } {
    const st = opts.staticTokens?.[token];
    if (st !== undefined) return st.toLowerCase() === user.toLowerCase() ? { ok: true } : { ok: false, why: `static token for ${st}` };
    if (!opts.standIn) return { ok: false, why: 'unknown token' };
    const issuer = p.accepts.token.issuer;
    const scopes = issuer === 'google' ? [SCOPE_GOOGLE] : [SCOPE_OUTLOOK, 'https://outlook.office.com/SMTP.Send'];
    const c = opts.standIn.check(token, scopes, user);
    if (!c.ok) return c;
    if (issuer === 'microsoft' && c.token.kind === 'google') return { ok: false, why: 'a Google token' };
    if (issuer === 'google' && c.token.kind !== 'google') return { ok: false, why: 'a Microsoft token' };
    if (c.token.kind === 'ms-app' && !opts.standIn.microsoftApps.get(c.token.clientId)?.smtpMailboxes.includes(user))
      return { ok: false, why: `no FullAccess to ${user}` };
    return { ok: true };
  }

  async function serve(raw: net.Socket): Promise<void> {
    const session: ReplaySession = { commands: [], auth: [], messages: [] };
    sessions.push(session);
    const overLimit = opts.maxSessions !== undefined && sending.size >= opts.maxSessions;
    if (!overLimit) sending.add(raw);
    raw.once('close', () => sending.delete(raw));
    let sock: net.Socket = raw;
    const reader = new LineReader(raw);
    const send = (r: Reply, vars?: Record<string, string>) => {
      sock.write(lines(r, vars));
    };
    const err = (code: string): Reply => {
      const r = p.errors[code];
      if (!r) throw new Error(`profile ${p.profile} has no error ${code}`);
      return r;
    };
    const injected = (at: InjectAt): boolean => {
      if (opts.inject?.at !== at) return false;
      send(err(opts.inject.error));
      if (opts.inject.close) sock.end();
      return true;
    };
    let secure = false;
    let greeted = false;
    let authed: { mechanism: string; user: string } | undefined;
    let from: string | undefined;
    let to: string[] = [];

    const ehlo = () => (secure ? p.ehloAfterTls : p.ehloBeforeTls);

    async function auth(arg: string): Promise<void> {
      const [mechRaw, initial] = arg.split(/\s+/, 2);
      const mech = (mechRaw ?? '').toUpperCase();
      if (!greeted || authed) return send(p.replies.badSequence);
      const offered = offeredMechanisms(ehlo());
      if (!offered.includes(mech))
        return send(offered.length ? p.replies.unknownMechanism : secure ? p.replies.unknownCommand : (p.replies.tlsRequired ?? p.replies.unknownCommand));
      if (injected('AUTH')) return;
      const r = p.mechanisms[mech] ?? {};
      // The client's next line after a 334; undefined when it cancelled with "*".
      const answer = async (challenge: SourcedLine | undefined, fallback = '334 '): Promise<string | null | undefined> => {
        sock.write(`${challenge?.line ?? fallback}\r\n`);
        const l = await reader.line();
        if (l === '*') return undefined;
        return b64(l);
      };
      const cancelled = () => {
        session.auth.push({ mechanism: mech, ok: false, why: 'cancelled' });
        send(p.replies.authCancelled);
      };
      const undecodable = () => {
        session.auth.push({ mechanism: mech, ok: false, why: 'bad base64' });
        send(p.replies.badBase64);
      };
      const judgePassword = (user: string, pass: string | ((known: string) => boolean)) => {
        const known = opts.passwords?.[user];
        const right = known !== undefined && (typeof pass === 'string' ? pass === known : pass(known));
        if (!passwordsAllowed) {
          session.auth.push({ mechanism: mech, user, ok: false, why: 'passwords refused (basic authentication disabled)' });
          return send(p.accepts.password.refusedWith!);
        }
        if (!p.accepts.password.mechanisms.includes(mech) || !right) {
          session.auth.push({ mechanism: mech, user, ok: false, why: right ? 'mechanism not accepted with a password' : 'wrong password' });
          return send(r.fail ?? p.errors['5.7.8'] ?? p.replies.unknownMechanism);
        }
        authed = { mechanism: mech, user };
        session.auth.push({ mechanism: mech, user, ok: true });
        send(r.ok!);
      };
      const judgeToken = async (user: string, token: string) => {
        const v = p.accepts.token.mechanisms.includes(mech) ? tokenUser(user, token) : { ok: false as const, why: 'mechanism not accepted' };
        if (v.ok) {
          authed = { mechanism: mech, user };
          session.auth.push({ mechanism: mech, user, ok: true });
          return send(r.ok!);
        }
        session.auth.push({ mechanism: mech, user, ok: false, why: v.why });
        if (r.errorChallenge) {
          sock.write(`${r.errorChallenge.line}\r\n`);
          session.auth.at(-1)!.challengeAnswer = await reader.line();
        }
        send(r.fail!);
      };

      if (mech === 'PLAIN') {
        const text = initial !== undefined ? (initial === '=' ? '' : b64(initial)) : await answer(r.challenge);
        if (text === undefined) return cancelled();
        if (text === null) return undecodable();
        const [, user = '', pass = ''] = text.split('\0');
        return judgePassword(user, pass);
      }
      if (mech === 'LOGIN') {
        const user = initial !== undefined ? b64(initial) : await answer(r.userChallenge);
        if (user === undefined) return cancelled();
        if (user === null) return undecodable();
        const pass = await answer(r.passwordChallenge);
        if (pass === undefined) return cancelled();
        if (pass === null) return undecodable();
        return judgePassword(user, pass);
      }
      if (/^CRAM-(MD5|SHA1|SHA256|SHA512)$/.test(mech)) {
        const algo = mech.slice(5).toLowerCase();
        const challenge = `<${randomBytes(6).toString('hex')}.${Date.now()}@replay.test>`;
        sock.write(`334 ${Buffer.from(challenge).toString('base64')}\r\n`);
        const l = await reader.line();
        if (l === '*') return cancelled();
        const text = b64(l);
        if (text === null) return undecodable();
        const sp = text.lastIndexOf(' ');
        const user = text.slice(0, sp);
        const digest = text.slice(sp + 1).toLowerCase();
        return judgePassword(user, (known) => createHmac(algo, known).update(challenge).digest('hex') === digest);
      }
      if (mech === 'XOAUTH2') {
        const text = initial !== undefined ? b64(initial) : await answer(r.challenge);
        if (text === undefined) return cancelled();
        if (text === null) return undecodable();
        const m = /^user=([^\x01]*)\x01auth=Bearer ([^\x01]*)\x01\x01$/.exec(text);
        if (!m) return undecodable();
        return judgeToken(m[1]!, m[2]!);
      }
      if (mech === 'OAUTHBEARER') {
        const text = initial !== undefined ? b64(initial) : await answer(r.challenge);
        if (text === undefined) return cancelled();
        if (text === null) return undecodable();
        // RFC 7628: gs2-header "n,a=<user>," then \x01-separated key=value pairs, then \x01\x01.
        const m = /^n,(?:a=([^,]*))?,\x01(.*)\x01\x01$/s.exec(text);
        const kv = new Map((m?.[2] ?? '').split('\x01').map((x) => [x.slice(0, x.indexOf('=')), x.slice(x.indexOf('=') + 1)] as [string, string]));
        const bearer = /^Bearer (.+)$/.exec(kv.get('auth') ?? '');
        if (!m || !bearer) return undecodable();
        return judgeToken((m[1] ?? '').replace(/=2C/g, ',').replace(/=3D/g, '='), bearer[1]!);
      }
      // Offered, but not something this replay speaks (NTLM, GSSAPI, ATOKEN, ...): the provider's refusal.
      session.auth.push({ mechanism: mech, ok: false, why: 'mechanism not replayed' });
      if (r.challenge) {
        sock.write(`${r.challenge.line}\r\n`);
        if ((await reader.line()) === '*') return send(p.replies.authCancelled);
      }
      send(r.fail ?? p.replies.unknownMechanism);
    }

    async function data(): Promise<void> {
      send(p.replies.dataGo);
      const parts: Buffer[] = [];
      let size = 0;
      for (;;) {
        const l = await reader.line(1000 * 1000);
        if (l === '.') break;
        const text = l.startsWith('.') ? l.slice(1) : l;
        size += text.length + 2;
        if (size > MAX_DATA) throw new LineTooLong();
        parts.push(Buffer.from(`${text}\r\n`, 'latin1'));
      }
      const msg: ReplayedMessage = { from: from!, to, data: Buffer.concat(parts), mechanism: authed?.mechanism, user: authed?.user, tls: session.tls };
      from = undefined;
      to = [];
      if (injected('DATA-END')) return;
      if (overLimit) {
        session.refusedOverLimit = (session.refusedOverLimit ?? 0) + 1;
        return send(err('4.3.2'));
      }
      session.messages.push(msg);
      messages.push(msg);
      send(p.replies.dataOk);
    }

    try {
      send(p.greeting);
      for (;;) {
        const line = await reader.line();
        const sp = line.indexOf(' ');
        const verb = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
        const arg = sp < 0 ? '' : line.slice(sp + 1).trim();
        session.commands.push(verb === 'AUTH' ? `AUTH ${arg.split(' ')[0]}` : line);
        switch (verb) {
          case 'EHLO':
            if (injected('EHLO')) break;
            greeted = true;
            from = undefined;
            to = [];
            send(ehlo());
            break;
          case 'HELO':
            if (injected('EHLO')) break;
            greeted = true;
            send(p.heloReply);
            break;
          case 'STARTTLS': {
            if (secure || !ehlo().some((l) => /^250[- ]STARTTLS$/i.test(l.line))) {
              send(p.replies.unknownCommand);
              break;
            }
            send(p.starttlsReply);
            reader.detach();
            const t = new tls.TLSSocket(raw, { isServer: true, key: opts.key, cert: opts.cert, minVersion: 'TLSv1' });
            await once(t, 'secure');
            sock = t;
            secure = true;
            greeted = false;
            session.tls = t.getProtocol() ?? undefined;
            reader.attach(t);
            if (p.tls?.tooOld && session.tls && session.tls < p.tls.minVersion) {
              send(p.tls.tooOld);
              t.end();
              return;
            }
            break;
          }
          case 'AUTH':
            await auth(arg);
            break;
          case 'MAIL': {
            if (!greeted) {
              send(p.replies.badSequence);
              break;
            }
            if (!authed && (p.accepts.password.mechanisms.length || p.accepts.token.mechanisms.length)) {
              send(p.replies.authRequired);
              break;
            }
            if (injected('MAIL')) break;
            const m = /^FROM:\s*<([^>]*)>/i.exec(arg);
            from = m?.[1] ?? arg;
            to = [];
            send(p.replies.mailOk, { address: from });
            break;
          }
          case 'RCPT': {
            if (from === undefined) {
              send(p.replies.badSequence);
              break;
            }
            if (injected('RCPT')) break;
            const m = /^TO:\s*<([^>]*)>/i.exec(arg);
            to.push(m?.[1] ?? arg);
            send(p.replies.rcptOk, { address: m?.[1] ?? arg });
            break;
          }
          case 'DATA':
            if (from === undefined || !to.length) {
              send(p.replies.badSequence);
              break;
            }
            await data();
            break;
          case 'RSET':
            from = undefined;
            to = [];
            send(p.replies.rset);
            break;
          case 'NOOP':
            send(p.replies.noop);
            break;
          case 'QUIT':
            send(p.replies.quit);
            sock.end();
            return;
          default:
            send(p.replies.unknownCommand, { command: line.slice(0, 40) });
        }
      }
    } catch (e) {
      if (e instanceof LineTooLong) {
        sock.end(lines(p.replies.lineTooLong));
        return;
      }
      if (!(e instanceof Closed)) sock.destroy();
    }
  }

  const server = net.createServer((s) => {
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => {});
    void serve(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    profile: p,
    sessions,
    messages,
    close: () =>
      new Promise<void>((r) => {
        for (const s of open) s.destroy();
        server.close(() => r());
      }),
  };
}
