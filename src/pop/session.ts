// One POP3 connection (RFC 1939, CAPA RFC 2449, STLS RFC 2595, AUTH RFC 5034), as E-MailRelay's
// POP server behaves (reference section 9.1). States: authorization -> transaction -> closed.
// Commands are handled one at a time, in order; bad input gets -ERR, never an exception.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { spoolFs } from '../privilege';
import type * as net from 'node:net';
import * as tls from 'node:tls';
import type { Log } from '../log';
import { SaslExchange, type SaslStep, type ServerMechanism } from '../auth/sasl-server';
import { findServerAccount } from '../auth/secrets';
import { applyFilter, type MechanismFilter } from '../auth/server-mechanisms';
import { pause, type AuthThrottle } from '../auth/throttle';
import type { PopAccounts } from './accounts';
import { sendContent } from './content';
import { LineSplitter, type InputLine } from './lines';
import { isSafeMailboxName, listMailbox, mailboxDir, removeMessages, type MailboxMessage } from './mailbox';
import { contentName } from '../spool/names';

export interface PopContext {
  spoolDir: string;
  domain: string;
  byName: boolean;
  noDelete: boolean;
  /** STLS: the server certificate's context, and whether it is required before authentication. */
  tls: { context: tls.SecureContext; required: boolean } | null;
  accounts: PopAccounts;
  /** --server-auth-config applies to POP too (E-MailRelay 1.6). */
  mechanismFilter: MechanismFilter;
  /** Failed logins per client address, shared with SMTP AUTH and the admin password. */
  throttle: AuthThrottle;
  log: Log;
  idleTimeoutMs: number;
  handshakeTimeoutMs: number;
}

/** Commands are short (RFC 2449: 255 octets); SASL responses may be longer. */
const MAX_LINE = 4096;
const MAX_ERRORS = 20;
const MAX_AUTH_FAILURES = 5;

class Gone extends Error {}

type State = 'authorization' | 'transaction' | 'closed';

export class PopSession {
  private socket: net.Socket | tls.TLSSocket;
  private readonly splitter = new LineSplitter(MAX_LINE);
  private readonly queue: InputLine[] = [];
  private busy = false;
  private state: State = 'authorization';
  private secure = false;
  private errors = 0;
  private authFailures = 0;
  private userForPass: string | null = null;
  private sasl: SaslExchange | null = null;
  /** APOP timestamp in the greeting, if APOP is possible (plain secrets exist). */
  private readonly timestamp: string;
  private user = '';
  private messages: MailboxMessage[] = [];
  private readonly deleted = new Set<number>();
  private readonly onData = (chunk: Buffer) => this.received(chunk);

  constructor(
    socket: net.Socket,
    private readonly ctx: PopContext,
    private readonly address: string,
  ) {
    this.socket = socket;
    const secrets = ctx.accounts.secrets();
    this.timestamp = secrets.serverTypes.has('plain') ? `<${process.pid}.${Date.now()}.${randomBytes(4).toString('hex')}@${ctx.domain}>` : '';
    this.attach(socket);
    this.reply(`+OK POP3 server ready${this.timestamp ? ' ' + this.timestamp : ''}`).catch(() => undefined);
  }

  private attach(socket: net.Socket): void {
    socket.on('data', this.onData);
    socket.on('error', (e) => this.ctx.log.debug({ address: this.address, err: e.message }, 'pop connection error'));
    socket.on('close', () => this.closed());
    socket.setTimeout(this.ctx.idleTimeoutMs, () => {
      this.ctx.log.info({ address: this.address }, 'pop connection idle: closed (--idle-timeout)');
      this.reply('-ERR idle timeout')
        .catch(() => undefined)
        .finally(() => socket.destroy());
    });
  }

  private closed(): void {
    if (this.state !== 'closed') this.ctx.log.debug({ address: this.address }, 'pop connection closed');
    this.state = 'closed';
    this.queue.length = 0;
  }

  private received(chunk: Buffer): void {
    this.queue.push(...this.splitter.push(chunk));
    if (this.queue.length) this.socket.pause(); // one command at a time: read on once the queue is empty
    void this.run();
  }

