// The admin page's "Connected apps": connecting, replacing and disconnecting the
// account's Slack and Microsoft Teams, checked against the API with the server key.
// (After Slack is connected the server looks users up at Slack in the background; here
// Slack is out of reach, which the page does not depend on.)

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, nextCall, ok, openPage, screenshot, seedAccount, tidy, until } from '../lib/harness.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser.close();
});

const adminReady = (page) => page.waitForSelector('body[data-ready="true"]');
const connectionsOf = async (account) => (await ok('GET', `/v1/accounts/${account}/connections`)).connections;
const card = (page, provider) => page.locator(`section.app[data-provider="${provider}"]`);
const stateOf = async (page, provider) => (await card(page, provider).locator('[data-role="state"]').textContent()).trim();
const SLACK_TOKEN = 'xoxb-1234-5678-abcdefghijklmnop';
// A workflow URL on a Teams host (teams_hosts); nothing is sent to it in these tests.
const TEAMS_URL = 'https://prod-00.westeurope.logic.azure.com/workflows/abc?sig=x';
const TEAMS_HOST = 'https://prod-00.westeurope.logic.azure.com';

/** Opens the admin page as Ada and goes to "Connected apps" from the menu. */
async function openApps(s) {
  const opened = await openPage(browser, '/ui/admin', { token: s.tokens.ada });
  await adminReady(opened.page);
  const listed = nextCall(opened.page, 'GET', '/connections');
  await opened.page.getByRole('navigation').getByRole('button', { name: /Connected apps/ }).click();
  assert.equal((await listed).status(), 200);
  await card(opened.page, 'teams').locator('[data-role="state"]:not(:empty)').waitFor();
  return opened;
}

