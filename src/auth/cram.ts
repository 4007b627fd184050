// CRAM-* (RFC 2195) helpers and E-MailRelay's hashed-secret scheme.
//
// emailrelay-passwd stores an HMAC-MD5 "pre-computed state" instead of the password:
// the MD5 chaining state after compressing one 64-byte block of (key XOR 0x36..)
// followed by the state after one block of (key XOR 0x5c..), each state being the
// four 32-bit words little-endian: 16+16 = 32 bytes, base64 -> 44 characters.
// Keys longer than the 64-byte block are first replaced by their MD5 digest and
// shorter keys are zero-padded, exactly as in HMAC (RFC 2104) and E-MailRelay's
// G::Hash::keyx(). Node's crypto cannot resume a hash from a saved state, so the
// MD5 compression function (RFC 1321) is implemented here.

import { createHash, createHmac } from 'node:crypto';

export type HmacHash = 'md5' | 'sha1' | 'sha256' | 'sha512';
export type CramMechanism = 'CRAM-MD5' | 'CRAM-SHA1' | 'CRAM-SHA256' | 'CRAM-SHA512';

const MD5_BLOCK = 64;

/** Standard HMAC via node:crypto. */
export function hmacFromKey(hash: HmacHash, key: string | Uint8Array, challenge: string | Uint8Array): Buffer {
  return createHmac(hash, key).update(challenge).digest();
}

// ---- MD5 compression (RFC 1321) ----

const MD5_IV: readonly number[] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
const MD5_SHIFT = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
const MD5_K = Uint32Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32));

/** One MD5 compression step: returns the new 4-word state after the 64-byte block at `offset`. */
export function md5Compress(state: ArrayLike<number>, block: Uint8Array, offset = 0): Uint32Array {
  const m = new Uint32Array(16);
  for (let i = 0; i < 16; i++) {
    const p = offset + 4 * i;
    m[i] = (block[p]! | (block[p + 1]! << 8) | (block[p + 2]! << 16) | (block[p + 3]! << 24)) >>> 0;
  }
  let a = state[0]!;
  let b = state[1]!;
  let c = state[2]!;
  let d = state[3]!;
  for (let i = 0; i < 64; i++) {
    let f: number;
    let g: number;
    if (i < 16) {
      f = (b & c) | (~b & d);
      g = i;
    } else if (i < 32) {
      f = (d & b) | (~d & c);
      g = (5 * i + 1) % 16;
    } else if (i < 48) {
      f = b ^ c ^ d;
      g = (3 * i + 5) % 16;
    } else {
      f = c ^ (b | ~d);
      g = (7 * i) % 16;
    }
    const s = MD5_SHIFT[(i >> 4) * 4 + (i & 3)]!;
    const sum = (a + f + MD5_K[i]! + m[g]!) >>> 0;
    a = d;
    d = c;
    c = b;
    b = (b + ((sum << s) | (sum >>> (32 - s)))) >>> 0;
  }
  return Uint32Array.of((state[0]! + a) >>> 0, (state[1]! + b) >>> 0, (state[2]! + c) >>> 0, (state[3]! + d) >>> 0);
}

function wordsToBytes(words: ArrayLike<number>): Buffer {
  const out = Buffer.alloc(words.length * 4);
  for (let i = 0; i < words.length; i++) out.writeUInt32LE(words[i]! >>> 0, i * 4);
  return out;
}

function bytesToWords(bytes: Uint8Array): Uint32Array {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = buf.readUInt32LE(i * 4);
  return out;
}

/** MD5 state (16 bytes, little-endian words) after compressing `data`, whose length must be a multiple of 64. */
export function md5State(data: Uint8Array): Buffer {
  if (data.length % MD5_BLOCK !== 0) throw new RangeError('md5State: data must be whole 64-byte blocks');
  let state: ArrayLike<number> = MD5_IV;
  for (let off = 0; off < data.length; off += MD5_BLOCK) state = md5Compress(state, data, off);
  return wordsToBytes(state);
}

/**
 * Finish an MD5 hash from a saved 16-byte state: `prefixLength` bytes (a multiple of 64)
 * have already been compressed into `state16`; `data` is the rest of the message.
 */
export function md5WithState(state16: Uint8Array, prefixLength: number, data: Uint8Array): Buffer {
  if (state16.length !== 16) throw new RangeError('md5WithState: state must be 16 bytes');
  if (prefixLength < 0 || prefixLength % MD5_BLOCK !== 0) {
    throw new RangeError('md5WithState: prefix length must be a multiple of 64');
  }
  const total = prefixLength + data.length;
  const padLength = (MD5_BLOCK + 56 - ((data.length + 1) % MD5_BLOCK)) % MD5_BLOCK;
  const msg = Buffer.alloc(data.length + 1 + padLength + 8);
  msg.set(data, 0);
  msg[data.length] = 0x80;
  const bits = total * 8;
  msg.writeUInt32LE(bits % 2 ** 32, msg.length - 8);
  msg.writeUInt32LE(Math.floor(bits / 2 ** 32) >>> 0, msg.length - 4);
  let state: ArrayLike<number> = bytesToWords(state16);
  for (let off = 0; off < msg.length; off += MD5_BLOCK) state = md5Compress(state, msg, off);
  return wordsToBytes(state);
}

