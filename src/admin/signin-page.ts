// The status page's "Sign in" section: for each mailbox of a "page:" secrets line, whether it is
// signed in and the state of its token, a Sign in button, and while a sign-in is pending the code,
// the web address to enter it at and a QR code of that address (uqr renders it as inline SVG, so
// the page still loads nothing from elsewhere).
import { renderSVG } from 'uqr';
import type { SignInView } from '../forward/oauth/page-signins';
import { escapeHtml as e } from './page-format';
import { duration, time } from '../format';

const PROVIDER = { microsoft: 'Microsoft 365', google: 'Google' } as const;

export interface SignInSectionData {
  signIns: SignInView[];
  actionsEnabled: boolean;
  formToken: string;
  now: number;
}

/** Reload the page while a sign-in is pending, so it shows the result without a click. */
export const PENDING_REFRESH_SECONDS = 5;

export function signInPending(d: Pick<SignInSectionData, 'signIns'>): boolean {
  return d.signIns.some((s) => s.pending);
}

function qrCode(url: string): string {
  // The SVG comes from the library with fixed markup; only the URL is data, and it is encoded as modules.
  return renderSVG(url, { border: 2 }).replace('<svg ', `<svg role="img" aria-label="QR code of ${e(url)}" class="qr" `);
}

function tokenRows(s: SignInView, now: number): [string, string][] {
  const rows: [string, string][] = [];
  if (s.signedInAt === null) rows.push(['State', 'not signed in yet: messages for this mailbox wait until someone signs in']);
  else rows.push(['State', `signed in${s.signedInAt ? ` on ${time(s.signedInAt)}` : ''}`]);
  if (s.token.validUntil) {
    rows.push([
      'Access token',
      s.token.validUntil > now
        ? `valid until ${time(s.token.validUntil)} (${duration((s.token.validUntil - now) / 1000)}); renewed by itself`
        : `expired ${time(s.token.validUntil)}; renewed at the next message`,
    ]);
  }
  if (s.token.lastRefreshAt) rows.push(['Last renewal', time(s.token.lastRefreshAt)]);
  if (s.token.lastError) rows.push(['Last error', `${time(s.token.lastErrorAt)}: ${s.token.lastError}`]);
  if (s.problem) rows.push(['Last sign-in', s.problem]);
  return rows;
}

function pendingBlock(s: SignInView, now: number): string {
  const p = s.pending!;
  return `<div class="signin-code" id="signin-code-${e(s.id)}">
<p>1. Open <a href="${e(p.verificationUrl)}" target="_blank" rel="noreferrer noopener" class="verification-url">${e(p.verificationUrl)}</a> on a PC or phone (or scan the code).</p>
<p>2. Enter the code <b class="user-code">${e(p.userCode)}</b> and sign in as <b>${e(s.mailbox)}</b>.</p>
${qrCode(p.verificationUrl)}
<p class="muted">The code is valid for ${e(duration(Math.max(0, (p.expiresAt - now) / 1000)))} more. This page reloads itself and shows the result.</p>
</div>`;
}

export function signInSection(d: SignInSectionData): string {
  if (!d.signIns.length) return '';
  const items = d.signIns.map((s) => {
    const rows = tokenRows(s, d.now);
    const form =
      d.actionsEnabled && !s.pending
        ? `<form class="retry" method="post" action="/signin"><input type="hidden" name="token" value="${e(d.formToken)}"><input type="hidden" name="id" value="${e(s.id)}">
<input type="password" name="password" placeholder="Admin password" aria-label="Admin password to sign in ${e(s.mailbox)}" required autocomplete="current-password">
<button type="submit">Sign in${s.signedInAt === null ? '' : ' again'}</button></form>`
        : '';
    return `<div class="msg" id="signin-${e(s.id)}"><div><b>${e(s.mailbox)}</b> <span class="muted">${e(PROVIDER[s.provider])}, ${e(s.file)} line ${s.line}</span></div>
<dl>${rows.map(([k, v]) => `<dt>${e(k)}</dt><dd>${e(v)}</dd>`).join('')}</dl>
${s.pending ? pendingBlock(s, d.now) : ''}${form}</div>`;
  });
  const off = d.actionsEnabled ? '' : '<p class="muted">Signing in from this page needs an admin password: add admin-password-file to relaybox.conf.</p>';
  return `<section id="signin"><h2>Sign in</h2>${items.join('\n')}${off}</section>`;
}
