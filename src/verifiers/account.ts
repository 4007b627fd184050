// account: (section 5.4): recipients at --domain whose local part is a system account (uid in
// range) are local, with the account name as the mailbox.
import { readFile } from 'node:fs/promises';
import { specParams } from '../options/spec-params';
import { invalid, type Verifier, type VerifierContext } from './verifier';

export interface AccountOptions {
  low: number;
  high: number;
  lowercase: boolean;
  check: boolean;
  remote: boolean;
}

export function parseAccountParams(params: string): AccountOptions {
  const opts: AccountOptions = { low: 1000, high: 32767, lowercase: false, check: false, remote: false };
  for (const word of specParams(params).words) {
    const range = /^(\d+)-(\d+)$/.exec(word);
    if (range) {
      opts.low = Number(range[1]);
      opts.high = Number(range[2]);
    } else if (word === 'lowercase' || word === 'check' || word === 'remote') opts[word] = true;
    else if (word.length <= 3 && /^[lcr]+$/.test(word)) {
      opts.lowercase ||= word.includes('l');
      opts.check ||= word.includes('c');
      opts.remote ||= word.includes('r');
    } else throw new Error(`account: unknown parameter "${word}" (give a uid range such as 1000-32767, lowercase, check or remote)`);
  }
  return opts;
}

/** Accounts from the passwd file, name -> uid. */
async function accounts(passwdFile: string): Promise<Map<string, number>> {
  const map = new Map<string, number>();
  const text = await readFile(passwdFile, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && /^\d+$/.test(f[2]!)) map.set(f[0]!, Number(f[2]));
  }
  return map;
}

export function accountVerifier(params: string, ctx: VerifierContext, passwdFile = '/etc/passwd'): Verifier {
  const opts = parseAccountParams(params);
  return {
    name: `account:${params}`,
    async verify(req) {
      const at = req.recipient.lastIndexOf('@');
      let user = at < 0 ? req.recipient : req.recipient.slice(0, at);
      const domain = at < 0 ? '' : req.recipient.slice(at + 1);
      if (/^".*"$/.test(user)) user = user.slice(1, -1);
      if (at < 0 && user.toLowerCase() === 'postmaster') return { kind: 'local', mailbox: 'postmaster', fullName: 'postmaster' };
      const table = await accounts(passwdFile);
      const name = [user, user.toLowerCase()].find((u) => table.has(u));
      const uid = name === undefined ? undefined : table.get(name)!;
      const match = domain.toLowerCase() === ctx.domain.toLowerCase() && uid !== undefined && uid >= opts.low && uid <= opts.high;
      if (match) {
        const mailbox = opts.lowercase ? name!.toLowerCase() : name!;
        return opts.remote ? { kind: 'remote', address: req.recipient } : { kind: 'local', mailbox, fullName: mailbox };
      }
      if (opts.check) return { kind: 'remote', address: req.recipient };
      return invalid('rejected', `no such account: ${req.recipient}`);
    },
  };
}
