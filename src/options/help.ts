// --help text, generated from the option table (also used for the README's option reference).
import { OPTIONS } from './table';
import type { OptionGroup, OptionSpec } from './spec';

const GROUP_TITLES: Record<OptionGroup, string> = {
  basic: 'Basic options',
  client: 'SMTP client (forwarding)',
  server: 'SMTP server',
  pop: 'POP server',
  admin: 'Admin',
  auth: 'Authentication',
  tls: 'TLS',
  process: 'Process',
  logging: 'Logging',
  relaybox: 'relaybox extensions (not in E-MailRelay)',
};

export function usageLine(spec: OptionSpec): string {
  const short = spec.short ? `-${spec.short}, ` : '    ';
  const arg = spec.arg ? (spec.optionalArg ? `[=<${spec.arg}>]` : ` <${spec.arg}>`) : '';
  return `${short}--${spec.name}${arg}`;
}

function status(spec: OptionSpec): string {
  if (spec.support === 'planned') return ` [not supported yet${spec.issue ? `, issue ${spec.issue}` : ''}]`;
  if (spec.support === 'windows') return ' [Windows only: refused]';
  return '';
}

export function helpText(verbose: boolean): string {
  const out: string[] = [
    'usage: relaybox [options] [config-file]',
    '       relaybox check [config-file] --to <address>  (send a test mail straight to the upstream,',
    '                                step by step, saying what to change where a step fails)',
    '       relaybox passwd          (hash a password for a secrets file "md5" line)',
    '       relaybox oauth login ... (sign in once for a secrets file "oauth-refresh" line)',
    '       relaybox oauth check <secrets-file> (get a token for each OAuth2 grant line, to check them)',
    '       relaybox hardware [--json] [spool-dir]  (board, temperature, power, card, network, uptime)',
    '       relaybox submit [options] recipient...  (put a message from stdin into the spool;',
    '                                as a link named "sendmail" it takes sendmail\'s options)',
    '',
  ];
  const groups = [...new Set(OPTIONS.map((o) => o.group))];
  for (const group of groups) {
    const rows = OPTIONS.filter((o) => o.group === group && !o.hidden && (verbose || o.support === 'yes'));
    if (!rows.length) continue;
    out.push(`${GROUP_TITLES[group]}:`);
    for (const o of rows) {
      const left = usageLine(o);
      out.push(`  ${left.padEnd(40)} ${o.help}${status(o)}`);
      if (verbose && o.more) out.push(`  ${''.padEnd(40)} ${o.more}`);
    }
    out.push('');
  }
  if (!verbose) out.push('relaybox --help --verbose lists every option, including those not supported yet.');
  return out.join('\n');
}

/** Markdown option reference for the README. */
export function markdownReference(): string {
  const out: string[] = [];
  const groups = [...new Set(OPTIONS.map((o) => o.group))];
  for (const group of groups) {
    out.push(`### ${GROUP_TITLES[group]}`, '', '| option | meaning |', '|---|---|');
    for (const o of OPTIONS.filter((x) => x.group === group && !x.hidden)) {
      const text = [o.help, o.more ?? '', status(o).trim()].filter(Boolean).join(' ').replace(/\|/g, '\\|');
      out.push(`| \`${usageLine(o).trim()}\` | ${text} |`);
    }
    out.push('');
  }
  return out.join('\n');
}
