// "Send a test mail" on the status page: the form (a section of the page) and the answer page listing
// each step of src/check/test-mail.ts with ok/failed and what to change. No JavaScript: the POST
// waits for the steps (each bounded, see PROBE_TIMEOUT_SECONDS) and answers with the list.
import type { Step, TestMailRequest } from '../check/test-mail';
import type { RelayControl } from './actions';
import { escapeHtml as e } from './page-format';
import { STYLE } from './page-style';

/** One test mail at a time: a second visitor is told to wait. */
let running = false;

const STEP_STYLE = `
ol.steps{list-style:none;padding:0;margin:0}
ol.steps li{border-left:4px solid #aab2bb;padding:.4rem .7rem;margin:.4rem 0;background:#f4f5f7;border-radius:.3rem}
ol.steps li.ok{border-color:#2e7d32}
ol.steps li.warning{border-color:#c77700}
ol.steps li.failed{border-color:#b00020;background:#fdecea}
.status{font-weight:bold;margin-right:.4rem}
.advice{margin-top:.3rem}
form.test-mail{display:grid;gap:.4rem;max-width:30rem}
form.test-mail input{font-size:1rem;padding:.45rem;border:1px solid #aab2bb;border-radius:.3rem;min-width:0}
`;

const STATUS_WORD: Record<Step['status'], string> = { ok: 'ok', warning: 'warning', failed: 'failed', skipped: 'skipped' };

/** The form, for the status page (only where actions are on: it needs the admin password). */
export function testMailSection(actionsEnabled: boolean, formToken: string, to = '', from = ''): string {
  if (!actionsEnabled) {
    return '<section id="test-mail"><h2>Send a test mail</h2><p class="muted">Sending a test mail from this page needs an admin password: start relaybox with --admin-password-file.</p></section>';
  }
  return `<section id="test-mail"><h2>Send a test mail</h2>
<p class="muted">Goes straight to the upstream server (not through the queue) and shows each step.</p>
<form class="test-mail" method="post" action="/test-mail"><input type="hidden" name="token" value="${e(formToken)}">
<label>To <input type="email" name="to" value="${e(to)}" required maxlength="254" autocomplete="email" placeholder="you@example.com"></label>
<label>From (empty: the mailbox relaybox signs in as) <input type="email" name="from" value="${e(from)}" maxlength="254"></label>
<input type="password" name="password" placeholder="Admin password" aria-label="Admin password for the test mail" required autocomplete="current-password">
<button type="submit">Send a test mail</button></form></section>`;
}

function stepItem(s: Step): string {
  return `<li class="${s.status}" data-step="${e(s.name)}"><span class="status">${STATUS_WORD[s.status]}</span><b>${e(s.name)}</b>
<div class="detail">${e(s.detail)}</div>${s.advice ? `<div class="advice"><b>What to do:</b> ${e(s.advice)}</div>` : ''}</li>`;
}

export interface TestMailPageData {
  title: string;
  formToken: string;
  to: string;
  from: string;
  steps?: Step[];
  error?: string;
}

/** The answer to POST /test-mail: the steps (or why none ran), and the form to try again. */
export function renderTestMailPage(d: TestMailPageData): string {
  const failed = d.steps?.some((s) => s.status === 'failed');
  const summary = !d.steps
    ? ''
    : failed
      ? '<p class="error" role="alert" id="test-mail-result">The test mail was not sent: see the failed step.</p>'
      : `<p class="notice" role="status" id="test-mail-result">The upstream server accepted the test mail for ${e(d.to)}.</p>`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Test mail · ${e(d.title)}</title><style>${STYLE}${STEP_STYLE}</style></head>
<body><header><h1>${e(d.title)}</h1><p><a href="/" style="color:#fff">back to the status page</a></p></header>
<main>
${d.error ? `<p class="error" role="alert">${e(d.error)}</p>` : ''}${summary}
${d.steps ? `<section id="steps"><h2>Test mail to ${e(d.to)}</h2><ol class="steps">${d.steps.map(stepItem).join('\n')}</ol></section>` : ''}
${testMailSection(true, d.formToken, d.to, d.from)}
</main></body></html>
`;
}

/** Runs one test mail unless one is running; undefined when busy. */
export async function runOneTestMail(run: (req: TestMailRequest) => Promise<Step[]>, req: TestMailRequest): Promise<Step[] | undefined> {
  if (running) return undefined;
  running = true;
  try {
    return await run(req);
  } finally {
    running = false;
  }
}

const REFUSALS: Record<string, string> = {
  'actions-off': 'Sending a test mail needs an admin password: start relaybox with --admin-password-file.',
  'form-expired': 'The page was too old: try again with this form.',
  'wrong-password': 'Wrong admin password: no test mail was sent.',
  locked: 'Too many failed passwords from your address: try again later.',
};

/** The page answering POST /test-mail, once the form token and admin password were looked at. */
export async function testMailAnswer(
  control: RelayControl,
  form: URLSearchParams,
  allowed: string,
  page: { address: string; title: string; formToken: string },
): Promise<string> {
  const to = (form.get('to') ?? '').trim().slice(0, 254);
  const from = (form.get('from') ?? '').trim().slice(0, 254);
  const base = { title: page.title, formToken: page.formToken, to, from };
  if (allowed !== 'ok') return renderTestMailPage({ ...base, error: REFUSALS[allowed] ?? 'Refused.' });
  if (!control.testMail) return renderTestMailPage({ ...base, error: 'This relay cannot send test mails.' });
  control.log.info({ address: page.address, to }, 'status page: sending a test mail');
  const steps = await runOneTestMail(control.testMail, { to, from: from || undefined });
  if (!steps) return renderTestMailPage({ ...base, error: 'A test mail is being sent already: wait a moment and try again.' });
  const failed = steps.find((s) => s.status === 'failed');
  control.log.info({ address: page.address, to, result: failed ? `failed at ${failed.name}: ${failed.detail}` : 'accepted' }, 'status page: test mail done');
  return renderTestMailPage({ ...base, steps });
}
