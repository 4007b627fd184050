// What `--version` prints; with `--verbose`, the feature lines worded as E-MailRelay's
// (src/main/commandline.cpp, showVersion): scripts and E-MailRelay's test harness grep
// "Multi-threading: enabled", "Unix domain sockets: enabled", "POP server: enabled",
// "Admin server: enabled" and "TLS library:".

export interface Features {
  /** Filters and verifiers run without blocking the server (E-MailRelay needs threads for that). */
  multiThreading: boolean;
  /** Unix-domain sockets as forward-to and net: filter/verifier addresses. */
  unixDomainSockets: boolean;
  pop: boolean;
  admin: boolean;
  tlsLibrary: string;
}

export const RELAYBOX_FEATURES: Features = {
  multiThreading: true,
  unixDomainSockets: process.platform !== 'win32',
  pop: true,
  admin: true,
  tlsLibrary: `OpenSSL ${process.versions.openssl}`,
};

const word = (on: boolean): string => (on ? 'enabled' : 'disabled');

export function versionText(version: string, verbose: boolean, features: Features = RELAYBOX_FEATURES): string {
  const lines = [`relaybox ${version}`];
  if (verbose) {
    lines.push(
      `node ${process.version}`,
      `Multi-threading: ${word(features.multiThreading)}`,
      `Unix domain sockets: ${word(features.unixDomainSockets)}`,
      `POP server: ${word(features.pop)}`,
      `Admin server: ${word(features.admin)}`,
      `TLS library: ${features.tlsLibrary}`,
    );
  }
  return lines.join('\n') + '\n';
}
