// The SMTP listener's settings: whether it listens (--no-smtp, --dont-serve), its port, size and time
// limits, the --server-smtp-config switches, --bare-lf-clients, and who may send (smtp/access-config.ts).
import { readSeconds, readWholeNumber, usageError, type OptionLookup, type ReadContext } from '../options/option-set';
import { parseSwitches } from '../options/switches';
import type { AddressRange } from '../net/address-range';
import { readAddressRanges } from '../net/config';
import { accessConfig, type AccessConfig } from './access-config';

export interface SmtpLimits {
  /** --max-recipients; 0: no limit. */
  maxRecipients: number;
  /** --max-command-length, in bytes. */
  maxCommandLength: number;
  /** --command-timeout, in seconds. */
  commandTimeout: number;
  /** --stress-timeout, in seconds. */
  stressTimeout: number;
}

export interface SmtpConfig {
  /** Whether the SMTP server listens at all. */
  smtp: boolean;
  port: number;
  size: number;
  idleTimeout: number;
  /** Limits on the SMTP listener (README "Limits"); relaybox extensions. */
  smtpLimits: SmtpLimits;
  serverSmtp: { pipelining: boolean; smtputf8: boolean; smtputf8strict: boolean; strictparsing: boolean; alabels: boolean };
  /** --bare-lf-clients: more clients (besides local, private and trusted ones) whose bare LF ends a line. */
  bareLfClients: AddressRange[];
  /** Who may send: --server-auth, --server-auth-config, --dnsbl and the relaybox limits. */
  access: AccessConfig;
}

export function readSmtpConfig(opts: OptionLookup, ctx: ReadContext): SmtpConfig {
  const server = parseSwitches(
    opts.list('server-smtp-config').join(','),
    { pipelining: true, chunking: false, smtputf8: false, smtputf8strict: false, strictparsing: true, alabels: true, linger: true },
    '--server-smtp-config',
  );
  ctx.warnings.push(...server.unknown);
  if (server.switches.chunking) throw usageError(opts, 'server-smtp-config', '--server-smtp-config chunking (BDAT) is not supported yet: remove "chunking"');
  return {
    smtp: !opts.has('no-smtp') && !opts.has('dont-serve'),
    port: readWholeNumber(opts, 'port', 25, 0, 65535),
    size: readWholeNumber(opts, 'size', 0, 0, Number.MAX_SAFE_INTEGER),
    idleTimeout: readSeconds(opts, 'idle-timeout', 1800, false),
    smtpLimits: {
      maxRecipients: readWholeNumber(opts, 'max-recipients', 1000, 0, 1_000_000),
      maxCommandLength: readWholeNumber(opts, 'max-command-length', 2048, 512, 65536),
      commandTimeout: readSeconds(opts, 'command-timeout', 300, false),
      stressTimeout: readSeconds(opts, 'stress-timeout', 10, false),
    },
    serverSmtp: server.switches,
    bareLfClients: readAddressRanges(opts, 'bare-lf-clients'),
    access: accessConfig(opts, ctx.baseDir, ctx.warnings),
  };
}
