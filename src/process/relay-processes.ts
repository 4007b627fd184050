// --processes N (relaybox extension): N relay processes share the listening sockets and the spool, so a
// relay uses every core. node:cluster hands each relay process the listening socket and the kernel
// gives each connection to one of them (SCHED_NONE: no round-robin through the supervisor); the spool is
// safe for several relays already, since the rename to .busy decides who forwards a message. The first
// process is the supervisor: it recovers the spool, keeps the pid file, starts the relay processes,
// starts another when one dies, and stops them all. It handles no mail itself.
import cluster, { type Worker } from 'node:cluster';
import type { Log } from '../log';

/** A relay process tells the supervisor it is listening with this message. */
const READY = 'relaybox-ready';

/** More restarts than this within RESTART_WINDOW_MS: something is wrong with every process, so stop. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;
/** How long relay processes get to finish what they are doing once told to stop. */
const STOP_MS = 10_000;

export function isRelayProcess(): boolean {
  return cluster.isWorker;
}

/** In a relay process: tell the supervisor that this process listens and relays. */
export function relayProcessReady(): void {
  process.send?.(READY);
}

export interface Supervisor {
  /** Resolves once every relay process has said it is ready; rejects if one exits first. */
  ready: Promise<void>;
  /** Stop every relay process (SIGTERM, then SIGKILL after STOP_MS). */
  stop(): Promise<void>;
  pids(): number[];
}

/**
 * Start `count` relay processes (this program again, same arguments) and keep them running. When one
 * ends unexpectedly, the others are stopped too and `recover` runs before all are started again: a
 * message the dead one was forwarding is left as .busy, and only with no relay process running can
 * the spool tell that it is a leftover.
 */
export function superviseRelayProcesses(count: number, log: Log, recover: () => Promise<void>, giveUp: (why: string) => void): Supervisor {
  // Each relay process accepts its own connections (set before the first fork).
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  const workers = new Set<Worker>();
  const restarts: number[] = [];
  let stopping = false;
  let restarting = false;
  let starting = true;
  let readyCount = 0;
  let settle: { resolve: () => void; reject: (e: Error) => void } | null = null;
  const ready = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));

  const stopAll = async (): Promise<void> => {
    const left = [...workers];
    const exited = left.map((w) => new Promise<void>((r) => (w.isDead() ? r() : w.once('exit', () => r()))));
    for (const w of left) w.process.kill('SIGTERM');
    const timer = setTimeout(() => {
      for (const w of left) if (!w.isDead()) w.process.kill('SIGKILL');
    }, STOP_MS);
    await Promise.all(exited);
    clearTimeout(timer);
  };

  const restartAll = async (slot: number, how: string): Promise<void> => {
    const now = Date.now();
    restarts.push(now);
    while (restarts.length && restarts[0]! < now - RESTART_WINDOW_MS) restarts.shift();
    if (restarts.length > MAX_RESTARTS) {
      giveUp(`relay processes ended ${restarts.length} times within a minute (the last: ${how}); see the log lines before this one`);
      return;
    }
    log.error({ slot: slot + 1, how }, 'a relay process ended: restarting the relay processes to recover its messages');
    restarting = true;
    try {
      await stopAll();
      await recover();
    } catch (e) {
      log.error({ err: (e as Error).message }, 'spool recovery failed');
    } finally {
      restarting = false;
    }
    if (!stopping) for (let s = 0; s < count; s++) fork(s);
  };

  const fork = (slot: number) => {
    const w = cluster.fork();
    workers.add(w);
    w.on('message', (m: unknown) => {
      if (m === READY && starting && ++readyCount === count) {
        starting = false;
        settle?.resolve();
      }
    });
    w.on('exit', (code, signal) => {
      workers.delete(w);
      if (stopping || restarting) return;
      const how = signal ? `signal ${signal}` : `exit code ${code}`;
      if (starting) {
        settle?.reject(new Error(`relay process ${slot + 1} of ${count} ended at start-up (${how})`));
        return;
      }
      void restartAll(slot, how);
    });
  };
  for (let slot = 0; slot < count; slot++) fork(slot);

  return {
    ready,
    pids: () => [...workers].map((w) => w.process.pid!).filter(Boolean),
    async stop() {
      stopping = true;
      await stopAll();
    },
  };
}
