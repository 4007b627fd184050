// CRAM-SHA1, CRAM-SHA256 and CRAM-SHA512 for smtp-server, which has CRAM-MD5 only. smtp-server looks
// mechanisms up by name ("SASL_<NAME>") in its sasl module's exported object, so the three are added
// there (once, for the process), built like its CRAM-MD5: a "<random.unixtime@domain>" challenge
// (E-MailRelay's format), then onAuth with { method, username, challenge, challengeResponse }.
import { randomBytes } from 'node:crypto';
import SASL from 'smtp-server/lib/sasl.js';

export const CRAM_SHA_MECHANISMS = ['CRAM-SHA1', 'CRAM-SHA256', 'CRAM-SHA512'] as const;

interface Connection {
  name: string;
  id: string;
  session: { user?: unknown; transmissionType?: string };
  _nextHandler: unknown;
  _server: {
    onAuth(auth: Record<string, unknown>, session: unknown, cb: (err: (Error & { responseCode?: number }) | null | undefined, response?: { user?: unknown; message?: string; responseCode?: number }) => void): void;
    logger: { info(...args: unknown[]): void };
  };
  send(code: number, text?: string): void;
  _transmissionType(): string;
}

type Done = () => void;

function token(this: Connection, method: string, challenge: string, rawToken: Buffer | string, callback: Done): void {
  const text = (rawToken || '').toString().trim();
  if (text === '*') {
    this.send(501, 'Authentication aborted');
    return callback();
  }
  const parts = Buffer.from(text, 'base64').toString().split(' ');
  const username = parts.shift() ?? '';
  const challengeResponse = (parts.shift() || '').toLowerCase();
  if (!username || SASL.CONTROL_CHARS.test(username)) {
    this.send(501, 'Error: invalid userdata');
    return callback();
  }
  this._server.onAuth({ method, username, challenge, challengeResponse }, this.session, (err, response) => {
    if (err) {
      this._server.logger.info({ tnx: 'autherror', cid: this.id, method, user: username }, 'Authentication error for %s using %s. %s', username, method, err.message);
      this.send(err.responseCode || 535, err.message);
      return callback();
    }
    if (!response?.user) {
      this._server.logger.info({ tnx: 'authfail', cid: this.id, method, user: username }, 'Authentication failed for %s using %s', username, method);
      this.send(response?.responseCode || 535, response?.message || 'Error: Authentication credentials invalid');
      return callback();
    }
    this._server.logger.info({ tnx: 'auth', cid: this.id, method, user: username }, '%s authenticated using %s', username, method);
    this.session.user = response.user;
    this.session.transmissionType = this._transmissionType();
    this.send(235, 'Authentication successful');
    callback();
  });
}

let installed = false;

export function installCramSha(): void {
  if (installed) return;
  const table = SASL as unknown as Record<string, unknown>;
  if (typeof table['SASL_CRAM-MD5'] !== 'function' || !(SASL.CONTROL_CHARS instanceof RegExp)) {
    throw new Error('smtp-server has changed: its sasl module has no CRAM-MD5 (relaybox needs the pinned smtp-server 3.21.6)');
  }
  for (const method of CRAM_SHA_MECHANISMS) {
    table[`SASL_${method}`] = function (this: Connection, args: string[], callback: Done): void {
      if (args.length) {
        this.send(501, `Error: syntax: AUTH ${method}`);
        return callback();
      }
      const challenge = `<${randomBytes(16).toString('hex')}.${Math.floor(Date.now() / 1000)}@${this.name}>`;
      this._nextHandler = (raw: Buffer | string, cb: Done) => token.call(this, method, challenge, raw, cb);
      this.send(334, Buffer.from(challenge).toString('base64'));
      callback();
    };
  }
  installed = true;
}
