// VRFY answered by the address verifier (E-MailRelay section 5.2): smtp-server's own handler always
// says 252. Installed once for the process; servers without the option keep smtp-server's answer.
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import type { SMTPServerSession } from 'smtp-server';

export const VRFY_OPTION = 'relayboxVrfy';

export type VrfyHandler = (address: string, session: SMTPServerSession) => Promise<{ code: number; text: string } | 'abort'>;

type Connection = {
  _server: { options: Record<string, unknown> };
  session: SMTPServerSession;
  send(code: number, text: string): void;
  close(): void;
  _socket: { destroy(): void };
};

let installed = false;

export function installVrfy(): void {
  if (installed) return;
  installed = true;
  const proto = (SMTPConnection as unknown as { prototype: Record<string, unknown> }).prototype;
  const original = proto.handler_VRFY as (this: Connection, command: Buffer, cb: () => void) => void;
  proto.handler_VRFY = function handler(this: Connection, command: Buffer, callback: () => void) {
    const verify = this._server.options[VRFY_OPTION] as VrfyHandler | undefined;
    const arg = command.toString().trim().split(/\s+/).slice(1).join(' ').replace(/^<(.*)>$/, '$1');
    if (!verify || !arg) return original.call(this, command, callback);
    verify(arg, this.session).then(
      (r) => {
        if (r === 'abort') this._socket.destroy();
        else this.send(r.code, r.text);
        callback();
      },
      (e: Error) => {
        this.send(450, `cannot verify: ${e.message}`);
        callback();
      },
    );
  };
}
