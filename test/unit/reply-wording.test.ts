// E-MailRelay's wording of an upstream's replies and refused recipients (src/forward/reply-wording.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { recipientsRejectedReason, replyText } from '../../src/forward/reply-wording';

test("a multi-line reply: the code once, then each line's text joined by spaces", () => {
  assert.equal(replyText('499-failed\r\n499 for testing'), '499 failed for testing');
  assert.equal(
    replyText('535-5.7.8 Username and Password not accepted.\r\n535 5.7.8  https://support.google.com/mail/?p=BadCredentials'),
    '535 5.7.8 Username and Password not accepted. 5.7.8 https://support.google.com/mail/?p=BadCredentials',
  );
});

test('a one-line reply or a text without a code is kept, with its white space folded', () => {
  assert.equal(replyText('550 5.1.1  no such\tuser\r\n'), '550 5.1.1 no such user');
  assert.equal(replyText('Connection closed\nunexpectedly'), 'Connection closed unexpectedly');
});

test('refused recipients: "one or more" for forward-to-all or a partial refusal, "all" for --forward-to-some with none accepted', () => {
  const refused = [
    { address: 'a@x', response: '550 no' },
    { address: 'b@x', response: '551 gone' },
  ];
  assert.equal(recipientsRejectedReason(true, false, refused), 'one or more recipients rejected: <a@x> 550 no; <b@x> 551 gone');
  assert.equal(recipientsRejectedReason(false, true, refused.slice(0, 1)), 'one or more recipients rejected: <a@x> 550 no');
  assert.equal(recipientsRejectedReason(false, false, refused), 'all recipients rejected: <a@x> 550 no; <b@x> 551 gone');
});
