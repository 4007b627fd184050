// Mailboxes that sign in from the status page ("page:" oauth-refresh lines): the endpoints and
// scope of their device-code sign-in, and where their refresh token is kept (the spool's state
// directory, mode 0600: on the appliance the data partition, never the card).
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import type { PageSignIn } from '../../auth/oauth-lines';

export const SCOPE_SMTP_DELEGATED = 'https://outlook.office.com/SMTP.Send offline_access';
export const SCOPE_GRAPH_DELEGATED = 'https://graph.microsoft.com/Mail.Send offline_access';
export const GOOGLE_AUTHORITY = 'https://oauth2.googleapis.com';

export interface Authorities {
  /** --oauth-authority (https://login.microsoftonline.com). */
  microsoft: string;
  /** --oauth-google-authority (https://oauth2.googleapis.com). */
  google: string;
}

export interface DeviceEndpoints {
  deviceUrl: string;
  tokenUrl: string;
}

export function microsoftDeviceEndpoints(authority: string, tenant: string): DeviceEndpoints {
  const base = `${authority.replace(/\/+$/, '')}/${encodeURIComponent(tenant)}/oauth2/v2.0`;
  return { deviceUrl: `${base}/devicecode`, tokenUrl: `${base}/token` };
}

export function googleDeviceEndpoints(authority: string): DeviceEndpoints {
  const base = authority.replace(/\/+$/, '');
  return { deviceUrl: `${base}/device/code`, tokenUrl: `${base}/token` };
}

export function pageEndpoints(page: PageSignIn, a: Authorities): DeviceEndpoints {
  return page.provider === 'microsoft' ? microsoftDeviceEndpoints(a.microsoft, page.tenant) : googleDeviceEndpoints(a.google);
}

/** The delegated scope: SMTP.Send, or Graph's Mail.Send when the relay forwards through Graph. */
export function pageScope(page: PageSignIn, graph: boolean): string {
  if (page.provider === 'google') return 'https://mail.google.com/';
  return graph ? SCOPE_GRAPH_DELEGATED : SCOPE_SMTP_DELEGATED;
}

/** The form fields that name the application (Google wants its client secret even here). */
export function pageClient(page: PageSignIn): { client_id: string; client_secret?: string } {
  return page.provider === 'google' ? { client_id: page.clientId, client_secret: page.clientSecret.text() } : { client_id: page.clientId };
}

/** One file per mailbox and application, so a changed line (another app) needs a new sign-in. */
export function pageTokenFile(stateDir: string, mailbox: string, page: PageSignIn): string {
  const app = page.provider === 'microsoft' ? `microsoft ${page.tenant} ${page.clientId}` : `google ${page.clientId}`;
  const name = createHash('sha256').update(`${app}\n${mailbox.toLowerCase()}`).digest('hex').slice(0, 32);
  return path.join(stateDir, 'signin', `${name}.json`);
}

export function notSignedInReason(mailbox: string): string {
  return `mailbox ${mailbox} is not signed in yet: open the box's page and press Sign in`;
}