// ---- E-MailRelay hashed ("masked") secrets ----

function toBytes(s: string | Uint8Array): Buffer {
  return typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s);
}

/** The 32-byte HMAC-MD5 pre-computed state (inner state followed by outer state) for a key. */
export function md5MaskedState(password: string | Uint8Array): Buffer {
  let key = toBytes(password);
  if (key.length > MD5_BLOCK) key = createHash('md5').update(key).digest();
  const ipad = Buffer.alloc(MD5_BLOCK, 0x36);
  const opad = Buffer.alloc(MD5_BLOCK, 0x5c);
  for (let i = 0; i < key.length; i++) {
    ipad[i] = key[i]! ^ 0x36;
    opad[i] = key[i]! ^ 0x5c;
  }
  return Buffer.concat([md5State(ipad), md5State(opad)]);
}

/** emailrelay-passwd default output: base64 of the 32-byte state (44 characters). */
export function passwdHash(password: string | Uint8Array): string {
  return md5MaskedState(password).toString('base64');
}

/** emailrelay-passwd --dotted output: the 32-byte state as 8 little-endian words in decimal. */
export function passwdHashDotted(password: string | Uint8Array): string {
  return stateToDotted(md5MaskedState(password));
}

/** Format a 32-byte state as the legacy dotted form. */
export function stateToDotted(state32: Uint8Array): string {
  if (state32.length !== 32) throw new RangeError('stateToDotted: state must be 32 bytes');
  return Array.from(bytesToWords(state32)).join('.');
}

/** Is `s` in the legacy dotted form (E-MailRelay: >=15 chars of digits and dots, 8 fields)? */
export function isDotted(s: string): boolean {
  return s.length >= 15 && /^[0-9.]*$/.test(s) && s.split('.').length === 8;
}

/**
 * Convert the legacy dotted form to the 32-byte state; null if not dotted.
 * Like E-MailRelay, an empty field counts as 0 and values are taken modulo 2^32.
 */
export function dottedToState(s: string): Buffer | null {
  if (!isDotted(s)) return null;
  const words = s.split('.').map((d) => Number(BigInt(d === '' ? '0' : d) % 2n ** 32n));
  return wordsToBytes(words);
}

/** HMAC-MD5 computed from a 32-byte pre-computed state: outer(inner(challenge)). */
export function hmacMd5FromState(state32: Uint8Array, challenge: string | Uint8Array): Buffer {
  if (state32.length !== 32) throw new RangeError('hmacMd5FromState: state must be 32 bytes');
  const inner = md5WithState(state32.subarray(0, 16), MD5_BLOCK, toBytes(challenge));
  return md5WithState(state32.subarray(16, 32), MD5_BLOCK, inner);
}

// ---- CRAM client response ----

/**
 * The secret for a CRAM response: a plain password (string/bytes, or tagged 'plain'),
 * or a 32-byte HMAC-MD5 pre-computed state tagged 'md5' (usable only with CRAM-MD5).
 * The tags match the secrets-file password types.
 */
export type CramSecret =
  string | Uint8Array | { readonly type: 'plain'; readonly value: string | Uint8Array } | { readonly type: 'md5'; readonly value: Uint8Array };

const MECHANISM_HASH: Record<CramMechanism, HmacHash> = {
  'CRAM-MD5': 'md5',
  'CRAM-SHA1': 'sha1',
  'CRAM-SHA256': 'sha256',
  'CRAM-SHA512': 'sha512',
};

/** The digest a CRAM-* mechanism uses, or undefined for a name that is not CRAM-*. */
export function cramHash(mechanism: string): HmacHash | undefined {
  return (MECHANISM_HASH as Record<string, HmacHash | undefined>)[mechanism.toUpperCase()];
}

/** The raw CRAM digest of a challenge (bytes, not base64). */
export function cramDigest(mechanism: CramMechanism, secret: CramSecret, challenge: Uint8Array): Buffer {
  const hash = MECHANISM_HASH[mechanism];
  if (hash === undefined) throw new Error(`unsupported CRAM mechanism: ${String(mechanism)}`);
  if (typeof secret === 'string' || secret instanceof Uint8Array) {
    return hmacFromKey(hash, toBytes(secret), challenge);
  }
  if (secret.type === 'plain') return hmacFromKey(hash, toBytes(secret.value), challenge);
  if (hash !== 'md5') throw new Error(`a hashed md5 secret cannot be used for ${mechanism}`);
  return hmacMd5FromState(secret.value, challenge);
}

/**
 * Client response to a CRAM-* challenge: base64 of "<user> <lowercase-hex-digest>".
 * `challengeBase64` is the text after "334 ".
 */
export function cramResponse(mechanism: CramMechanism, user: string, secret: CramSecret, challengeBase64: string): string {
  const challenge = Buffer.from(challengeBase64.trim(), 'base64');
  const hex = cramDigest(mechanism, secret, challenge).toString('hex');
  return Buffer.from(`${user} ${hex}`, 'utf8').toString('base64');
}
