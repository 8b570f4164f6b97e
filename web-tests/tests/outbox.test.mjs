// The outbox page renders what GET /v1/outbox answers (with the server key): the emails
// Varsel kept because no SMTP server is configured. It says clearly when the outbox is
// not there (404) or needs the key.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { KEY, api, launch, openPage, postEvent, screenshot, seedAccount, until } from '../lib/harness.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser.close();
});

test('an email sent without SMTP shows in the outbox, with its text and its HTML in a sandboxed frame', async () => {
  const probe = await api('GET', '/v1/outbox');
  const s = await seedAccount();
  const { context, page } = await openPage(browser, `/ui/outbox?key=${encodeURIComponent(KEY)}`, {});
  await page.waitForSelector('body[data-ready="true"]');
  assert.ok(!page.url().includes('key='), 'the key left the address bar');
  if (probe.status === 404) {
    // A server without the outbox API: the page says so.
    assert.equal(await page.locator('#outbox-unavailable').textContent(), 'The outbox is not available on this server yet.');
    await context.close();
    return;
  }
  assert.equal(probe.status, 200);

  await postEvent(s.account, { to: 'ola', actor: 'ada', name: 'Outbox deal' });
  const mail = await until(async () => {
    const r = await api('GET', '/v1/outbox');
    return r.body.items.find((m) => m.account_id === s.account);
  }, 'the email in the outbox', 20000);
  await page.getByRole('button', { name: 'Refresh' }).click();
  const row = page.locator(`#outbox-list li.mail[data-id="${mail.id}"]`);
  await row.waitFor();
  assert.equal(await row.locator('.to').textContent(), `ola@${s.account}.example`);
  assert.match(await row.locator('.subject').textContent(), /^Ada Admin moved a deal to Contract sent/);
  assert.equal(await row.locator('pre').isVisible(), false, 'bodies start folded');
  await row.locator('summary').click();
  assert.match(await row.locator('pre').textContent(), /Outbox deal/);
  const frame = row.locator('iframe');
  assert.equal(await frame.getAttribute('sandbox'), '', 'no scripts, no same-origin access');
  assert.match(await frame.getAttribute('srcdoc'), /<html/);
  await screenshot(page, 'outbox.png');
  await context.close();
});

test('without the key, the outbox asks for it; a wrong key is refused', async () => {
  const { context, page } = await openPage(browser, '/ui/outbox', {});
  await page.waitForSelector('body[data-ready="true"]');
  const field = page.getByLabel('API key');
  assert.ok(await field.isVisible());
  const probe = await api('GET', '/v1/outbox', undefined, 'vk_wrong');
  await field.fill('vk_wrong');
  const answered = page.waitForResponse((r) => r.url().includes('/v1/outbox'));
  await page.getByRole('button', { name: 'Show outbox' }).click();
  await answered;
  if (probe.status === 404) {
    await page.locator('#outbox-unavailable').waitFor();
  } else {
    assert.equal(probe.status, 401);
    await page.getByLabel('API key').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('varsel.key')), null, 'a refused key is forgotten');
  }
  await context.close();
});
