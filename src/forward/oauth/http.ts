// Small HTTPS helpers for the token endpoints and Graph (node's fetch, with a time limit).
import { OAuthError } from './token-errors';

export const HTTP_TIMEOUT_MS = 60_000;

export interface HttpResponse {
  status: number;
  headers: Headers;
  text: string;
}

export async function httpRequest(
  url: string,
  init: { method: string; headers?: Record<string, string>; body?: string | Buffer },
  timeoutMs = HTTP_TIMEOUT_MS,
): Promise<HttpResponse> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: init.method,
      headers: init.headers,
      body: typeof init.body === 'string' || init.body === undefined ? init.body : new Uint8Array(init.body),
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'error',
    });
  } catch (e) {
    const cause = (e as { cause?: Error }).cause;
    throw new OAuthError(`cannot reach ${new URL(url).origin}: ${cause?.message ?? (e as Error).message}`, false);
  }
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** Retry-After (seconds or an HTTP date) in milliseconds, if given. */
export function retryAfterMs(headers: Headers, now = Date.now()): number | undefined {
  const v = headers.get('retry-after');
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export function postForm(url: string, form: Record<string, string>): Promise<HttpResponse> {
  return httpRequest(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams(form).toString(),
  });
}
