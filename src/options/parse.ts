// Command line and config file -> one list of option values, each remembering where it came from.
import { readFileSync } from 'node:fs';
import { OPTIONS_BY_NAME, OPTIONS_BY_SHORT } from './table';
import type { OptionSpec } from './spec';

export interface OptionValue {
  spec: OptionSpec;
  value: string; // '' for a flag
  where: string; // "command line" or "file:line"
}

export class UsageError extends Error {}

export interface ParsedArgs {
  values: OptionValue[];
  configFile?: string;
}

function lookupLong(name: string, where: string): OptionSpec {
  const spec = OPTIONS_BY_NAME.get(name);
  if (!spec) throw new UsageError(`${where}: unknown option "${name}" (relaybox --help --verbose lists them all)`);
  return spec;
}

/** Parse argv (without node and the script). */
export function parseCommandLine(argv: readonly string[]): ParsedArgs {
  const values: OptionValue[] = [];
  const positional: string[] = [];
  const where = 'command line';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const spec = lookupLong(name, where);
      if (eq >= 0) {
        if (!spec.arg) throw new UsageError(`${where}: --${name} takes no value`);
        values.push({ spec, value: arg.slice(eq + 1), where });
      } else if (spec.arg && !spec.optionalArg) {
        if (i + 1 >= argv.length) throw new UsageError(`${where}: --${name} needs a value (${spec.arg})`);
        values.push({ spec, value: argv[++i]!, where });
      } else {
        values.push({ spec, value: '', where });
      }
    } else if (arg.startsWith('-') && arg.length > 1) {
      // Short flags may be bundled (-lv); a short option with a value takes the rest or the next word.
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j]!;
        const spec = OPTIONS_BY_SHORT.get(letter);
        if (!spec) throw new UsageError(`${where}: unknown option "-${letter}" (relaybox --help --verbose lists them all)`);
        if (spec.arg && !spec.optionalArg) {
          const rest = arg.slice(j + 1);
          if (rest) values.push({ spec, value: rest, where });
          else if (i + 1 < argv.length) values.push({ spec, value: argv[++i]!, where });
          else throw new UsageError(`${where}: -${letter} (--${spec.name}) needs a value (${spec.arg})`);
          break;
        }
        values.push({ spec, value: '', where });
      }
    } else {
      positional.push(arg);
    }
  }
  if (positional.length > 1) {
    throw new UsageError(`${where}: only one config file may be given, not ${positional.map((p) => `"${p}"`).join(' and ')}`);
  }
  return { values, configFile: positional[0] };
}

/** Parse an E-MailRelay config file: `name value`, `name=value` or `name`, '#' comment lines. Throws at the first problem. */
export function parseConfigText(text: string, file: string): OptionValue[] {
  const { values, problems } = parseConfigTextAll(text, file);
  if (problems.length) throw new UsageError(problems[0]);
  return values;
}

/** The same, reading every line: the values of the good lines and one "file:line: ..." problem per bad line. */
export function parseConfigTextAll(text: string, file: string): { values: OptionValue[]; problems: string[] } {
  const values: OptionValue[] = [];
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const where = `${file}:${index + 1}`;
    try {
      const value = parseConfigLine(raw, where);
      if (value) values.push(value);
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      problems.push(e.message);
    }
  });
  return { values, problems };
}

function parseConfigLine(raw: string, where: string): OptionValue | undefined {
  if (raw.includes('\0')) throw new UsageError(`${where}: the line contains a NUL byte`);
  const line = raw.replace(/^\uFEFF/, '').trim();
  if (!line || line.startsWith('#')) return undefined;
  const m = /^([^\s=]+)(?:\s*=\s*|\s+)?(.*)$/.exec(line);
  if (!m) throw new UsageError(`${where}: cannot read this line`);
  const name = m[1]!;
  let value = m[2] ?? '';
  if (name.startsWith('-')) {
    throw new UsageError(`${where}: write option names without dashes in a config file ("${name.replace(/^-+/, '')}")`);
  }
  const spec = lookupLong(name, where);
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
  if (!spec.arg && value) {
    throw new UsageError(`${where}: "${name}" is a switch and takes no value (found "${value}"): write just "${name}", or remove the line to turn it off`);
  }
  if (spec.arg && !spec.optionalArg && !value) {
    throw new UsageError(`${where}: "${name}" needs a value (${spec.arg})`);
  }
  return { spec, value, where };
}

export function readConfigFile(file: string): OptionValue[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read config file "${file}": ${(e as Error).message}`);
  }
  return parseConfigText(text, file);
}
