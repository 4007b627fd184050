// network.conf on the boot partition -> settings -> the files systemd-networkd, wpa_supplicant,
// systemd-timesyncd and sshd read from /run. Format: `key = value` lines, '#' comments.
import * as path from 'node:path';
import { existsSync } from 'node:fs';
import { normaliseText } from './text';

export interface NetworkSettings {
  hostname: string;
  /** 'dhcp' or an address with prefix length, e.g. 192.168.1.20/24 */
  address: string;
  gateway?: string;
  dns: string[];
  wifi?: { ssid: string; passphrase: string; country: string };
  timezone: string;
  ntp: string[];
  ssh: boolean;
  sshKeys: string[];
}

export interface NetworkProblem {
  file: string;
  line: number;
  message: string;
}

export const NETWORK_DEFAULTS: NetworkSettings = {
  hostname: 'relaybox',
  address: 'dhcp',
  dns: [],
  timezone: 'UTC',
  ntp: [],
  ssh: false,
  sshKeys: [],
};

const KEYS = ['hostname', 'address', 'gateway', 'dns', 'wifi_ssid', 'wifi_passphrase', 'wifi_country', 'timezone', 'ntp', 'ssh', 'ssh_key'] as const;
type Key = (typeof KEYS)[number];

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9a-fA-F:]+:[0-9a-fA-F:.]*$/;
const isIp = (s: string) => IPV4.test(s) || IPV6.test(s);
const HOSTNAME = /^(?=.{1,63}$)[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/;
const HOST_OR_IP = /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$/;
const SSH_KEY = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/=]+( .*)?$/;

/** Parse network.conf. A setting with a problem is reported and the whole file is not applied. */
export function parseNetworkConf(text: string, file: string, zoneinfoDir = '/usr/share/zoneinfo'): { settings: NetworkSettings; problems: NetworkProblem[] } {
  const s: NetworkSettings = { ...NETWORK_DEFAULTS, dns: [], ntp: [], sshKeys: [] };
  const problems: NetworkProblem[] = [];
  const wifi: Partial<Record<'ssid' | 'passphrase' | 'country', string>> = {};
  const seen = new Map<string, number>();
  const lines = normaliseText(text).split('\n');
  lines.forEach((raw, i) => {
    const line = raw.trim();
    const n = i + 1;
    const bad = (message: string) => problems.push({ file, line: n, message });
    if (!line || line.startsWith('#')) return;
    const m = /^([A-Za-z_]+)\s*=\s*(.*)$/.exec(line);
    if (!m) return bad(`cannot read this line: write "name = value" (for example "hostname = relaybox")`);
    const key = m[1]!.toLowerCase() as Key;
    let value = m[2]!.trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (!(KEYS as readonly string[]).includes(key)) return bad(`unknown setting "${m[1]}" (known: ${KEYS.join(', ')})`);
    if (key !== 'ssh_key' && seen.has(key)) return bad(`"${key}" is set twice (also on line ${seen.get(key)}): keep one`);
    seen.set(key, n);
    const words = value.split(/[\s,]+/).filter(Boolean);
    switch (key) {
      case 'hostname':
        if (!HOSTNAME.test(value)) return bad(`hostname "${value}" is not valid: use letters, digits and '-', at most 63 characters`);
        s.hostname = value;
        break;
      case 'address': {
        if (value.toLowerCase() === 'dhcp' || value === '') {
          s.address = 'dhcp';
          break;
        }
        const a = /^(.+)\/(\d{1,3})$/.exec(value);
        if (!a || !isIp(a[1]!) || Number(a[2]) > (IPV4.test(a[1]!) ? 32 : 128)) {
          return bad(`address "${value}" is not valid: write "dhcp" or an address with its prefix length, like 192.168.1.20/24`);
        }
        s.address = value;
        break;
      }
      case 'gateway':
        if (value && !isIp(value)) return bad(`gateway "${value}" is not an IP address`);
        s.gateway = value || undefined;
        break;
      case 'dns':
        for (const w of words) if (!isIp(w)) return bad(`dns: "${w}" is not an IP address`);
        s.dns = words;
        break;
      case 'ntp':
        for (const w of words) if (!HOST_OR_IP.test(w)) return bad(`ntp: "${w}" is not a host name or address`);
        s.ntp = words;
        break;
      case 'timezone':
        if (!/^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/.test(value) || !existsSync(path.join(zoneinfoDir, value))) {
          return bad(`timezone "${value}" is unknown: use a name like Europe/London or UTC`);
        }
        s.timezone = value;
        break;
      case 'ssh':
        if (!/^(on|off|yes|no|true|false)$/i.test(value)) return bad(`ssh must be "on" or "off", not "${value}"`);
        s.ssh = /^(on|yes|true)$/i.test(value);
        break;
      case 'ssh_key':
        if (value && !SSH_KEY.test(value)) return bad('ssh_key is not an OpenSSH public key (one line starting "ssh-ed25519 AAAA" or "ssh-rsa AAAA")');
        if (value) s.sshKeys.push(value);
        break;
      case 'wifi_ssid':
        if (Buffer.byteLength(value) > 32) return bad('wifi_ssid is longer than 32 bytes');
        wifi.ssid = value;
        break;
      case 'wifi_passphrase':
        if (value && (value.length < 8 || value.length > 63 || /[^\x20-\x7e]/.test(value))) {
          return bad('wifi_passphrase must be 8 to 63 printable ASCII characters');
        }
        wifi.passphrase = value;
        break;
      case 'wifi_country':
        if (value && !/^[A-Za-z]{2}$/.test(value)) return bad(`wifi_country "${value}" is not a two-letter country code (like GB, DE, US)`);
        wifi.country = value.toUpperCase();
        break;
    }
  });
  if (s.address === 'dhcp' && s.gateway)
    problems.push({ file, line: seen.get('gateway')!, message: 'gateway is only used with a static address: set "address" too, or remove "gateway"' });
  if (wifi.ssid) {
    if (!wifi.country)
      problems.push({ file, line: seen.get('wifi_ssid')!, message: 'Wi-Fi needs wifi_country (the two-letter code of the country the box is in)' });
    s.wifi = { ssid: wifi.ssid, passphrase: wifi.passphrase ?? '', country: wifi.country ?? '' };
  }
  if (s.ssh && s.sshKeys.length === 0)
    problems.push({ file, line: seen.get('ssh')!, message: 'ssh = on needs at least one ssh_key line (password logins are not allowed)' });
  return { settings: s, problems };
}

