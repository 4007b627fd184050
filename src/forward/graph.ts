// Forwarding through Microsoft Graph (--forward-to graph:), for tenants that turn SMTP AUTH off.
// A message goes as MIME: POST /users/{mailbox}/sendMail with the base64 message. A message too big
// for one request (Graph refuses about 4 MB with 413), or whose To/Cc headers name people outside
// the envelope, goes through a draft: create it from the MIME (large attachments taken out), set
// the recipients to the envelope's, add the attachments (upload sessions from 3 MB), then send it.
// 429 and 503 are retried after Retry-After.
import { promises as fsp } from 'node:fs';
import type { ForwardConfig } from './config';
import type { Log } from '../log';
import type { Envelope } from '../spool/envelope';
import type { ClientLogin } from './client-auth';
import { addressesIn, base64Size, headerValues, splitAttachments, type Attachment } from './mime-parts';
import { httpRequest, retryAfterMs, type HttpResponse } from './oauth/http';
import { SCOPE_GRAPH_APP } from './oauth/grants';
import { OAuthError } from './oauth/token-errors';
import type { TokenSource, TokenSources } from './oauth/tokens';
import { rewriteFromHeader } from './sender-rewrite';
import type { ForwardTarget } from '../net/target';
import type { SendResult, Upstream } from './upstream';
import { ForwardError, oauthForwardError } from './forward-error';

/** Largest base64 request body sent in one piece (Graph's limit is about 4 MB). */
export const GRAPH_REQUEST_LIMIT = 3_900_000;
/** Attachments from this size go through an upload session (Graph: 3 MB to 150 MB). */
const UPLOAD_SESSION_FROM = 3 * 1024 * 1024;
/** Upload chunk: a multiple of 320 KiB, under 4 MB. */
const CHUNK = 12 * 320 * 1024;
/** Waits for Retry-After inside one attempt up to this long; longer ones defer the message. */
const MAX_INLINE_WAIT_MS = 30_000;
const MAX_THROTTLE_RETRIES = 3;

/** The token scope for a Graph base URL: national clouds have their own. */
export function graphScope(baseUrl: string): string {
  const host = new URL(baseUrl).hostname;
  if (/(^|\.)graph\.microsoft\.(us|de)$|chinacloudapi\.cn$/i.test(host)) return `${new URL(baseUrl).origin}/.default`;
  return SCOPE_GRAPH_APP;
}

interface GraphErrorBody {
  error?: { code?: string; message?: string };
}

/**
 * What a Graph refusal means, in words that say what to fix. `atConnect`: the refusal is about the
 * app or the mailbox (permission, throttling), not this message, so the forwarding run stops.
 */
