// Shared set-up for the OAuth2, Graph and SOCKS tests: the HTTPS stand-ins, an SMTP upstream that
// checks XOAUTH2 tokens against the stand-in, credentials made for real (openssl, node:crypto).
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { testPki } from '../lib/certs';
import { removeDir, tempDir, type RelayProcess } from '../lib/relay';
import { startStandIn, SCOPE_GOOGLE, SCOPE_OUTLOOK, type StandIn } from '../lib/oauth-standin';
import type { Sink, SinkOptions } from '../lib/sink';
import { sinkFor } from './forward-util';
import assert from 'node:assert/strict';

export type Defer = (fn: () => unknown) => void;

export async function standInFor(defer: Defer): Promise<StandIn> {
  const s = await startStandIn();
  defer(() => s.close());
  return s;
}

/** The relay trusts the test CA (the stand-ins' certificate) as it would a public one. */
export function caEnv(): NodeJS.ProcessEnv {
  return { NODE_EXTRA_CA_CERTS: testPki().caFile };
}

export function workDir(defer: Defer): string {
  const dir = tempDir('relaybox-oauth-');
  defer(() => removeDir(dir));
  return dir;
}

export interface AuthUse {
  user: string;
  token: string;
  ok: boolean;
  why?: string;
}

/**
 * An SMTP upstream with STARTTLS that accepts only XOAUTH2 with a token the stand-in issued, still
 * valid, for the right scope, and for a mailbox the app may use (FullAccess) or the token's user.
 * Refusals look like Microsoft's (535 5.7.3) or, with `google`, like Google's (334 challenge, 535).
 */
export async function oauthSinkFor(defer: Defer, s: StandIn, opts: { google?: boolean } & SinkOptions = {}): Promise<Sink & { uses: AuthUse[] }> {
  const pki = testPki();
  const uses: AuthUse[] = [];
  const sink = await sinkFor(defer, {
    tls: { key: pki.serverKey, cert: pki.serverCert },
    ...opts,
    xoauth2(user, token) {
      const c = s.check(token, opts.google ? [SCOPE_GOOGLE] : [SCOPE_OUTLOOK, 'https://outlook.office.com/SMTP.Send'], user);
      let why = c.ok ? undefined : c.why;
      if (c.ok && c.token.kind === 'ms-app' && !s.microsoftApps.get(c.token.clientId)?.smtpMailboxes.includes(user)) why = `no FullAccess to ${user}`;
      uses.push({ user, token, ok: !why, why });
      if (!why) return { ok: true };
      if (opts.google) return { challenge: { status: '400', schemes: 'Bearer', scope: SCOPE_GOOGLE } };
      return { code: 535, text: '5.7.3 Authentication unsuccessful [AM0PR02CA0001.eurprd02.prod.outlook.com]' };
    },
  });
  return Object.assign(sink, { uses });
}

/** A self-signed certificate and its key in one PEM file, as uploaded to an app registration. */
export function appCertificate(dir: string): { pemFile: string; certPem: string } {
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'app.key', '-out', 'app.crt', '-days', '2', '-subj', '/CN=relaybox app'],
    { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const certPem = readFileSync(path.join(dir, 'app.crt'), 'utf8');
  const pemFile = path.join(dir, 'app.pem');
  writeFileSync(pemFile, readFileSync(path.join(dir, 'app.key'), 'utf8') + certPem, { mode: 0o600 });
  return { pemFile, certPem };
}

/** A Google service-account JSON key (new RSA key) whose token_uri is the stand-in. */
export function serviceAccountKey(dir: string, s: StandIn, email = 'relay@project.iam.gserviceaccount.com'): { keyFile: string; email: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyId = randomBytes(20).toString('hex');
  const keyFile = path.join(dir, 'sa.json');
  writeFileSync(
    keyFile,
    JSON.stringify({
      type: 'service_account',
      project_id: 'project',
      private_key_id: keyId,
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      client_email: email,
      client_id: '1234567890',
      token_uri: `${s.url}/token`,
    }),
    { mode: 0o600 },
  );
  s.googleAccounts.set(email, { publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), keyId, delegatedScopes: [SCOPE_GOOGLE] });
  return { keyFile, email };
}

export function secretsFile(dir: string, lines: string[]): string {
  const file = path.join(dir, 'secrets');
  writeFileSync(file, lines.join('\n') + '\n', { mode: 0o600 });
  return file;
}

/** Nothing relaybox wrote contains any of these strings. */
export function assertNotLogged(relay: RelayProcess, secrets: string[]): void {
  const out = JSON.stringify(relay.logs) + relay.stderr;
  for (const s of secrets) assert.ok(!out.includes(s), `relaybox output contains a secret (${s.slice(0, 6)}...)`);
}