/** Files to write under the run directory (paths relative to it), from valid settings. */
export function renderNetworkFiles(s: NetworkSettings): Map<string, string> {
  const files = new Map<string, string>();
  const network = (match: string) => {
    const out = ['[Match]', `Name=${match}`, '', '[Network]'];
    if (s.address === 'dhcp') out.push('DHCP=yes');
    else out.push(`Address=${s.address}`, ...(s.gateway ? [`Gateway=${s.gateway}`] : []));
    for (const d of s.dns) out.push(`DNS=${d}`);
    // One lease identity per box, even though the read-only root gives a new machine-id each boot.
    if (s.address === 'dhcp') out.push('', '[DHCPv4]', 'ClientIdentifier=mac', 'UseDomains=yes');
    return out.join('\n') + '\n';
  };
  files.set('systemd/network/10-relaybox-wired.network', network('eth* en*'));
  if (s.wifi) {
    files.set('systemd/network/20-relaybox-wifi.network', network('wlan* wl*'));
    const psk = s.wifi.passphrase ? `  psk=${JSON.stringify(s.wifi.passphrase)}` : '  key_mgmt=NONE';
    files.set(
      'relaybox/wpa_supplicant-wlan0.conf',
      `ctrl_interface=DIR=/run/wpa_supplicant\ncountry=${s.wifi.country}\nnetwork={\n  ssid=${JSON.stringify(s.wifi.ssid)}\n${psk}\n}\n`,
    );
  }
  if (s.ntp.length) files.set('systemd/timesyncd.conf.d/relaybox.conf', `[Time]\nNTP=${s.ntp.join(' ')}\n`);
  files.set('relaybox/hostname', `${s.hostname}\n`);
  files.set('relaybox/timezone', `${s.timezone}\n`);
  if (s.ssh) {
    files.set(
      'relaybox/sshd_config',
      [
        'HostKey /var/lib/relaybox/ssh/ssh_host_ed25519_key',
        'AuthorizedKeysFile /run/relaybox/authorized_keys',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PermitRootLogin prohibit-password',
        '',
      ].join('\n'),
    );
    files.set('relaybox/authorized_keys', s.sshKeys.join('\n') + '\n');
  }
  return files;
}

/** One line for STATUS.txt. */
export function describeNetwork(s: NetworkSettings): string {
  const addr = s.address === 'dhcp' ? 'address from DHCP' : `address ${s.address}${s.gateway ? ` via ${s.gateway}` : ''}`;
  return (
    `hostname ${s.hostname}, ${addr}${s.wifi ? `, Wi-Fi "${s.wifi.ssid}" (${s.wifi.country})` : ''}, timezone ${s.timezone}, ` +
    `NTP ${s.ntp.length ? s.ntp.join(' ') : 'Debian default servers'}, SSH ${s.ssh ? `on (${s.sshKeys.length} key${s.sshKeys.length > 1 ? 's' : ''})` : 'off'}`
  );
}
