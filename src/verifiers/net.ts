// The network verifier (section 5.3): the six arguments joined by "|", one pipe-separated line back.
import { LineClient } from '../net/line-client';
import { verifierArgs } from './program';
import { invalid, type Verdict, type Verifier, type VerifierContext } from './verifier';

export function netVerdict(line: string, recipient: string): Verdict {
  const [code, a = '', b = ''] = line.split('|');
  switch (code?.trim()) {
    case '0':
      return { kind: 'local', mailbox: a, fullName: b };
    case '1':
      return { kind: 'remote', address: a || recipient };
    case '2':
      return invalid(a || 'mailbox unavailable', b || a || 'rejected');
    case '3':
      return invalid(a || 'mailbox unavailable', b || a || 'rejected', true);
    case '100':
      return { kind: 'abort' };
    default:
      return invalid('mailbox unavailable', `invalid response from the verifier: "${line.slice(0, 80)}"`);
  }
}

export function netVerifier(address: string, ctx: VerifierContext): Verifier {
  const client = new LineClient(address, ctx.timeoutMs);
  return {
    name: `net:${address}`,
    async verify(req) {
      try {
        return netVerdict(await client.request(verifierArgs(req).join('|')), req.recipient);
      } catch (e) {
        return invalid('cannot verify', (e as Error).message, true);
      }
    },
    close: () => client.close(),
  };
}
