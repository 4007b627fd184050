// The verifier an --address-verifier value names: net:, account:, exit:, file: or a program path.
import { accountVerifier } from './account';
import { netVerifier } from './net';
import { programVerifier } from './program';
import { resolveProgram } from '../process/resolve-program';
import type { Verifier, VerifierContext } from './verifier';

export function createVerifier(spec: string, ctx: VerifierContext): Verifier {
  const colon = spec.indexOf(':');
  const scheme = colon > 0 ? spec.slice(0, colon) : '';
  const arg = colon > 0 ? spec.slice(colon + 1) : '';
  try {
    switch (scheme) {
      case 'net':
        return netVerifier(arg, ctx);
      case 'account':
        return accountVerifier(arg, ctx);
      case 'exit':
        // E-MailRelay parses the number and ignores it: every address is accepted as remote.
        return { name: spec, verify: async (req) => ({ kind: 'remote', address: req.recipient }) };
      case 'file':
        return programVerifier(resolveProgram(arg, ctx.baseDir, ctx.appDir), ctx);
      default:
        return programVerifier(resolveProgram(spec, ctx.baseDir, ctx.appDir), ctx);
    }
  } catch (e) {
    throw new Error(`--address-verifier ${spec}: ${(e as Error).message}`);
  }
}
