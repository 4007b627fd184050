// What a filter decides, and E-MailRelay's exit-code table (section 4.3) that maps a program's exit
// code to it. The table differs between server filters (--filter) and client filters (--client-filter).

export type FilterSide = 'server' | 'client';

export interface FilterResult {
  outcome: 'ok' | 'abandon' | 'fail';
  /** Server side: rescan the spool (forward what the filter made). Client side: stop scanning after this message. */
  special: boolean;
  /** An SMTP reply code (4xx/5xx) the filter asked for. */
  code?: number;
  /** Text for the SMTP client. */
  response: string;
  /** Text for the log and the envelope's Reason line. */
  reason: string;
}

export const OK: FilterResult = { outcome: 'ok', special: false, response: '', reason: '' };

export function ok(special = false): FilterResult {
  return { ...OK, special };
}

export function fail(response: string, reason = response, code?: number): FilterResult {
  return { outcome: 'fail', special: false, response, reason, code };
}

export function abandon(special = false): FilterResult {
  return { outcome: 'abandon', special, response: '', reason: '' };
}

type Row = [FilterResult['outcome'], boolean];

const SERVER: Record<number, Row> = {
  0: ['ok', false],
  100: ['abandon', false],
  101: ['ok', false],
  102: ['abandon', true],
  103: ['ok', true],
  104: ['fail', true],
  105: ['fail', false],
};

const CLIENT: Record<number, Row> = {
  0: ['ok', false],
  100: ['abandon', false],
  101: ['ok', false],
  102: ['ok', true],
  103: ['ok', false],
  104: ['abandon', true],
  105: ['fail', true],
};

/** The outcome of an exit code; 1-99 and 106 and above fail. */
export function exitCodeOutcome(exitCode: number, side: FilterSide): Row {
  return (side === 'server' ? SERVER : CLIENT)[exitCode] ?? ['fail', false];
}

/** The result of a program (or exit:N) that exited with `exitCode` and printed `output`. */
export function programResult(exitCode: number, output: string, side: FilterSide, defaultReason: string): FilterResult {
  const [outcome, special] = exitCodeOutcome(exitCode, side);
  if (outcome !== 'fail') return { outcome, special, response: '', reason: '' };
  const { response, reason } = parseFilterOutput(output);
  const reply = splitReplyCode(response ?? 'rejected');
  return { outcome, special, code: reply.code, response: reply.text || 'rejected', reason: reason ?? response ?? defaultReason };
}

/**
 * The response and reason lines of a filter's output: lines starting "<<" and holding ">>", or
 * starting "[[" and holding "]]". The first is the response, the second the reason.
 */
export function parseFilterOutput(output: string): { response?: string; reason?: string } {
  const found: string[] = [];
  for (const line of output.replace(/\r\n?/g, '\n').split('\n')) {
    for (const [open, close] of [
      ['<<', '>>'],
      ['[[', ']]'],
    ] as const) {
      if (!line.startsWith(open)) continue;
      const end = line.indexOf(close, 2);
      if (end >= 0) found.push(line.slice(2, end).trim());
    }
  }
  return { response: found[0], reason: found[1] };
}

/** "452 try later" -> code 452 and "try later"; only 4xx and 5xx codes count. */
export function splitReplyCode(text: string): { code?: number; text: string } {
  const m = /^([45]\d\d)(?:[ \t]+|$)/.exec(text);
  return m ? { code: Number(m[1]), text: text.slice(m[0].length) } : { text };
}
