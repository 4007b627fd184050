import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';

import { installSmtpServerAdapter } from '../../src/smtp/smtp-server-adapter';

installSmtpServerAdapter();

/** E-MailRelay's reading of message text: CRLF lines, one leading dot removed, "." alone ends it. */
function reference(block: string): string {
  const lines = block.split('\r\n');
  const out: string[] = [];
  for (const line of lines) {
    if (line === '.') return out.map((l) => l + '\r\n').join('');
    out.push(line.startsWith('.') ? line.slice(1) : line);
  }
  throw new Error('no end-of-data line');
}

/** Feed the input to smtp-server's real parser in the given pieces; collect commands and message texts. */
function parse(pieces: Buffer[], mode: 'exact' | 'crlf' = 'exact'): Promise<{ commands: string[]; messages: string[] }> {
  return new Promise((resolve, reject) => {
    const stream = new SMTPStream();
    (stream as unknown as { relayboxBareLfMode: string }).relayboxBareLfMode = mode;
    const commands: string[] = [];
    const messages: string[] = [];
    stream.oncommand = (command: Buffer, next?: () => void) => {
      const text = command.toString('latin1');
      commands.push(text);
      if (text === 'DATA') {
        const data = stream.startDataMode();
        const chunks: Buffer[] = [];
        data.on('data', (c: Buffer) => chunks.push(c));
        data.on('end', () => {
          messages.push(Buffer.concat(chunks).toString('latin1'));
          stream.continue();
        });
      }
      if (text === 'QUIT') resolve({ commands, messages });
      next?.();
    };
    stream.on('error', reject);
    const feed = (i: number) => {
      if (i >= pieces.length) return;
      stream.write(pieces[i], () => feed(i + 1));
    };
    feed(0);
  });
}

const BLOCKS = [
  'a\n..b\n.c\r\n.\r\n',
  '\n..x\r\n.\r\n',
  '\n.\r\n.\r\n',
  '..\n..x\r\n.\r\n',
  'x\r\n..y\n..\n.\r\n.\r\n',
  'Subject: s\r\n\r\n..stuffed\r\n...two\r\nbare\n...three\nend\r\n.\r\n',
  'line\n\n..\r\n..\r\n.\r\n',
  '.\r\n',
  '..\r\n.\r\n',
];

test('dots after a bare LF are kept, dots after CRLF are unstuffed, whatever the chunking', async () => {
  for (const block of BLOCKS) {
    const input = Buffer.from(`DATA\r\n${block}NOOP\r\nQUIT\r\n`, 'latin1');
    const expected = reference(block);
    for (let cut = 0; cut <= input.length; cut++) {
      const r = await parse([input.subarray(0, cut), input.subarray(cut)].filter((b) => b.length));
      assert.deepEqual(r.messages, [expected], `${JSON.stringify(block)} cut at ${cut}`);
      assert.deepEqual(r.commands, ['DATA', 'NOOP', 'QUIT'], `${JSON.stringify(block)} cut at ${cut}`);
    }
    const bytes = [...input].map((b) => Buffer.from([b]));
    assert.deepEqual((await parse(bytes)).messages, [expected], `${JSON.stringify(block)} byte by byte`);
  }
});

test('pipelined messages: the text after the end-of-data line is not stuffed twice', async () => {
  const one = 'a\n..b\r\n.\r\n';
  const two = 'c\n.d\n..e\r\n..f\r\n.\r\n';
  const input = Buffer.from(`DATA\r\n${one}DATA\r\n${two}QUIT\r\n`, 'latin1');
  for (let cut = 0; cut <= input.length; cut += 3) {
    const r = await parse([input.subarray(0, cut), input.subarray(cut)].filter((b) => b.length));
    assert.deepEqual(r.messages, [reference(one), reference(two)], `cut at ${cut}`);
    assert.deepEqual(r.commands, ['DATA', 'DATA', 'QUIT']);
  }
  const whole = await parse([input]);
  assert.deepEqual(whole.messages, ['a\n..b\r\n', 'c\n.d\n..e\r\n.f\r\n']);
});

/** A bare-LF client's reading: any LF ends a line (CRLF stored), one leading dot removed, "." alone ends it. */
function crlfReference(block: string): string {
  const out: string[] = [];
  for (const raw of block.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '.') return out.map((l) => l + '\r\n').join('');
    out.push(line.startsWith('.') ? line.slice(1) : line);
  }
  throw new Error('no end-of-data line');
}

const LF_BLOCKS = ['a\nb\n.\n', 'a\r\nb\r\n.\n', 'a\nb\n.\r\n', '.\n', '..\n.\n', 'Subject: s\n\n..one\n...two\r\n..\nbare\rCR\n.\n', '\n\n.\n', 'x\r\n.\r\n'];

test('bare-LF clients: any LF ends a line, also the end-of-data line, whatever the chunking; what follows is commands', async () => {
  for (const block of LF_BLOCKS) {
    const input = Buffer.from(`DATA\r\n${block}NOOP\nQUIT\r\n`, 'latin1');
    const expected = crlfReference(block);
    for (let cut = 0; cut <= input.length; cut++) {
      const r = await parse(
        [input.subarray(0, cut), input.subarray(cut)].filter((b) => b.length),
        'crlf',
      );
      assert.deepEqual(r.messages, [expected], `${JSON.stringify(block)} cut at ${cut}`);
      assert.deepEqual(r.commands, ['DATA', 'NOOP', 'QUIT'], `${JSON.stringify(block)} cut at ${cut}`);
    }
    const bytes = [...input].map((b) => Buffer.from([b]));
    assert.deepEqual((await parse(bytes, 'crlf')).messages, [expected], `${JSON.stringify(block)} byte by byte`);
  }
});

test('bare-LF clients: "\\n.\\n" then MAIL FROM is the client\'s next command, never message text', async () => {
  const input = Buffer.from('DATA\nhello\n.\nMAIL FROM:<x@y>\nDATA\nsecond\n.\nQUIT\n', 'latin1');
  for (let cut = 0; cut <= input.length; cut++) {
    const r = await parse(
      [input.subarray(0, cut), input.subarray(cut)].filter((b) => b.length),
      'crlf',
    );
    assert.deepEqual(r.messages, ['hello\r\n', 'second\r\n'], `cut at ${cut}`);
    assert.deepEqual(r.commands, ['DATA', 'MAIL FROM:<x@y>', 'DATA', 'QUIT'], `cut at ${cut}`);
  }
});