  private async run(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.length && this.state !== 'closed') {
        const input = this.queue.shift()!;
        try {
          if (input.kind === 'too-long') await this.error('-ERR line too long');
          else if (this.sasl) await this.saslResponse(input.text);
          else await this.command(input.text);
        } catch (e) {
          if (e instanceof Gone) break;
          this.ctx.log.error({ address: this.address, err: (e as Error).stack ?? String(e) }, 'pop command failed');
          await this.reply('-ERR internal error').catch(() => undefined);
        }
      }
    } finally {
      this.busy = false;
      if (this.state !== 'closed' && !this.socket.destroyed) this.socket.resume();
    }
  }

  private send(data: Buffer): Promise<void> {
    const s = this.socket;
    if (s.destroyed || !s.writable) return Promise.reject(new Gone());
    if (s.write(data)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => {
        s.off('close', gone);
        resolve();
      };
      const gone = () => {
        s.off('drain', done);
        reject(new Gone());
      };
      s.once('drain', done);
      s.once('close', gone);
    });
  }

  private reply(line: string): Promise<void> {
    return this.send(Buffer.from(line + '\r\n', 'utf8'));
  }

  /** A bad command: -ERR, and the connection dropped after too many. */
  private async error(line: string): Promise<void> {
    this.errors++;
    if (this.errors > MAX_ERRORS) {
      this.ctx.log.warn({ address: this.address }, 'pop client dropped after too many bad commands');
      await this.reply('-ERR too many errors').catch(() => undefined);
      this.close();
      return;
    }
    await this.reply(line);
  }

  private close(): void {
    this.socket.end();
    this.closed();
  }

  private async command(line: string): Promise<void> {
    const m = /^(\S*)(?: (.*))?$/.exec(line);
    const verb = (m?.[1] ?? '').toUpperCase();
    const rest = m?.[2] ?? '';
    const args = rest.split(' ').filter(Boolean);
    if (verb === 'CAPA') return this.capa();
    if (verb === 'QUIT') return this.quit();
    if (this.state === 'authorization') {
      switch (verb) {
        case 'USER':
          return this.userCommand(rest.trim());
        case 'PASS':
          return this.passCommand(rest);
        case 'APOP':
          return this.apop(rest);
        case 'AUTH':
          return this.auth(args);
        case 'STLS':
          return this.stls();
        case 'NOOP':
          return this.error('-ERR not authenticated');
        default:
          if (['STAT', 'LIST', 'RETR', 'TOP', 'DELE', 'RSET', 'UIDL'].includes(verb)) return this.error('-ERR not authenticated');
          return this.error('-ERR unknown command');
      }
    }
    switch (verb) {
      case 'STAT':
        return this.stat();
      case 'LIST':
        return this.list(args);
      case 'UIDL':
        return this.uidl(args);
      case 'RETR':
        return this.retr(args);
      case 'TOP':
        return this.top(args);
      case 'DELE':
        return this.dele(args);
      case 'NOOP':
        return this.reply('+OK');
      case 'RSET':
        this.deleted.clear();
        return this.reply('+OK');
      case 'USER':
      case 'PASS':
      case 'APOP':
      case 'AUTH':
      case 'STLS':
        return this.error('-ERR already authenticated');
      default:
        return this.error('-ERR unknown command');
    }
  }

  // ---- authorization state ----

  /** From the secrets, filtered by --server-auth-config, as for SMTP. */
  private mechanisms(): ServerMechanism[] {
    return applyFilter(this.ctx.accounts.mechanisms(this.secure), this.ctx.mechanismFilter, this.secure) as ServerMechanism[];
  }

  private async capa(): Promise<void> {
    const lines = ['+OK capability list follows', 'TOP', 'UIDL', 'RESP-CODES'];
    // USER/PASS is PLAIN underneath (as in E-MailRelay): offered when PLAIN is.
    const mechs = this.mechanisms();
    if (mechs.includes('PLAIN')) lines.push('USER');
    if (this.ctx.tls && !this.secure && this.state === 'authorization') lines.push('STLS');
    if (mechs.length && this.state === 'authorization') lines.push(`SASL ${mechs.join(' ')}`);
    lines.push('CAPA', 'IMPLEMENTATION relaybox', '.');
    await this.reply(lines.join('\r\n'));
  }

  /** --server-tls-required: nothing that authenticates before STLS. */
  private async tlsRequired(): Promise<boolean> {
    if (this.ctx.tls?.required && !this.secure) {
      await this.error('-ERR must use STLS before authentication');
      return true;
    }
    return false;
  }

  private async userCommand(name: string): Promise<void> {
    if (await this.tlsRequired()) return;
    if (!name) return this.error('-ERR USER needs a name');
    if (!this.mechanisms().includes('PLAIN')) return this.error('-ERR no SASL PLAIN mechanism to do USER/PASS authentication');
    this.userForPass = name;
    await this.reply('+OK');
  }

  private async passCommand(password: string): Promise<void> {
    if (await this.tlsRequired()) return;
    const user = this.userForPass;
    this.userForPass = null;
    if (user === null) return this.error('-ERR USER first');
    if (await this.throttled(user, 'USER/PASS')) return;
    return this.checkPassword(user, password, 'USER/PASS');
  }

  private async apop(rest: string): Promise<void> {
    if (await this.tlsRequired()) return;
    const m = /^(.+) ([0-9A-Fa-f]{32})$/.exec(rest);
    if (!m) return this.error('-ERR APOP needs a name and a 32-digit MD5 digest');
    if (!this.timestamp) return this.error('-ERR APOP not available');
    const [, user, digest] = m as unknown as [string, string, string];
    if (await this.throttled(user, 'APOP')) return;
    const account = findServerAccount(this.ctx.accounts.secrets(), 'plain', user);
    if (account) {
      const expected = createHash('md5').update(this.timestamp).update(account.secret.bytes()).digest();
      const given = Buffer.from(digest, 'hex');
      if (timingSafeEqual(expected, given)) return this.loggedIn(user, 'APOP');
    }
    return this.authFailed(user, 'APOP', 'wrong user or digest');
  }

  private async auth(args: string[]): Promise<void> {
    if (await this.tlsRequired()) return;
    const mechs = this.mechanisms();
    if (args.length === 0) return this.reply(['+OK', ...mechs, '.'].join('\r\n'));
    const mech = args[0]!.toUpperCase() as ServerMechanism;
    if (!mechs.includes(mech)) return this.error('-ERR unsupported authentication mechanism');
    if (await this.throttled('', `AUTH ${mech}`)) return;
    let initial: Buffer | null = null;
    if (args.length > 1) {
      initial = decodeBase64(args[1]!);
      if (initial === null) return this.error('-ERR invalid base64 in the initial response');
    }
    this.sasl = new SaslExchange(mech, () => this.ctx.accounts.secrets(), this.ctx.domain);
    return this.saslStep(this.sasl.start(initial));
  }

  private async saslResponse(text: string): Promise<void> {
    if (text.trim() === '*') {
      this.sasl = null;
      return this.error('-ERR authentication cancelled');
    }
    const response = decodeBase64(text.trim());
    if (response === null) {
      this.sasl = null;
      return this.error('-ERR invalid base64 in the response');
    }
    return this.saslStep(this.sasl!.step(response));
  }

  private async saslStep(step: SaslStep): Promise<void> {
    const mech = this.sasl!.mechanism;
    if (step.kind === 'challenge') return this.reply(`+ ${step.data.toString('base64')}`);
    this.sasl = null;
    // Checked again at the end: the address may have been locked out during the exchange.
    if (await this.throttled(step.user ?? '', `AUTH ${mech}`)) return;
    if (step.kind === 'success') return this.loggedIn(step.user, `AUTH ${mech}`);
    if (step.kind === 'password') return this.checkPassword(step.user, step.password, `AUTH ${mech}`);
    return this.authFailed(step.user ?? '', `AUTH ${mech}`, step.reason);
  }

  private async checkPassword(user: string, password: string, method: string): Promise<void> {
    const result = await this.ctx.accounts.checkPassword(user, password, this.address);
    if (result === 'ok') return this.loggedIn(user, method);
    if (result === 'busy') {
      this.ctx.log.warn({ address: this.address, user, method }, 'pop authentication refused for now: too many PAM checks waiting');
      return this.reply('-ERR [SYS/TEMP] authentication busy: try again later');
    }
    return this.authFailed(user, method, 'wrong user or password');
  }

  /** Too many failures from this address (on any listener): refused unchecked, with -ERR [SYS/TEMP]. */
  private async throttled(user: string, method: string): Promise<boolean> {
    const wait = this.ctx.throttle.refusedFor(this.address);
    if (wait === 0) return false;
    this.ctx.log.warn({ address: this.address, user, method }, 'pop authentication refused: too many failures from this address');
    await this.error(`-ERR [SYS/TEMP] too many failed authentication attempts from your address: try again in ${Math.ceil(wait / 1000)} s`);
    return true;
  }

  private async authFailed(user: string, method: string, reason: string): Promise<void> {
    this.authFailures++;
    const f = this.ctx.throttle.failed(this.address);
    this.ctx.log.warn({ address: this.address, user, method, reason, failures: f.failures }, 'pop authentication failed');
    await pause(f.delayMs);
    if (this.authFailures >= MAX_AUTH_FAILURES) {
      await this.reply('-ERR [AUTH] authentication failed: too many attempts').catch(() => undefined);
      this.close();
      return;
    }
    await this.reply('-ERR [AUTH] authentication failed');
  }

  private async loggedIn(user: string, method: string): Promise<void> {
    this.ctx.throttle.succeeded(this.address);
    if (this.ctx.byName && !isSafeMailboxName(user)) {
      this.ctx.log.warn({ address: this.address, user }, 'pop user name cannot name a --pop-by-name directory');
      return this.error('-ERR [SYS/PERM] this user name cannot be used as a mailbox directory name');
    }
    const dir = mailboxDir(this.ctx.spoolDir, user, this.ctx.byName);
    try {
      if (this.ctx.byName) await spoolFs.mkdir(dir, { recursive: true, mode: 0o770 });
      this.messages = await listMailbox(this.ctx.spoolDir, dir);
    } catch (e) {
      this.ctx.log.error({ address: this.address, user, dir, err: (e as Error).message }, 'cannot read the pop mailbox');
      return this.reply('-ERR [SYS/TEMP] cannot read the mailbox');
    }

    this.user = user;
    this.state = 'transaction';
    const octets = this.messages.reduce((n, msg) => n + msg.size, 0);
    this.ctx.log.info({ address: this.address, user, method, messages: this.messages.length, tls: this.secure }, 'pop login');
    await this.reply(`+OK ${this.messages.length} messages (${octets} octets)`);
  }

  private async stls(): Promise<void> {
    if (!this.ctx.tls) return this.error('-ERR STLS not available');
    if (this.secure) return this.error('-ERR already using TLS');
    // Whatever was sent after STLS in plain text is discarded, never run inside the TLS session.
    this.queue.length = 0;
    this.splitter.clear();
    this.userForPass = null;
    const raw = this.socket as net.Socket;
    raw.removeListener('data', this.onData);
    raw.removeAllListeners('close');
    raw.removeAllListeners('timeout');
    raw.setTimeout(0);
    await this.reply('+OK begin TLS negotiation');
    const secure = new tls.TLSSocket(raw, { isServer: true, secureContext: this.ctx.tls.context, requestCert: false });
    this.socket = secure;
    const handshake = setTimeout(() => secure.destroy(), this.ctx.handshakeTimeoutMs);
    secure.once('secure', () => {
      clearTimeout(handshake);
      this.secure = true;
      this.ctx.log.debug({ address: this.address, cipher: secure.getCipher()?.name }, 'pop STLS done');
    });
    secure.on('error', (e) => {
      clearTimeout(handshake);
      this.ctx.log.info({ address: this.address, err: e.message }, 'pop STLS failed');
    });
    secure.on('data', this.onData);
    secure.on('close', () => {
      clearTimeout(handshake);
      this.closed();
    });
    secure.setTimeout(this.ctx.idleTimeoutMs, () => secure.destroy());
  }

  // ---- transaction state ----

  /** The message a number argument names (1-based, not deleted), or null after an -ERR reply. */
  private async message(arg: string | undefined): Promise<{ n: number; msg: MailboxMessage } | null> {
    const n = arg && /^\d{1,9}$/.test(arg) ? Number(arg) : NaN;
    if (!Number.isInteger(n) || n < 1 || n > this.messages.length) {
      await this.error('-ERR no such message');
      return null;
    }
    if (this.deleted.has(n)) {
      await this.error(`-ERR message ${n} already deleted`);
      return null;
    }
    return { n, msg: this.messages[n - 1]! };
  }

  private live(): { n: number; msg: MailboxMessage }[] {
    return this.messages.map((msg, i) => ({ n: i + 1, msg })).filter((x) => !this.deleted.has(x.n));
  }

  private async stat(): Promise<void> {
    const live = this.live();
    await this.reply(`+OK ${live.length} ${live.reduce((s, x) => s + x.msg.size, 0)}`);
  }

  private async list(args: string[]): Promise<void> {
    if (args.length) {
      const m = await this.message(args[0]);
      if (m) await this.reply(`+OK ${m.n} ${m.msg.size}`);
      return;
    }
    const live = this.live();
    await this.reply([`+OK ${live.length} messages`, ...live.map((x) => `${x.n} ${x.msg.size}`), '.'].join('\r\n'));
  }

  private async uidl(args: string[]): Promise<void> {
    if (args.length) {
      const m = await this.message(args[0]);
      if (m) await this.reply(`+OK ${m.n} ${contentName(m.msg.id)}`);
      return;
    }
    await this.reply(['+OK', ...this.live().map((x) => `${x.n} ${contentName(x.msg.id)}`), '.'].join('\r\n'));
  }

  private async retr(args: string[]): Promise<void> {
    const m = await this.message(args[0]);
    if (m) await this.sendMessage(m.msg, `+OK ${m.msg.size} octets`);
  }

  private async top(args: string[]): Promise<void> {
    if (args.length !== 2 || !/^\d{1,9}$/.test(args[1]!)) return this.error('-ERR TOP needs a message number and a number of lines');
    const m = await this.message(args[0]);
    if (m) await this.sendMessage(m.msg, '+OK', Number(args[1]));
  }

  private async sendMessage(msg: MailboxMessage, first: string, bodyLines?: number): Promise<void> {
    let fh: FileHandle;
    try {
      fh = await spoolFs.open(msg.content, 'r');
    } catch (e) {
      this.ctx.log.warn({ address: this.address, id: msg.id, err: (e as Error).message }, 'pop message content is gone');
      return this.reply('-ERR message no longer in the spool');
    }
    try {
      await this.reply(first);
      await sendContent(fh, (d) => this.send(d), bodyLines);
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  private async dele(args: string[]): Promise<void> {
    const m = await this.message(args[0]);
    if (!m) return;
    this.deleted.add(m.n);
    await this.reply(`+OK message ${m.n} deleted`);
  }

  private async quit(): Promise<void> {
    if (this.state !== 'transaction') {
      await this.reply('+OK bye').catch(() => undefined);
      this.close();
      return;
    }
    const marked = [...this.deleted].map((n) => this.messages[n - 1]!);
    let text = '+OK bye';
    if (marked.length && this.ctx.noDelete) {
      this.ctx.log.info({ address: this.address, user: this.user, kept: marked.length }, 'pop session ended: DELE ignored (--pop-no-delete)');
    } else if (marked.length) {
      const failed = await removeMessages(this.ctx.spoolDir, marked);
      for (const f of failed) this.ctx.log.error({ user: this.user, id: f.id, err: f.error }, 'pop: cannot delete a message');
      this.ctx.log.info({ address: this.address, user: this.user, deleted: marked.length - failed.length }, 'pop session ended');
      if (failed.length) text = '-ERR [SYS/TEMP] some deleted messages not removed';
    }
    await this.reply(text).catch(() => undefined);
    this.close();
  }
}

function decodeBase64(s: string): Buffer | null {
  if (s === '=') return Buffer.alloc(0);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) return null;
  return Buffer.from(s, 'base64');
}
