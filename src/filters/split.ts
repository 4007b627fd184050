// split: (section 4.6, server side only): one message per recipient domain, each with a ForwardTo
// routing hint for a routing filter such as mx:. The extra parts are committed directly.
import * as path from 'node:path';
import { encodeEnvelope, newEnvelope } from '../spool/envelope';
import { newMessageId, Spool } from '../spool/store';
import type { Filter, FilterContext } from './filter';
import { readEnvelopeFile, writeEnvelopeFile } from '../spool/store';
import { specParams } from '../options/spec-params';
import { fail, ok } from './result';

export function splitFilter(params: string, ctx: FilterContext): Filter {
  const { words } = specParams(params);
  const raw = words.has('raw');
  const port = [...words].find((w) => /^\d+$/.test(w));
  return {
    name: `split:${params}`,
    async run(input) {
      const env = await readEnvelopeFile(input.envelopePath);
      if (!env.toRemote.length) return ok();
      const groups = new Map<string, string[]>();
      for (const address of env.toRemote) {
        const domain = address.slice(address.lastIndexOf('@') + 1);
        const key = raw ? domain : domain.toLowerCase();
        const group = groups.get(key);
        if (group) group.push(address);
        else groups.set(key, [address]);
      }
      const forwardTo = (addresses: string[]) => {
        const first = addresses[0]!;
        return first.slice(first.lastIndexOf('@') + 1) + (port ? `:${port}` : '');
      };
      const parts = [...groups.values()];
      const ids = [input.id, ...parts.slice(1).map(() => newMessageId())];
      const groupLines = parts.length > 1 ? [`X-MailRelay-SplitGroupCount: ${parts.length}`, `X-MailRelay-SplitGroup: ${input.id}`] : [];
      try {
        for (let i = 1; i < parts.length; i++) {
          const part = newEnvelope({ ...env, toLocal: [], toRemote: parts[i], forwardTo: forwardTo(parts[i]!), tail: [...env.tail, ...groupLines] });
          await new Spool(path.dirname(input.contentPath)).receiveCopy(ids[i]!, input.contentPath, encodeEnvelope(part), { hardlink: true });
        }
        await writeEnvelopeFile(input.envelopePath, { ...env, toRemote: parts[0]!, forwardTo: forwardTo(parts[0]!), tail: [...env.tail, ...groupLines] });
      } catch (e) {
        return fail('failed', `split: ${(e as Error).message}`);
      }
      if (parts.length > 1) ctx.log.info({ id: input.id, parts: ids }, 'message split by recipient domain');
      // No rescan: the parts wait for the next forwarding trigger, as E-MailRelay's gsplitfilter.cpp leaves them.
      return ok();
    },
  };
}
