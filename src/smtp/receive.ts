// Receiving one message: DATA into a new spool message (with our Received line, bare CRs replaced),
// its envelope from the session, the server filter (--filter) on the prepared message, the commit, and
// with --immediate the forwarding; the client hears 250 only once the message is committed.
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import type { NetConfig } from '../net/config';
import type { SmtpConfig } from './config';
import type { Log } from '../log';
import { isNoSpace } from '../spool/durable';
import { newEnvelope, type ContentType, type Envelope } from '../spool/envelope';
import type { NewMessage, Spool } from '../spool/store';
import { unmapAddress } from '../net/client-admission';
import type { FilterChain } from '../filters/chain';
import type { RelayEvents } from '../events/relay-events';
import { receivedHeader } from './received';
import { flushBareCr, newBareCrScan, replaceBareCr } from './bare-cr';
import type { ServerAccess } from './server-access';
import { NON_ASCII, type Recipient } from './session-policy';
import { smtpError } from './smtp-error';

/** The reply --immediate gives the client once forwarding has been tried. */
export interface ImmediateResult {
  ok: boolean;
  code?: number;
  text: string;
}

export interface Receiver {
  cfg: SmtpConfig & NetConfig;
  spool: Spool;
  log: Log;
  /** For the envelope's authentication field (server-access.ts). */
  access?: ServerAccess;
  /** --filter: the server filter. */
  filter?: FilterChain;
  /** Where each message's steps are announced. */
  events: RelayEvents;
  /** The client's certificate (PEM) of a TLS session, or ''. */
  clientCertificate(session: SMTPServerSession): string;
  /** --immediate: forward the committed message before answering the client. */
  forwardNow?(id: string): Promise<ImmediateResult>;
  /** A server filter asked for the spool to be scanned again (exit codes 102 to 104). */
  rescan?(): void;
  /** --forward-on-commit: a message is in the spool, ready to forward. */
  committed?(id: string): void;
}

/** The data stream failed for a reason of the client's (it disconnected mid-DATA). */
class ClientGone extends Error {}

/** A spool write that failed: 452, saying whether the disk is full. */
function spoolWriteError(e: unknown): Error {
  return smtpError(452, isNoSpace(e) ? 'insufficient storage: the spool is full' : 'rejected');
}

function contentType(body: unknown): ContentType {
  const b = typeof body === 'string' ? body.toUpperCase() : '';
  if (b === '7BIT') return '7bit';
  if (b === '8BITMIME') return '8bit';
  if (b === 'BINARYMIME') return 'binarymime';
  return 'unknown';
}

/** One DATA: stored and committed (and forwarded, with --immediate), or an SMTP error to answer with. */
export async function receive(r: Receiver, stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
  const { log, spool } = r;
  const msg = await spool.newMessage().catch((e: Error) => {
    stream.resume();
    log.error({ err: e.message }, 'cannot create a spool file');
    throw spoolWriteError(e);
  });
  const address = unmapAddress(session.remoteAddress);
  try {
    await writeContent(r, msg, stream, session);
    const env = envelopeOf(r, session);
    if (r.filter) {
      await msg.prepare(env);
      await runServerFilter(r, r.filter, msg, address);
    } else await msg.commit(env);
  } catch (e) {
    await msg.rollback();
    if ((e as { responseCode?: number }).responseCode) throw e;
    if (e instanceof ClientGone) {
      log.info({ id: msg.id, address, err: e.message }, 'the client went away during DATA: nothing was stored');
      throw smtpError(451, 'message incomplete');
    }
    log.error({ id: msg.id, err: (e as Error).message }, 'cannot store a message');
    throw spoolWriteError(e);
  }
  if (msg.abandoned) return 'message processed';
  log.debug({ id: msg.id }, 'new envelope file');
  const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
  r.events.step(log, 'received', { id: msg.id, client: address, address, from, to: session.envelope.rcptTo.length, bytes: msg.bytes }, 'message received');
  if (r.forwardNow) {
    const reply = await r.forwardNow(msg.id);
    if (!reply.ok) throw smtpError(reply.code && reply.code >= 400 ? reply.code : 452, reply.text);
  } else r.committed?.(msg.id);
  return 'message processed';
}

