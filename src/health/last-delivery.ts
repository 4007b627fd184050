// The outcome of the last delivery attempt, kept in the spool's state directory, so that a process
// other than the relay (the appliance's STATUS.txt) can tell whether forwarding works. Written when
// the outcome changes, otherwise at most once a minute: an SD card is not worn by a busy relay.
// Only where that directory exists (the appliance's importer makes it): a spool elsewhere stays as
// E-MailRelay would leave it.
import { promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Activity } from '../events/activity';
import type { MessageStep, StepFields } from '../events/relay-events';
import type { Log } from '../log';

export interface LastDelivery {
  outcome: 'forwarded' | 'deferred' | 'failed';
  /** ISO time of the attempt. */
  at: string;
  id: string;
  reason?: string;
  code?: string;
}

export const LAST_DELIVERY_FILE = 'last-delivery.json';
const REWRITE_SAME_MS = 60_000;

/** Start recording (the relay's state directory, <spool>/.relaybox); returns the function that stops it. */
export function recordLastDelivery(stateDir: string, log: Log, activity: Activity): () => void {
  const file = path.join(stateDir, LAST_DELIVERY_FILE);
  let written: { outcome: string; ms: number } | undefined;
  let writing = Promise.resolve();
  const onStep = (step: MessageStep, f: StepFields) => {
    if (step !== 'forwarded' && step !== 'deferred' && step !== 'failed') return;
    const now = Date.now();
    if (written && written.outcome === step && now - written.ms < REWRITE_SAME_MS) return;
    written = { outcome: step, ms: now };
    const record: LastDelivery = {
      outcome: step,
      at: new Date(now).toISOString(),
      id: f.id,
      ...(f.reason ? { reason: String(f.reason) } : {}),
      ...(f.code !== undefined ? { code: String(f.code) } : {}),
    };
    writing = writing
      .then(async () => {
        if (
          !(await fsp.stat(stateDir).then(
            (st) => st.isDirectory(),
            () => false,
          ))
        )
          return;
        await fsp.writeFile(`${file}.tmp`, JSON.stringify(record) + '\n', { mode: 0o644 });
        await fsp.rename(`${file}.tmp`, file);
      })
      .catch((e: Error) => log.warn({ err: e.message }, `cannot record the last delivery in ${file}`));
  };
  activity.on('step', onStep);
  return () => activity.off('step', onStep);
}

/** The recorded outcome, or undefined when nothing has been forwarded or tried yet. */
export function readLastDelivery(stateDir: string): LastDelivery | undefined {
  try {
    const j = JSON.parse(readFileSync(path.join(stateDir, LAST_DELIVERY_FILE), 'utf8')) as LastDelivery;
    return ['forwarded', 'deferred', 'failed'].includes(j.outcome) && typeof j.at === 'string' ? j : undefined;
  } catch {
    return undefined;
  }
}
