// CRAM-SHA1, CRAM-SHA256 and CRAM-SHA512 for smtp-server, which has CRAM-MD5 only (added to its sasl
// module by smtp-server-adapter.ts), built like its CRAM-MD5: a "<random.unixtime@domain>" challenge
// (E-MailRelay's format), then onAuth with { method, username, challenge, challengeResponse }.

export const CRAM_SHA_MECHANISMS = ['CRAM-SHA1', 'CRAM-SHA256', 'CRAM-SHA512'] as const;

/** E-MailRelay's challenge: "<random.unixtime@domain>". */
export function cramChallenge(random: Buffer, domain: string, now = Date.now()): string {
  return `<${random.toString('hex')}.${Math.floor(now / 1000)}@${domain}>`;
}

/** The client's base64 "username digest", or the 501 text to answer. */
export function parseCramResponse(rawToken: Buffer | string, controlChars: RegExp): { username: string; challengeResponse: string } | { reply: string } {
  const text = (rawToken || '').toString().trim();
  if (text === '*') return { reply: 'Authentication aborted' };
  const parts = Buffer.from(text, 'base64').toString().split(' ');
  const username = parts.shift() ?? '';
  const challengeResponse = (parts.shift() || '').toLowerCase();
  if (!username || controlChars.test(username)) return { reply: 'Error: invalid userdata' };
  return { username, challengeResponse };
}
