// The status page: server-rendered HTML, no JavaScript, one column on a phone. Everything from the
// spool and the network is escaped.
import type { Delivery, UpstreamState } from '../events/activity';
import type { QueueSnapshot } from './queue';
import type { Health } from '../health/health';
import { testMailSection } from './test-mail-page';
import type { Hardware } from '../health/hardware';
import { hardwareSection } from './hardware-section';
import { escapeHtml } from './page-format';
import { bytes, duration, time } from '../format';
import { STYLE } from './page-style';
import type { LogEvent } from './event-log';
import type { SignInView } from '../forward/oauth/page-signins';
import { PENDING_REFRESH_SECONDS, signInPending, signInSection } from './signin-page';

export interface PageData {
  title: string;
  queue: QueueSnapshot;
  recent: Delivery[];
  /** The recent log, newest first (src/admin/event-log.ts). */
  events?: LogEvent[];
  /** The mailboxes that sign in from this page. */
  signIns?: SignInView[];
  upstreamAddress?: string;
  upstream: UpstreamState | null;
  /** Watched credential expiries (activity.expiries). */
  expiries?: ReadonlyMap<string, number>;
  health: Health;
  /** The hardware panel; null: it could not be read; 'reading': the first read has not finished; absent: not shown. */
  hardware?: Hardware | null | 'reading';
  smtpEnabled: boolean;
  counts: { received: number; forwarded: number; failed: number; retried: number };
  actionsEnabled: boolean;
  /** The CSRF token every form carries (src/admin/form-token.ts). */
  formToken: string;
  notice?: string;
  error?: string;
  now: number;
}

const e = escapeHtml;

function queueSection(d: PageData): string {
  const q = d.queue;
  return `<section id="queue"><h2>Queue</h2><div class="cards">
<div class="card"><span>Ready</span><b id="q-ready">${q.ready}</b></div>
<div class="card"><span>Busy</span><b id="q-busy">${q.busy}</b></div>
<div class="card${q.failed ? ' bad' : ''}"><span>Failed</span><b id="q-failed">${q.failed}</b></div>
<div class="card"><span>Oldest waiting</span><b>${q.oldestAgeSeconds === null ? '–' : e(duration(q.oldestAgeSeconds))}</b></div>
</div>
<p class="muted">Since start: ${d.counts.received} received, ${d.counts.forwarded} forwarded, ${d.counts.failed} failed, ${d.counts.retried} retried. SMTP server ${d.smtpEnabled ? 'accepting mail' : '<strong>disabled</strong> (admin "smtp enable" turns it on)'}.</p></section>`;
}

function failedSection(d: PageData): string {
  const items = d.queue.failures.map(
    (f) => `<div class="msg" id="failed-${e(f.id)}">
<div class="id">${e(f.id)}</div>
<div>From ${e(f.from ? `<${f.from}>` : '<>')} to ${e(f.to.map((t) => `<${t}>`).join(', ') || '(no remote recipients)')}</div>
<div class="reason">${f.code && !f.reason.includes(f.code) ? `${e(f.code)} ` : ''}${e(f.reason)}</div>
<div class="muted">${f.attempts} failure${f.attempts === 1 ? '' : 's'} recorded, received ${e(duration(f.ageSeconds))} ago</div>
${
  d.actionsEnabled
    ? `<form class="retry" method="post" action="/retry"><input type="hidden" name="token" value="${e(d.formToken)}"><input type="hidden" name="id" value="${e(f.id)}">
<input type="password" name="password" placeholder="Admin password" aria-label="Admin password for ${e(f.id)}" required autocomplete="current-password">
<span class="actions"><button type="submit">Retry</button><button type="submit" class="delete" formaction="/delete">Delete</button></span></form>`
    : ''
}
</div>`,
  );
  const more = d.queue.failed > d.queue.failures.length ? `<p class="muted">${d.queue.failed - d.queue.failures.length} more not shown.</p>` : '';
  const off =
    d.actionsEnabled || !d.queue.failed
      ? ''
      : '<p class="muted">Retrying or deleting from this page needs an admin password: start relaybox with --admin-password-file.</p>';
  return `<section id="failed"><h2>Failed messages</h2>${items.join('\n') || '<p class="muted">None.</p>'}${more}${off}</section>`;
}

