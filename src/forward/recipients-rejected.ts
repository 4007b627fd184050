// The Reason for a message whose recipients the upstream refused, in E-MailRelay's words
// (gsmtpclientprotocol.cpp): "one or more recipients rejected" when every recipient had to be accepted
// (forward-to-all, the default) or some were; "all recipients rejected" when, with --forward-to-some,
// none was. Each refusal follows, so the Reason says who and why.

export interface RefusedRecipient {
  address: string;
  response: string;
}

export function recipientsRejectedReason(allOrNothing: boolean, anyAccepted: boolean, rejected: RefusedRecipient[]): string {
  const howMany = allOrNothing || anyAccepted ? 'one or more' : 'all';
  return `${howMany} recipients rejected: ${rejected.map((r) => `<${r.address}> ${r.response}`).join('; ')}`;
}
