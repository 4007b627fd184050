// The queue runner in-process (issue 17): a real spool in a temporary directory, an upstream that does
// what each case scripts, and the runner's clock moved by the test. Fast enough for a seeded random
// schedule of hundreds of faults, with the spool's invariants checked after each run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import type { RelayConfig } from '../../src/config';
import { newEnvelope, reasons, type Envelope } from '../../src/spool/envelope';
import { Spool } from '../../src/spool/store';
import { QueueRunner, type Route } from '../../src/forward/runner';
import type { SendResult, Upstream } from '../../src/forward/upstream';
import { ForwardError } from '../../src/forward/forward-error';
import { RelayEvents } from '../../src/events/relay-events';
import { seeded } from '../fuzz/random';

const silent = pino({ level: 'silent' });

/** What the scripted upstream does with one message. */
type Reply =
  | { kind: 'accept' }
  | { kind: 'refuse'; code: number; text?: string } // MAIL FROM / DATA refused: a ForwardError for the message
  | { kind: 'recipients'; refused: string[]; code: number } // some RCPT TO refused
  | { kind: 'drop' }; // the connection breaks while sending

interface Sent {
  id: string;
  to: string[];
  route?: Route;
}

class ScriptedUpstream implements Upstream {
  usable = true;
  constructor(
    readonly description: string,
    private readonly script: (env: Envelope, session: number) => Reply,
    private readonly sent: Sent[],
    private readonly route?: Route,
    private readonly session = 0,
    private readonly gate?: () => Promise<void>,
  ) {}
  async send(env: Envelope, _content: Buffer | string, allOrNothing: boolean): Promise<SendResult> {
    await this.gate?.();
    const reply = this.script(env, this.session);
    if (reply.kind === 'drop') {
      this.usable = false;
      throw new ForwardError('connection closed by the server', { permanent: false, atConnect: false });
    }
    if (reply.kind === 'refuse') {
      const text = reply.text ?? `${reply.code} refused`;
      throw new ForwardError(text, { code: reply.code, permanent: reply.code >= 500, atConnect: false, response: reply.text });
    }
    const refused = reply.kind === 'recipients' ? env.toRemote.filter((a) => reply.refused.includes(a)) : [];
    const accepted = env.toRemote.filter((a) => !refused.includes(a));
    if (!refused.length || !allOrNothing) this.sent.push({ id: env.from, to: accepted, route: this.route });
    return {
      accepted,
      rejected: refused.map((address) => ({ address, code: (reply as { code: number }).code, response: `${(reply as { code: number }).code} no` })),
      response: '250 ok',
    };
  }
  close(): void {
    this.usable = false;
  }
}

interface Harness {
  dir: string;
  spool: Spool;
  runner: QueueRunner;
  clock: { offset: number };
  sent: Sent[];
  connects: (Route | undefined)[];
  /** `session`: which connection (0, 1, ...) the message goes over; `gate`: awaited before each message is sent. */
  script: { reply: (env: Envelope, session: number) => Reply; connect?: () => ForwardError | null; gate?: () => Promise<void> };
  cleanup(): void;
}

