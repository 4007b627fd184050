// The device-code flow (RFC 8628) as Microsoft and Google run it: ask for a code, then poll the
// token endpoint until someone has signed in. Used by `relaybox oauth login` and the status page.
import { postForm } from './http';
import { describeTokenRefusal, OAuthError } from './token-errors';

export interface DeviceStart {
  deviceCode: string;
  userCode: string;
  verificationUrl: string;
  /** The provider's own sentence (Microsoft sends one). */
  message?: string;
  expiresAt: number;
  intervalMs: number;
}

export interface DeviceToken {
  access_token: string;
  expires_in: number;
  refresh_token?: string;
}

/** authorization_pending: wait; slow_down: wait 5 s longer from now on (RFC 8628 section 3.5). */
export type DevicePoll = { kind: 'token'; token: DeviceToken } | { kind: 'pending' } | { kind: 'slow-down' } | { kind: 'expired' } | { kind: 'declined' };

export const SLOW_DOWN_STEP_MS = 5000;

type Client = { client_id: string; client_secret?: string };

function json(text: string): Record<string, unknown> {
  try {
    const j = JSON.parse(text) as unknown;
    return j && typeof j === 'object' ? (j as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

export async function startDeviceFlow(deviceUrl: string, client: Client, scope: string, now = Date.now()): Promise<DeviceStart> {
  const res = await postForm(deviceUrl, { ...client, scope });
  if (res.status !== 200) throw describeTokenRefusal(res.status, res.text);
  const d = json(res.text);
  const verificationUrl = String(d.verification_uri ?? d.verification_url ?? '');
  if (typeof d.device_code !== 'string' || typeof d.user_code !== 'string' || !/^https?:\/\//.test(verificationUrl)) {
    throw new OAuthError(`the sign-in service ${new URL(deviceUrl).origin} answered without a code or web address; try again later`, false);
  }
  const expiresIn = Number(d.expires_in);
  const interval = Number(d.interval);
  return {
    deviceCode: d.device_code,
    userCode: d.user_code,
    verificationUrl,
    message: typeof d.message === 'string' ? d.message : undefined,
    expiresAt: now + (Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : 900) * 1000,
    intervalMs: Math.max(1, Number.isFinite(interval) && interval > 0 ? interval : 5) * 1000,
  };
}

export async function pollDeviceFlow(tokenUrl: string, client: Client, deviceCode: string): Promise<DevicePoll> {
  const res = await postForm(tokenUrl, { ...client, grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: deviceCode });
  const j = json(res.text);
  if (res.status === 200) {
    if (typeof j.access_token !== 'string' || !j.access_token) throw new OAuthError('the token endpoint answered without an access token; try again', false);
    const expiresIn = Number(j.expires_in);
    return {
      kind: 'token',
      token: {
        access_token: j.access_token,
        expires_in: Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : 3600,
        refresh_token: typeof j.refresh_token === 'string' ? j.refresh_token : undefined,
      },
    };
  }
  switch (j.error) {
    case 'authorization_pending':
      return { kind: 'pending' };
    case 'slow_down':
      return { kind: 'slow-down' };
    case 'expired_token':
      return { kind: 'expired' };
    case 'access_denied': // Google, RFC 8628
    case 'authorization_declined': // Microsoft
      return { kind: 'declined' };
    default:
      throw describeTokenRefusal(res.status, res.text);
  }
}
