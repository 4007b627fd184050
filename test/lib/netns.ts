// A private network namespace whose loopback interface also carries 198.51.100.1 (TEST-NET-2), so a
// relay started inside it sees a public-looking peer without any traffic leaving the host. Needs root
// and `ip netns`; null (and nothing left behind) where it cannot be made.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import type { Defer } from './cleanup';
import { runTool } from './smtp-client';

export const PUBLIC = '198.51.100.1';

export interface Namespace {
  name: string;
  /** Prefix that runs a command inside the namespace (it execs, keeping the pid). */
  wrapper: string[];
  run(cmd: string, args: string[], opts?: { ms?: number }): ReturnType<typeof runTool>;
}

let counter = 0;

export async function publicNamespace(defer: Defer): Promise<Namespace | null> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return null;
  const name = `relaybox-t${process.pid}-${counter++}`;
  const add = await runTool('ip', ['netns', 'add', name]).catch(() => null);
  if (!add || add.code !== 0) return null;
  defer(async () => {
    const del = await runTool('ip', ['netns', 'del', name]);
    assert.equal(del.code, 0, `ip netns del ${name}: ${del.stderr}`);
  });
  for (const args of [
    ['link', 'set', 'lo', 'up'],
    ['addr', 'add', `${PUBLIC}/32`, 'dev', 'lo'],
  ]) {
    const r = await runTool('ip', ['-n', name, ...args]);
    if (r.code !== 0) return null;
  }
  const wrapper = ['ip', 'netns', 'exec', name];
  return { name, wrapper, run: (cmd, args, opts) => runTool(wrapper[0], [...wrapper.slice(1), cmd, ...args], opts) };
}

/** Start a long-running helper inside the namespace; resolves with its first stdout line matching `ready`. */
export function spawnIn(
  ns: Namespace,
  defer: Defer,
  command: string[],
  ready: RegExp,
  ms = 15000,
): Promise<{ proc: ChildProcess; match: RegExpExecArray; output: () => string }> {
  const proc = spawn(ns.wrapper[0], [...ns.wrapper.slice(1), ...command], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  defer(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command.join(' ')} not ready within ${ms} ms: ${out} ${err}`)), ms);
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, match: m, output: () => out });
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command.join(' ')} exited with ${code}: ${err}`));
    });
  });
}
