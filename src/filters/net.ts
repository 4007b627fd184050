// The network filter (section 4.4): the content file's path goes to a service, one line comes back.
import { LineClient } from '../net/line-client';
import type { Filter, FilterContext } from './filter';
import { abandon, fail, ok, type FilterResult } from './result';

/** "ok..." passes; otherwise "[<code> ]<response>[<TAB><reason>]", code 100 abandoning. */
export function netFilterResponse(line: string): FilterResult {
  if (line.startsWith('ok')) return ok();
  const [text, reason] = line.split('\t', 2);
  const m = /^(\d{3})(?:[ \t]+|$)/.exec(text!);
  const code = m ? Number(m[1]) : undefined;
  if (code === 100) return abandon();
  const response = (m ? text!.slice(m[0].length) : text!).trim() || 'rejected';
  return fail(response, reason?.trim() || response, code && code >= 400 && code < 600 ? code : undefined);
}

export function netFilter(address: string, ctx: FilterContext): Filter {
  const client = new LineClient(address, ctx.timeoutMs);
  return {
    name: `net:${address}`,
    async run(input) {
      try {
        return netFilterResponse(await client.request(input.contentPath));
      } catch (e) {
        return fail('failed', (e as Error).message);
      }
    },
    close: () => client.close(),
  };
}
