// STATUS.txt's word on the mailboxes that sign in on the status page ("page:" secrets lines):
// which are signed in, and which still wait for someone to press Sign in; and on oauth-refresh lines
// whose token file (from `relaybox oauth login`) is missing.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { readSecretsFile } from '../auth/secrets';
import { pageTokenFile } from '../forward/oauth/page-grant';

export interface SignInStatus {
  lines: string[];
  /** Every such mailbox is signed in (true when there is none). */
  ok: boolean;
  /** The mailboxes that are not signed in. */
  notSignedIn: string[];
}

export function signInStatus(secretsFile: string, spoolDir: string): SignInStatus {
  const out: SignInStatus = { lines: [], ok: true, notSignedIn: [] };
  if (!existsSync(secretsFile)) return out;
  const stateDir = path.join(spoolDir, '.relaybox');
  for (const account of readSecretsFile(secretsFile).secrets.client.values()) {
    const g = account.grant;
    if (g?.type !== 'oauth-refresh') continue;
    if (!g.page) {
      if (!existsSync(g.tokenFile)) out.notSignedIn.push(g.mailbox);
      continue;
    }
    if (existsSync(pageTokenFile(stateDir, g.mailbox, g.page))) {
      out.lines.push(`mailbox ${g.mailbox}: signed in`);
    } else {
      out.ok = false;
      out.notSignedIn.push(g.mailbox);
      out.lines.push(
        `mailbox ${g.mailbox}: NOT signed in yet: open the status page (http://<this box>/), type the admin password and press Sign in; its messages wait until then`,
      );
    }
  }
  return out;
}
