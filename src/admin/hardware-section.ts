// The status page's hardware panel (read through src/health/hardware.ts, lazily and cached).
import type { Hardware } from '../health/hardware';
import { hardwareRows } from '../health/hardware-rows';
import { escapeHtml as e } from './page-format';
import { duration } from '../format';

export function hardwareSection(h: Hardware | null | 'reading', now: number): string {
  if (h === 'reading')
    return '<section id="hardware"><h2>Hardware</h2><p class="muted">Being read (a few seconds on a Raspberry Pi): reload the page.</p></section>';
  if (!h) return '<section id="hardware"><h2>Hardware</h2><p class="muted">Could not be read this time: reload the page in a minute.</p></section>';
  const rows = hardwareRows(h).map((r) => `<dt>${e(r.label)}</dt><dd${r.problem ? ' class="reason"' : ''}>${e(r.value)}</dd>`);
  return `<section id="hardware"><h2>Hardware</h2><dl>${rows.join('')}</dl>
<p class="muted">Read ${e(duration(Math.max(0, now - h.readAt) / 1000))} ago (the read took ${h.readMs} ms).</p></section>`;
}
