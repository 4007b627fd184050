// Helpers shared by the forward-*.test.ts files: sending mail into the relay over SMTP, looking at
// the spool, bounded waiting for a condition, and clean-up in reverse order of set-up.
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import { decodeEnvelope, encodeEnvelope, newEnvelope, reasons, type Envelope } from '../../src/spool/envelope';
export { relayFor } from '../lib/relay';
import { startSink, type Sink, type SinkOptions, type SunkMessage } from '../lib/sink';

export const LOCK_FILE = '.relaybox.lock';

/** Clean-up actions run after the test, last registered first; every action runs even if one fails. */
export function cleanup(t: TestContext): (fn: () => unknown) => void {
  const actions: (() => unknown)[] = [];
  t.after(async () => {
    const errors: unknown[] = [];
    for (const fn of actions.reverse()) {
      try {
        await fn();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length) throw errors[0];
  });
  return (fn) => void actions.push(fn);
}

/** A sink stopped after the test. */
export async function sinkFor(defer: (fn: () => unknown) => void, opts: SinkOptions = {}): Promise<Sink> {
  const sink = await startSink(opts);
  defer(() => sink.close());
  return sink;
}

/** Resolves once `cond` is true (checked every 20 ms); rejects after `ms` with `what` in the message. */
export async function waitUntil(cond: () => boolean | Promise<boolean>, what: string, ms = 15000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface OutMessage {
  from: string;
  to: string[];
  data: Buffer;
}

/** A small RFC 5322 message with CRLF line ends and a unique Message-ID. */
export function makeMessage(tag: string, opts: { from?: string; to?: string[]; body?: string } = {}): OutMessage {
  const from = opts.from ?? 'sender@example.com';
  const to = opts.to ?? ['rcpt@example.net'];
  const body = opts.body ?? `This is message ${tag}.\r\n`;
  const text = `From: <${from}>\r\nTo: ${to.map((a) => `<${a}>`).join(', ')}\r\nSubject: ${tag}\r\nMessage-ID: <${tag}@relaybox.test>\r\n\r\n${body}`;
  return { from, to, data: Buffer.from(text, 'utf8') };
}

export function messageIdOf(data: Buffer): string | undefined {
  return /^Message-ID: <([^>]+)@relaybox\.test>/im.exec(data.toString('latin1'))?.[1];
}

export interface SessionResult {
  /** Per message: the 250 reply text, or the error. */
  replies: ({ ok: true; response: string } | { ok: false; error: string; code?: number })[];
}

/**
 * One SMTP session to 127.0.0.1:port sending every message in turn, then QUIT. A failed message is
 * recorded and the session goes on, unless the connection is gone (then the rest count as failed).
 */
export async function sendSession(port: number, messages: OutMessage[], onAck?: (i: number) => void): Promise<SessionResult> {
  const conn = new SMTPConnection({
    host: '127.0.0.1',
    port,
    ignoreTLS: true,
    connectionTimeout: 10000,
    greetingTimeout: 10000,
    socketTimeout: 20000,
    name: 'sender.test',
  });
  let broken = false;
  const closed = new Promise<void>((r) => conn.once('end', () => r()));
  conn.on('error', () => {
    broken = true;
  });
  const result: SessionResult = { replies: [] };
  try {
    // nodemailer reports a refused or dropped connection as an 'error' event only.
    await new Promise<void>((resolve, reject) => {
      conn.once('error', reject);
      conn.connect((err?: Error) => (err ? reject(err) : resolve()));
    });
  } catch (e) {
    conn.close();
    for (const _ of messages) result.replies.push({ ok: false, error: (e as Error).message });
    return result;
  }
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (broken) {
      result.replies.push({ ok: false, error: 'connection lost' });
      continue;
    }
    const reply = await new Promise<SessionResult['replies'][number]>((resolve) => {
      conn.send({ from: m.from, to: m.to }, m.data, (err, info) => {
        if (err) {
          if (!(err as { responseCode?: number }).responseCode) broken = true;
          resolve({ ok: false, error: err.message, code: (err as { responseCode?: number }).responseCode });
        } else resolve({ ok: true, response: String(info.response) });
      });
    });
    result.replies.push(reply);
    if (reply.ok) onAck?.(i);
  }
  if (!broken) conn.quit();
  else conn.close();
  await Promise.race([closed, new Promise((r) => setTimeout(r, 5000).unref())]);
  return result;
}

/** Sends the messages in one session and fails unless every one got a 2xx reply. */
export async function sendAll(port: number, messages: OutMessage[]): Promise<void> {
  const r = await sendSession(port, messages);
  const bad = r.replies.map((x, i) => ({ x, i })).filter(({ x }) => !x.ok);
  if (bad.length) throw new Error(`relay refused ${bad.length} of ${messages.length} messages: ${JSON.stringify(bad[0])}`);
}

/** Spool file names, without relaybox's lock file. */
export function spoolFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => n !== LOCK_FILE)
    .sort();
}

export function filesEnding(dir: string, suffix: string): string[] {
  return spoolFiles(dir).filter((n) => n.endsWith(suffix));
}

export function readEnvelopeFile(dir: string, name: string): Envelope {
  return decodeEnvelope(readFileSync(path.join(dir, name)));
}

export function reasonsIn(dir: string, name: string): { reason: string; code: string }[] {
  return reasons(readEnvelopeFile(dir, name));
}

/**
 * Waits for the one message of the spool to be ready (.envelope, waiting for its retry) with at
 * least one Reason line, and returns its file name and reasons. A retry in progress (.busy) is waited out.
 */
export async function deferredMessage(dir: string, ms = 15000): Promise<{ name: string; reasons: { reason: string; code: string }[] }> {
  let found: { name: string; reasons: { reason: string; code: string }[] } | undefined;
  await waitUntil(
    () => {
      for (const name of filesEnding(dir, '.envelope')) {
        try {
          const r = reasonsIn(dir, name);
          if (r.length) found = { name, reasons: r };
        } catch {
          // renamed to .busy between the listing and the read: look again
        }
      }
      return !!found;
    },
    'a deferred message (.envelope with a Reason line)',
    ms,
  );
  return found!;
}

/** Writes <id>.content and <id>.envelope as E-MailRelay would have left them. */
export function writeSpooled(dir: string, id: string, msg: OutMessage, extra: Partial<Envelope> = {}): void {
  writeFileSync(path.join(dir, `${id}.content`), msg.data);
  writeFileSync(
    path.join(dir, `${id}.envelope`),
    encodeEnvelope(newEnvelope({ content: '7bit', from: msg.from, toRemote: msg.to, client: '127.0.0.1', ...extra })),
  );
}

/** The content after the first line (the Received line the relay prepends). */
export function afterFirstLine(data: Buffer): { first: string; rest: Buffer } {
  const nl = data.indexOf('\r\n');
  return { first: data.subarray(0, nl).toString('latin1'), rest: data.subarray(nl + 2) };
}

export function idsAtSink(messages: SunkMessage[]): string[] {
  return messages.map((m) => messageIdOf(m.data) ?? '?');
}

export const FAST_RETRY = ['--retry-delay', '1', '--retry-max-delay', '2'];
