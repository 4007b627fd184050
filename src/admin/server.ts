// E-MailRelay's admin interface (reference section 9.2): a line protocol for telnet or netcat.
// CRLF or LF is detected from the client's first line and used in every reply; each reply ends with
// the prompt "E-MailRelay> " (nothing is sent on connect); no idle timeout; a client is dropped after
// 30 unrecognised commands. relaybox extension: with --admin-password-file every command except
// help and quit first needs "password <password>", and until it is given every line counts towards
// the 30. Lines are handled one at a time, and reading stops while replies wait to be taken
// (backpressure), so a client that sends and never reads holds no more than a socket buffer.
import * as net from 'node:net';
import { admitsClient, NOT_ADMITTED, unmapAddress, type ClientAdmission } from '../net/client-admission';
import type { MessageStep, StepFields } from '../events/relay-events';
import { checkPassword, lockedForSeconds, retryAllFailed, type RelayControl } from './actions';
import { queueSnapshot } from './queue';
import { readHealth } from '../health/health';
import { networkErrorWords } from '../net/error-words';

export const PROMPT = 'E-MailRelay> ';
const MAX_ERRORS = 30;
const MAX_LINE = 10000;
/** Notifications queued for a client that does not read them, past which it is dropped. */
const MAX_UNREAD_EVENTS_BYTES = 1024 * 1024;
const HANG_UP_GRACE_MS = 10_000;

declare const RELAYBOX_VERSION: string;
const VERSION = typeof RELAYBOX_VERSION === 'string' ? RELAYBOX_VERSION : '0.0.0-dev';

const INFO: Record<string, string[]> = {
  version: [`relaybox ${VERSION} (E-MailRelay 2.6.1 compatible)`],
  warranty: [
    'This program is distributed in the hope that it will be useful,',
    'but WITHOUT ANY WARRANTY; without even the implied warranty of',
    'MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE. See the',
    'GNU General Public License for more details.',
  ],
  credit: ['relaybox re-implements E-MailRelay by Graeme Walker; it uses node.js, smtp-server, nodemailer and pino.'],
  copyright: ['relaybox is free software under the GNU General Public License, version 3 or later.'],
};

function commands(control: RelayControl): string {
  const names = ['flush', 'forward', 'help', 'info', 'list', 'failures', 'notify', 'pid', 'quit', 'smtp', 'status', 'unfail-all'];
  if (control.dnsbl) names.push('dnsbl');
  if (control.adminTerminate) names.push('terminate');
  if (control.adminPassword !== null) names.push('password');
  return `commands: ${names.sort().join(', ')}`;
}

function seconds(s: number | null): string {
  return s === null ? '-' : `${Math.round(s)} s`;
}

export async function statusLines(control: RelayControl): Promise<string[]> {
  const q = await queueSnapshot(control.spool);
  const c = control.activity.counts;
  const u = control.activity.upstream;
  const lines = [
    `Messages received: ${c.received}`,
    `Messages forwarded: ${c.forwarded}`,
    `Messages failed: ${c.failed}`,
    `Messages retried: ${c.retried}`,
    `Queue: ${q.ready} ready, ${q.busy} busy, ${q.failed} failed`,
    `Oldest waiting message: ${seconds(q.oldestAgeSeconds)}`,
    `SMTP server: ${control.smtp.enabled ? 'enabled' : 'disabled'}`,
    `Upstream: ${control.upstream ?? 'none (no --forward-to)'}`,
  ];
  if (u) {
    if (u.connectedAt) lines.push(`Upstream last session: ${new Date(u.connectedAt).toISOString()} tls=${u.tls || 'no'} auth=${u.auth || 'none'}`);
    if (u.lastError) lines.push(`Upstream last error: ${new Date(u.lastErrorAt).toISOString()} ${u.lastError}`);
    if (u.failingSince) lines.push(`Upstream failing since: ${new Date(u.failingSince).toISOString()}`);
  }
  const h = await readHealth(control.spool.dir);
  if (h.spool) lines.push(`Spool disk free: ${Math.round(h.spool.freeBytes / 1048576)} MiB (${h.spool.freePercent.toFixed(1)} %)`);
  lines.push(`Memory: ${Math.round(h.memory.processRssBytes / 1048576)} MiB used by relaybox, ${Math.round(h.memory.availableBytes / 1048576)} MiB available`);
  lines.push(`Load: ${h.load.map((l) => l.toFixed(2)).join(' ')}`);
  if (h.cpuTemperatureCelsius !== null) lines.push(`CPU temperature: ${h.cpuTemperatureCelsius.toFixed(1)} C`);
  lines.push(`Uptime: ${Math.round((Date.now() - control.activity.startedAt) / 1000)} s`);
  return lines;
}

/** One admin connection. */
class AdminSession {
  private eol: string | null = null;
  private pending = '';
  private errors = 0;
  private authenticated: boolean;
  private working = false;
  private toldSlow = false;
  private closed = false;
  private flushing = false;
  private notifying: ((step: MessageStep, f: StepFields) => void) | null = null;
  private upstreamListener: ((what: string) => void) | null = null;

