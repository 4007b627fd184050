// How the queue runner reaches an upstream: --forward-to, or a message's own route (ForwardToAddress),
// over SMTP or Microsoft Graph, signed in with the --client-auth account that the message's
// ClientAccountSelector names. The default account's login is made at once; the others when first needed.
import type { ForwardConfig } from './config';
import type { Log } from '../log';
import type { RelayEvents } from '../events/relay-events';
import type { SecretsLogger } from '../auth/secrets';
import { parseForwardTarget, type ForwardTarget } from '../net/target';
import { createClientLogin, type ClientLogin } from './client-auth';
import { openGraphUpstream } from './graph';
import type { TokenSources } from './oauth/tokens';
import type { Route } from './runner';
import { openUpstream, type Upstream, type UpstreamConfig } from './upstream';
import { ForwardError } from './forward-error';

/** The --client-auth login of a client account selector (none: the default account); null without --client-auth. */
export function clientLogins(cfg: ForwardConfig, log: Log, tokens: TokenSources): (selector: string | undefined) => ClientLogin | null {
  const secretsLog: SecretsLogger = { info: (m) => log.info(m), warn: (m) => log.warn(m), error: (m) => log.error(m) };
  const clientAuth = cfg.clientAuth;
  if (!clientAuth) return () => null;
  const login = createClientLogin(clientAuth, cfg.clientAuthConfig, secretsLog, '', tokens);
  const logins = new Map<string, ClientLogin>();
  return (selector) => {
    if (!selector) return login;
    let l = logins.get(selector);
    if (!l) {
      l = createClientLogin(clientAuth, cfg.clientAuthConfig, secretsLog, selector, tokens);
      logins.set(selector, l);
    }
    return l;
  };
}

/** The runner's `connect`: a session with --forward-to, or with a message's own route. */
export function upstreamConnector(cfg: UpstreamConfig, log: Log, events: RelayEvents, tokens: TokenSources): (route?: Route) => Promise<Upstream> {
  const loginFor = clientLogins(cfg, log, tokens);
  const open = (t: ForwardTarget, l: ClientLogin | null) => {
    if (t.kind !== 'graph') return openUpstream(cfg, t, l, log, events);
    if (!l) throw new ForwardError('forwarding through Microsoft Graph needs --client-auth with an OAuth2 grant line', { permanent: true, atConnect: true });
    return openGraphUpstream(cfg, t, l, tokens, log);
  };
  return async (route) => open(route?.address ? parseForwardTarget(route.address) : cfg.forwardTo!, loginFor(route?.selector));
}
