// The names of a message's files in a spool directory, as E-MailRelay names them: <id>.content, and
// <id>.envelope with a suffix that is the message's state. The only place these names are spelled.

export type EnvelopeState = 'new' | 'ready' | 'busy' | 'bad';

const SUFFIX: Record<EnvelopeState, string> = {
  new: '.envelope.new',
  ready: '.envelope',
  busy: '.envelope.busy',
  bad: '.envelope.bad',
};

/** The suffix of a file written beside an envelope and renamed over it (a rewrite in place). */
export const REWRITE_SUFFIX = '.tmp';

export function contentName(id: string): string {
  return `${id}.content`;
}

export function envelopeName(id: string, state: EnvelopeState): string {
  return id + SUFFIX[state];
}

export type SpoolName = { kind: 'envelope'; id: string; state: EnvelopeState } | { kind: 'content'; id: string } | { kind: 'rewrite' };

/** What a file in a spool directory is, or null for anything else. */
export function parseSpoolName(name: string): SpoolName | null {
  for (const state of ['busy', 'bad', 'new', 'ready'] as const) {
    if (name.endsWith(SUFFIX[state]) && name.length > SUFFIX[state].length) return { kind: 'envelope', id: name.slice(0, -SUFFIX[state].length), state };
  }
  if (name.endsWith('.content') && name.length > '.content'.length) return { kind: 'content', id: name.slice(0, -'.content'.length) };
  if (name.endsWith(REWRITE_SUFFIX)) return { kind: 'rewrite' };
  return null;
}

/** An id that names a file in the spool directory and nothing else (ids from the network or a form). */
export function isSpoolId(id: string): boolean {
  return /^[^/\\\0]+$/.test(id) && !id.startsWith('.');
}