  constructor(
    private readonly socket: net.Socket,
    private readonly control: RelayControl,
  ) {
    this.authenticated = control.adminPassword === null;
    socket.setEncoding('utf8'); // a UTF-8 password compares with the password file's UTF-8
    socket.on('data', (d: string) => this.onData(d));
    socket.on('error', () => undefined);
    socket.on('close', () => this.cleanup());
  }

  private onData(d: string): void {
    if (this.closed) return;
    this.pending += d;
    void this.work();
  }

  /** Handles the complete lines received, one at a time; reading is paused until they are answered and taken. */
  private async work(): Promise<void> {
    if (this.working) return;
    this.working = true;
    this.socket.pause();
    try {
      let nl: number;
      while (!this.closed && (nl = this.pending.indexOf('\n')) >= 0) {
        let line = this.pending.slice(0, nl);
        this.pending = this.pending.slice(nl + 1);
        if (this.eol === null) this.eol = line.endsWith('\r') ? '\r\n' : '\n';
        line = line.replace(/\r+$/, '');
        try {
          await this.handle(line);
        } catch (e) {
          this.control.log.error({ err: (e as Error).stack ?? (e as Error).message }, 'admin command failed');
          this.reply([`error: ${(e as Error).message}`]);
        }
        if (this.socket.writableNeedDrain && !this.closed) {
          if (!this.toldSlow)
            this.control.log.info(
              { address: unmapAddress(this.socket.remoteAddress ?? '') },
              'admin client is not taking its replies: reading from it paused until it does',
            );
          this.toldSlow = true;
          await this.drained();
        }
      }
      if (!this.closed && this.pending.length > MAX_LINE) {
        this.reply(['error: line too long']);
        this.hangUp();
      }
    } finally {
      this.working = false;
      if (!this.closed) this.socket.resume();
    }
  }

  /** Resolves when the client has taken the queued replies, or the connection is gone. */
  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /** Ends the session: nothing more is read or handled; queued replies still go out. */
  private hangUp(): void {
    this.closed = true;
    this.pending = '';
    this.socket.end();
    this.socket.setTimeout(HANG_UP_GRACE_MS, () => this.socket.destroy()); // a client that never takes the last reply
  }

  private write(lines: string[], prompt: boolean): void {
    if (this.closed || this.socket.destroyed) return;
    const eol = this.eol ?? '\r\n';
    this.socket.write(lines.map((l) => l + eol).join('') + (prompt ? PROMPT : ''));
  }

  /** A notification line, unless the client has left too many unread: then it is dropped. */
  private event(line: string): void {
    if (this.closed || this.socket.destroyed) return;
    if (this.socket.writableLength > MAX_UNREAD_EVENTS_BYTES) {
      this.control.log.warn({ address: unmapAddress(this.socket.remoteAddress ?? '') }, 'admin client dropped: it does not read its notifications');
      this.cleanup();
      this.socket.destroy();
      return;
    }
    this.write([line], false);
  }

  private reply(lines: string[]): void {
    this.write(lines, true);
  }

  private cleanup(): void {
    this.closed = true;
    this.pending = '';
    if (this.notifying) this.control.activity.off('step', this.notifying);
    if (this.upstreamListener) this.control.activity.off('upstream', this.upstreamListener);
    this.notifying = this.upstreamListener = null;
  }

  private unrecognised(text = 'error: unrecognised command'): void {
    this.reply([text]);
    this.countError();
  }

  private countError(): void {
    this.errors++;
    if (this.errors >= MAX_ERRORS) {
      this.control.log.warn(
        { address: unmapAddress(this.socket.remoteAddress ?? '') },
        this.authenticated ? 'admin client dropped: too many unrecognised commands' : 'admin client dropped: too many commands without the password',
      );
      this.hangUp();
    }
  }

  /** Before the password every line counts towards the error limit, help and empty lines too. */
  private counted(lines: string[]): void {
    this.reply(lines);
    if (!this.authenticated) this.countError();
  }

