// The option table: every E-MailRelay 2.6.1 option, in the order and groups of
// the reference (section 1), followed by the relaybox extensions. The command
// line parser, the config-file reader and --help are all driven from here.
//
// Differences from E-MailRelay that are deliberate:
// * --delivery-dir has no short letter (E-MailRelay gives it -s, clashing with
//   --spool-dir); -s always means --spool-dir.
// * --prompt-timeout is in the client group, since it only affects the client.
// * --idle-timeout is in the server group, since it only affects the server.
// * Help texts use the code defaults, not the documented ones (e.g. 1800 s for
//   --response-timeout and --idle-timeout).

import type { OptionSpec } from './spec';

export const OPTIONS: readonly OptionSpec[] = [
  // ------------------------------------------------------------------ basic
  {
    name: 'as-client',
    short: 'q',
    arg: 'host:port',
    group: 'basic',
    help: 'Forward all spooled mail to the given server once, then exit.',
    more:
      'Same as --log --no-syslog --no-daemon --dont-serve --forward --forward-to <host:port>. ' +
      'Cannot be combined with --forward-to.',
    support: 'yes',
  },
  {
    name: 'as-proxy',
    short: 'y',
    arg: 'host:port',
    group: 'basic',
    help: 'Run as a store-and-forward daemon that forwards to the given server.',
    more:
      'Same as --log --close-stderr --forward-on-disconnect --forward-to <host:port>. ' +
      'Cannot be combined with --forward-to.',
    support: 'yes',
  },
  {
    name: 'as-server',
    short: 'd',
    group: 'basic',
    help: 'Run as a storage daemon that only spools incoming mail.',
    more: 'Same as --log --close-stderr.',
    support: 'yes',
  },
  {
    name: 'spool-dir',
    short: 's',
    arg: 'dir',
    group: 'basic',
    help: 'Spool directory for received messages (default /var/spool/emailrelay).',
    more:
      'In a config file, a prefixed name such as "in-spool-dir" starts a named instance "in"; ' +
      'other options prefixed with "in-" then apply to that instance.',
    support: 'yes',
  },
  {
    name: 'help',
    short: 'h',
    group: 'basic',
    help: 'Show help and exit.',
    more: 'With --verbose, show every option grouped by topic.',
    support: 'yes',
  },
  {
    name: 'version',
    short: 'V',
    group: 'basic',
    help: 'Show the version and exit.',
    more: 'With --verbose, also show the built-in features.',
    support: 'yes',
  },
  {
    name: 'verbose',
    short: 'v',
    many: true,
    group: 'basic',
    help: 'More detailed logging, or the full help with --help.',
    more: 'Give it twice for even more detail. Needs --log (or an --as-* option) or --help.',
    support: 'yes',
  },

  // ----------------------------------------------------------------- client
  {
    name: 'forward',
    short: 'f',
    group: 'client',
    help: 'Forward spooled mail at start-up.',
    more: 'Needs a forward-to address.',
    support: 'yes',
  },
  {
    name: 'forward-on-disconnect',
    short: '1',
    group: 'client',
    help: 'Forward spooled mail each time an SMTP client disconnects.',
    more: 'Needs a forward-to address.',
    support: 'yes',
  },
  {
    name: 'forward-to',
    short: 'o',
    arg: 'host:port',
    group: 'client',
    help: 'Address of the next-hop SMTP server (smarthost).',
    more:
      'Accepts host:port, [ipv6]:port, host:port@socks-host:port (SOCKS4a) or an absolute path ' +
      'for a unix-domain socket. Not allowed with --as-client or --as-proxy. relaybox also takes ' +
      'host:port@socks5://[user:password@]proxy:port (SOCKS5) and graph: or graph:<base-url> (Microsoft Graph sendMail).',
    support: 'yes',
  },
  {
    name: 'forward-to-some',
    group: 'client',
    help: 'Deliver to the accepted recipients even if others are rejected.',
    more: 'The spooled copy is then failed, keeping only the rejected recipients.',
    support: 'yes',
  },
  {
    name: 'forward-to-all',
    group: 'client',
    help: 'Fail a message unless every recipient is accepted (the default).',
    support: 'yes',
  },
  {
    name: 'poll',
    short: 'O',
    arg: 'seconds',
    group: 'client',
    help: 'Forward spooled mail periodically with the given period.',
    more: 'Needs a forward-to address. Zero is refused: use --forward-on-disconnect instead.',
    support: 'yes',
  },
  {
    name: 'immediate',
    short: 'm',
    group: 'client',
    help: 'Forward each message before acknowledging it to the submitting client.',
    more:
      'True proxying: the client waits while the message is forwarded. ' +
      '--forward-on-disconnect is usually the better choice.',
    support: 'yes',
  },
  {
    name: 'client-filter',
    short: 'Y',
    arg: 'program',
    many: true,
    group: 'client',
    help: 'Filter run on each message just before it is forwarded.',
    more: 'A program path, or net:, spam:, spam-edit: or a built-in filter. Needs a forward-to address.',
    support: 'yes',
  },
  {
    name: 'client-interface',
    short: '6',
    arg: 'ip-address',
    group: 'client',
    help: 'Local address to bind for outgoing connections.',
    more:
      '0.0.0.0 or :: also restricts DNS results to IPv4 or IPv6. ' +
      'Not allowed with a unix-domain forward-to address.',
    support: 'yes',
  },
  {
    name: 'client-smtp-config',
    short: 'c',
    arg: 'config',
    many: true,
    group: 'client',
    help: 'SMTP client protocol switches.',
    more:
      'Keywords: pipelining (default off), smtputf8strict (on), eightbitstrict (off), ' +
      'binarymimestrict (on); prefix with "no" to turn one off.',
    support: 'yes',
  },
  {
    name: 'connection-timeout',
    short: 'U',
    arg: 'seconds',
    group: 'client',
    help: 'Timeout for connecting to a remote server (default 40).',
    more: 'Also used as the TLS handshake timeout.',
    support: 'yes',
  },
  {
    name: 'response-timeout',
    short: 'T',
    arg: 'seconds',
    group: 'client',
    help: 'Timeout waiting for each response from a remote server (default 1800).',
    support: 'yes',
  },
  {
    name: 'prompt-timeout',
    short: 'w',
    arg: 'seconds',
    group: 'client',
    help: 'Wait this long for the server greeting before sending EHLO anyway (default 20).',
    more: 'E-MailRelay lists this under the server options, but it only affects the client.',
    support: 'yes',
  },

  // ----------------------------------------------------------------- server
  {
    name: 'idle-timeout',
    arg: 'seconds',
    group: 'server',
    help: 'Drop idle SMTP and POP client connections after this long (default 1800).',
    support: 'yes',
  },
  {
    name: 'port',
    short: 'p',
    arg: 'port',
    group: 'server',
    help: 'SMTP listening port (default 25).',
    more: 'Use 0 when listening only on unix-domain sockets.',
    support: 'yes',
  },
  {
    name: 'remote-clients',
    short: 'r',
    group: 'server',
    help: 'Accept connections from non-local addresses.',
    more:
      'Without it only loopback, link-local and private (RFC 1918 / unique-local) addresses, and those of ' +
      '--allow-clients, may connect. Applies to the SMTP, POP and admin listeners.',
    support: 'yes',
  },
  {
    name: 'interface',
    short: 'I',
    arg: 'list',
    many: true,
    group: 'server',
    help: 'Listening addresses or interface names (default 0.0.0.0 and ::).',
    more:
      'Comma list; entries may carry smtp=, pop= or admin= qualifiers. Interface names may have ' +
      'an -ipv4 or -ipv6 suffix; fd#N uses an inherited socket; an absolute path is a unix-domain socket.',
    support: 'yes',
  },
  {
    name: 'address-verifier',
    arg: 'program',
    group: 'server',
    help: 'Program that checks each recipient address.',
    more: 'A program path, net:<address> or account:[params].',
    support: 'yes',
  },
  {
    name: 'anonymous',
    short: 'A',
    arg: 'scope',
    optionalArg: true,
    group: 'server',
    help: 'Reveal less about this server; with no value, all scopes.',
    more:
      'Scopes (comma list): vrfy (disable VRFY), server (terse greeting), ' +
      'content (no Received: header), client (send AUTH=<> on MAIL FROM).',
    support: 'yes',
  },
  {
    name: 'delivery-dir',
    arg: 'dir',
    group: 'server',
    help: 'Base directory for local mailboxes used by deliver: (default the spool directory).',
    more:
      'E-MailRelay also gives this option the short letter -s, which clashes with --spool-dir; ' +
      'in relaybox -s always means --spool-dir, so use the long name.',
    support: 'yes',
  },
  {
    name: 'dnsbl',
    arg: 'config',
    many: true,
    group: 'server',
    help: 'Reject clients listed by DNS block-list servers.',
    more:
      'zone,zone...[,threshold[,timeout-ms[,dns-server]]]: threshold 1 by default (0 logs only), timeout ' +
      '5000 ms (negative: refuse when undecided), dns-server the first system nameserver. Only that ' +
      'server is asked. Local and private addresses are never looked up. Needs --remote-clients.',
    support: 'yes',
  },
  {
    name: 'domain',
    short: 'D',
    arg: 'fqdn',
    group: 'server',
    help: 'Domain name for the greeting, EHLO and Received: lines (default the host name).',
    more:
      'Must not be empty and should be ASCII. If it has no dot the client EHLO uses the ' +
      'local IP address instead.',
    support: 'yes',
  },
  {
    name: 'filter',
    short: 'z',
    arg: 'program',
    many: true,
    group: 'server',
    help: 'Filter run on each message after it has been received.',
    more:
      'A program path, or net:, spam:, spam-edit: or a built-in filter. ' +
      'Not allowed with --no-smtp, --dont-serve or --as-client.',
    support: 'yes',
  },
  {
    name: 'filter-timeout',
    short: 'W',
    arg: 'seconds',
    group: 'server',
    help: 'Timeout for filters and address verifiers (default 60).',
    support: 'yes',
  },
  {
    name: 'server-smtp-config',
    short: 'Z',
    arg: 'config',
    many: true,
    group: 'server',
    help: 'SMTP server protocol switches.',
    more:
      'Keywords: pipelining (default on), chunking (off), smtputf8 (off), smtputf8strict (off), ' +
      'strictparsing (on), alabels (on); prefix with "no" to turn one off.',
    support: 'yes',
  },
  {
    name: 'size',
    short: 'M',
    arg: 'bytes',
    group: 'server',
    help: 'Largest message accepted, advertised with SIZE (default 0, no limit).',
    support: 'yes',
  },

  // -------------------------------------------------------------------- pop
  {
    name: 'pop',
    short: 'B',
    group: 'pop',
    help: 'Run a POP3 server (port 110 unless --pop-port).',
    more: 'Needs --pop-auth. Offers STLS when --server-tls is used.',
    support: 'yes',
  },
  {
    name: 'pop-port',
    short: 'E',
    arg: 'port',
    group: 'pop',
    help: 'POP3 listening port (default 110).',
    more: 'Needs --pop.',
    support: 'yes',
  },
  {
    name: 'pop-auth',
    short: 'F',
    arg: 'file',
    group: 'pop',
    help: 'Secrets file with the POP3 accounts.',
    more: 'Uses the "server" lines of the file (re-read when it changes), or pam: for PAM (pam:<service> picks the PAM service, default emailrelay).',
    support: 'yes',
  },
  {
    name: 'pop-by-name',
    short: 'J',
    group: 'pop',
    help: 'Each POP3 user sees only the spool sub-directory named after it.',
    more: 'Needs --pop. The directory is created at the first login. Content shared with the main spool directory is removed with the last envelope that refers to it.',
    support: 'yes',
  },
  {
    name: 'pop-no-delete',
    short: 'G',
    group: 'pop',
    help: 'Make POP3 DELE a no-op that still reports success.',
    more: 'Needs --pop.',
    support: 'yes',
  },

  // ------------------------------------------------------------------ admin
  {
    name: 'admin',
    short: 'a',
    arg: 'port',
    group: 'admin',
    help: 'Run the line-based admin interface on the given port.',
    more: 'Commands: help, forward, flush, list, failures, unfail-all, status, notify, pid, smtp enable|disable, dnsbl stop|start, info, terminate, quit.',
    support: 'yes',
  },
  {
    name: 'admin-terminate',
    short: 'Q',
    group: 'admin',
    help: 'Allow the admin "terminate" command.',
    more: 'Needs --admin.',
    support: 'yes',
  },

  // ------------------------------------------------------------------- auth
  {
    name: 'client-auth',
    short: 'C',
    arg: 'file',
    group: 'auth',
    help: 'Authenticate to the remote server using this secrets file.',
    more:
      'Uses the "client" line of the file. plain:<base64-user>:<base64-password> is also ' +
      'accepted but shows the password in the process list.',
    support: 'yes',
  },
  {
    name: 'client-auth-config',
    arg: 'config',
    group: 'auth',
    help: 'Limit the SASL mechanisms the client may use.',
    more: 'm:<list> allows, x:<list> excludes (semicolon separated). Needs --client-auth.',
    support: 'yes',
  },
  {
    name: 'server-auth',
    short: 'S',
    arg: 'file',
    group: 'auth',
    help: 'Require SMTP AUTH from clients, checked against this secrets file.',
    more:
      'Uses the "server" lines of the file; "server none <address-range> <keyword>" lines name trusted ' +
      'networks that need no AUTH. pam: checks passwords with PAM (service "emailrelay"; pam:<service> ' +
      'names another, a relaybox extension).',
    support: 'yes',
  },
  {
    name: 'server-auth-config',
    arg: 'config',
    group: 'auth',
    help: 'Limit the SASL mechanisms the server offers.',
    more:
      'm:/x: allow and exclude before TLS, a:/d: after TLS (m:/x: apply to both if a:/d: are ' +
      'absent). Example: m:;a:plain. Needs --server-auth.',
    support: 'yes',
  },

  // -------------------------------------------------------------------- tls
  {
    name: 'client-tls',
    short: 'j',
    group: 'tls',
    help: 'Use STARTTLS when the remote server offers it.',
    support: 'yes',
  },
  {
    name: 'client-tls-connection',
    short: 'b',
    group: 'tls',
    help: 'Use implicit TLS (SMTPS) for outgoing connections.',
    more: 'Cannot be combined with --client-tls.',
    support: 'yes',
  },
  {
    name: 'client-tls-required',
    group: 'tls',
    help: 'Fail outgoing connections that cannot use TLS.',
    more: 'Needs --client-tls or --client-tls-connection.',
    support: 'yes',
  },
  {
    name: 'client-tls-certificate',
    arg: 'pem',
    many: true,
    maxCount: 2,
    group: 'tls',
    help: 'Client private key and certificate chain (PEM).',
    more: 'Either one file holding both, or the option twice: the key file first, then the certificate file.',
    support: 'yes',
  },
  {
    name: 'client-tls-verify',
    arg: 'ca-list',
    group: 'tls',
    help: 'Verify the server certificate against these CA certificates.',
    more: 'A file or directory of CA certificates, or <default> for the system set. Checks the chain only; --client-tls-verify-host also checks the host name.',
    support: 'yes',
  },
  {
    name: 'client-tls-verify-name',
    arg: 'cname',
    group: 'tls',
    help: 'Require this name in the server certificate.',
    more: 'Needs --client-tls-verify.',
    support: 'yes',
  },
  {
    name: 'client-tls-server-name',
    arg: 'hostname',
    group: 'tls',
    help: 'Server name (SNI) to send in the TLS handshake.',
    support: 'yes',
  },
  {
    name: 'server-tls',
    short: 'K',
    group: 'tls',
    help: 'Offer STARTTLS to SMTP clients (and STLS to POP clients).',
    more: 'Needs --server-tls-certificate.',
    support: 'yes',
  },
  {
    name: 'server-tls-connection',
    group: 'tls',
    help: 'Use implicit TLS (SMTPS) on the SMTP listener.',
    more: 'Needs --server-tls-certificate. Cannot be combined with --server-tls.',
    support: 'yes',
  },
  {
    name: 'server-tls-required',
    group: 'tls',
    help: 'Clients must start TLS before AUTH, MAIL or VRFY.',
    more: 'Needs --server-tls or --server-tls-connection.',
    support: 'yes',
  },
  {
    name: 'server-tls-certificate',
    arg: 'pem',
    many: true,
    maxCount: 2,
    group: 'tls',
    help: 'Server private key and certificate chain (PEM).',
    more: 'Either one file holding both, or the option twice: the key file first, then the certificate file.',
    support: 'yes',
  },
  {
    name: 'server-tls-verify',
    arg: 'ca-list',
    group: 'tls',
    help: 'Require client certificates and verify them against these CA certificates.',
    more:
      'A file or directory of CA certificates, or <default> for the system set. ' +
      '<none> means do not ask for a client certificate.',
    support: 'yes',
  },
  {
    name: 'tls-config',
    short: '9',
    arg: 'keywords',
    many: true,
    group: 'tls',
    help: 'Low-level TLS settings such as protocol versions.',
    more: 'Comma list, e.g. tlsv1.2 for a minimum version or -tlsv1.2 for a maximum.',
    support: 'yes',
  },

  // ---------------------------------------------------------------- process
  {
    name: 'dont-serve',
    short: 'x',
    group: 'process',
    help: 'Do not listen at all; exit once the initial forwarding is done.',
    more: 'With --poll the process keeps running.',
    support: 'yes',
  },
  {
    name: 'no-smtp',
    short: 'X',
    group: 'process',
    help: 'Do not listen for SMTP connections.',
    support: 'yes',
  },
  {
    name: 'no-daemon',
    short: 't',
    group: 'process',
    help: 'Stay in the foreground.',
    support: 'yes',
  },
  {
    name: 'pid-file',
    short: 'i',
    arg: 'path',
    many: true,
    group: 'process',
    help: 'Write the process id to this file.',
    more: 'The file is removed on a clean exit. If given more than once the first one is used.',
    support: 'yes',
  },
  {
    name: 'user',
    short: 'u',
    arg: 'username',
    group: 'process',
    help: 'User to run as when started as root (default daemon).',
    more: "As E-MailRelay: the effective ids become the user's, the real ids stay root for writing the spool, pid and log files; filters run as the user. \"root\" disables switching.",
    support: 'yes',
  },
  {
    name: 'localedir',
    arg: 'dir',
    group: 'process',
    help: 'Directory of message translations.',
    support: 'planned',
  },
  {
    name: 'hidden',
    short: 'H',
    group: 'process',
    help: 'Windows only: no window and no message boxes.',
    support: 'windows',
  },
  {
    name: 'show',
    arg: 'style',
    group: 'process',
    help: 'Windows only: how to show the application window.',
    support: 'windows',
  },
  {
    name: 'test',
    arg: 'x',
    group: 'process',
    help: 'Test hooks.',
    support: 'planned',
    hidden: true,
  },

  // ---------------------------------------------------------------- logging
  {
    name: 'log',
    short: 'l',
    group: 'logging',
    help: 'Turn on logging.',
    support: 'yes',
  },
  {
    name: 'debug',
    short: 'g',
    group: 'logging',
    help: 'Debug-level logging.',
    more: 'Needs --log. May show passwords and message content.',
    support: 'yes',
  },
  {
    name: 'log-file',
    short: 'N',
    arg: 'file',
    group: 'logging',
    help: 'Write the log to this file instead.',
    more: '%d in the name becomes the date (YYYYMMDD) and %h the hour, for daily or hourly files.',
    support: 'yes',
  },
  {
    name: 'log-format',
    arg: 'list',
    many: true,
    group: 'logging',
    help: 'Extra fields in each log line.',
    more:
      'Keywords: time, unit (instance name), address (remote IP), port, msgid. Lines are ' +
      "E-MailRelay's text lines, on stderr or in --log-file. The relaybox keyword \"json\" writes " +
      'JSON instead, one object per line, on stdout or in --log-file ("text" names the default).',
    support: 'yes',
  },
  {
    name: 'log-time',
    short: 'L',
    group: 'logging',
    help: 'Add a timestamp to each log line.',
    more: 'Same as --log-format=time.',
    support: 'yes',
  },
  {
    name: 'log-address',
    group: 'logging',
    help: 'Add the remote address to each log line.',
    more: 'Same as --log-format=address.',
    support: 'yes',
  },
  {
    name: 'no-syslog',
    short: 'n',
    group: 'logging',
    help: 'Do not log to syslog.',
    more: 'relaybox never uses syslog, so this is accepted and has no further effect.',
    support: 'yes',
  },
  {
    name: 'syslog',
    short: 'k',
    arg: 'facility',
    optionalArg: true,
    group: 'logging',
    help: 'Log to syslog; not supported, relaybox logs go to stderr (or journald).',
    more: 'E-MailRelay facilities: mail (default), user, daemon, local0 to local7.',
    support: 'planned',
  },
  {
    name: 'close-stderr',
    short: 'e',
    group: 'logging',
    help: 'Close the standard error stream after start-up.',
    support: 'yes',
  },

  // --------------------------------------------------------------- relaybox
  {
    name: 'retry-delay',
    arg: 'seconds',
    group: 'relaybox',
    help: 'Wait before the first retry after a temporary failure (default 60).',
    more: 'Temporary failures are 4xx replies and connection or TLS errors. The wait doubles after each failure.',
    support: 'yes',
    extension: true,
  },
  {
    name: 'retry-max-delay',
    arg: 'seconds',
    group: 'relaybox',
    help: 'Longest wait between retries (default 3600).',
    support: 'yes',
    extension: true,
  },
  {
    name: 'retry-max-age',
    arg: 'seconds',
    group: 'relaybox',
    help: 'Stop retrying and fail a message once it is this old (default 432000, 5 days).',
    more: 'The failed message records the reason.',
    support: 'yes',
    extension: true,
  },
  {
    name: 'no-retry',
    group: 'relaybox',
    help: 'Fail a message at once on a temporary failure, as E-MailRelay does.',
    more:
      'E-MailRelay\'s forwarding outcomes: a 4xx reply, or a session that fails after connecting (sign-in, TLS, a certificate ' +
      'that fails --client-tls-verify), fails the message in hand and ends the run; a server that cannot be reached fails ' +
      'nothing; every trigger (--poll, a client disconnecting) tries every queued message, with no back-off. Without it, ' +
      'such failures wait for a retry and a failed session fails no message.',
    support: 'yes',
    extension: true,
  },
  {
    name: 'auth-failure-limit',
    arg: 'count',
    group: 'relaybox',
    help: 'Failed logins from one address (SMTP AUTH, POP, admin password) before that address is refused for a while (default 5).',
    more: 'One count per client address, shared by SMTP AUTH, POP and the admin interface and status page: a failure on one counts on all. Only that address is refused (454 for SMTP AUTH, -ERR [SYS/TEMP] for POP, an error for the admin password), for --auth-failure-lockout seconds from its last failure. An IPv6 address also counts towards its /64, which is refused after four times this many failures. 0 never refuses.',
    support: 'yes',
    extension: true,
  },
  {
    name: 'auth-failure-lockout',
    arg: 'seconds',
    group: 'relaybox',
    help: 'How long logins from an address (SMTP AUTH, POP, admin password) stay refused after too many failures (default 600).',
    support: 'yes',
    extension: true,
  },
  {
    name: 'auth-failure-delay',
    arg: 'milliseconds',
    group: 'relaybox',
    help: 'Delay before answering a failed login: SMTP AUTH, POP or admin password (default 1000).',
    more: 'The delay doubles with each failure from the same address, on any of them, up to 32 times this value. 0 answers at once.',
    support: 'yes',
    extension: true,
  },
  {
    name: 'max-connections',
    arg: 'count',
    group: 'relaybox',
    help: 'Most SMTP connections open at once (default 200, 0 for no limit).',
    more: 'Connections over the limit get 421 before the greeting.',
    support: 'yes',
    extension: true,
  },
  {
    name: 'max-connections-per-address',
    arg: 'count',
    group: 'relaybox',
    help: 'Most SMTP connections open at once from one client address (default 20, 0 for no limit).',
    support: 'yes',
    extension: true,
  },
  {
    name: 'max-recipients',
    arg: 'count',
    group: 'relaybox',
    help: 'Most recipients in one SMTP transaction (default 1000, as Postfix\'s smtpd_recipient_limit; 0 for no limit).',
    more: 'RCPT TO beyond the limit gets 452 4.5.3; clients send the rest in another transaction.',
    support: 'yes',
    extension: true,
  },
  {
    name: 'max-command-length',
    arg: 'bytes',
    group: 'relaybox',
    help: 'Longest SMTP command line, AUTH lines included (default 2048, as Postfix\'s line_length_limit).',
    more: 'A longer line gets 421 and the connection is closed; no more than this is buffered before a line is parsed.',
    support: 'yes',
    extension: true,
  },
  {
    name: 'command-timeout',
    arg: 'seconds',
    group: 'relaybox',
    help: 'Drop an SMTP client that sends nothing for this long, before its first command too (default 300, as Postfix\'s smtpd_timeout).',
    more: '--idle-timeout stays the upper bound: the shorter of the two applies.',
    support: 'yes',
    extension: true,
  },
  {
    name: 'stress-timeout',
    arg: 'seconds',
    group: 'relaybox',
    help: 'The SMTP timeout while the relay is busy: 3/4 of --max-connections open (default 10, as Postfix\'s stress mode).',
    more: 'Connections already open get it too. Once fewer connections are open, each connection gets the longer timeout again with its next command.',
    support: 'yes',
    extension: true,
  },
  {
    name: 'plaintext-auth-from-public',
    group: 'relaybox',
    help: 'Allow SMTP AUTH without TLS from public (non-private) addresses.',
    more:
      'By default AUTH is offered without TLS only to loopback, private and link-local addresses, so that LAN ' +
      'devices that cannot do TLS keep working; others must use STARTTLS first (538 otherwise).',
    support: 'yes',
    extension: true,
  },
  {
    name: 'allow-clients',
    arg: 'address-ranges',
    many: true,
    group: 'relaybox',
    help: 'Also accept connections from these addresses, without opening to everyone as --remote-clients does (comma list of address ranges, or "on-link").',
    more:
      'Loopback, private (RFC 1918, unique-local) and link-local addresses always may connect. Ranges are written as in ' +
      'secrets files: 192.0.2.7, 198.51.100.0/24, 203.0.113.*, 2001:db8:1:2::/64. "on-link" admits the networks of ' +
      'this machine\'s own interfaces, such as LAN devices with global IPv6 addresses. Applies to the SMTP, POP, admin and status listeners.',
    support: 'yes',
    extension: true,
  },
  {
    name: 'bare-lf-clients',
    arg: 'address-ranges',
    many: true,
    group: 'relaybox',
    help: 'More clients whose bare LF ends a line, so that "\\n.\\n" ends their DATA (comma list of address ranges).',
    more:
      'Loopback, private, link-local and "server none" trusted clients always may. Ranges are written as in ' +
      'secrets files: 192.0.2.7, 198.51.100.0/24, 203.0.113.*, 2001:db8::/32. Their content is stored with CRLF line ends.',
    support: 'yes',
    extension: true,
  },
  {
    name: 'pam-concurrency',
    arg: 'count',
    group: 'relaybox',
    help: 'Most PAM password checks running at once with --server-auth pam: (default 2).',
    more: 'A few more wait in a queue; beyond that AUTH gets a temporary failure (454).',
    support: 'yes',
    extension: true,
  },
  {
    name: 'client-tls-verify-host',
    group: 'relaybox',
    help: 'With --client-tls-verify, also check that the server certificate is for the forward-to host name.',
    more:
      'The name checked is --client-tls-server-name if given, else the forward-to host (name or IP address), against the ' +
      'certificate\'s subject alternative names. Without this option --client-tls-verify checks only the certificate chain, as E-MailRelay does.',
    support: 'yes',
    extension: true,
  },
  {
    name: 'forward-connections',
    arg: 'count',
    group: 'relaybox',
    help: 'Parallel upstream connections used by a forwarding run (default 1).',
    more: 'With 1, messages go one after another in spool order over one session, as E-MailRelay sends them.',
    support: 'yes',
    extension: true,
  },
  {
    name: 'forward-from-mailbox',
    group: 'relaybox',
    help: 'Send every message as the mailbox relaybox signs in as (envelope sender and From header).',
    more:
      'For upstreams such as Microsoft 365 that refuse other senders (5.7.60 SendAsDenied). The original From ' +
      'becomes the Reply-To (unless there is one) and its display name is kept.',
    support: 'yes',
    extension: true,
  },
  {
    name: 'oauth-authority',
    arg: 'url',
    group: 'relaybox',
    help: 'The Microsoft identity platform to get tokens from (default https://login.microsoftonline.com).',
    more: 'For national clouds, e.g. https://login.microsoftonline.us. Used by oauth-ms-secret and oauth-ms-cert secrets lines, and by the sign-in on the status page of oauth-refresh "page:microsoft:" lines.',
    support: 'yes',
    extension: true,
  },
  {
    name: 'oauth-google-authority',
    arg: 'url',
    group: 'relaybox',
    help: 'Google\'s OAuth2 service for the sign-in on the status page (default https://oauth2.googleapis.com).',
    more: 'Its /device/code and /token endpoints are used by oauth-refresh "page:google:" secrets lines.',
    support: 'yes',
    extension: true,
  },
  {
    name: 'admin-password-file',
    arg: 'file',
    group: 'relaybox',
    help: 'Require this password (the first line of the file) on the admin interface and for status page actions.',
    more: 'Admin clients send "password <password>" before any other command. Without it the status page offers no actions.',
    support: 'yes',
    extension: true,
  },
  {
    name: 'status-port',
    arg: 'port',
    group: 'relaybox',
    help: 'Serve the status page (/), /metrics (Prometheus) and /health (JSON) over HTTP on this port.',
    more: 'Off by default. Listens on the SMTP addresses (--interface) and admits the same clients (--remote-clients).',
    support: 'yes',
    extension: true,
  },
  {
    name: 'status-host-names',
    arg: 'list',
    many: true,
    group: 'relaybox',
    help: 'More names the status page answers to, besides the host name, its .local name, --domain, localhost and the box\'s addresses.',
    more: 'Comma list, e.g. relaybox.example.lan. A request whose Host header names anything else is refused (421), so DNS rebinding cannot read the page.',
    support: 'yes',
    extension: true,
  },
  {
    name: 'alert-to',
    arg: 'address',
    group: 'relaybox',
    help: 'Send alert emails to this address, through the spool and the upstream like any message.',
    more: 'Alerts: spool disk nearly full, upstream failing, messages failed, certificates expiring.',
    support: 'yes',
    extension: true,
  },
  {
    name: 'alert-from',
    arg: 'address',
    group: 'relaybox',
    help: 'Sender of alert emails (default relaybox@<domain>).',
    support: 'yes',
    extension: true,
  },
  {
    name: 'alert-interval',
    arg: 'seconds',
    group: 'relaybox',
    help: 'Send each kind of alert at most once in this time (default 3600).',
    support: 'yes',
    extension: true,
  },
  {
    name: 'alert-disk-percent',
    arg: 'percent',
    group: 'relaybox',
    help: 'Alert when the spool file system has less than this percentage free (default 10).',
    support: 'yes',
    extension: true,
  },
  {
    name: 'alert-upstream-seconds',
    arg: 'seconds',
    group: 'relaybox',
    help: 'Alert when the upstream has been failing for this long (default 1800).',
    support: 'yes',
    extension: true,
  },
  {
    name: 'alert-expiry-days',
    arg: 'days',
    group: 'relaybox',
    help: 'Alert when a TLS certificate in use (or a watched secret) expires within this many days (default 14).',
    support: 'yes',
    extension: true,
  },
];

export const OPTIONS_BY_NAME: ReadonlyMap<string, OptionSpec> = new Map(
  OPTIONS.map((o) => [o.name, o] as const),
);

export const OPTIONS_BY_SHORT: ReadonlyMap<string, OptionSpec> = new Map(
  OPTIONS.filter((o): o is OptionSpec & { short: string } => o.short !== undefined).map(
    (o) => [o.short, o] as const,
  ),
);
