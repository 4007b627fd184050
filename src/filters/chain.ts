// A filter spec (section 4.1) is a comma-separated chain: programs, net:, spam:, spam-edit: and the
// built-ins. The chain runs in order and stops at the first result that is not ok.
import { copyFilter } from './copy';
import { deliverFilter } from './deliver';
import type { Filter, FilterContext, FilterInput } from './filter';
import { msgidFilter } from './msgid';
import { mxFilter } from './mx';
import { netFilter } from './net';
import { programFilter } from './program';
import { resolveProgram } from '../process/resolve-program';
import { ok, programResult, type FilterResult } from './result';
import { spamFilter } from './spamd';
import { splitFilter } from './split';

export interface FilterChain {
  readonly names: string[];
  run(input: FilterInput): Promise<FilterResult & { filter?: string }>;
  close(): void;
}

function exitFilter(arg: string, ctx: FilterContext): Filter {
  if (!/^\d{1,3}$/.test(arg)) throw new Error(`exit:${arg}: give an exit code from 0 to 255`);
  const code = Number(arg);
  return { name: `exit:${code}`, run: async () => programResult(code, '', ctx.side, `exit:${code}`) };
}

function sleepFilter(arg: string): Filter {
  if (!/^\d+$/.test(arg)) throw new Error(`sleepms:${arg}: give a number of milliseconds`);
  return { name: `sleepms:${arg}`, run: () => new Promise((r) => setTimeout(() => r(ok()), Number(arg))) };
}

export function createFilter(spec: string, ctx: FilterContext, dirs: { baseDir: string; appDir: string }): Filter {
  const colon = spec.indexOf(':');
  const scheme = colon > 0 ? spec.slice(0, colon) : '';
  const arg = colon > 0 ? spec.slice(colon + 1) : '';
  switch (scheme) {
    case 'exit':
      return exitFilter(arg, ctx);
    case 'sleepms':
      return sleepFilter(arg);
    case 'net':
      return netFilter(arg, ctx);
    case 'spam':
      return spamFilter(arg, false, ctx);
    case 'spam-edit':
      return spamFilter(arg, true, ctx);
    case 'copy':
      return copyFilter(arg, ctx);
    case 'deliver':
      return deliverFilter(arg, ctx);
    case 'msgid':
      return msgidFilter(ctx);
    case 'mx':
      return mxFilter(arg, ctx);
    case 'split':
      if (ctx.side !== 'server') throw new Error('split: works only as a server filter (--filter)');
      return splitFilter(arg, ctx);
    case 'file':
      return programFilter(resolveProgram(arg, dirs.baseDir, dirs.appDir), ctx);
    default:
      return programFilter(resolveProgram(spec, dirs.baseDir, dirs.appDir), ctx);
  }
}

/** Build a chain from the spec items (already split at commas); throws with a message naming the bad item. */
export function createFilterChain(items: string[], ctx: FilterContext, dirs: { baseDir: string; appDir: string }): FilterChain {
  const filters = (items.length ? items : ['exit:0']).map((item) => {
    try {
      return createFilter(item, ctx, dirs);
    } catch (e) {
      throw new Error(`--${ctx.side === 'server' ? 'filter' : 'client-filter'} ${item}: ${(e as Error).message}`);
    }
  });
  return {
    names: filters.map((f) => f.name),
    async run(input) {
      let special = false;
      for (const f of filters) {
        const r = await f.run(input);
        special ||= r.special;
        ctx.log.debug(
          {
            id: input.id,
            side: ctx.side,
            routing: input.routing || undefined,
            filter: f.name,
            outcome: r.outcome,
            response: r.response || undefined,
            reason: r.reason || undefined,
          },
          'filter result',
        );
        if (r.outcome !== 'ok') return { ...r, special, filter: f.name };
      }
      return { ...ok(special) };
    },
    close() {
      for (const f of filters) f.close?.();
    },
  };
}