/** Our Received line (unless --anonymous=content), then the data with bare CRs replaced; 552 when too large. */
async function writeContent(r: Receiver, msg: NewMessage, stream: SMTPServerDataStream, session: SMTPServerSession): Promise<void> {
  const address = unmapAddress(session.remoteAddress);
  if (!r.cfg.anonymous.has('content')) {
    const header = receivedHeader({
      helo: session.hostNameAppearsAs || address,
      address,
      domain: r.cfg.domain,
      tls: session.secure && session.tlsOptions ? session.tlsOptions.name : undefined,
      authenticated: !!session.user,
      date: new Date(),
    });
    await msg.write(Buffer.from(header));
  }
  const mailArgs = ((session.envelope.mailFrom && session.envelope.mailFrom.args) || {}) as Record<string, unknown>;
  const bareCr = contentType(mailArgs.BODY) === 'binarymime' ? null : newBareCrScan();
  try {
    for await (const chunk of stream) {
      if (stream.sizeExceeded) continue; // keep draining; nothing more goes to disk
      const data = bareCr ? replaceBareCr(bareCr, chunk as Buffer) : (chunk as Buffer);
      if (data.length) await msg.write(data);
    }
    if (bareCr && !stream.sizeExceeded) {
      const rest = flushBareCr(bareCr);
      if (rest.length) await msg.write(rest);
    }
  } catch (e) {
    throw (e as NodeJS.ErrnoException).syscall ? e : new ClientGone((e as Error).message);
  }
  if (stream.sizeExceeded) {
    await msg.rollback();
    throw smtpError(552, 'message size exceeds fixed maximum message size');
  }
}

/** The envelope of the session's message: its sender, its recipients (the verifier's local ones apart) and the client. */
export function envelopeOf(r: Pick<Receiver, 'access' | 'clientCertificate'>, session: SMTPServerSession): Envelope {
  const mailFrom = session.envelope.mailFrom || { address: '', args: {} };
  const args = (mailFrom.args || {}) as Record<string, unknown>;
  const rcpts = session.envelope.rcptTo as Recipient[];
  const recipients = rcpts.filter((rcpt) => rcpt.localMailbox === undefined).map((rcpt) => rcpt.address);
  return newEnvelope({
    content: contentType(args.BODY),
    from: mailFrom.address,
    toLocal: rcpts.flatMap((rcpt) => (rcpt.localMailbox === undefined ? [] : [rcpt.localMailbox])),
    toRemote: recipients,
    client: unmapAddress(session.remoteAddress),
    authentication: r.access ? r.access.authenticationField(session) : '',
    clientCertificate: r.clientCertificate(session),
    mailFromAuthIn: typeof args.AUTH === 'string' ? args.AUTH : '',
    utf8MailboxNames: [mailFrom.address, ...recipients].some((a) => NON_ASCII.test(a)),
  });
}

/** The server filter decides: commit (ok), commit what is left and say 250 (abandon), or remove and refuse (fail). */
async function runServerFilter(r: Receiver, filter: FilterChain, msg: NewMessage, address: string): Promise<void> {
  const { events, log, spool } = r;
  const result = await filter.run({ id: msg.id, contentPath: spool.contentPath(msg.id), envelopePath: spool.envelopePath(msg.id, 'new') });
  // A rescan looks at the spool once this message's fate is on disk.
  const rescan = () => {
    if (result.special) r.rescan?.();
  };
  if (result.outcome === 'ok') {
    events.step(log, 'filtered', { id: msg.id, client: address, filter: result.filter, outcome: 'ok' }, 'message passed the filter');
    return msg.commitPrepared().then(rescan);
  }
  if (result.outcome === 'abandon') {
    await msg.commitPrepared(true);
    msg.abandoned = true;
    rescan();
    events.step(log, 'filtered', { id: msg.id, client: address, address, filter: result.filter, outcome: 'abandon' }, 'message abandoned by the filter');
    return;
  }
  await msg.rollback();
  rescan();
  events.step(
    log,
    'filtered',
    { id: msg.id, client: address, address, filter: result.filter, outcome: 'rejected', reason: result.reason },
    'message rejected by filter',
  );
  throw smtpError(result.code ?? 452, result.response);
}
