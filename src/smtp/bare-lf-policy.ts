// Which clients may end lines (and DATA) with a bare LF, and what a client that may not is told when
// it waits after one. smtp-server-adapter.ts wraps smtp-server's DATA and timeout handlers with it,
// for servers created with the marker option.
//
// A client in 'exact' mode that sends a bare-LF end-of-data line ("\n.\n", "\r\n.\n", "\n.\r\n") and
// then nothing more is waiting for a reply that cannot come: after BARE_LF_STALL_MS of silence (or the
// idle timeout, if shorter) it gets a 421 that says why, and the log gets a warning. A client that
// sent such a line earlier and times out later gets the same reply instead of a plain timeout.
import type { SMTPServerSession } from 'smtp-server';
import type { BareLfMode } from './bare-lf';

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
