// The shape of one row of the option table (src/options/table.ts).
// Command line, config file and --help are all derived from the table.

export type OptionGroup = 'basic' | 'client' | 'server' | 'pop' | 'admin' | 'auth' | 'tls' | 'process' | 'logging' | 'relaybox';

/** 'yes': implemented. 'planned': refused at start-up as not supported yet. 'windows': refused, Windows-only. */
export type OptionSupport = 'yes' | 'planned' | 'windows';

export interface OptionSpec {
  /** Long name without the leading dashes, e.g. 'forward-to'. */
  name: string;
  /** Single-letter short form without the dash, as E-MailRelay 2.6.1 has it. */
  short?: string;
  /** Argument placeholder for --help, e.g. 'host:port'. Absent for a flag. */
  arg?: string;
  /** The argument may be omitted (--anonymous[=scope], --syslog[=facility]). Only valid with arg. */
  optionalArg?: boolean;
  /** May be given more than once; E-MailRelay joins the values with commas. */
  many?: boolean;
  /** At most this many times (--server-tls-certificate takes key and cert as two options). */
  maxCount?: number;
  group: OptionGroup;
  /** One line for the short --help; the first sentence of it is enough. */
  help: string;
  /** Extra text printed only by --help --verbose. */
  more?: string;
  support: OptionSupport;
  /** The issue that will implement a 'planned' option, used in the refusal message. */
  issue?: number;
  /** Not shown in --help (E-MailRelay's hidden options). */
  hidden?: boolean;
  /** A relaybox extension, not an E-MailRelay option. */
  extension?: boolean;
}
