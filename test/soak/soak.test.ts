// Soak (`make soak`, not part of `make test`): messages at a fixed rate for RELAYBOX_SOAK_SECONDS
// (default 600) through a relay whose upstream misbehaves (test/lib/chaos-sink.ts). RSS and open
// file descriptors are sampled; both must level off, and every message must end delivered or failed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { startChaosSink } from '../lib/chaos-sink';
import { cleanup, filesEnding, makeMessage, relayFor, sendSession, spoolFiles, waitUntil } from '../integration/forward-util';

const SECONDS = Number(process.env.RELAYBOX_SOAK_SECONDS ?? 600);
const RATE = Number(process.env.RELAYBOX_SOAK_RATE ?? 20);
const SAMPLE_MS = Math.max(1000, (SECONDS * 1000) / 60);

interface Sample {
  t: number;
  rssMb: number;
  fds: number;
  queued: number;
}

function sample(pid: number, spool: string, t0: number): Sample {
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
  return {
    t: Math.round((Date.now() - t0) / 1000),
    rssMb: Math.round(rss * 10) / 10,
    fds: readdirSync(`/proc/${pid}/fd`).length,
    queued: filesEnding(spool, '.envelope').length,
  };
}

test(
  `soak: ${RATE} msg/s for ${SECONDS} s through a faulty upstream; memory and file descriptors level off`,
  { timeout: (SECONDS + 300) * 1000 },
  async (t) => {
    const defer = cleanup(t);
    const chaos = await startChaosSink({
      seed: 7,
      greeting421: 0.05,
      weights: { 'mail-451': 0.03, 'drop-in-data': 0.03, 'data-451': 0.03, 'stall-after-data': 0.005 },
    });
    defer(() => chaos.close());
    const relay = await relayFor(defer, [
      '--forward-to',
      `127.0.0.1:${chaos.port}`,
      '--forward-on-disconnect',
      '--poll',
      '5',
      '--retry-delay',
      '1',
      '--retry-max-delay',
      '4',
      '--response-timeout',
      '3',
      '--connection-timeout',
      '3',
    ]);
    const pid = relay.proc.pid!;
    const t0 = Date.now();
    const samples: Sample[] = [];
    const sampler = setInterval(() => samples.push(sample(pid, relay.spool, t0)), SAMPLE_MS);
    defer(() => clearInterval(sampler));

    let sent = 0;
    let refused = 0;
    const total = SECONDS * RATE;
    const started = Date.now();
    while (sent < total) {
      // Paced by the clock: send what is due, one message per session as devices do.
      const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * RATE) + 1);
      const batch: Promise<void>[] = [];
      for (; sent < due; sent++) {
        const id = `soak-${sent}`;
        batch.push(
          sendSession(relay.port, [makeMessage(id, { to: [sent % 50 === 7 ? `reject-${sent}@example.net` : `u${sent % 9}@example.net`] })]).then((r) => {
            if (!r.replies[0]!.ok) refused++;
          }),
        );
      }
      await Promise.all(batch);
      await new Promise((r) => setTimeout(r, 1000 / RATE)); // pacing, not synchronisation
    }
    const rejects = Math.ceil((total - 7) / 50);
    await waitUntil(() => spoolFiles(relay.spool).every((f) => !/\.envelope(\.busy|\.new)?$/.test(f)), 'the queue drained', 300000);
    clearInterval(sampler);
    samples.push(sample(pid, relay.spool, t0));
    const delivered = chaos.delivered.size;
    const failed = filesEnding(relay.spool, '.envelope.bad').length;
    t.diagnostic(
      `sent ${total}, refused at SMTP ${refused}, delivered ${delivered} distinct, failed ${failed} (expected ${rejects}), faults ${JSON.stringify(Object.fromEntries(chaos.faults))}`,
    );
    t.diagnostic(`samples (t s, RSS MB, fds, queued): ${samples.map((s) => `${s.t}:${s.rssMb}/${s.fds}/${s.queued}`).join(' ')}`);
    assert.equal(refused, 0);
    assert.equal(failed, rejects);
    assert.equal(delivered, total - rejects);
    const third = Math.floor(samples.length / 3);
    const middle = samples.slice(third, 2 * third);
    const last = samples.slice(2 * third);
    const max = (xs: number[]) => Math.max(...xs);
    assert.ok(max(last.map((s) => s.rssMb)) <= max(middle.map((s) => s.rssMb)) * 1.2 + 5, 'RSS keeps growing');
    assert.ok(max(last.map((s) => s.fds)) <= max(middle.map((s) => s.fds)) + 10, 'file descriptors keep growing');
  },
);
