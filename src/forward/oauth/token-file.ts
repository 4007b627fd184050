// The refresh-token file written by `relaybox oauth login` and named by an oauth-refresh line.
import { readFileSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { writeFileSynced } from '../../spool/durable';
import { OAuthError } from './token-errors';

export interface TokenFile {
  provider: 'microsoft' | 'google';
  token_url: string;
  client_id: string;
  client_secret?: string;
  scope: string;
  refresh_token: string;
  /** Written by the status page's sign-in: who signed in, when (ISO time). */
  mailbox?: string;
  signed_in_at?: string;
}

export function readTokenFile(file: string): TokenFile {
  let j: Partial<TokenFile>;
  try {
    j = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new OAuthError(`cannot read the token file ${file} (made by "relaybox oauth login"): ${(e as Error).message}`, true);
  }
  for (const k of ['token_url', 'client_id', 'scope', 'refresh_token'] as const) {
    if (typeof j[k] !== 'string' || !j[k]) throw new OAuthError(`the token file ${file} has no "${k}": run "relaybox oauth login" again`, true);
  }
  return j as TokenFile;
}

/** Replace the file atomically, readable by its owner only. */
export async function saveTokenFile(file: string, data: TokenFile): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  await fsp.rm(tmp, { force: true });
  await writeFileSynced(tmp, JSON.stringify(data, null, 2) + '\n', 0o600);
  await fsp.rename(tmp, file);
}