function graphError(res: HttpResponse, what: string, mailbox: string): ForwardError {
  let body: GraphErrorBody = {};
  try {
    body = JSON.parse(res.text) as GraphErrorBody;
  } catch {
    // not JSON
  }
  const code = body.error?.code ?? '';
  const detail = `Graph ${what}: HTTP ${res.status}${code ? ` ${code}` : ''}${body.error?.message ? `: ${body.error.message.slice(0, 300)}` : ''}`;
  const configuration = (advice: string) => new ForwardError(`${advice} [${detail}]`, { code: res.status, permanent: true, atConnect: true, response: detail });
  if (res.status === 429 || res.status >= 500) {
    return new ForwardError(detail, { code: res.status, permanent: false, atConnect: true, response: detail, retryAfterMs: retryAfterMs(res.headers) });
  }
  if (/SendAsDenied/i.test(code) || /send as/i.test(body.error?.message ?? '')) {
    return new ForwardError(
      `the mailbox ${mailbox} may not send as this message's sender: turn on --forward-from-mailbox, or give the mailbox Send As rights for that address [${detail}]`,
      { code: res.status, permanent: true, atConnect: false, response: detail },
    );
  }
  if (res.status === 403) {
    return configuration(
      `Graph denied access to ${mailbox}: the app needs the Microsoft Graph application permission Mail.Send with admin consent, and any RBAC for Applications or application access policy must include this mailbox`,
    );
  }
  if (/ErrorInvalidUser|MailboxNotEnabledForRESTAPI|ResourceNotFound/i.test(code)) {
    return configuration(`Graph does not know the mailbox ${mailbox}: check the mailbox in the secrets line (it needs an Exchange Online licence)`);
  }
  if (res.status === 401) {
    return configuration(
      'Graph refused the access token: the app registration needs Microsoft Graph application permissions (Mail.Send), not only Exchange ones',
    );
  }
  if (res.status === 413)
    return new ForwardError(`the message is too large for Microsoft Graph [${detail}]`, { code: 413, permanent: true, atConnect: false, response: detail });
  return new ForwardError(detail, { code: res.status, permanent: res.status >= 400 && res.status < 500, atConnect: false, response: detail });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class GraphClient {
  constructor(
    private readonly base: string,
    readonly mailbox: string,
    private readonly source: TokenSource,
    private readonly log: Log,
  ) {}

  private url(path: string): string {
    return `${this.base}/v1.0/users/${encodeURIComponent(this.mailbox)}${path}`;
  }

  private async token(): Promise<{ value: string; fresh: boolean }> {
    try {
      const t = await this.source.get();
      return { value: t.token, fresh: t.fresh };
    } catch (e) {
      throw e instanceof OAuthError ? oauthForwardError(e) : e;
    }
  }

  /** One Graph call, with a new token after a 401 on a cached one, and waits on short throttling. */
  async call(
    method: string,
    path: string,
    body: string | Buffer | undefined,
    contentType: string | undefined,
    what: string,
    okStatus: number[],
  ): Promise<HttpResponse> {
    let tokenRetried = false;
    for (let attempt = 0; ; attempt++) {
      const token = await this.token();
      const res = await this.raw(path.startsWith('https://') ? path : this.url(path), method, body, {
        authorization: `Bearer ${token.value}`,
        ...(contentType ? { 'content-type': contentType } : {}),
      });
      if (okStatus.includes(res.status)) return res;
      if (res.status === 401 && !token.fresh && !tokenRetried) {
        tokenRetried = true;
        this.source.invalidate(token.value);
        this.log.info({ mailbox: this.mailbox }, 'Graph refused the cached access token: getting a new one');
        continue;
      }
      const wait = retryAfterMs(res.headers);
      if ((res.status === 429 || res.status === 503) && attempt < MAX_THROTTLE_RETRIES && (wait ?? 1000) <= MAX_INLINE_WAIT_MS) {
        this.log.info({ status: res.status, waitMs: wait ?? 1000, what }, 'Graph asks to slow down: waiting as told (Retry-After)');
        await sleep(wait ?? 1000);
        continue;
      }
      throw graphError(res, what, this.mailbox);
    }
  }

  async raw(url: string, method: string, body: string | Buffer | undefined, headers: Record<string, string>): Promise<HttpResponse> {
    try {
      return await httpRequest(url, { method, headers, body });
    } catch (e) {
      throw new ForwardError((e as Error).message, { permanent: false, atConnect: false });
    }
  }
}

function jsonOf<T>(res: HttpResponse, what: string): T {
  try {
    return JSON.parse(res.text) as T;
  } catch {
    throw new ForwardError(`Graph ${what}: the answer is not JSON`, { code: res.status, permanent: false, atConnect: false });
  }
}

/** Envelope recipients vs the To/Cc headers: Graph takes the recipients from the headers. */
function recipientsPlan(message: Buffer, env: Envelope) {
  const envelope = env.toRemote.map((a) => a.toLowerCase());
  const to = headerValues(message, 'to').flatMap(addressesIn);
  const cc = headerValues(message, 'cc').flatMap(addressesIn);
  const visible = new Set([...to, ...cc]);
  return {
    /** Every header recipient is in the envelope: the envelope's others can go as Bcc. */
    headersFit: [...visible].every((a) => envelope.includes(a)),
    to: env.toRemote.filter((a) => to.includes(a.toLowerCase())),
    cc: env.toRemote.filter((a) => !to.includes(a.toLowerCase()) && cc.includes(a.toLowerCase())),
    bcc: env.toRemote.filter((a) => !visible.has(a.toLowerCase())),
  };
}

/** The message with its Bcc header replaced by the given addresses (none: no Bcc header). */
function withBcc(message: Buffer, bcc: string[]): Buffer {
  const crlf = message.indexOf('\r\n\r\n');
  const lf = message.indexOf('\n\n');
  const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf + 2 : lf >= 0 ? lf + 1 : message.length;
  const eol = crlf >= 0 ? '\r\n' : '\n';
  const head = message
    .subarray(0, end)
    .toString('latin1')
    .split(/\r?\n(?![ \t])/)
    .filter((f) => f && !/^bcc:/i.test(f));
  if (bcc.length) head.push(`Bcc: ${bcc.map((a) => `<${a}>`).join(', ')}`);
  return Buffer.concat([Buffer.from(head.join(eol) + eol, 'latin1'), message.subarray(end)]);
}

const recipientList = (list: string[]) => list.map((address) => ({ emailAddress: { address } }));

async function addAttachment(client: GraphClient, draftPath: string, a: Attachment): Promise<void> {
  if (a.data.length < UPLOAD_SESSION_FROM) {
    await client.call(
      'POST',
      `${draftPath}/attachments`,
      JSON.stringify({
        '@odata.type': '#microsoft.graph.fileAttachment',
        name: a.name,
        contentType: a.contentType,
        contentBytes: a.data.toString('base64'),
        isInline: a.isInline,
        ...(a.contentId ? { contentId: a.contentId } : {}),
      }),
      'application/json',
      'add attachment',
      [201],
    );
    return;
  }
  const session = jsonOf<{ uploadUrl?: string }>(
    await client.call(
      'POST',
      `${draftPath}/attachments/createUploadSession`,
      JSON.stringify({
        AttachmentItem: {
          attachmentType: 'file',
          name: a.name,
          size: a.data.length,
          contentType: a.contentType,
          isInline: a.isInline,
          ...(a.contentId ? { contentId: a.contentId } : {}),
        },
      }),
      'application/json',
      'create upload session',
      [201],
    ),
    'create upload session',
  );
  if (!session.uploadUrl) throw new ForwardError('Graph create upload session: no uploadUrl in the answer', { permanent: false, atConnect: false });
  for (let offset = 0; offset < a.data.length; offset += CHUNK) {
    const chunk = a.data.subarray(offset, Math.min(offset + CHUNK, a.data.length));
    // The upload URL carries its own authorisation: no bearer token goes with it.
    let res: HttpResponse | undefined;
    for (let attempt = 0; attempt <= MAX_THROTTLE_RETRIES; attempt++) {
      res = await client.raw(session.uploadUrl, 'PUT', chunk, {
        'content-type': 'application/octet-stream',
        'content-range': `bytes ${offset}-${offset + chunk.length - 1}/${a.data.length}`,
      });
      const wait = retryAfterMs(res.headers) ?? 1000;
      if ((res.status === 429 || res.status === 503) && attempt < MAX_THROTTLE_RETRIES && wait <= MAX_INLINE_WAIT_MS) {
        await sleep(wait);
        continue;
      }
      break;
    }
    if (res!.status !== 200 && res!.status !== 201) throw graphError(res!, `upload of "${a.name}"`, client.mailbox);
  }
}

async function sendViaDraft(client: GraphClient, message: Buffer, plan: ReturnType<typeof recipientsPlan>, log: Log): Promise<string> {
  let mime = message;
  let attachments: Attachment[] = [];
  if (base64Size(message.length) > GRAPH_REQUEST_LIMIT) {
    const split = splitAttachments(message, GRAPH_REQUEST_LIMIT);
    if (!split) {
      throw new ForwardError(
        `the message (${message.length} bytes) is too large for one Graph request and has no attachments that could be uploaded separately: forward it through SMTP instead`,
        { code: 413, permanent: true, atConnect: false },
      );
    }
    ({ mime, attachments } = split);
  }
  const draft = jsonOf<{ id?: string }>(await client.call('POST', '/messages', mime.toString('base64'), 'text/plain', 'create draft', [201]), 'create draft');
  if (!draft.id) throw new ForwardError('Graph create draft: no message id in the answer', { permanent: false, atConnect: false });
  const draftPath = `/messages/${encodeURIComponent(draft.id)}`;
  try {
    if (!plan.headersFit) {
      await client.call(
        'PATCH',
        draftPath,
        JSON.stringify({
          toRecipients: recipientList(plan.to),
          ccRecipients: recipientList(plan.cc),
          bccRecipients: recipientList(plan.bcc),
        }),
        'application/json',
        'set recipients',
        [200],
      );
    }
    for (const a of attachments) await addAttachment(client, draftPath, a);
    await client.call('POST', `${draftPath}/send`, undefined, undefined, 'send draft', [202]);
  } catch (e) {
    // Leave no half-made draft behind; the message is sent again later as a whole.
    await client
      .call('DELETE', draftPath, undefined, undefined, 'delete draft', [204, 404])
      .catch((d: Error) => log.warn({ mailbox: client.mailbox, err: d.message }, 'cannot delete an unsent Graph draft'));
    throw e;
  }
  return `sent through a Graph draft${attachments.length ? ` with ${attachments.length} attachment(s) uploaded separately` : ''}`;
}

export async function openGraphUpstream(
  cfg: ForwardConfig,
  target: Extract<ForwardTarget, { kind: 'graph' }>,
  login: ClientLogin,
  tokens: TokenSources,
  log: Log,
): Promise<Upstream> {
  const grant = login.grant();
  if (!grant || grant.type === 'oauth-google-sa') {
    throw new ForwardError('forwarding through Microsoft Graph needs an oauth-ms-secret, oauth-ms-cert or oauth-refresh line in the secrets file', {
      permanent: true,
      atConnect: true,
    });
  }
  let source: TokenSource;
  try {
    source = tokens.for(grant);
    await source.get(); // a configuration error shows now, before any message is tried
  } catch (e) {
    throw e instanceof OAuthError ? oauthForwardError(e) : e;
  }
  const client = new GraphClient(target.baseUrl, grant.mailbox, source, log);
  const generation = login.generation();
  log.info({ upstream: target.text, mailbox: grant.mailbox }, 'forwarding through Microsoft Graph');
  return {
    description: target.text,
    get usable() {
      return login.generation() === generation;
    },
    async send(env, content): Promise<SendResult> {
      let message = typeof content === 'string' ? await fsp.readFile(content) : content;
      if (cfg.forwardFromMailbox) message = rewriteFromHeader(message, grant.mailbox);
      const plan = recipientsPlan(message, env);
      if (plan.headersFit && base64Size(message.length) <= GRAPH_REQUEST_LIMIT) {
        try {
          await client.call('POST', '/sendMail', withBcc(message, plan.bcc).toString('base64'), 'text/plain', 'sendMail', [202]);
          return { accepted: env.toRemote, rejected: [], response: '202 accepted by Graph sendMail' };
        } catch (e) {
          if (!(e instanceof ForwardError && e.code === 413)) throw e;
          log.info({ mailbox: grant.mailbox }, 'Graph sendMail refused the size (413): sending through a draft instead');
        }
      }
      const response = await sendViaDraft(client, plan.headersFit ? withBcc(message, plan.bcc) : message, plan, log);
      return { accepted: env.toRemote, rejected: [], response };
    },
    close() {
      // HTTPS requests hold no session open between messages.
    },
  };
}
