// An external verifier program (section 5.2): six arguments, the exit code and two output lines decide.
import { runProgram } from '../process/run-program';
import { invalid, type Verdict, type Verifier, type VerifierContext, type VerifyRequest } from './verifier';

export function verifierArgs(req: VerifyRequest): string[] {
  return [req.recipient, req.from, req.peer, req.domain, req.mechanism, req.authId];
}

export function programVerdict(exitCode: number, output: string, recipient: string): Verdict {
  const lines = output.replace(/\r\n/g, '\n').replace(/\s+$/, '').split('\n');
  const [first = '', second = ''] = lines;
  if (exitCode === 0)
    return lines.length >= 2 ? { kind: 'local', fullName: first, mailbox: second } : invalid('mailbox unavailable', 'invalid verifier output');
  if (exitCode === 1) return lines.length >= 2 ? { kind: 'remote', address: second || recipient } : invalid('mailbox unavailable', 'invalid verifier output');
  if (exitCode === 100) return { kind: 'abort' };
  if (exitCode === 2 || exitCode === 3) return invalid(first || 'mailbox unavailable', second || first || `exit code ${exitCode}`, exitCode === 3);
  return invalid(first || 'mailbox unavailable', second || `exit code ${exitCode}`);
}

export function programVerifier(program: string, ctx: VerifierContext): Verifier {
  return {
    name: program,
    async verify(req) {
      const r = await runProgram(program, verifierArgs(req), ctx.timeoutMs, 4096);
      if (r.timedOut) return invalid('cannot verify', 'timeout', true);
      if (r.execError) return invalid('error', r.execError);
      return programVerdict(r.exitCode, r.output, req.recipient);
    },
  };
}
