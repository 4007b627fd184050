// deliver: (section 4.6): local recipients (To-Local, from an address verifier) get a copy in
// <delivery-dir>/<mailbox>/; a message with no remote recipients is then removed.
import { spoolFs } from '../privilege';
import * as path from 'node:path';
import type { Filter, FilterContext } from './filter';
import { deliverToMaildir, isMaildir, removeMessage } from './files';
import { readEnvelopeFile } from '../spool/store';
import { specParams } from '../options/spec-params';
import { abandon, fail, ok } from './result';
import { encodeEnvelope } from '../spool/envelope';
import { Spool } from '../spool/store';

function validMailbox(name: string): boolean {
  return /^[\x21-\x7e]+$/.test(name) && !name.includes('/') && name !== '.' && name !== '..';
}

export function deliverFilter(params: string, ctx: FilterContext): Filter {
  const { words } = specParams(params);
  const hardlink = words.has('hardlink') || words.has('h');
  const nodelete = words.has('nodelete') || words.has('n');
  return {
    name: `deliver:${params}`,
    async run(input) {
      const env = await readEnvelopeFile(input.envelopePath);
      const mailboxes = [...new Set(env.toLocal)];
      if (!mailboxes.length) return ok();
      const bad = mailboxes.find((m) => !validMailbox(m));
      if (bad !== undefined) return fail('failed', `deliver: invalid mailbox name "${bad}"`);
      try {
        // Every copy carries the whole envelope (all recipients), as E-MailRelay's does: encoded once.
        const envelope = encodeEnvelope(env);
        for (const mailbox of mailboxes) {
          const dir = path.join(ctx.deliveryDir, mailbox);
          await spoolFs.mkdir(dir, { recursive: true, mode: 0o770 });
          if (await isMaildir(dir)) await deliverToMaildir(dir, input.contentPath, hardlink);
          else await new Spool(dir).receiveCopy(input.id, input.contentPath, envelope, { hardlink });
          ctx.log.info({ id: input.id, mailbox }, 'message delivered to a local mailbox');
        }
      } catch (e) {
        return fail('failed', `deliver: ${(e as Error).message}`);
      }
      if (env.toRemote.length || nodelete) return ok();
      await removeMessage(input);
      return abandon();
    },
  };
}