function harness(cfg: Partial<RelayConfig> = {}): Harness {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relaybox-runner-'));
  const spool = new Spool(dir);
  const clock = { offset: 0 };
  const sent: Sent[] = [];
  const connects: (Route | undefined)[] = [];
  const script: Harness['script'] = { reply: () => ({ kind: 'accept' }) };
  const config = {
    retry: { enabled: true, delay: 60, maxDelay: 3600, maxAge: 5 * 86400 },
    forwardConnections: 1,
    oneShot: false,
    forwardToSome: false,
    forwardTo: { kind: 'tcp', host: 'upstream.test', port: 25, text: 'upstream.test:25' },
    ...cfg,
  } as unknown as RelayConfig;
  const runner = new QueueRunner({
    cfg: config,
    spool,
    log: silent,
    events: new RelayEvents(),
    now: () => Date.now() + clock.offset,
    async connect(route) {
      connects.push(route);
      const refusal = script.connect?.();
      if (refusal) throw refusal;
      const session = connects.length - 1;
      return new ScriptedUpstream(
        route?.address ?? 'upstream.test:25',
        (env, n) => script.reply(env, n),
        sent,
        route,
        session,
        () => script.gate?.() ?? Promise.resolve(),
      );
    },
  });
  return {
    dir,
    spool,
    runner,
    clock,
    sent,
    connects,
    script,
    cleanup: () => {
      runner.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Commit a message; its sender names it, so the test can follow it through the upstream. */
async function enqueue(spool: Spool, name: string, to: string[], extra: Partial<Envelope> = {}): Promise<string> {
  const msg = await spool.newMessage();
  await msg.write(Buffer.from(`Subject: ${name}\r\n\r\nbody\r\n`));
  await msg.commit(newEnvelope({ from: name, toRemote: to, ...extra }));
  return msg.id;
}

async function envelopeOf(spool: Spool, id: string): Promise<{ state: 'ready' | 'bad'; env: Envelope } | null> {
  for (const state of ['ready', 'bad'] as const) {
    try {
      return { state, env: await spool.readEnvelope(id, state) };
    } catch {
      // not in this state
    }
  }
  return null;
}

test('every message is forwarded once and leaves the spool', async (t) => {
  const h = harness();
  t.after(() => h.cleanup());
  for (let i = 0; i < 5; i++) await enqueue(h.spool, `m${i}`, [`r${i}@example.com`]);
  const summary = await h.runner.runNow();
  assert.deepEqual({ sent: summary.sent, failed: summary.failed, deferred: summary.deferred }, { sent: 5, failed: 0, deferred: 0 });
  assert.deepEqual(h.sent.map((s) => s.id).sort(), ['m0', 'm1', 'm2', 'm3', 'm4']);
  assert.deepEqual(await h.spool.listStates(), { new: [], ready: [], busy: [], bad: [] });
  assert.equal(h.connects.length, 1, 'one session carried them all');
});

test('a permanent refusal fails that message with its reason and code; the others go', async (t) => {
  const h = harness();
  t.after(() => h.cleanup());
  const bad = await enqueue(h.spool, 'bad', ['a@example.com']);
  await enqueue(h.spool, 'good', ['b@example.com']);
  h.script.reply = (env) => (env.from === 'bad' ? { kind: 'refuse', code: 550 } : { kind: 'accept' });
  await h.runner.runNow();
  const left = await envelopeOf(h.spool, bad);
  assert.equal(left?.state, 'bad');
  assert.deepEqual(reasons(left!.env), [{ reason: '550 refused', code: '550' }]);
  assert.deepEqual(
    h.sent.map((s) => s.id),
    ['good'],
  );
});

test('a temporary refusal defers the message; it waits for its back-off, then goes', async (t) => {
  const h = harness();
  t.after(() => h.cleanup());
  const id = await enqueue(h.spool, 'later', ['a@example.com']);
  let refusals = 1;
  h.script.reply = () => (refusals-- > 0 ? { kind: 'refuse', code: 451 } : { kind: 'accept' });
  h.runner.request('test');
  await h.runner.idle();
  const deferred = await envelopeOf(h.spool, id);
  assert.equal(deferred?.state, 'ready');
  assert.equal(reasons(deferred!.env).length, 1, 'one Reason line: one attempt');
  h.runner.request('too early');
  await h.runner.idle();
  assert.equal(h.sent.length, 0, 'not tried again before the back-off');
  h.clock.offset = 61_000;
  h.runner.request('after the back-off');
  await h.runner.idle();
  assert.deepEqual(
    h.sent.map((s) => s.id),
    ['later'],
  );
  assert.equal(await envelopeOf(h.spool, id), null);
});

test('with --forward-to-some, the accepted recipients are done and only the refused ones wait', async (t) => {
  const h = harness({ forwardToSome: true });
  t.after(() => h.cleanup());
  const id = await enqueue(h.spool, 'partial', ['yes@example.com', 'no@example.com']);
  h.script.reply = () => ({ kind: 'recipients', refused: ['no@example.com'], code: 452 });
  await h.runner.runNow();
  assert.deepEqual(h.sent, [{ id: 'partial', to: ['yes@example.com'], route: undefined }]);
  const kept = await envelopeOf(h.spool, id);
  assert.equal(kept?.state, 'ready');
  assert.deepEqual(kept!.env.toRemote, ['no@example.com']);
  assert.match(reasons(kept!.env)[0]!.reason, /one or more recipients rejected: <no@example.com>/);
});

test('without --forward-to-some, one refused recipient (5xx) fails the whole message and nothing is sent', async (t) => {
  const h = harness();
  t.after(() => h.cleanup());
  const id = await enqueue(h.spool, 'all-or-nothing', ['yes@example.com', 'no@example.com']);
  h.script.reply = () => ({ kind: 'recipients', refused: ['no@example.com'], code: 550 });
  await h.runner.runNow();
  assert.deepEqual(h.sent, []);
  const kept = await envelopeOf(h.spool, id);
  assert.equal(kept?.state, 'bad');
  assert.deepEqual(kept!.env.toRemote, ['yes@example.com', 'no@example.com']);
});

test('a message with its own route goes to its own next hop; the others to --forward-to', async (t) => {
  const h = harness();
  t.after(() => h.cleanup());
  await enqueue(h.spool, 'routed', ['a@example.org'], { forwardToAddress: 'mx.example.org:25' });
  await enqueue(h.spool, 'default', ['b@example.com']);
  await h.runner.runNow();
  const byId = Object.fromEntries(h.sent.map((s) => [s.id, s.route?.address ?? 'default']));
  assert.deepEqual(byId, { routed: 'mx.example.org:25', default: 'default' });
});

test('a message retried past --retry-max-age fails as expired, naming the last error', async (t) => {
  const h = harness({ retry: { enabled: true, delay: 60, maxDelay: 3600, maxAge: 600 } } as Partial<RelayConfig>);
  t.after(() => h.cleanup());
  const id = await enqueue(h.spool, 'old', ['a@example.com']);
  h.script.reply = () => ({ kind: 'refuse', code: 451 });
  await h.runner.runNow();
  h.clock.offset = 700_000;
  h.runner.request('much later');
  await h.runner.idle();
  const left = await envelopeOf(h.spool, id);
  assert.equal(left?.state, 'bad');
  assert.match(reasons(left!.env).at(-1)!.reason, /^expired: not delivered within 600 seconds \(last error: 451 refused\)/);
});

test('a seeded random schedule of refusals and dropped connections loses no message and records every attempt', async () => {
  const seeds = Number(process.env.RUNNER_SEEDS ?? 40);
  for (let seed = 1; seed <= seeds; seed++) {
    const h = harness({ forwardToSome: seed % 2 === 0, forwardConnections: 1 + (seed % 3) } as Partial<RelayConfig>);
    const next = seeded(seed);
    const ids = new Map<string, string>();
    for (let i = 0; i < 6; i++) ids.set(`s${seed}m${i}`, await enqueue(h.spool, `s${seed}m${i}`, [`a${i}@example.com`, `b${i}@example.com`]));
    /** Per message: attempts the upstream saw, and whether it ended (sent or refused permanently). */
    const attempts = new Map<string, number>();
    const ended = new Set<string>();
    h.script.reply = (env) => {
      attempts.set(env.from, (attempts.get(env.from) ?? 0) + 1);
      const r = next();
      if (r < 0.4) return { kind: 'accept' };
      if (r < 0.55) return { kind: 'refuse', code: 451 };
      if (r < 0.65) return { kind: 'refuse', code: 554 };
      if (r < 0.8) return { kind: 'recipients', refused: [env.toRemote[0]!], code: next() < 0.5 ? 450 : 550 };
      return { kind: 'drop' };
    };
    for (let round = 0; round < 12; round++) {
      h.runner.request(`round ${round}`);
      await h.runner.idle();
      h.clock.offset += 3600_000 + 1000; // past the longest back-off
      const states = await h.spool.listStates();
      assert.deepEqual(states.busy, [], `seed ${seed}: nothing is left busy after a run`);
      assert.deepEqual(states.new, [], `seed ${seed}: nothing is left half-received`);
      for (const [name, id] of ids) {
        const where = await envelopeOf(h.spool, id);
        const seen = attempts.get(name) ?? 0;
        if (!where) {
          assert.ok(
            h.sent.some((s) => s.id === name),
            `seed ${seed}: ${name} left the spool only by being sent`,
          );
          ended.add(name);
          continue;
        }
        const recorded = reasons(where.env).length;
        assert.equal(recorded, seen, `seed ${seed}: ${name} has a Reason line for each of its ${seen} attempts`);
        if (where.state === 'bad') ended.add(name);
      }
    }
    // A message that ended (sent, or failed) is never tried again, and 12 rounds end most of them.
    const final = new Map([...attempts]);
    h.runner.request('one more');
    await h.runner.idle();
    for (const name of ended) assert.equal(attempts.get(name), final.get(name), `seed ${seed}: ${name} was tried after it ended`);
    h.cleanup();
  }
});

/** The last Reason line of a message as the spool reads it back: what --immediate used to re-read. */
async function lastReason(spool: Spool, id: string, state: 'ready' | 'bad'): Promise<{ reason: string; code: string } | undefined> {
  return reasons(await spool.readEnvelope(id, state)).at(-1);
}

test('--immediate: 250 when sent; otherwise the reason and code of the Reason line written, exactly as it reads back', async (t) => {
  const h = harness();
  t.after(() => h.cleanup());
  const sent = await enqueue(h.spool, 'sent', ['a@example.com']);
  assert.deepEqual(await h.runner.forwardImmediate(sent), { ok: true, text: 'message processed' });

  h.script.reply = () => ({ kind: 'refuse', code: 550 });
  const refused = await enqueue(h.spool, 'refused', ['b@example.com']);
  const failed = await h.runner.forwardImmediate(refused);
  assert.deepEqual(failed, { ok: false, code: 550, text: '550 refused' });
  assert.equal(failed.text, (await lastReason(h.spool, refused, 'bad'))?.reason);

  h.script.reply = () => ({ kind: 'drop' });
  const dropped = await enqueue(h.spool, 'dropped', ['c@example.com']);
  const deferred = await h.runner.forwardImmediate(dropped);
  assert.deepEqual(deferred, { ok: false, code: undefined, text: (await lastReason(h.spool, dropped, 'ready'))?.reason });
  assert.equal(deferred.text, 'connection closed by the server');

  // A refused sign-in: the session's code, and the text escaped as the envelope keeps it (E-MailRelay's "\\").
  h.script.connect = () => new ForwardError('login refused for DOMAIN\\user', { code: 535, permanent: true, atConnect: true });
  const unsigned = await enqueue(h.spool, 'unsigned', ['d@example.com']);
  const reply = await h.runner.forwardImmediate(unsigned);
  const written = await lastReason(h.spool, unsigned, 'ready');
  assert.deepEqual(reply, { ok: false, code: 535, text: written?.reason });
  assert.equal(reply.text, 'login refused for DOMAIN\\\\user');
});

test('--immediate with --no-retry: an upstream never reached leaves the message as it was, and the reply is "forwarding failed"', async (t) => {
  const h = harness({ retry: { enabled: false, delay: 60, maxDelay: 3600, maxAge: 5 * 86400 } } as Partial<RelayConfig>);
  t.after(() => h.cleanup());
  h.script.connect = () => new ForwardError('connect ECONNREFUSED 127.0.0.1:25', { permanent: false, atConnect: true, unreached: true });
  const id = await enqueue(h.spool, 'unreached', ['a@example.com']);
  assert.deepEqual(await h.runner.forwardImmediate(id), { ok: false, code: undefined, text: 'forwarding failed' });
  assert.deepEqual((await h.spool.listStates()).ready, [id]);
  assert.equal(await lastReason(h.spool, id, 'ready'), undefined, 'no Reason line was written');
});

/** A gate for the scripted upstream: each send waits until released; `entered(n)` resolves once n sends wait at once. */
function sendGate() {
  const waiting: (() => void)[] = [];
  const watchers: { n: number; resolve: () => void }[] = [];
  let most = 0;
  return {
    gate: () =>
      new Promise<void>((resolve) => {
        waiting.push(resolve);
        most = Math.max(most, waiting.length);
        for (const w of watchers.splice(0))
          if (waiting.length >= w.n) w.resolve();
          else watchers.push(w);
      }),
    entered: (n: number) => new Promise<void>((resolve) => (waiting.length >= n ? resolve() : watchers.push({ n, resolve }))),
    releaseAll: () => {
      for (const r of waiting.splice(0)) r();
    },
    most: () => most,
  };
}

test('offer (--forward-on-commit): a committed message joins the run under way; sessions grow with the backlog, up to the limit', async (t) => {
  const h = harness({ forwardConnections: 3 });
  t.after(() => h.cleanup());
  const g = sendGate();
  h.script.gate = g.gate;
  h.runner.offer(await enqueue(h.spool, 'm0', ['a@example.com']));
  await g.entered(1);
  assert.equal(h.connects.length, 1, 'one message, one session');
  for (let i = 1; i <= 4; i++) h.runner.offer(await enqueue(h.spool, `m${i}`, ['a@example.com']));
  await g.entered(3);
  assert.equal(h.connects.length, 3, 'the backlog opened sessions up to --forward-connections');
  for (let round = 0; round < 10 && h.sent.length < 5; round++) {
    g.releaseAll();
    await Promise.race([g.entered(1), h.runner.idle()]);
  }
  await h.runner.idle();
  assert.deepEqual(h.sent.map((s) => s.id).sort(), ['m0', 'm1', 'm2', 'm3', 'm4']);
  assert.equal(g.most(), 3, 'never more than three at once');
  assert.equal(h.connects.length, 3, 'the run kept its sessions for the messages that came later');
  assert.deepEqual(await h.spool.listStates(), { new: [], ready: [], busy: [], bad: [] });
});

test('with the default of one session, offered messages go one after another over it, in the order committed', async (t) => {
  const h = harness();
  t.after(() => h.cleanup());
  const g = sendGate();
  h.script.gate = g.gate;
  h.runner.offer(await enqueue(h.spool, 'm0', ['a@example.com']));
  await g.entered(1);
  for (let i = 1; i <= 3; i++) h.runner.offer(await enqueue(h.spool, `m${i}`, ['a@example.com']));
  for (let round = 0; round < 10 && h.sent.length < 4; round++) {
    g.releaseAll();
    await Promise.race([g.entered(1), h.runner.idle()]);
  }
  await h.runner.idle();
  assert.deepEqual(
    h.sent.map((s) => s.id),
    ['m0', 'm1', 'm2', 'm3'],
  );
  assert.equal(h.connects.length, 1);
  assert.equal(g.most(), 1);
});

// Exchange Online's words for a fourth session of one mailbox, at the end of the data
// (https://github.com/sabuhish/fastapi-mail/issues/75; limit of three: learn.microsoft.com smtp-submission-improvements).
const TOO_MANY =
  '432 4.3.2 Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending for more information. [Hostname=OS0PR01MB6099.jpnprd01.prod.outlook.com]';

test('a session refused as one too many (432 4.3.2): its message goes over another, with no Reason, and the run keeps fewer sessions for a while', async (t) => {
  const h = harness({ forwardConnections: 3 });
  t.after(() => h.cleanup());
  for (let i = 0; i < 6; i++) await enqueue(h.spool, `m${i}`, ['a@example.com']);
  h.script.reply = (_env, session) => (session === 2 ? { kind: 'refuse', code: 432, text: TOO_MANY } : { kind: 'accept' });
  const first = await h.runner.runNow();
  assert.deepEqual(
    { sent: first.sent, failed: first.failed, deferred: first.deferred, error: first.error },
    { sent: 6, failed: 0, deferred: 0, error: undefined },
  );
  assert.deepEqual(await h.spool.listStates(), { new: [], ready: [], busy: [], bad: [] }, 'nothing deferred or failed');
  assert.equal(h.connects.length, 3);
  // The next run holds no more than the two sessions the upstream took.
  const g = sendGate();
  h.script.gate = g.gate;
  h.script.reply = () => ({ kind: 'accept' });
  for (let i = 6; i < 12; i++) await enqueue(h.spool, `m${i}`, ['a@example.com']);
  await drain(h, g, 12, 2);
  assert.equal(g.most(), 2, 'two sessions at once');
  // Ten minutes later the configured three are tried again.
  h.clock.offset = 11 * 60_000;
  const g3 = sendGate();
  h.script.gate = g3.gate;
  for (let i = 12; i < 18; i++) await enqueue(h.spool, `m${i}`, ['a@example.com']);
  await drain(h, g3, 18, 3);
  assert.equal(g3.most(), 3);
});

/** A run over what is in the spool: `atOnce` sends wait together, then the gate is opened until `total` messages have gone. */
async function drain(h: Harness, g: ReturnType<typeof sendGate>, total: number, atOnce: number): Promise<void> {
  h.runner.request('test');
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${atOnce} sends never waited at once`)), 5000)));
  try {
    await Promise.race([g.entered(atOnce), bound]);
  } finally {
    clearTimeout(timer);
  }
  for (let round = 0; round < 20 && h.sent.length < total; round++) {
    await Promise.race([g.entered(1), h.runner.idle()]);
    g.releaseAll();
  }
  await h.runner.idle();
  assert.equal(h.sent.length, total);
}

test('a 432 4.3.2 on the only session is an ordinary temporary failure: the message is deferred with the reason', async (t) => {
  const h = harness({ forwardConnections: 3 });
  t.after(() => h.cleanup());
  const id = await enqueue(h.spool, 'only', ['a@example.com']);
  h.script.reply = () => ({ kind: 'refuse', code: 432, text: TOO_MANY });
  await h.runner.runNow();
  const left = await envelopeOf(h.spool, id);
  assert.equal(left?.state, 'ready');
  assert.match(reasons(left!.env)[0]!.reason, /432 4\.3\.2 Concurrent connections limit exceeded/);
});
