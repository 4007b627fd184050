// An SMTP error reply as smtp-server takes it from a handler: an Error with a responseCode.
export function smtpError(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}
