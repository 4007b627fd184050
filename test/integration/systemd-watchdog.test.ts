// The systemd watchdog: with NOTIFY_SOCKET and WATCHDOG_USEC set (as systemd sets them for
// Type=notify and WatchdogSec=), the relay sends READY=1 once it listens and WATCHDOG=1 at half the
// period, through the real systemd-notify, to a datagram socket the test binds (test/lib/notify_socket.py).
// A stopped relay sends no pings (systemd would restart it); resumed, it pings again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { relayFor, scratchDir } from '../lib/relay';
import { readFileSync } from 'node:fs';
import { cleanup, waitUntil } from './forward-util';

function exited(pid: string): boolean {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

/** The pids of a process's children (Linux: /proc/<pid>/task/<pid>/children). */
function children(pid: number): string[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean);
}

interface NotifySocket {
  path: string;
  messages: string[];
  /** Resolves once `count` messages match; rejects after ms. */
  waitFor(match: (m: string) => boolean, count: number, ms: number): Promise<void>;
}

async function notifySocket(defer: (fn: () => unknown) => void): Promise<NotifySocket> {
  const socketPath = path.join(scratchDir(defer), 'notify');
  const proc = spawn('python3', [path.join(__dirname, '../lib/notify_socket.py'), socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  defer(() => {
    proc.kill('SIGKILL');
  });
  const messages: string[] = [];
  const listeners = new Set<() => void>();
  let bound!: () => void;
  const isBound = new Promise<void>((r) => {
    bound = r;
  });
  let buf = '';
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line === 'bound') bound();
      else messages.push(JSON.parse(line) as string);
    }
    for (const l of [...listeners]) l();
  });
  await Promise.race([isBound, new Promise((_, reject) => setTimeout(() => reject(new Error('notify_socket.py did not bind')), 10000))]);
  return {
    path: socketPath,
    messages,
    waitFor(match, count, ms) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (messages.filter(match).length >= count) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`fewer than ${count} matching notifications within ${ms} ms: ${JSON.stringify(messages)}`));
        }, ms);
        listeners.add(check);
        check();
      });
    },
  };
}

const watchdogPings = (m: string) => m === 'WATCHDOG=1';

test('READY=1 once listening, then WATCHDOG=1 every half period; none while the relay is stopped', async (t) => {
  const defer = cleanup(t);
  const sock = await notifySocket(defer);
  const relay = await relayFor(defer, [], { env: { NOTIFY_SOCKET: sock.path, WATCHDOG_USEC: '400000' } });
  await sock.waitFor((m) => m.startsWith('READY=1\n'), 1, 10000);
  const ready = sock.messages.find((m) => m.startsWith('READY=1'))!;
  assert.equal(ready, `READY=1\nSTATUS=listening for SMTP on port ${relay.port}`);
  assert.ok(relay.logs.some((l) => l.msg === 'systemd watchdog: pinging' && l.periodMs === 200));
  await sock.waitFor(watchdogPings, 3, 10000);

  // A hung relay: stopped, it sends nothing for several periods. A systemd-notify started just before
  // the stop finishes on its own: wait for it to be gone (a zombie: the stopped relay cannot reap it).
  const pid = relay.proc.pid!;
  relay.proc.kill('SIGSTOP');
  // Each systemd-notify sends its message, then BARRIER=1: once every message's barrier has been read
  // here, nothing sent before the stop is still on its way.
  const settled = () => sock.messages.filter((m) => m === 'BARRIER=1').length === sock.messages.filter((m) => m !== 'BARRIER=1').length;
  await waitUntil(() => settled() && children(pid).every(exited), 'no systemd-notify running', 10000);
  const before = sock.messages.filter(watchdogPings).length;
  // The window in which a running relay would have pinged 7 times.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(sock.messages.filter(watchdogPings).length, before, 'no WATCHDOG=1 while the relay is stopped');
  relay.proc.kill('SIGCONT');
  await sock.waitFor(watchdogPings, before + 2, 10000);
});

test('without WATCHDOG_USEC only READY=1 is sent; WATCHDOG_PID of another process means no pings', async (t) => {
  const defer = cleanup(t);
  const sock = await notifySocket(defer);
  const relay = await relayFor(defer, [], { env: { NOTIFY_SOCKET: sock.path, WATCHDOG_USEC: '200000', WATCHDOG_PID: '1' } });
  await sock.waitFor((m) => m.startsWith('READY=1'), 1, 10000);
  assert.ok(!relay.logs.some((l) => l.msg === 'systemd watchdog: pinging'));
  const plain = await relayFor(defer, [], { env: { NOTIFY_SOCKET: sock.path } });
  await sock.waitFor((m) => m.startsWith('READY=1'), 2, 10000);
  assert.ok(!plain.logs.some((l) => l.msg === 'systemd watchdog: pinging'));
  await plain.stop();
  await relay.stop();
  assert.deepEqual(
    sock.messages.filter((m) => m !== 'BARRIER=1').map((m) => m.split('\n')[0]),
    ['READY=1', 'READY=1'],
  );
});
