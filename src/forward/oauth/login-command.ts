// `relaybox oauth login`: the device-code flow (RFC 8628) for a headless box. It prints a code and
// a web address; someone signs in on any browser; relaybox then writes the refresh token to a file
// (mode 0600) that an oauth-refresh secrets line names.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fetchToken, MICROSOFT_AUTHORITY, SCOPE_GOOGLE_MAIL, SCOPE_GRAPH_APP, SCOPE_OUTLOOK_APP } from './grants';
import { readSecretsFile, formatProblem } from '../../auth/secrets';
import { pollDeviceFlow, SLOW_DOWN_STEP_MS, startDeviceFlow } from './device-flow';
import { GOOGLE_AUTHORITY, googleDeviceEndpoints, microsoftDeviceEndpoints, SCOPE_SMTP_DELEGATED, type DeviceEndpoints } from './page-grant';
import { saveTokenFile, type TokenFile } from './token-file';

const USAGE = `usage:
  relaybox oauth check <secrets-file> [--graph] [--oauth-authority <url>]
        (gets a token for every OAuth2 grant line, to check the set-up without sending mail)
  relaybox oauth login --provider microsoft --tenant <tenant> --client-id <id> --out <file>
        [--scope "https://outlook.office.com/SMTP.Send offline_access"] [--authority <url>] [--client-secret-file <file>]
  relaybox oauth login --provider google --client-id <id> --client-secret-file <file> --out <file>
        [--scope https://mail.google.com/] [--device-url <url>] [--token-url <url>]
(--client-secret <secret> works too, but shows the secret to anyone who can list processes.)
Then name the file in the secrets file:  client oauth-refresh <mailbox> <file>`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runOauthCommand(
  argv: string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  if (argv[0] === 'check') return runCheck(argv.slice(1), out, err);
  if (argv[0] !== 'login') {
    err.write(`${USAGE}\n`);
    return 2;
  }
  let v: Record<string, string | undefined>;
  try {
    v = parseArgs({
      args: argv.slice(1),
      options: Object.fromEntries(
        ['provider', 'tenant', 'client-id', 'client-secret', 'client-secret-file', 'scope', 'authority', 'device-url', 'token-url', 'out'].map((k) => [
          k,
          { type: 'string' as const },
        ]),
      ),
      strict: true,
    }).values as Record<string, string | undefined>;
  } catch (e) {
    err.write(`relaybox oauth login: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (v['client-secret-file']) {
    try {
      v['client-secret'] = readFileSync(v['client-secret-file'], 'utf8').trim();
    } catch (e) {
      err.write(`relaybox oauth login: cannot read --client-secret-file: ${(e as Error).message}\n`);
      return 2;
    }
  }
  const provider = v.provider;
  const missing = (name: string) => {
    err.write(`relaybox oauth login: --${name} is needed\n${USAGE}\n`);
    return 2;
  };
  if (provider !== 'microsoft' && provider !== 'google') return missing('provider microsoft|google');
  if (!v['client-id']) return missing('client-id');
  if (!v.out) return missing('out');
  let endpoints: DeviceEndpoints;
  let scope: string;
  if (provider === 'microsoft') {
    if (!v.tenant) return missing('tenant');
    endpoints = microsoftDeviceEndpoints(v.authority ?? MICROSOFT_AUTHORITY, v.tenant);
    scope = v.scope ?? SCOPE_SMTP_DELEGATED;
  } else {
    if (!v['client-secret']) return missing('client-secret (Google asks for it even for a device client)');
    const google = googleDeviceEndpoints(GOOGLE_AUTHORITY);
    endpoints = { deviceUrl: v['device-url'] ?? google.deviceUrl, tokenUrl: v['token-url'] ?? google.tokenUrl };
    scope = v.scope ?? SCOPE_GOOGLE_MAIL;
  }
  const { deviceUrl, tokenUrl } = endpoints;
  const client = { client_id: v['client-id'], ...(v['client-secret'] ? { client_secret: v['client-secret'] } : {}) };
  try {
    const d = await startDeviceFlow(deviceUrl, client, scope);
    out.write(`${d.message ?? `To sign in, open ${d.verificationUrl} and enter the code ${d.userCode}`}\n`);
    let interval = d.intervalMs;
    while (Date.now() < d.expiresAt) {
      await sleep(interval);
      const poll = await pollDeviceFlow(tokenUrl, client, d.deviceCode);
      if (poll.kind === 'token') {
        if (!poll.token.refresh_token) {
          err.write('relaybox oauth login: signed in, but no refresh token came back: add offline_access to --scope\n');
          return 1;
        }
        const file: TokenFile = { provider, token_url: tokenUrl, ...client, scope, refresh_token: poll.token.refresh_token };
        await saveTokenFile(v.out, file);
        out.write(`signed in: the refresh token is in ${v.out}\nadd to the secrets file:  client oauth-refresh <mailbox> ${v.out}\n`);
        return 0;
      }
      if (poll.kind === 'slow-down') interval += SLOW_DOWN_STEP_MS;
      if (poll.kind === 'expired') break;
      if (poll.kind === 'declined') {
        err.write('relaybox oauth login: the sign-in was declined\n');
        return 1;
      }
    }
    err.write('relaybox oauth login: the code expired before anyone signed in; run the command again\n');
    return 1;
  } catch (e) {
    err.write(`relaybox oauth login: ${(e as Error).message}\n`);
    return 1;
  }
}

/** `relaybox oauth check`: one token request per grant line; says what to fix when one fails. */
async function runCheck(argv: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { graph: { type: 'boolean' }, 'oauth-authority': { type: 'string' } } });
  } catch (e) {
    err.write(`relaybox oauth check: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const file = parsed.positionals[0];
  if (!file || parsed.positionals.length > 1) {
    err.write(`relaybox oauth check: name one secrets file\n${USAGE}\n`);
    return 2;
  }
  const { secrets, problems } = readSecretsFile(file);
  for (const p of problems) err.write(`${p.level}: ${formatProblem(p)}\n`);
  if (problems.some((p) => p.fatal)) return 1;
  const ctx = {
    authority: parsed.values['oauth-authority'] ?? MICROSOFT_AUTHORITY,
    microsoftScope: parsed.values.graph ? SCOPE_GRAPH_APP : SCOPE_OUTLOOK_APP,
    now: Date.now,
    warn: (m: string) => err.write(`warning: ${m}\n`),
  };
  let failed = 0;
  let checked = 0;
  for (const account of secrets.client.values()) {
    const g = account.grant;
    if (!g) continue;
    checked++;
    const where = `${file}(${g.line}) ${g.type} ${g.mailbox}${account.selector ? ` [${account.selector}]` : ''}`;
    try {
      const answer = await fetchToken(g, ctx);
      out.write(`ok: ${where}: got an access token (valid ${answer.expires_in} s)\n`);
    } catch (e) {
      failed++;
      out.write(`FAILED: ${where}: ${(e as Error).message}\n`);
    }
  }
  if (!checked) out.write(`${file} has no OAuth2 grant lines (oauth-ms-secret, oauth-ms-cert, oauth-google-sa, oauth-refresh)\n`);
  return failed || !checked ? 1 : 0;
}
