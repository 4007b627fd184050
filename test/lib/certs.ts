// Test certificates made with the real openssl command: a CA, and server/client certificates it
// signs, with subjectAltName so host-name verification can be tested.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './relay';

export interface TestPki {
  dir: string;
  caFile: string;
  ca: Buffer;
  /** Key and certificate in one PEM (E-MailRelay's one-file form). */
  serverPemFile: string;
  serverKeyFile: string;
  serverCertFile: string;
  serverKey: Buffer;
  serverCert: Buffer;
}

let cached: TestPki | null = null;

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** One PKI per test process: CA + server certificate for DNS:localhost, DNS:relay.test, IP:127.0.0.1, and
 * IP:10.0.2.100 and IP:10.0.2.101 (make image-test's guest reaches the SMTP sink and the token stand-in
 * there, through guestfwds). */
export function testPki(): TestPki {
  if (cached) return cached;
  const dir = tempDir('relaybox-pki-');
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=relaybox test CA'], dir);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=relay.test'], dir);
  writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,DNS:relay.test,IP:127.0.0.1,IP:10.0.2.100,IP:10.0.2.101\n');
  openssl(
    ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf'],
    dir,
  );
  const serverKey = readFileSync(path.join(dir, 'server.key'));
  const serverCert = readFileSync(path.join(dir, 'server.pem'));
  writeFileSync(path.join(dir, 'server-both.pem'), Buffer.concat([serverKey, serverCert]));
  cached = {
    dir,
    caFile: path.join(dir, 'ca.pem'),
    ca: readFileSync(path.join(dir, 'ca.pem')),
    serverPemFile: path.join(dir, 'server-both.pem'),
    serverKeyFile: path.join(dir, 'server.key'),
    serverCertFile: path.join(dir, 'server.pem'),
    serverKey,
    serverCert,
  };
  return cached;
}