function recentSection(d: PageData): string {
  const items = d.recent.map(
    (r) => `<div class="msg" id="delivered-${e(r.id)}"><div class="id">${e(r.id)}</div>
<div class="muted">${e(time(r.at))} · ${r.ms} ms · ${e(r.upstream)}</div><div>${e(r.response)}</div></div>`,
  );
  return `<section id="recent"><h2>Recent deliveries</h2>${items.join('\n') || '<p class="muted">None since start.</p>'}</section>`;
}

function eventsSection(d: PageData): string {
  if (!d.events) return '';
  const items = d.events.map((ev) =>
    ev.kind === 'message'
      ? `<li class="message"><span class="muted">${e(time(ev.at))}</span> <span class="id">${e(ev.id ?? '')}</span> ${e(ev.text)}</li>`
      : `<li class="device"><span class="muted">${e(time(ev.at))}</span> device ${e(ev.address ?? '')}: ${e(ev.text)}</li>`,
  );
  return `<section id="log"><h2>Recent log</h2>${items.length ? `<ul class="events">${items.join('\n')}</ul>` : '<p class="muted">Nothing since start.</p>'}</section>`;
}

function upstreamSection(d: PageData): string {
  const u = d.upstream;
  const rows: [string, string][] = [['Address', d.upstreamAddress ?? 'none: no --forward-to, messages stay in the spool']];
  if (u?.connectedAt) {
    rows.push(['Last session', time(u.connectedAt)], ['TLS', u.tls || 'no'], ['Authentication', u.auth || 'none']);
  }
  if (u?.tokenExpiresAt) rows.push(['Token expires', time(u.tokenExpiresAt)]);
  for (const [name, at] of d.expiries ?? []) rows.push([`${name} expires`, time(at)]);
  if (u?.failingSince) rows.push(['Failing since', `${time(u.failingSince)} (${duration((d.now - u.failingSince) / 1000)})`]);
  if (u?.lastError) rows.push(['Last error', `${time(u.lastErrorAt)}: ${u.lastError}`]);
  return `<section id="upstream"><h2>Upstream</h2><dl>${rows.map(([k, v]) => `<dt>${e(k)}</dt><dd>${e(v)}</dd>`).join('')}</dl></section>`;
}

function healthSection(h: Health): string {
  const rows: [string, string][] = [];
  if (h.spool) rows.push(['Spool disk free', `${bytes(h.spool.freeBytes)} of ${bytes(h.spool.totalBytes)} (${h.spool.freePercent.toFixed(1)} %)`]);
  rows.push(['Memory available', `${bytes(h.memory.availableBytes)} of ${bytes(h.memory.totalBytes)}`]);
  rows.push(['relaybox memory', bytes(h.memory.processRssBytes)]);
  rows.push(['Load', h.load.map((l) => l.toFixed(2)).join(' ')]);
  if (h.cpuTemperatureCelsius !== null) rows.push(['CPU temperature', `${h.cpuTemperatureCelsius.toFixed(1)} °C`]);
  rows.push(['Up', `system ${duration(h.systemUptimeSeconds)}, relaybox ${duration(h.processUptimeSeconds)}`]);
  return `<section id="health"><h2>Health</h2><dl>${rows.map(([k, v]) => `<dt>${e(k)}</dt><dd>${e(v)}</dd>`).join('')}</dl></section>`;
}

export function renderPage(d: PageData): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${e(d.title)}</title>${signInPending({ signIns: d.signIns ?? [] }) ? `<meta http-equiv="refresh" content="${PENDING_REFRESH_SECONDS};url=/">` : ''}<style>${STYLE}</style></head>
<body><header><h1>${e(d.title)}</h1><p>${e(time(d.now))} · <a href="/" style="color:#fff">refresh</a></p></header>
<main>
${d.notice ? `<p class="notice" role="status">${e(d.notice)}</p>` : ''}${d.error ? `<p class="error" role="alert">${e(d.error)}</p>` : ''}
${signInSection({ signIns: d.signIns ?? [], actionsEnabled: d.actionsEnabled, formToken: d.formToken, now: d.now })}
${queueSection(d)}
${failedSection(d)}
${recentSection(d)}
${eventsSection(d)}
${upstreamSection(d)}
${testMailSection(d.actionsEnabled, d.formToken)}
${healthSection(d.health)}
${d.hardware === undefined ? '' : hardwareSection(d.hardware, d.now)}
<footer class="muted"><a href="/metrics">metrics</a> · <a href="/health">health (JSON)</a></footer>
</main></body></html>
`;
}
