// copy: (section 4.6): the message is copied into every sub-directory of the spool directory (a
// maildir gets the content only), then the original is removed and the filter abandons it.
import { spoolFs } from '../privilege';
import * as path from 'node:path';
import type { Filter, FilterContext } from './filter';
import { deliverToMaildir, isMaildir, removeMessage } from './files';
import { specParams } from '../options/spec-params';
import { abandon, fail, ok } from './result';
import { unlinkQuiet } from '../spool/durable';
import { Spool } from '../spool/store';

export function copyFilter(params: string, ctx: FilterContext): Filter {
  const { words } = specParams(params);
  const nodelete = words.has('nodelete') || words.has('no_delete') || words.has('n');
  const hardlink = words.has('hardlink') || words.has('h');
  const popOnly = words.has('pop') || words.has('p');
  return {
    name: `copy:${params}`,
    async run(input) {
      const entries = await spoolFs.readdir(ctx.spoolDir, { withFileTypes: true });
      const dirs = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.') && e.name !== 'postmaster').map((e) => path.join(ctx.spoolDir, e.name));
      if (!dirs.length) {
        ctx.log.warn({ id: input.id }, 'copy: filter: the spool directory has no sub-directories to copy into');
        return ok();
      }
      try {
        const envelope = await spoolFs.readFile(input.envelopePath);
        for (const dir of dirs) {
          if (await isMaildir(dir)) await deliverToMaildir(dir, input.contentPath, hardlink);
          else await new Spool(dir).receiveCopy(input.id, input.contentPath, envelope, { hardlink, envelopeOnly: popOnly });
        }
      } catch (e) {
        return fail('failed', `copy: ${(e as Error).message}`);
      }
      if (nodelete) return ok();
      // pop: the sub-directories' envelopes share the content in the main directory (--pop-by-name).
      if (popOnly) await unlinkQuiet(input.envelopePath);
      else await removeMessage(input);
      return abandon();
    },
  };
}
