// SHA-512 crypt ("$6$", Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512", the scheme glibc,
// libxcrypt and pam_unix read): the hash the users file's passwords are stored as in /etc/shadow.
// Node has no crypt(3); this follows the specification step by step (test/unit/users-import.test.ts
// compares it with `openssl passwd -6`).
import { createHash, randomBytes } from 'node:crypto';

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const DEFAULT_ROUNDS = 5000;
// The order in which the 64 digest bytes are encoded, three at a time (the last one alone).
const ORDER: [number, number, number][] = [
  [0, 21, 42],
  [22, 43, 1],
  [44, 2, 23],
  [3, 24, 45],
  [25, 46, 4],
  [47, 5, 26],
  [6, 27, 48],
  [28, 49, 7],
  [50, 8, 29],
  [9, 30, 51],
  [31, 52, 10],
  [53, 11, 32],
  [12, 33, 54],
  [34, 55, 13],
  [56, 14, 35],
  [15, 36, 57],
  [37, 58, 16],
  [59, 17, 38],
  [18, 39, 60],
  [40, 61, 19],
  [62, 20, 41],
];

const sha512 = (...parts: Buffer[]) => {
  const h = createHash('sha512');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** `length` bytes made of `block` repeated. */
function repeatTo(block: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += block.length) block.copy(out, i, 0, Math.min(block.length, length - i));
  return out;
}

function encode64(value: number, chars: number): string {
  let s = '';
  for (let i = 0; i < chars; i++, value >>>= 6) s += ITOA64[value & 0x3f];
  return s;
}

export function randomSalt(): string {
  return [...randomBytes(16)].map((b) => ITOA64[b & 0x3f]).join('');
}

/** The "$6$salt$hash" string for a password; salt is cut to 16 characters as crypt(3) does. */
export function sha512Crypt(password: string, salt = randomSalt(), rounds = DEFAULT_ROUNDS): string {
  const P = Buffer.from(password, 'utf8');
  const S = Buffer.from(salt.slice(0, 16), 'utf8');
  const B = sha512(P, S, P);
  const a = createHash('sha512').update(P).update(S).update(repeatTo(B, P.length));
  for (let n = P.length; n > 0; n >>= 1) a.update(n & 1 ? B : P);
  const A = a.digest();
  const pBytes = repeatTo(sha512(...Array<Buffer>(P.length).fill(P)), P.length);
  const sBytes = repeatTo(sha512(...Array<Buffer>(16 + A[0]!).fill(S)), S.length);
  let C = A;
  for (let i = 0; i < rounds; i++) {
    const h = createHash('sha512').update(i & 1 ? pBytes : C);
    if (i % 3) h.update(sBytes);
    if (i % 7) h.update(pBytes);
    C = h.update(i & 1 ? C : pBytes).digest();
  }
  const byte = (i: number) => C[i]!;
  let hash = ORDER.map(([x, y, z]) => encode64((byte(x) << 16) | (byte(y) << 8) | byte(z), 4)).join('');
  hash += encode64(byte(63), 2);
  const roundsPart = rounds === DEFAULT_ROUNDS ? '' : `rounds=${rounds}$`;
  return `$6$${roundsPart}${S.toString('utf8')}$${hash}`;
}
