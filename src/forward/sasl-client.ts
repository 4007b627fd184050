// The client side of one SASL exchange in SMTP AUTH (RFC 4954): PLAIN, LOGIN, CRAM-*, XOAUTH2 and
// OAUTHBEARER (RFC 7628), over a function that sends one line and returns the server's reply.
import { cramResponse, type CramMechanism, type CramSecret } from '../auth/cram';
import { xoauth2Response } from './oauth/xoauth2';

export const CRAM_MECHANISMS = ['CRAM-SHA512', 'CRAM-SHA256', 'CRAM-SHA1', 'CRAM-MD5'] as const;
export const PASSWORD_MECHANISMS = [...CRAM_MECHANISMS, 'PLAIN', 'LOGIN'] as const;
export const TOKEN_MECHANISMS = ['XOAUTH2', 'OAUTHBEARER'] as const;
export type SaslMechanism = (typeof PASSWORD_MECHANISMS)[number] | (typeof TOKEN_MECHANISMS)[number];

export interface SmtpReply {
  /** The reply code of the last line (0 when the server sent no code). */
  code: number;
  /** The whole reply, lines joined with a space. */
  text: string;
}

export type SendLine = (line: string) => Promise<SmtpReply>;

/** What one mechanism needs: a password (or a CRAM-MD5 state) for a user, or a bearer token. */
export type SaslCredential =
  | { kind: 'password'; user: string; secret: CramSecret }
  | { kind: 'token'; user: string; token: string }
  /** E-MailRelay's `client oauth` line: the whole XOAUTH2 initial response, sent as it is. */
  | { kind: 'xoauth2-response'; user: string; response: Buffer };

/** RFC 4954 4: an initial response longer than this goes after a 334 instead. */
const INLINE_LIMIT = 450;
/** A server that keeps challenging is cut off after this many rounds. */
const MAX_ROUNDS = 4;

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

export function replyOf(raw: string): SmtpReply {
  const lines = raw.split(/\r?\n/).filter(Boolean);
  const last = lines[lines.length - 1] ?? '';
  const m = /^(\d{3})(?:[ -]|$)/.exec(last);
  return { code: m ? Number(m[1]) : 0, text: lines.join(' ').replace(/\s+/g, ' ').trim() };
}

/**
 * The mechanisms of the EHLO reply's AUTH line(s) (RFC 4954 also lets old servers write "AUTH="),
 * every one of them, known or not, in the server's order; at most 32.
 */
export function offeredMechanisms(ehloLines: readonly string[]): string[] {
  const out = new Set<string>();
  for (const line of ehloLines) {
    const m = /^AUTH[ =](.*)$/i.exec(line.trim());
    if (!m) continue;
    for (const name of m[1]!.split(/[\s=]+/)) if (/^[A-Z0-9_-]{1,40}$/i.test(name) && out.size < 32) out.add(name.toUpperCase());
  }
  return [...out];
}

/** The text of a 334 challenge line after the code. */
function challengeOf(reply: SmtpReply): string {
  return reply.text.replace(/^334[ -]?/, '');
}

/** RFC 7628 3.1 (gs2 header with the authorization identity, then the bearer token). */
export function oauthBearerResponse(user: string, token: string): Buffer {
  return Buffer.from(`n,a=${user.replace(/=/g, '=3D').replace(/,/g, '=2C')},\x01auth=Bearer ${token}\x01\x01`, 'utf8');
}

/** The user and token inside an XOAUTH2 initial response, if it has the usual form. */
export function parseXoauth2Response(response: Buffer): { user: string; token: string } | undefined {
  const m = /^user=([^\x01]*)\x01auth=Bearer ([^\x01]+)\x01\x01$/.exec(response.toString('utf8'));
  return m ? { user: m[1]!, token: m[2]! } : undefined;
}

/** Can this credential be used with this mechanism? */
export function fits(mechanism: SaslMechanism, cred: SaslCredential): boolean {
  if (cred.kind === 'password') {
    const md5State = typeof cred.secret === 'object' && !(cred.secret instanceof Uint8Array) && cred.secret.type === 'md5';
    return md5State ? mechanism === 'CRAM-MD5' : (PASSWORD_MECHANISMS as readonly string[]).includes(mechanism);
  }
  if (cred.kind === 'token') return mechanism === 'XOAUTH2' || mechanism === 'OAUTHBEARER';
  return mechanism === 'XOAUTH2' || (mechanism === 'OAUTHBEARER' && !!parseXoauth2Response(cred.response));
}

function passwordBytes(secret: CramSecret): Buffer {
  if (typeof secret === 'string' || secret instanceof Uint8Array) return Buffer.from(secret);
  return Buffer.from(secret.value);
}

/** The initial response for a mechanism that has one. */
function initialResponse(mechanism: SaslMechanism, cred: SaslCredential): Buffer | undefined {
  if (mechanism === 'PLAIN' && cred.kind === 'password') {
    return Buffer.concat([Buffer.from(`\0${cred.user}\0`, 'utf8'), passwordBytes(cred.secret)]);
  }
  if (cred.kind === 'xoauth2-response') {
    if (mechanism === 'XOAUTH2') return cred.response;
    const parsed = parseXoauth2Response(cred.response)!;
    return oauthBearerResponse(parsed.user, parsed.token);
  }
  if (cred.kind === 'token') return mechanism === 'XOAUTH2' ? xoauth2Response(cred.user, cred.token) : oauthBearerResponse(cred.user, cred.token);
  return undefined;
}

/**
 * Runs one mechanism. Resolves with the server's final reply: 235 is success, anything else a
 * refusal (the reply says why). Rejects only when the connection fails.
 */
export async function runMechanism(mechanism: SaslMechanism, cred: SaslCredential, send: SendLine): Promise<SmtpReply> {
  const initial = initialResponse(mechanism, cred);
  let reply: SmtpReply;
  if (initial && b64(initial).length <= INLINE_LIMIT) {
    reply = await send(`AUTH ${mechanism} ${b64(initial)}`);
  } else {
    reply = await send(`AUTH ${mechanism}`);
    if (initial && reply.code === 334) reply = await send(b64(initial));
  }
  for (let round = 0; reply.code === 334; round++) {
    if (round >= MAX_ROUNDS) {
      await send('*');
      return { code: 0, text: `the server kept sending challenges for AUTH ${mechanism}` };
    }
    reply = await send(answer(mechanism, cred, challengeOf(reply), round));
  }
  return reply;
}

/** The client's answer to the round'th 334 challenge after the AUTH command (and its initial response). */
function answer(mechanism: SaslMechanism, cred: SaslCredential, challenge: string, round: number): string {
  switch (mechanism) {
    // A 334 after a token is the server's error report (Google sends base64 JSON): RFC 7628 3.2.3
    // has the client answer %x01 for OAUTHBEARER; XOAUTH2 clients send an empty line.
    case 'XOAUTH2':
      return '';
    case 'OAUTHBEARER':
      return b64('\x01');
    case 'LOGIN':
      if (cred.kind !== 'password') return '*';
      return round === 0 ? b64(cred.user) : round === 1 ? passwordBytes(cred.secret).toString('base64') : '*';
    case 'PLAIN':
      return '*';
    default:
      if (cred.kind !== 'password' || round > 0) return '*';
      return cramResponse(mechanism as CramMechanism, cred.user, cred.secret, challenge);
  }
}
