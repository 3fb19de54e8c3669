// The events debugger page in headless Debian Chromium (playwright-core, no downloaded
// browser). Started by tests/tests/debugger_page.rs with the page, gateway and token in the
// environment; exits non-zero on the first failed check.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const base = env('DEBUGGER_URL');
const token = env('ADMIN_TOKEN');
const gateway = env('GATEWAY_URL');
const letterCustomer = env('DLQ_LETTER_CUSTOMER');
const check = (ok, what) => {
  if (!ok) throw new Error(`FAILED: ${what}`);
  console.log(`ok: ${what}`);
};

const profile = mkdtempSync(join(tmpdir(), 'tributary-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1440, height: 900 },
});
try {
  const page = await context.newPage();

  // Without the token the page refuses, and so does its live stream.
  const refused = await page.goto(`${base}/`);
  check(refused.status() === 401, 'without the token the page answers 401');
  check(!(await page.content()).includes('Last events'), 'without the token nothing of the page shows');
  const stream = await page.request.get(`${base}/stream`);
  check(stream.status() === 401, 'without the token the live stream answers 401');
  const wrong = await page.request.get(`${base}/?token=not-${token}`);
  check(wrong.status() === 401, 'a wrong token is refused');

  // With the token: the page, live.
  await page.goto(`${base}/?token=${token}`);
  await page.locator('#live', { hasText: 'live' }).waitFor({ timeout: 5000 });
  check(true, 'the page connects to its live stream');

  // An event sent shows within 2 s: the accepted request beside the normalized row.
  const customer = `browser-${Date.now()}`;
  const sent = Date.now();
  const answer = await fetch(`${gateway}/v1/activity/upload`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer demo-netcore-key' },
    body: JSON.stringify([{ asset_id: 'browser-test', activity_name: 'Purchase',
      timestamp: new Date().toISOString().slice(0, 19), identity: customer, activity_source: 'web', activity_params: { step: 1 } }]),
  });
  check(answer.status === 200, `the gateway accepts the event (${answer.status}: ${await answer.text()})`);
  const row = page.locator('#events tr.event', { hasText: customer }).first();
  await row.waitFor({ timeout: Math.max(100, 2000 - (Date.now() - sent)) });
  await row.locator('td').nth(0).locator('pre', { hasText: '"activity_name": "Purchase"' })
    .waitFor({ timeout: Math.max(100, 2000 - (Date.now() - sent)) });
  const shownAfter = Date.now() - sent;
  check(shownAfter <= 2000, `the event shows ${shownAfter} ms after it was sent, its request as accepted`);
  check((await row.locator('td').nth(1).innerText()).includes('user_key'), 'the normalized row shows beside it');
  check(await row.locator('.kind').count() === 1, 'the user_key kind shows');

  // A bad request shows with its reason, personal data masked.
  const bad = await fetch(`${gateway}/v1/activity/upload`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer demo-netcore-key' },
    body: JSON.stringify([{ asset_id: 'browser-test', timestamp: 'yesterday-ish',
      identity: 'jane.doe@example.com', activity_source: 'web', activity_params: { step: 2 } }]),
  });
  const badBody = await bad.text();
  check(bad.status === 400, `the gateway refuses the bad request (${bad.status}: ${badBody})`);
  const rejection = page.locator('#rejections tr.rejection', { hasText: 'Activity Name' }).first();
  await rejection.waitFor({ timeout: 5000 });
  const rejectionText = await rejection.innerText();
  check(rejectionText.includes('400'), `the rejection shows its status and reason: ${rejectionText}`);
  check(!(await page.content()).includes('jane.doe@example.com'), 'the e-mail address is masked');

  // A dead letter's replay button sends it back.
  const letter = page.locator('#letters tr.letter', { hasText: letterCustomer }).first();
  await letter.waitFor({ timeout: 5000 });
  check(true, 'the dead letter shows with its reason');
  await Promise.all([page.waitForNavigation(), letter.getByRole('button', { name: 'Replay' }).click()]);
  await page.locator('#letters tr.letter', { hasText: letterCustomer }).locator('.replayed', { hasText: 'replayed to' })
    .first().waitFor({ timeout: 5000 });
  check(true, 'the page says the letter was replayed');

  if (process.env.SCREENSHOT) {
    await page.waitForTimeout(1500);
    await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
    console.log(`screenshot: ${process.env.SCREENSHOT}`);
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
