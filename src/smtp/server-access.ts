// Who may send, at run time: connection limits and DNSBL when a client connects, the per-connection
// SASL mechanisms, AUTH checks (secrets file or PAM) with failure throttling (one throttle shared with
// POP and the admin password: src/auth/throttle.ts), trusted networks (`server none` lines) and the
// MAIL FROM gate that makes AUTH required for everyone else.
// One instance serves every listening socket.
import type { Log } from '../log';
import type { AccessConfig } from './access-config';
import { isLocalAddress, unmapAddress } from '../net/client-admission';
import { ConnectionLimits } from './connection-limits';
import { checkDnsbl } from './dnsbl';
import type { ConnectionMechanisms } from './auth-advertise';
import { applyFilter, PAM_MECHANISMS, secretsMechanisms } from '../auth/server-mechanisms';
import { verifyWithSecrets, type AuthAttempt } from '../auth/server-verify';
import { findTrust, watchSecrets, type SecretsWatcher } from '../auth/secrets';
import { createPamChecker, loadPamAddon, type PamChecker } from '../auth/pam';
import type { SmtpControls } from './controls';
import { pause, type AuthThrottle } from '../auth/throttle';

export interface Refusal {
  code: number;
  message: string;
}

export interface AuthOutcome {
  user?: string;
  refusal?: Refusal;
}

interface Session {
  id: string;
  remoteAddress: string;
  user?: unknown;
}

export interface ServerAccess {
  /** AUTH is configured (--server-auth). */
  readonly authConfigured: boolean;
  /** A new connection: limits, then DNSBL; a refusal closes it before the greeting. */
  connect(session: Session): Promise<Refusal | null>;
  disconnect(session: Session): void;
  mechanisms(session: Session, secure: boolean): ConnectionMechanisms;
  authenticate(attempt: AuthAttempt, session: Session): Promise<AuthOutcome>;
  /** The trust keyword of a `server none` line covering the peer, if any. */
  trustKeyword(address: string): string | undefined;
  /** MAIL FROM without AUTH: the refusal when this session may not send. */
  mailGate(session: Session, secure: boolean): Refusal | null;
  /** The envelope's Authentication field: the SASL id, else the trust keyword. */
  authenticationField(session: Session): string;
  /** 3/4 of --max-connections are open: timeouts are cut to --stress-timeout (Postfix's stress mode). */
  busy(): boolean;
  /** Called when the relay becomes busy, or stops being busy. */
  onBusyChange(listener: (busy: boolean) => void): void;
}

