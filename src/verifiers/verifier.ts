// Address verifiers (section 5): each RCPT TO is judged local (a mailbox name), remote (an address,
// perhaps rewritten), invalid (550 or 450), or the connection is dropped.

export type Verdict =
  | { kind: 'local'; mailbox: string; fullName: string }
  | { kind: 'remote'; address: string }
  | { kind: 'invalid'; temporary: boolean; response: string; reason: string }
  | { kind: 'abort' };

export interface VerifyRequest {
  /** As on the wire (A-labels unless noalabels). */
  recipient: string;
  /** Empty for VRFY. */
  from: string;
  /** ip:port */
  peer: string;
  domain: string;
  /** Lower-cased SASL mechanism, or "none". */
  mechanism: string;
  /** The authenticated user, or the trust keyword of a trusted client, else empty. */
  authId: string;
}

export interface Verifier {
  readonly name: string;
  verify(req: VerifyRequest): Promise<Verdict>;
  close?(): void;
}

export interface VerifierContext {
  domain: string;
  timeoutMs: number;
  baseDir: string;
  appDir: string;
}

export function invalid(response: string, reason = response, temporary = false): Verdict {
  return { kind: 'invalid', temporary, response, reason };
}
