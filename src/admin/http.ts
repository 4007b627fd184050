// The status HTTP server (--status-port): GET / (the status page), GET /metrics (Prometheus),
// GET /health (JSON), POST /retry and POST /delete (one failed message), POST /signin (start the
// sign-in of a "page:" secrets line's mailbox) and POST /test-mail (send a test mail straight to the
// upstream, src/admin/test-mail-page.ts); every POST needs the admin password.
// Admits the clients SMTP admits (src/smtp/access.ts, --remote-clients). Every request passes, in
// this order: the client address, the Host header (own names only), for a POST the Origin and
// Sec-Fetch-Site headers, then a body read of at most MAX_BODY bytes; a form's CSRF token is checked
// before the admin password. A connection may have MAX_IN_FLIGHT requests unanswered (pipelined);
// past that it is closed, so a client that sends and never reads cannot pile up replies.
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { admitsClient, NOT_ADMITTED, unmapAddress, type ClientAdmission } from '../net/client-admission';
import { readHealth } from '../health/health';
import { hardwarePanel } from '../health/hardware-process';
import { checkPassword, deleteFailed, retryFailed, type RelayControl } from './actions';
import type { EventLog } from './event-log';
import type { PageSignIns } from '../forward/oauth/page-signins';
import { checkFormToken, issueFormToken } from './form-token';
import { hostAllowed, hostOf } from './host-names';
import { renderMetrics } from './metrics';
import { renderPage } from './page';
import { testMailAnswer } from './test-mail-page';
import { queueSnapshot } from './queue';
import { readBoundedBody } from './request-body';

const MAX_BODY = 8 * 1024;
const MAX_IN_FLIGHT = 4;

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

/** An answer after which the connection is closed: the rest of the request is never read. */
function refuse(res: http.ServerResponse, status: number, text: string): void {
  send(res, status, 'text/plain; charset=utf-8', text, { Connection: 'close' });
}

/** A POST sent by a page on another site, as the browser says (Origin, Sec-Fetch-Site). */
function crossSite(req: http.IncomingMessage, names: readonly string[]): boolean {
  if (req.headers['sec-fetch-site'] === 'cross-site' || req.headers['sec-fetch-site'] === 'same-site') return true;
  const origin = req.headers.origin;
  if (origin === undefined || origin === 'null') return false; // no-referrer pages send "null": the token decides
  try {
    return !hostAllowed(new URL(origin).host, names);
  } catch {
    return true;
  }
}

/** What a redirect after an action may show: fixed texts only, so a crafted link cannot put words on the page. */
const ERRORS: Record<string, string> = {
  'actions-off': 'Actions are off: start relaybox with --admin-password-file.',
  'wrong-password': 'Wrong admin password: nothing was done.',
  locked: 'Too many failed passwords from your address: try again later.',
  'no-such-message': 'There is no such failed message (already retried or deleted?).',
  'no-such-mailbox': 'There is no such mailbox to sign in (was relaybox.secrets changed?): reload the page.',
  'form-expired': 'The page was too old: it has been reloaded, try again.',
};
const ID = /^[A-Za-z0-9._-]{1,200}$/;

function notices(url: URL): { notice?: string; error?: string } {
  const retried = url.searchParams.get('retried');
  const deleted = url.searchParams.get('deleted');
  let notice: string | undefined;
  if (retried && ID.test(retried)) notice = `Message ${retried} is queued for another attempt.`;
  else if (deleted && ID.test(deleted)) notice = `Message ${deleted} was deleted.`;
  else if (url.searchParams.has('signin'))
    notice = 'Sign-in started: follow the steps under "Sign in" below. This page shows the result once you have signed in.';
  return { notice, error: ERRORS[url.searchParams.get('error') ?? ''] };
}

function redirect(res: http.ServerResponse, params: Record<string, string>): void {
  const q = new URLSearchParams(params).toString();
  res.writeHead(303, { Location: `/${q ? '?' + q : ''}`, 'Content-Length': 0, ...SECURITY_HEADERS });
  res.end();
}

export interface StatusServerOptions {
  admission: ClientAdmission;
  title: string;
  /** Names besides the box's own that the Host header may carry (--domain, --status-host-names). */
  hostNames: readonly string[];
  /** The mailboxes that sign in from this page ("page:" secrets lines). */
  signIns?: PageSignIns;
  /** The recent log shown on the page. */
  events?: EventLog;
}

