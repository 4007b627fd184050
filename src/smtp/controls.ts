// What the admin interface can switch on the SMTP side while the relay runs: new sessions refused
// ("smtp disable"), DNSBL look-ups suspended ("dnsbl stop [seconds]"). main.ts makes one and gives it
// to the SMTP servers and to the admin interface.
export class SmtpControls {
  /** False after admin "smtp disable": new SMTP sessions are refused with 421. */
  enabled = true;
  /** No DNSBL look-ups until then (ms since epoch; Infinity: until "dnsbl start"). */
  dnsblSuspendedUntil = 0;

  dnsblSuspended(now = Date.now()): boolean {
    return now < this.dnsblSuspendedUntil;
  }
}
