// Network errors in E-MailRelay's words (gclient.cpp, gresolverfuture.cpp), where a reply or a line
// that scripts match on would otherwise carry node's "getaddrinfo ENOTFOUND host".

const CONNECT_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network is unreachable',
  ECONNRESET: 'connection reset by peer',
};

export function networkErrorWords(message: string): string {
  const dns = /getaddrinfo (ENOTFOUND|EAI_AGAIN|EAI_FAIL|EAI_NONAME|ENODATA) (\S+)/.exec(message);
  if (dns) {
    const why = dns[1] === 'EAI_AGAIN' ? 'temporary failure in name resolution' : 'name or service not known';
    return `dns error: no such host: "${dns[2]}" (${why})`;
  }
  const connect = /connect (ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ECONNRESET) (\S+)/.exec(message);
  if (connect) return `cannot connect to ${connect[2]}: ${CONNECT_REASONS[connect[1]!]}`;
  return message;
}
