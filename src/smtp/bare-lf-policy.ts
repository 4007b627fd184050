// Which clients may end lines (and DATA) with a bare LF, and what a client that may not is told when
// it waits after one. Installed once, for the process, on smtp-server's SMTPConnection; acts only
// for servers created with the marker option.
//
// A client in 'exact' mode that sends a bare-LF end-of-data line ("\n.\n", "\r\n.\n", "\n.\r\n") and
// then nothing more is waiting for a reply that cannot come: after BARE_LF_STALL_MS of silence (or the
// idle timeout, if shorter) it gets a 421 that says why, and the log gets a warning. A client that
// sent such a line earlier and times out later gets the same reply instead of a plain timeout.
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import type { SMTPServerSession } from 'smtp-server';
import { currentScan, installBareLfHandling, type BareLfMode, type DataScan } from './bare-lf';

export const BARE_LF_OPTION = 'relayboxBareLf';

/** Silence after a bare-LF end-of-data line before the client is told. */
export const BARE_LF_STALL_MS = 10_000;

export const BARE_LF_REPLY = 'message ended with a bare LF (\\n.\\n): end it with CRLF.CRLF, or allow this address in --bare-lf-clients';

export interface BareLfPolicy {
  /** The mode for a DATA of this session. */
  modeFor(session: SMTPServerSession): BareLfMode;
  /** An 'exact' client was left waiting after a bare LF and is now disconnected. */
  refused(session: SMTPServerSession, after: 'stall' | 'timeout'): void;
  /** The idle timeout, in milliseconds. */
  idleMs: number;
}

interface Connection {
  _server: { options: Record<string, unknown> };
  _parser: (object & { relayboxBareLfMode?: BareLfMode; relayboxOnDataChunk?: (scan: DataScan) => void }) | false;
  _closing: boolean;
  _handlerPending?: boolean;
  session: SMTPServerSession;
  name: string;
  send(code: number, text: string, context?: unknown): void;
  relayboxStallTimer?: NodeJS.Timeout;
}

type Handler = (this: Connection, ...args: unknown[]) => unknown;
let installed = false;

function refuse(conn: Connection, policy: BareLfPolicy, after: 'stall' | 'timeout'): void {
  clearTimeout(conn.relayboxStallTimer);
  policy.refused(conn.session, after);
  conn.send(421, `4.4.2 ${conn.name} ${BARE_LF_REPLY}`);
}

export function installBareLfPolicy(): void {
  if (installed) return;
  installBareLfHandling();
  const proto = (SMTPConnection as unknown as { prototype: Record<string, unknown> }).prototype;
  const data = proto.handler_DATA as Handler | undefined;
  const timeout = proto._onTimeout as Handler | undefined;
  if (typeof data !== 'function' || typeof timeout !== 'function') {
    throw new Error('smtp-server has changed: handler_DATA/_onTimeout are missing (relaybox needs the pinned smtp-server 3.21.6)');
  }
  proto.handler_DATA = function (this: Connection, ...args: unknown[]) {
    const policy = this._server.options[BARE_LF_OPTION] as BareLfPolicy | undefined;
    const parser = this._parser;
    if (policy && parser) {
      parser.relayboxBareLfMode = policy.modeFor(this.session);
      const stallMs = Math.min(BARE_LF_STALL_MS, policy.idleMs);
      parser.relayboxOnDataChunk = (scan) => {
        clearTimeout(this.relayboxStallTimer);
        if (!scan.endsWithBareLfEnd) return;
        this.relayboxStallTimer = setTimeout(() => {
          if (this._closing || this._parser !== parser || currentScan(parser) !== scan) return;
          refuse(this, policy, 'stall');
        }, stallMs);
        this.relayboxStallTimer.unref();
      };
    }
    return data.apply(this, args);
  };
  proto._onTimeout = function (this: Connection, ...args: unknown[]) {
    const policy = this._server.options[BARE_LF_OPTION] as BareLfPolicy | undefined;
    const scan = this._parser ? currentScan(this._parser) : undefined;
    if (policy && scan?.sawBareLfEnd && !this._closing && !this._handlerPending) return refuse(this, policy, 'timeout');
    return timeout.apply(this, args);
  };
  installed = true;
}