  private async handle(line: string): Promise<void> {
    if (this.closed) return;
    const words = line.trim().split(/\s+/).filter(Boolean);
    const cmd = (words[0] ?? '').toLowerCase();
    const arg = words.slice(1);
    const c = this.control;
    if (cmd === 'quit') return this.hangUp();
    if (!cmd) return this.counted([]);
    if (cmd === 'help') return this.counted([commands(c)]);
    if (cmd === 'password' && c.adminPassword !== null) {
      const address = unmapAddress(this.socket.remoteAddress ?? '');
      const check = await checkPassword(c, line.trim().slice('password'.length).trim(), address);
      if (check === 'ok') {
        this.authenticated = true;
        return this.reply(['OK']);
      }
      c.log.warn(
        { address },
        check === 'locked' ? 'admin password refused: too many failed passwords from this address' : 'admin client gave a wrong password',
      );
      return this.unrecognised(
        check === 'locked' ? `error: too many failed passwords from your address: try again in ${lockedForSeconds(c, address)} s` : 'error: wrong password',
      );
    }
    if (!this.authenticated) return this.unrecognised('error: password required: send "password <password>" first');
    switch (cmd) {
      case 'forward':
        if (!c.requestForward) return this.reply(['error: no remote server configured: use --forward-to']);
        c.requestForward('admin forward');
        return this.reply(['OK']);
      case 'flush': {
        if (!c.forwardNow) return this.reply(['error: no remote server configured: use --forward-to']);
        if (this.flushing) return this.reply(['error: still working']);
        if (!(await c.spool.listReady()).length) return this.reply(['error: no messages to send']);
        this.flushing = true;
        try {
          const r = await c.forwardNow();
          if (r.error) return this.reply([`error: ${networkErrorWords(r.error)}`]);
          if (r.failed) return this.reply([`error: ${r.failed} message${r.failed > 1 ? 's' : ''} failed`]);
          return this.reply(['OK']);
        } finally {
          this.flushing = false;
        }
      }
      case 'list': {
        const ids = await c.spool.listReady();
        return this.reply(ids.length ? ids : ['<none>']);
      }
      case 'failures': {
        const ids = (await c.spool.listState('bad')).sort();
        return this.reply(ids.length ? ids : ['<none>']);
      }
      case 'unfail-all':
        await retryAllFailed(c, 'admin unfail-all');
        return this.reply(['OK']);
      case 'status':
        return this.reply(await statusLines(c));
      case 'notify':
        this.startNotify();
        return this.reply(['OK']);
      case 'pid':
        return this.reply([String(process.pid)]);
      case 'smtp': {
        const what = (arg[0] ?? '').toLowerCase();
        if (what !== 'enable' && what !== 'disable') return this.unrecognised('error: usage: smtp enable|disable');
        c.smtp.enabled = what === 'enable';
        c.log.info({ smtp: what }, `smtp server ${what}d by the admin interface`);
        return this.reply(['OK']);
      }
      case 'info': {
        const text = INFO[(arg[0] ?? '').toLowerCase()];
        return text ? this.reply(text) : this.unrecognised('error: usage: info version|warranty|credit|copyright');
      }
      case 'dnsbl': {
        const what = (arg[0] ?? '').toLowerCase();
        const secs = arg[1];
        if (!((what === 'stop' && (secs === undefined || /^\d+$/.test(secs))) || (what === 'start' && secs === undefined))) {
          return this.unrecognised('error: usage: dnsbl stop [seconds] | dnsbl start');
        }
        if (!c.dnsbl) return this.reply(['error: no dnsbl checking: start relaybox with --dnsbl']);
        if (what === 'start') {
          c.smtp.dnsblSuspendedUntil = 0;
          c.log.info('dnsbl checks resumed by the admin interface');
        } else {
          c.smtp.dnsblSuspendedUntil = secs && Number(secs) > 0 ? Date.now() + Number(secs) * 1000 : Infinity;
          c.log.info({ seconds: secs && Number(secs) > 0 ? Number(secs) : undefined }, 'dnsbl checks suspended by the admin interface');
        }
        return this.reply(['OK']);
      }
      case 'terminate':
        if (!c.adminTerminate) return this.unrecognised('error: terminate is not enabled: start relaybox with --admin-terminate');
        this.reply(['OK']);
        c.log.info('terminate requested by the admin interface');
        c.terminate();
        return;
      default:
        return this.unrecognised();
    }
  }

  private startNotify(): void {
    if (this.notifying) return;
    this.notifying = (step, f) => {
      const parts = [`EVENT: message ${step}`, f.id];
      if (f.upstream) parts.push(f.upstream);
      const said = f.reason ?? f.response;
      if (said) parts.push(`"${String(said).slice(0, 200)}"`);
      this.event(parts.join(' '));
    };
    this.upstreamListener = (what) => {
      const u = this.control.activity.upstream;
      this.event(`EVENT: upstream ${what}${u ? ` ${u.address}` : ''}${what === 'error' && u ? ` "${u.lastError.slice(0, 200)}"` : ''}`);
    };
    this.control.activity.on('step', this.notifying);
    this.control.activity.on('upstream', this.upstreamListener);
  }
}

/** The admin listener: refuses non-local peers unless --remote-clients, as the SMTP server does. */
export function createAdminServer(control: RelayControl, admission: ClientAdmission): net.Server {
  const server = net.createServer((socket) => {
    const address = unmapAddress(socket.remoteAddress ?? '');
    if (!admitsClient(admission, address)) {
      control.log.warn({ address }, `admin connection refused: ${NOT_ADMITTED}`);
      socket.destroy();
      return;
    }
    control.log.info({ address }, 'admin connection');
    new AdminSession(socket, control);
  });
  server.on('error', (e) => control.log.error({ err: e.message }, 'admin server error'));
  return server;
}
