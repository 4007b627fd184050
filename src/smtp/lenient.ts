// `nostrictparsing`: accept MAIL FROM:user@host and RCPT TO:user@host without angle brackets, as
// E-MailRelay 2.6 does. smtp-server refuses them; its address parser is wrapped (once, for the
// process) and adds the brackets before parsing, only for servers created with the marker option.
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

export const LENIENT_OPTION = 'relayboxAddBrackets';

type Parser = (this: { _server: { options: Record<string, unknown> } }, name: string, command: unknown) => unknown;
let installed = false;

const BARE = /^(\s*(?:MAIL\s+FROM|RCPT\s+TO)\s*:\s*)([^<>\s]+)(\s.*)?$/i;

export function addBrackets(command: string): string {
  const m = BARE.exec(command);
  return m ? `${m[1]}<${m[2]}>${m[3] ?? ''}` : command;
}

export function installLenientAddressParsing(): void {
  if (installed) return;
  const proto = (SMTPConnection as unknown as { prototype: Record<string, unknown> }).prototype;
  const original = proto._parseAddressCommand as Parser | undefined;
  if (typeof original !== 'function') {
    throw new Error('smtp-server has changed: _parseAddressCommand is missing (nostrictparsing needs the pinned smtp-server 3.21.6)');
  }
  proto._parseAddressCommand = function (this: { _server: { options: Record<string, unknown> } }, name: string, command: unknown) {
    if (this._server.options[LENIENT_OPTION] && command !== undefined && command !== null) {
      return original.call(this, name, addBrackets(command.toString()));
    }
    return original.call(this, name, command);
  };
  installed = true;
}
