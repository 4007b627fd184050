// The hardware panel as label/value rows, in words: the same rows on the status page and in STATUS.txt.
import type { Hardware } from './hardware';
import type { Throttling } from './throttling';
import { bytes, duration } from '../format';

export interface HardwareRow {
  label: string;
  value: string;
  /** Something the owner should act on (shown as a problem). */
  problem?: boolean;
}

function throttlingRow(t: Throttling | null): HardwareRow | null {
  if (!t) return null;
  if (t.underVoltageNow)
    return { label: 'Power', value: 'UNDER-VOLTAGE now: use the official power supply (5 V, 2.5 A or more) and a short cable', problem: true };
  if (t.throttledNow) return { label: 'Power', value: 'THROTTLED now (too hot or the clock is capped): give the box air or a heatsink', problem: true };
  if (t.underVoltageSinceBoot || t.throttledSinceBoot) {
    const what = [t.underVoltageSinceBoot ? 'under-voltage' : '', t.throttledSinceBoot ? 'throttling' : ''].filter(Boolean).join(' and ');
    return { label: 'Power', value: `${what} happened since the last start: check the power supply and the box's airflow`, problem: true };
  }
  return { label: 'Power', value: 'no under-voltage or throttling' };
}

/** `steady`: leave out what changes by the minute (uptime, a normal temperature), for a file that is
 * rewritten only when its content changes (STATUS.txt on the card). */
export function hardwareRows(h: Hardware, opts: { steady?: boolean } = {}): HardwareRow[] {
  const rows: HardwareRow[] = [{ label: 'Board', value: h.board ?? 'unknown' }];
  const hot = h.socTemperatureCelsius !== null && h.socTemperatureCelsius >= 80;
  if (h.socTemperatureCelsius !== null && (hot || !opts.steady)) {
    rows.push({
      label: 'SoC temperature',
      value: `${h.socTemperatureCelsius.toFixed(1)} °C${hot ? ' (hot: the Pi slows down from 80 °C)' : ''}`,
      problem: hot,
    });
  }
  const power = throttlingRow(h.throttling);
  if (power) rows.push(power);
  if (h.card) rows.push({ label: 'Card', value: `${bytes(h.card.sizeBytes)} (${h.card.device})` });
  for (const d of h.disks) {
    const low = !d.readOnly && d.sizeBytes > 0 && d.freeBytes / d.sizeBytes < 0.1;
    rows.push({
      label: d.role === 'spool' ? 'Mail storage free' : 'System free',
      value: `${bytes(d.freeBytes)} of ${bytes(d.sizeBytes)} (${d.mount}${d.readOnly ? ', read-only' : ''})${low ? ': almost full' : ''}`,
      problem: low,
    });
  }
  for (const n of h.interfaces) {
    rows.push({ label: `Network ${n.name}`, value: `${n.addresses.join(', ') || 'no address'}${n.state && n.state !== 'unknown' ? ` (${n.state})` : ''}` });
  }
  if (!opts.steady) rows.push({ label: 'Up', value: duration(h.uptimeSeconds) });
  return rows;
}
