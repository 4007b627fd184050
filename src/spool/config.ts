// The spool's settings: --spool-dir.
import { readPath, type OptionLookup, type ReadContext } from '../options/option-set';

export interface SpoolConfig {
  spoolDir: string;
}

export function readSpoolConfig(opts: OptionLookup, ctx: ReadContext): SpoolConfig {
  return { spoolDir: readPath(opts, 'spool-dir', ctx.baseDir) ?? '/var/spool/emailrelay' };
}