export function createStatusServer(control: RelayControl, opts: StatusServerOptions): http.Server {
  const { log, spool } = control;
  const inFlight = new WeakMap<Socket, number>();

  async function page(url: URL, res: http.ServerResponse, address: string): Promise<void> {
    const [queue, health, hardware, signIns] = await Promise.all([
      queueSnapshot(spool),
      readHealth(spool.dir),
      hardwarePanel(spool.dir),
      opts.signIns?.list() ?? [],
    ]);
    send(
      res,
      200,
      'text/html; charset=utf-8',
      renderPage({
        title: opts.title,
        queue,
        health,
        hardware,
        recent: control.activity.recent,
        events: opts.events?.entries() ?? [],
        signIns,
        upstreamAddress: control.upstream,
        upstream: control.activity.upstream,
        expiries: control.activity.expiries,
        smtpEnabled: control.smtp.enabled,
        counts: control.activity.counts,
        actionsEnabled: control.adminPassword !== null,
        formToken: issueFormToken(address),
        ...notices(url),
        now: Date.now(),
      }),
    );
  }

  /**
   * A form's CSRF token, then the admin password. 'refused' has been answered (403); the other
   * refusals are for the caller to show.
   */
  async function authorise(
    form: URLSearchParams,
    res: http.ServerResponse,
    address: string,
    fields: Record<string, string>,
  ): Promise<'ok' | 'refused' | 'actions-off' | 'form-expired' | 'wrong-password' | 'locked'> {
    if (control.adminPassword === null) return 'actions-off';
    const token = checkFormToken(form.get('token') ?? '', address);
    if (token === 'expired') return 'form-expired';
    if (token !== 'ok') {
      log.warn({ address }, 'status page: form refused: no valid form token (not sent from the status page)');
      refuse(res, 403, 'form refused: reload the status page and use its form\n');
      return 'refused';
    }
    const check = await checkPassword(control, form.get('password') ?? '', address);
    if (check === 'ok') return 'ok';
    log.warn(
      { address, ...fields },
      check === 'locked' ? 'status page: admin password refused (too many failed passwords from this address)' : 'status page: wrong admin password',
    );
    return check === 'locked' ? 'locked' : 'wrong-password';
  }

  /** A form's action, once authorise() let it through; the action redirects, and so does a refusal. */
  async function guarded(form: URLSearchParams, res: http.ServerResponse, address: string, route: string, action: () => Promise<void>): Promise<void> {
    const allowed = await authorise(form, res, address, { route });
    if (allowed === 'refused') return;
    if (allowed !== 'ok') return redirect(res, { error: allowed });
    return action();
  }

  function retry(form: URLSearchParams, res: http.ServerResponse, address: string): Promise<void> {
    const id = form.get('id') ?? '';
    return guarded(form, res, address, 'retry', async () => {
      if (!ID.test(id) || !(await retryFailed(control, id, `status page (${address})`))) return redirect(res, { error: 'no-such-message' });
      return redirect(res, { retried: id });
    });
  }

  function remove(form: URLSearchParams, res: http.ServerResponse, address: string): Promise<void> {
    const id = form.get('id') ?? '';
    return guarded(form, res, address, 'delete', async () => {
      if (!ID.test(id) || !(await deleteFailed(control, id, `status page (${address})`))) return redirect(res, { error: 'no-such-message' });
      return redirect(res, { deleted: id });
    });
  }

  function signIn(form: URLSearchParams, res: http.ServerResponse, address: string): Promise<void> {
    const id = form.get('id') ?? '';
    return guarded(form, res, address, 'signin', async () => {
      const mailbox = ID.test(id) ? await opts.signIns?.start(id) : null;
      if (!mailbox) return redirect(res, { error: 'no-such-mailbox' });
      log.info({ address, mailbox }, 'status page: sign-in requested');
      return redirect(res, { signin: '1' });
    });
  }

  async function testMail(form: URLSearchParams, res: http.ServerResponse, address: string): Promise<void> {
    const allowed = await authorise(form, res, address, { action: 'test mail' });
    if (allowed === 'refused') return;
    send(
      res,
      200,
      'text/html; charset=utf-8',
      await testMailAnswer(control, form, allowed, { address, title: opts.title, formToken: issueFormToken(address) }),
    );
  }

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const socket = req.socket;
    if (socket.destroyed) return;
    const pending = (inFlight.get(socket) ?? 0) + 1;
    if (pending > MAX_IN_FLIGHT) {
      log.warn(
        { address: unmapAddress(socket.remoteAddress ?? ''), unanswered: pending - 1 },
        'status page client dropped: it sends requests without reading the answers',
      );
      socket.destroy();
      return;
    }
    inFlight.set(socket, pending);
    res.once('close', () => inFlight.set(socket, (inFlight.get(socket) ?? 1) - 1));

    const address = unmapAddress(socket.remoteAddress ?? '');
    if (!admitsClient(opts.admission, address)) {
      log.warn({ address }, `status page request refused: ${NOT_ADMITTED}`);
      return refuse(res, 403, 'access denied\n');
    }
    if (!hostAllowed(req.headers.host, opts.hostNames)) {
      log.warn(
        { address, host: hostOf(req.headers.host ?? '').slice(0, 100) },
        'status page request refused: the Host header is not a name or address of this box (add it with --status-host-names)',
      );
      return refuse(res, 421, 'unknown host name: use the name or address of the relay\n');
    }
    if (req.method === 'POST' && crossSite(req, opts.hostNames)) {
      log.warn({ address, origin: String(req.headers.origin ?? '').slice(0, 100) }, 'status page: cross-site POST refused');
      return refuse(res, 403, 'cross-site request refused\n');
    }
    const url = new URL(req.url ?? '/', 'http://relaybox.invalid');
    const route = `${req.method} ${url.pathname}`;
    const handle = async () => {
      const read = await readBoundedBody(req, MAX_BODY);
      if ('refused' in read) {
        if (read.refused === 'too-large') log.warn({ address, route }, `status page request refused: body larger than ${MAX_BODY} bytes`);
        return refuse(res, read.refused === 'too-large' ? 413 : 400, read.refused === 'too-large' ? 'request body too large\n' : 'broken request\n');
      }
      switch (route) {
        case 'GET /':
        case 'HEAD /':
          return page(url, res, address);
        case 'GET /metrics': {
          const [q, h] = await Promise.all([queueSnapshot(spool), readHealth(spool.dir)]);
          return send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', renderMetrics(q, h, control.activity, control.smtp));
        }
        case 'GET /health':
          return send(res, 200, 'application/json', JSON.stringify(await readHealth(spool.dir)) + '\n');
        case 'POST /retry':
          return retry(new URLSearchParams(read.body.toString('utf8')), res, address);
        case 'POST /test-mail':
          return testMail(new URLSearchParams(read.body.toString('utf8')), res, address);
        case 'POST /delete':
          return remove(new URLSearchParams(read.body.toString('utf8')), res, address);
        case 'POST /signin':
          return signIn(new URLSearchParams(read.body.toString('utf8')), res, address);
        default:
          if (['/', '/metrics', '/health', '/retry', '/test-mail', '/delete', '/signin'].includes(url.pathname))
            return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
          return send(res, 404, 'text/plain; charset=utf-8', 'not found: try /, /metrics or /health\n');
      }
    };
    handle().catch((e: Error) => {
      log.error({ err: e.stack ?? e.message, route }, 'status page error');
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `internal error: ${e.message}\n`);
      else res.destroy();
    });
  };
  const server = http.createServer(onRequest);
  // A client that asks first (Expect: 100-continue, as curl does for large bodies) is told 413 before it sends the body.
  server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (Number(req.headers['content-length'] ?? 0) > MAX_BODY) {
      log.warn(
        { address: unmapAddress(req.socket.remoteAddress ?? ''), route: `${req.method} ${req.url}`.slice(0, 100) },
        `status page request refused: body larger than ${MAX_BODY} bytes`,
      );
      return refuse(res, 413, 'request body too large\n');
    }
    res.writeContinue();
    onRequest(req, res);
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.on('error', (e) => log.error({ err: e.message }, 'status server error'));
  return server;
}
