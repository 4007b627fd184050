// smtp-server waits a fixed 100 ms before its greeting (to catch early talkers). A LAN relay gains
// nothing from that and a device sending one message per connection loses 100 ms each time, so the
// connection start is wrapped (once, for the process) to greet at once for servers created with
// the marker option. The maxClients check is kept as smtp-server has it.
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

export const IMMEDIATE_GREETING_OPTION = 'relayboxImmediateGreeting';

interface ConnectionInternals {
  _server: { options: Record<string, unknown> & { maxClients?: number }; connections: Set<unknown> };
  name: string;
  _setListeners(callback: () => void): void;
  connectionReady(): void;
  send(code: number, text: string, context?: unknown): void;
}

let installed = false;

export function installImmediateGreeting(): void {
  if (installed) return;
  const proto = (SMTPConnection as unknown as { prototype: Record<string, unknown> }).prototype;
  const original = proto.init as ((this: ConnectionInternals) => void) | undefined;
  if (typeof original !== 'function' || typeof proto._setListeners !== 'function' || typeof proto.connectionReady !== 'function') {
    throw new Error('smtp-server has changed: init/_setListeners/connectionReady are missing (relaybox needs the pinned smtp-server 3.21.6)');
  }
  proto.init = function (this: ConnectionInternals) {
    if (!this._server.options[IMMEDIATE_GREETING_OPTION]) return original.call(this);
    this._setListeners(() => {
      const max = this._server.options.maxClients;
      if (max && this._server.connections.size > max) {
        return this.send(421, this.name + ' Too many connected clients, try again in a moment', false);
      }
      this.connectionReady();
    });
  };
  installed = true;
}
