// The SASL XOAUTH2 initial client response (Microsoft and Google use the same form):
// "user=" mailbox ^A "auth=Bearer " token ^A ^A, sent base64-encoded.
export function xoauth2Response(mailbox: string, accessToken: string): Buffer {
  return Buffer.from(`user=${mailbox}\x01auth=Bearer ${accessToken}\x01\x01`, 'utf8');
}