describe('connected apps', () => {
  test('a super admin connects Slack and Teams, sees a wrong token refused, and disconnects Slack', async () => {
    const s = await seedAccount();
    const { context, page } = await openApps(s);
    assert.equal(await page.locator('#admin-main h2').first().textContent(), 'Connected apps');
    assert.equal(await stateOf(page, 'slack'), 'Not connected');
    assert.equal(await stateOf(page, 'teams'), 'Not connected');
    assert.equal(await card(page, 'slack').getByRole('button', { name: 'Disconnect' }).count(), 0, 'nothing to disconnect yet');
    assert.equal(await page.getByRole('navigation').locator('[aria-current="true"]').textContent(), 'Connected appsSlack, Microsoft Teams');

    // Slack: the token field is labelled, a password field, and explained.
    const token = page.getByLabel('Bot token');
    assert.equal(await token.getAttribute('type'), 'password');
    assert.match(await token.getAttribute('aria-describedby'), /app-slack-help/);
    assert.equal(
      (await page.locator('#app-slack-help').textContent()).trim(),
      'Bot User OAuth Token (xoxb-…) of a Slack app with chat:write, users:read, users:read.email',
    );

    // A token that is not a Slack bot token: the server's 422 message, next to the field.
    await token.fill('not-a-slack-token-at-all');
    let put = nextCall(page, 'PUT', '/connections/slack');
    await card(page, 'slack').getByRole('button', { name: 'Connect' }).click();
    assert.equal((await put).status(), 422);
    const error = card(page, 'slack').getByRole('alert');
    await until(async () => (await error.textContent()).includes('bot_token must be a Slack bot token (xoxb-…)'), 'the 422 message');
    assert.equal(await error.textContent(), 'Could not connect Slack: bot_token must be a Slack bot token (xoxb-…)');
    assert.equal(await token.getAttribute('aria-invalid'), 'true');
    assert.equal(await stateOf(page, 'slack'), 'Not connected');
    assert.deepEqual(await connectionsOf(s.account), []);

    // A valid-looking token, sent with the keyboard (Enter in the field).
    await token.fill(SLACK_TOKEN);
    assert.equal(await error.textContent(), '', 'typing clears the error');
    put = nextCall(page, 'PUT', '/connections/slack');
    await token.press('Enter');
    const putResp = await put;
    assert.equal(putResp.status(), 200);
    assert.deepEqual(putResp.request().postDataJSON(), { bot_token: SLACK_TOKEN });
    await until(async () => (await stateOf(page, 'slack')) === 'Connected', 'Slack connected');
    const detail = await card(page, 'slack').locator('[data-role="detail"]').textContent();
    assert.match(detail, /^Bot token …mnop · connected \S/);
    assert.equal(await token.inputValue(), '', 'the token is cleared');
    assert.ok(!(await page.content()).includes('abcdefghijklmnop'), 'the token is nowhere in the page');
    assert.equal(await card(page, 'slack').getByRole('button', { name: 'Replace' }).count(), 1);
    await until(async () => (await page.locator('#save-status').textContent()) === 'Slack is connected', 'the status line');
    assert.equal(await page.locator('#save-status').getAttribute('aria-live'), 'polite');
    let list = await connectionsOf(s.account);
    assert.equal(list.length, 1);
    assert.equal(list[0].provider, 'slack');
    assert.equal(list[0].connected, true);
    assert.deepEqual(list[0].settings, { token_hint: '…mnop' });

    // Teams: the workflow URL.
    const url = page.getByLabel('Workflow URL');
    assert.match(await card(page, 'teams').locator('.help').textContent(), /Teams workflow/);
    await url.fill(TEAMS_URL);
    put = nextCall(page, 'PUT', '/connections/teams');
    await card(page, 'teams').getByRole('button', { name: 'Connect' }).click();
    assert.equal((await put).status(), 200);
    await until(async () => (await stateOf(page, 'teams')) === 'Connected', 'Teams connected');
    assert.match(await card(page, 'teams').locator('[data-role="detail"]').textContent(), /^Workflow at https:\/\/prod-00\.westeurope\.logic\.azure\.com · connected \S/);
    assert.equal(await url.inputValue(), '');
    assert.ok(!(await page.content()).includes('sig=x'), 'the URL\'s signature is nowhere in the page');
    list = await connectionsOf(s.account);
    assert.deepEqual(list.map((c) => c.provider).sort(), ['slack', 'teams']);
    assert.deepEqual(list.find((c) => c.provider === 'teams').settings, { webhook_host: TEAMS_HOST });

    // What is connected shows again after a reload (the address keeps #connections).
    await page.reload();
    await adminReady(page);
    await card(page, 'slack').locator('[data-role="state"]:not(:empty)').waitFor();
    assert.equal(await stateOf(page, 'slack'), 'Connected');
    assert.equal(await stateOf(page, 'teams'), 'Connected');
    assert.match(await card(page, 'slack').locator('[data-role="detail"]').textContent(), /…mnop/);
    await tidy(page);
    await screenshot(page, 'admin-apps.png');

    // Disconnecting Slack asks first; Cancel keeps it.
    const off = card(page, 'slack').getByRole('button', { name: 'Disconnect' });
    await off.click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    assert.equal(await stateOf(page, 'slack'), 'Connected');
    assert.equal((await connectionsOf(s.account)).length, 2);
    // With the keyboard: focus the button, Enter, then confirm.
    await off.focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog');
    assert.match(await dialog.textContent(), /Disconnect Slack\?/);
    const del = nextCall(page, 'DELETE', '/connections/slack');
    await dialog.getByRole('button', { name: 'Disconnect' }).click();
    assert.equal((await del).status(), 204);
    await until(async () => (await stateOf(page, 'slack')) === 'Not connected', 'Slack disconnected');
    assert.equal(await card(page, 'slack').getByRole('button', { name: 'Disconnect' }).count(), 0);
    assert.equal(await card(page, 'slack').getByRole('button', { name: 'Connect' }).count(), 1);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'app-slack-input', 'focus stays in the card');
    await until(async () => (await page.locator('#save-status').textContent()) === 'Slack is disconnected', 'the status line');
    list = await connectionsOf(s.account);
    assert.deepEqual(list.map((c) => c.provider), ['teams']);
    assert.equal(await stateOf(page, 'teams'), 'Connected');
    await context.close();
  });

  test('the card in Norwegian, and an empty field is not sent', async () => {
    const s = await seedAccount();
    await ok('PUT', `/v1/accounts/${s.account}/connections/teams`, { webhook_url: TEAMS_URL });
    const { context, page } = await openApps(s);
    assert.equal(await stateOf(page, 'teams'), 'Connected');
    const relisted = nextCall(page, 'GET', '/connections');
    await page.getByLabel('Language').selectOption('nb');
    await relisted;
    await until(async () => (await page.locator('#admin-main h2').first().textContent()) === 'Tilkoblede apper', 'Norwegian title');
    await until(async () => (await stateOf(page, 'slack')) === 'Ikke tilkoblet', 'Norwegian state');
    assert.equal(await stateOf(page, 'teams'), 'Tilkoblet');
    assert.match(await card(page, 'teams').locator('[data-role="detail"]').textContent(), /^Arbeidsflyt på https:\/\/prod-00\.westeurope\.logic\.azure\.com · koblet til \S/);
    assert.equal(await page.getByLabel('Bot-token').getAttribute('type'), 'password');
    assert.equal(await page.getByLabel('URL til arbeidsflyten').count(), 1);
    assert.match(await page.locator('#app-slack-help').textContent(), /^Bot User OAuth Token \(xoxb-…\) fra en Slack-app med chat:write/);
    assert.equal(await card(page, 'slack').getByRole('button', { name: 'Koble til' }).count(), 1);
    assert.equal(await card(page, 'teams').getByRole('button', { name: 'Erstatt' }).count(), 1);
    assert.equal(await card(page, 'teams').getByRole('button', { name: 'Koble fra' }).count(), 1);
    assert.equal(await page.getByRole('navigation').getByRole('heading', { name: 'Andre apper' }).count(), 1);

    // Nothing typed: said on the page, nothing sent.
    let sent = 0;
    page.on('request', (r) => { if (r.method() === 'PUT') sent += 1; });
    await card(page, 'slack').getByRole('button', { name: 'Koble til' }).click();
    assert.equal(await card(page, 'slack').getByRole('alert').textContent(), 'Lim inn bot-tokenet først.');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'app-slack-input');
    assert.equal(sent, 0);

    // The confirmation is Norwegian too.
    await card(page, 'teams').getByRole('button', { name: 'Koble fra' }).click();
    assert.match(await page.getByRole('dialog').textContent(), /Koble fra Microsoft Teams\?/);
    await page.getByRole('dialog').getByRole('button', { name: 'Avbryt' }).click();
    assert.equal((await connectionsOf(s.account)).length, 1);
    await context.close();
  });

  test('#connections opens the card directly', async () => {
    const s = await seedAccount();
    const { context, page } = await openPage(browser, '/ui/admin#connections', { token: s.tokens.ada });
    await adminReady(page);
    await card(page, 'slack').locator('[data-role="state"]:not(:empty)').waitFor();
    assert.equal(await stateOf(page, 'slack'), 'Not connected');
    assert.ok(!page.url().includes('token='), 'the token left the address');
    // Back to the defaults: the address loses #connections.
    await page.getByRole('button', { name: 'Account defaults' }).click();
    await until(async () => !page.url().includes('#connections'), 'the address');
    await context.close();
  });
});
