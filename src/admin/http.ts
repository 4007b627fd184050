// The status HTTP server (--status-port): GET / (the status page), GET /metrics (Prometheus),
// GET /health (JSON), POST /retry (retry one failed message; needs the admin password).
// Admits the clients SMTP admits (src/smtp/access.ts, --remote-clients).
import * as http from 'node:http';
import { admitsClient, NOT_ADMITTED, unmapAddress, type ClientAdmission } from '../smtp/access';
import { readHealth } from '../health/health';
import { activity } from './activity';
import { checkPassword, retryFailed, type RelayControl } from './actions';
import { renderMetrics } from './metrics';
import { renderPage } from './page';
import { queueSnapshot } from './queue';

const MAX_FORM = 8 * 1024;

const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

function send(res: http.ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...SECURITY_HEADERS, ...headers });
  res.end(body);
}

function readForm(req: http.IncomingMessage): Promise<URLSearchParams | null> {
  return new Promise((resolve) => {
    let body = '';
    let tooBig = false;
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
      if (body.length > MAX_FORM) tooBig = true;
    });
    req.on('end', () => resolve(tooBig ? null : new URLSearchParams(body)));
    req.on('error', () => resolve(null));
  });
}

/** What a redirect after an action may show: fixed texts only, so a crafted link cannot put words on the page. */
const ERRORS: Record<string, string> = {
  'actions-off': 'Actions are off: start relaybox with --admin-password-file.',
  'wrong-password': 'Wrong admin password: nothing was retried.',
  'locked': 'Too many failed passwords from your address: try again later.',
  'no-such-message': 'There is no such failed message (already retried or deleted?).',
};
const ID = /^[A-Za-z0-9._-]{1,200}$/;

function notices(url: URL): { notice?: string; error?: string } {
  const retried = url.searchParams.get('retried');
  return {
    notice: retried && ID.test(retried) ? `Message ${retried} is queued for another attempt.` : undefined,
    error: ERRORS[url.searchParams.get('error') ?? ''],
  };
}

function redirect(res: http.ServerResponse, params: Record<string, string>): void {
  const q = new URLSearchParams(params).toString();
  res.writeHead(303, { Location: `/${q ? '?' + q : ''}`, 'Content-Length': 0, ...SECURITY_HEADERS });
  res.end();
}

export function createStatusServer(control: RelayControl, opts: { admission: ClientAdmission; title: string }): http.Server {
  const { log, spool } = control;

  async function page(url: URL, res: http.ServerResponse): Promise<void> {
    const [queue, health] = await Promise.all([queueSnapshot(spool), readHealth(spool.dir)]);
    send(res, 200, 'text/html; charset=utf-8', renderPage({
      title: opts.title,
      queue,
      health,
      recent: activity.recent,
      upstreamAddress: control.upstream,
      upstream: activity.upstream,
      expiries: activity.expiries,
      smtpEnabled: activity.smtpEnabled,
      counts: activity.counts,
      actionsEnabled: control.adminPassword !== null,
      ...notices(url),
      now: Date.now(),
    }));
  }

  async function retry(req: http.IncomingMessage, res: http.ServerResponse, address: string): Promise<void> {
    const form = await readForm(req);
    if (!form) return send(res, 413, 'text/plain; charset=utf-8', 'form too large\n');
    const id = form.get('id') ?? '';
    if (control.adminPassword === null) return redirect(res, { error: 'actions-off' });
    const check = await checkPassword(control, form.get('password') ?? '', address);
    if (check !== 'ok') {
      log.warn({ address, id }, check === 'locked' ? 'status page: admin password refused (too many failed passwords from this address)' : 'status page: wrong admin password');
      return redirect(res, { error: check === 'locked' ? 'locked' : 'wrong-password' });
    }
    if (!ID.test(id) || !(await retryFailed(control, id, `status page (${address})`))) return redirect(res, { error: 'no-such-message' });
    return redirect(res, { retried: id });
  }

  const server = http.createServer((req, res) => {
    const address = unmapAddress(req.socket.remoteAddress ?? '');
    if (!admitsClient(opts.admission, address)) {
      log.warn({ address }, `status page request refused: ${NOT_ADMITTED}`);
      return send(res, 403, 'text/plain; charset=utf-8', 'access denied\n');
    }
    const url = new URL(req.url ?? '/', 'http://relaybox.invalid');
    const route = `${req.method} ${url.pathname}`;
    const handle = async () => {
      switch (route) {
        case 'GET /':
        case 'HEAD /':
          return page(url, res);
        case 'GET /metrics': {
          const [q, h] = await Promise.all([queueSnapshot(spool), readHealth(spool.dir)]);
          return send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', renderMetrics(q, h));
        }
        case 'GET /health':
          return send(res, 200, 'application/json', JSON.stringify(await readHealth(spool.dir)) + '\n');
        case 'POST /retry':
          return retry(req, res, address);
        default:
          if (['/', '/metrics', '/health', '/retry'].includes(url.pathname)) return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
          return send(res, 404, 'text/plain; charset=utf-8', 'not found: try /, /metrics or /health\n');
      }
    };
    handle().catch((e: Error) => {
      log.error({ err: e.stack ?? e.message, route }, 'status page error');
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `internal error: ${e.message}\n`);
      else res.destroy();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.on('error', (e) => log.error({ err: e.message }, 'status server error'));
  return server;
}
