// RFC 3461 "xtext" encoding, as used by E-MailRelay for secrets-file fields,
// the envelope Authentication/MailFromAuth fields and the MAIL FROM AUTH= parameter.
//
// Encoding (byte-exact with E-MailRelay's G::Xtext::encode): the input is taken as
// bytes (strings as UTF-8); every byte in '!'..'~' (0x21-0x7E) is copied except '+'
// and '=', everything else (space, control characters, DEL, bytes >= 0x80, '+', '=')
// is written as "+XX" with UPPERCASE hex. Note that '#' is NOT encoded: it is a legal
// RFC 3461 xchar and E-MailRelay leaves it alone (the user guide's "such as #" is
// only advice about what may need care in a secrets file).
//
// Decoding accepts "+XX" with either hex case (E-MailRelay's non-strict validity
// check does too) and rejects a '+' not followed by two hex digits, and any
// character outside printable ASCII.

const HEX = '0123456789ABCDEF';

function toBytes(s: string | Uint8Array): Uint8Array {
  return typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
}

/** Encode a string (as UTF-8) or raw bytes as xtext. */
export function encodeXtext(s: string | Uint8Array): string {
  let out = '';
  for (const b of toBytes(s)) {
    if (b >= 0x21 && b <= 0x7e && b !== 0x2b /* + */ && b !== 0x3d /* = */) {
      out += String.fromCharCode(b);
    } else {
      out += '+' + HEX[b >> 4] + HEX[b & 0x0f];
    }
  }
  return out;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/**
 * Is `s` well-formed xtext? Non-strict (the default, as E-MailRelay uses for the
 * secrets file): printable ASCII 0x20-0x7E, every '+' followed by two hex digits of
 * either case. Strict (RFC 3461): additionally no space or '=' and uppercase hex only.
 */
export function isXtext(s: string, strict = false): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
    if (strict && (c === 0x20 || c === 0x3d)) return false;
    if (c === 0x2b) {
      if (i + 2 >= s.length) return false;
      for (const h of [s.charCodeAt(i + 1), s.charCodeAt(i + 2)]) {
        const v = hexValue(h);
        if (v < 0 || (strict && h >= 0x61)) return false;
      }
      i += 2;
    }
  }
  return true;
}

/** Decode xtext to raw bytes; null if malformed (see isXtext, non-strict). */
export function decodeXtextBytes(s: string): Buffer | null {
  if (!isXtext(s)) return null;
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2b) {
      out.push((hexValue(s.charCodeAt(i + 1)) << 4) | hexValue(s.charCodeAt(i + 2)));
      i += 2;
    } else {
      out.push(c);
    }
  }
  return Buffer.from(out);
}

/** Decode xtext to a string (bytes interpreted as UTF-8); null if malformed. */
export function decodeXtext(s: string): string | null {
  const bytes = decodeXtextBytes(s);
  return bytes === null ? null : bytes.toString('utf8');
}
