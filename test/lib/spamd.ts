// SpamAssassin's spamd on a loopback port for tests, with network tests off (-L): no DNS, no
// network lookups, only the local rules.
import { spawn } from 'node:child_process';
import { freePort } from './relay';
import { RawSmtp } from './smtp-client';

export interface Spamd {
  address: string;
  stop(): Promise<void>;
}

export async function startSpamd(): Promise<Spamd> {
  const port = await freePort();
  const proc = spawn(
    'spamd',
    ['-L', `--listen=127.0.0.1:${port}`, '--allowed-ips=127.0.0.1', '-u', 'debian-spamd', '-x', '--min-children=1', '--max-children=2', '--syslog=stderr'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  proc.stderr!.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const deadline = Date.now() + 60000; // spamd reads and compiles its rules first
  for (;;) {
    const up = await RawSmtp.connect(port, '127.0.0.1', 500).then(
      (c) => {
        c.socket.destroy();
        return true;
      },
      () => false,
    );
    if (up) break;
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`spamd did not start: ${stderr.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    address: `127.0.0.1:${port}`,
    async stop() {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(timer);
    },
  };
}
