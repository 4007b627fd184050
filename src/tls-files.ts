// CA certificates for verification: a PEM file, or every file in a directory.
import * as fs from 'node:fs';
import * as path from 'node:path';

export function readCaFiles(spec: string): Buffer[] {
  const st = fs.statSync(spec);
  const files = st.isDirectory()
    ? fs
        .readdirSync(spec)
        .map((f) => path.join(spec, f))
        .filter((f) => fs.statSync(f).isFile())
    : [spec];
  return files.map((f) => fs.readFileSync(f));
}

/**
 * TLS 1.0 and 1.1 (an explicit --tls-config opt-in for old LAN devices) use signature algorithms
 * that OpenSSL 3 only allows at security level 0.
 */
export function legacyTlsCiphers(tls: { minVersion: string }): { ciphers?: string } {
  return tls.minVersion === 'TLSv1' || tls.minVersion === 'TLSv1.1' ? { ciphers: 'DEFAULT:@SECLEVEL=0' } : {};
}
