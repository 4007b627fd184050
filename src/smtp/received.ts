// The Received: line E-MailRelay prepends (RFC 5321, 3848, 8314).
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

export function rfc5322Date(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${DAYS[d.getDay()]}, ${d.getDate()} ${MONTHS[d.getMonth()]} ${d.getFullYear()} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${sign}${two(Math.floor(abs / 60))}${two(abs % 60)}`
  );
}

export interface ReceivedInfo {
  helo: string;
  address: string;
  domain: string;
  tls?: string; // cipher name
  authenticated: boolean;
  date: Date;
}

/** Printable ASCII only: a client's HELO text must not break the header. */
function clean(s: string): string {
  return s.replace(/[^\x21-\x7e]/g, '').slice(0, 200) || 'unknown';
}

export function receivedHeader(r: ReceivedInfo): string {
  const protocol = `ESMTP${r.tls ? 'S' : ''}${r.authenticated ? 'A' : ''}`;
  const tls = r.tls ? ` tls ${clean(r.tls)}` : '';
  return `Received: from ${clean(r.helo)} ([${r.address}]) by ${clean(r.domain)} with ${protocol}${tls} ; ${rfc5322Date(r.date)}\r\n`;
}
