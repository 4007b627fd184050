// /metrics in the Prometheus text exposition format (version 0.0.4).
import { LATENCY_BUCKETS, type Activity } from '../events/activity';
import type { SmtpControls } from '../smtp/controls';
import type { QueueSnapshot } from './queue';
import type { Health } from '../health/health';
import { hardwareReadCount } from '../health/hardware-process';
import { hardwareLibraryLoaded } from '../health/hardware';

type Sample = [labels: Record<string, string> | null, value: number];

function labels(l: Record<string, string> | null): string {
  if (!l) return '';
  return `{${Object.entries(l)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',')}}`;
}

function family(out: string[], name: string, type: 'counter' | 'gauge' | 'histogram', help: string, samples: Sample[], suffix = ''): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  for (const [l, v] of samples) out.push(`${name}${suffix}${labels(l)} ${Number.isFinite(v) ? v : 'NaN'}`);
}

export function renderMetrics(q: QueueSnapshot, h: Health, activity: Activity, smtp: SmtpControls): string {
  const out: string[] = [];
  const c = activity.counts;
  family(out, 'relaybox_messages_received_total', 'counter', 'Messages received and stored in the spool.', [[null, c.received]]);
  family(out, 'relaybox_messages_forwarded_total', 'counter', 'Messages forwarded to the upstream.', [[null, c.forwarded]]);
  family(out, 'relaybox_messages_failed_total', 'counter', 'Messages that failed (moved to .bad).', [[null, c.failed]]);
  family(out, 'relaybox_messages_retried_total', 'counter', 'Forwarding attempts of messages that had failed before, and failed messages made ready again.', [
    [null, c.retried],
  ]);
  family(out, 'relaybox_messages_deferred_total', 'counter', 'Temporary failures, to be retried.', [[null, c.deferred]]);
  family(out, 'relaybox_queue_messages', 'gauge', 'Messages in the spool by state.', [
    [{ state: 'ready' }, q.ready],
    [{ state: 'busy' }, q.busy],
    [{ state: 'failed' }, q.failed],
  ]);
  family(out, 'relaybox_queue_oldest_age_seconds', 'gauge', 'Age of the oldest message waiting to be forwarded (0 when none waits).', [
    [null, Math.round(q.oldestAgeSeconds ?? 0)],
  ]);
  out.push(
    '# HELP relaybox_forward_latency_seconds Time to forward one message over an open upstream session.',
    '# TYPE relaybox_forward_latency_seconds histogram',
  );
  LATENCY_BUCKETS.forEach((le, i) => out.push(`relaybox_forward_latency_seconds_bucket{le="${le}"} ${activity.latency.buckets[i]}`));
  out.push(`relaybox_forward_latency_seconds_bucket{le="+Inf"} ${activity.latency.count}`);
  out.push(`relaybox_forward_latency_seconds_sum ${activity.latency.sum}`, `relaybox_forward_latency_seconds_count ${activity.latency.count}`);
  family(
    out,
    'relaybox_upstream_errors_total',
    'counter',
    'Errors from the upstream by class.',
    [...activity.upstreamErrors].sort().map(([cls, n]) => [{ class: cls }, n] as Sample),
  );
  family(out, 'relaybox_upstream_failing_seconds', 'gauge', 'How long every attempt to use the upstream has failed (0: it works).', [
    [null, activity.upstream?.failingSince ? Math.round((Date.now() - activity.upstream.failingSince) / 1000) : 0],
  ]);
  family(out, 'relaybox_smtp_enabled', 'gauge', '1 when the SMTP server accepts new sessions (admin "smtp disable" sets 0).', [[null, smtp.enabled ? 1 : 0]]);
  family(out, 'process_resident_memory_bytes', 'gauge', 'Resident memory of the relaybox process.', [[null, h.memory.processRssBytes]]);
  family(out, 'nodejs_heap_used_bytes', 'gauge', 'V8 heap in use.', [[null, h.memory.processHeapUsedBytes]]);
  family(out, 'process_uptime_seconds', 'gauge', 'Seconds since relaybox started.', [[null, Math.round(h.processUptimeSeconds)]]);
  family(
    out,
    'relaybox_hardware_reads_total',
    'counter',
    'Processes started to read the hardware panel for the status page (systeminformation runs in them, never in the relay).',
    [[null, hardwareReadCount()]],
  );
  family(out, 'relaybox_hardware_library_loaded', 'gauge', '1 if systeminformation was loaded into the relay process itself (it should stay 0).', [
    [null, hardwareLibraryLoaded() ? 1 : 0],
  ]);
  if (h.spool) {
    family(out, 'relaybox_spool_free_bytes', 'gauge', 'Free space for relaybox on the spool file system.', [[null, h.spool.freeBytes]]);
    family(out, 'relaybox_spool_size_bytes', 'gauge', 'Size of the spool file system.', [[null, h.spool.totalBytes]]);
  }
  family(out, 'node_memory_available_bytes', 'gauge', 'Memory available to programs (MemAvailable).', [[null, h.memory.availableBytes]]);
  family(out, 'node_load1', 'gauge', 'One-minute load average.', [[null, h.load[0]]]);
  if (h.cpuTemperatureCelsius !== null)
    family(out, 'node_cpu_temperature_celsius', 'gauge', 'CPU temperature (thermal zone 0).', [[null, h.cpuTemperatureCelsius]]);
  return out.join('\n') + '\n';
}
