// A secret's bytes, kept where no log, JSON or inspect can show them.
import { timingSafeEqual } from 'node:crypto';
import { inspect } from 'node:util';

// Redaction design: a secret's bytes live only in a closure of the SecretValue
// object, never in a property. JSON.stringify (pino's serialiser) gets "[redacted]"
// from toJSON(), util.inspect gets "[redacted]" from the inspect.custom hook (and
// there is no hidden property for showHidden to reveal), and String()/template
// literals get "[redacted]". Code that really needs the value calls bytes()/text().
export interface SecretValue {
  /** Length in bytes. */
  readonly length: number;
  /** A fresh copy of the secret bytes. */
  bytes(): Buffer;
  /** The secret as a UTF-8 string. */
  text(): string;
  /** Constant-time comparison with a candidate (strings compared as UTF-8). */
  equals(candidate: string | Uint8Array): boolean;
  toJSON(): string;
  toString(): string;
}

const REDACTED = '[redacted]';

export function secretValue(value: string | Uint8Array): SecretValue {
  const held = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
  const obj: SecretValue & { [inspect.custom](): string } = {
    length: held.length,
    bytes: () => Buffer.from(held),
    text: () => held.toString('utf8'),
    equals: (candidate) => {
      const c = typeof candidate === 'string' ? Buffer.from(candidate, 'utf8') : Buffer.from(candidate);
      return c.length === held.length && timingSafeEqual(c, held);
    },
    toJSON: () => REDACTED,
    toString: () => REDACTED,
    [inspect.custom]: () => REDACTED,
  };
  return Object.freeze(obj);
}
