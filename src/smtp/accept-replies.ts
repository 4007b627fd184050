// The 250 replies to MAIL FROM and RCPT TO in E-MailRelay's words (gsmtpserversend.cpp): "sender <a> OK"
// and "recipient <a> OK", with the address as the client wrote it (not as a verifier rewrote it), and
// two spaces before OK for a local mailbox. smtp-server says "Accepted"; scripts and E-MailRelay's test
// suite match E-MailRelay's words. The wrapper is in smtp-server-adapter.ts, for servers with this option.

export const ACCEPT_REPLIES_OPTION = 'relayboxAcceptReplies';

/** What was accepted: the command's address as written, and whether a verifier made it a local mailbox. */
export interface Accepted {
  command: 'MAIL' | 'RCPT';
  address: string;
  local: boolean;
}

export function acceptReply(a: Accepted): string {
  return a.command === 'MAIL' ? `sender <${a.address}> OK` : `recipient <${a.address}>${a.local ? '  ' : ' '}OK`;
}