/** tlsRequired: --server-tls-required, so no AUTH before STARTTLS. */
export function createServerAccess(
  access: AccessConfig,
  log: Log,
  tlsAvailable: boolean,
  throttle: AuthThrottle,
  controls: SmtpControls,
  tlsRequired = false,
): ServerAccess {
  const limits = new ConnectionLimits(access.maxConnections, access.maxConnectionsPerAddress);
  const source = access.serverAuth;
  let secrets: SecretsWatcher | null = null;
  let pam: PamChecker | null = null;
  if (source?.kind === 'secrets') {
    secrets = watchSecrets(source.file, () => undefined, {
      info: (m) => log.info(m),
      warn: (m) => log.warn(m),
      error: (m) => log.error(m),
    });
    const unusable = [...secrets.current().serverTypes].filter((t) => t !== 'plain' && t !== 'md5');
    if (unusable.length)
      log.warn(
        { file: source.file, types: unusable },
        'hashed server secrets other than md5 cannot be used (only CRAM-MD5 can work from a hashed secret): use "server plain" lines for CRAM-SHA*',
      );
  } else if (source?.kind === 'pam') {
    pam = createPamChecker(loadPamAddon(), source.service, access.pamConcurrency, (code, message) =>
      log.debug({ code, pam: message }, 'pam refused the login'),
    );
    log.info({ service: source.service }, 'smtp authentication with pam');
  }

  const available = (secure: boolean): string[] => {
    if (pam) return applyFilter(PAM_MECHANISMS, access.mechanismFilter, secure);
    if (secrets) return applyFilter(secretsMechanisms(secrets.current(), secure), access.mechanismFilter, secure);
    return [];
  };

  const busyListeners: ((busy: boolean) => void)[] = [];
  let wasBusy = false;
  const checkBusy = () => {
    const busy = limits.busy();
    if (busy === wasBusy) return;
    wasBusy = busy;
    if (busy) log.warn({ open: limits.open(), max: access.maxConnections }, 'busy: most connection slots are taken, SMTP timeouts are cut to --stress-timeout');
    else log.info({ open: limits.open(), max: access.maxConnections }, 'no longer busy: SMTP timeouts are back to --command-timeout');
    for (const l of busyListeners) l(busy);
  };

  const trustKeyword = (address: string): string | undefined => (secrets ? findTrust(secrets.current(), address)?.keyword : undefined);

  return {
    authConfigured: !!source,

    async connect(session) {
      const address = unmapAddress(session.remoteAddress);
      const over = limits.admit(session.id, address);
      if (over) {
        log.warn({ address, open: limits.open() }, `connection refused: ${over}`);
        return { code: 421, message: `${over}: try again later` };
      }
      checkBusy();
      if (access.dnsbl && !isLocalAddress(address) && !controls.dnsblSuspended()) {
        const verdict = await checkDnsbl(access.dnsbl, address);
        if (verdict.listedBy.length || verdict.timedOut) {
          log.warn(
            { address, listedBy: verdict.listedBy, unanswered: verdict.unanswered, refused: verdict.refuse },
            verdict.refuse ? 'dnsbl: connection refused' : 'dnsbl: connection allowed',
          );
        }
        if (verdict.refuse) {
          limits.release(session.id, address);
          checkBusy();
          return { code: 554, message: 'access denied' };
        }
      }
      return null;
    },

    disconnect(session) {
      limits.release(session.id, unmapAddress(session.remoteAddress));
      checkBusy();
    },

    busy: () => limits.busy(),

    onBusyChange(listener) {
      busyListeners.push(listener);
    },

    mechanisms(session, secure) {
      const withTls = tlsAvailable ? available(true) : [];
      if (tlsRequired && !secure) return { offered: [], withTls, needsTls: true, tlsFirst: true };
      const needsTls = !secure && !access.plaintextAuthFromPublic && !isLocalAddress(session.remoteAddress);
      return { offered: needsTls ? [] : available(secure), withTls, needsTls };
    },

    async authenticate(attempt, session) {
      const address = unmapAddress(session.remoteAddress);
      const wait = throttle.refusedFor(address);
      if (wait > 0) {
        log.warn({ address, user: attempt.username }, 'authentication refused: too many failures from this address');
        return { refusal: { code: 454, message: `too many failed authentication attempts: try again in ${Math.ceil(wait / 1000)} s` } };
      }
      let ok = false;
      if (secrets) ok = verifyWithSecrets(secrets.current(), attempt);
      else if (pam && attempt.password !== undefined) {
        const r = await pam.check(attempt.username, attempt.password, address);
        if (r === 'busy') {
          log.warn({ address }, 'authentication refused: too many pam checks waiting');
          return { refusal: { code: 454, message: 'temporary authentication failure: try again later' } };
        }
        ok = r === 'ok';
      }
      if (ok) {
        throttle.succeeded(address);
        log.info({ address, user: attempt.username, mechanism: attempt.method }, 'client authenticated');
        return { user: attempt.username };
      }
      const f = throttle.failed(address);
      log.warn({ address, user: attempt.username, mechanism: attempt.method, failures: f.failures }, 'authentication failed');
      await pause(f.delayMs);
      return { refusal: { code: 535, message: 'authentication failed' } };
    },

    trustKeyword,

    mailGate(session, secure) {
      if (!source || session.user) return null;
      if (trustKeyword(unmapAddress(session.remoteAddress)) !== undefined) return null;
      const hint = !secure && tlsAvailable ? ': use starttls' : '';
      return { code: 530, message: `authentication required${hint}` };
    },

    authenticationField(session) {
      if (typeof session.user === 'string' && session.user) return session.user;
      return source ? (trustKeyword(unmapAddress(session.remoteAddress)) ?? '') : '';
    },
  };
}
