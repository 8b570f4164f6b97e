// What a newcomer trips over first: the settings link of a real email, bell items without
// a link, the tabs on a phone, the language switch, the email-off note, new profiles,
// per-type sound preview, the header, and the embed's settings link.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE, api, expand, launch, nextCall, ok, openPage, postEvent, prefsReady, screenshot, seedAccount, streamOpen,
  typeRow, uid, until,
} from '../lib/harness.js';

let browser;

before(async () => {
  browser = await launch();
});
after(async () => {
  await browser.close();
});

test("an email's settings link opens the user's own settings, signed in, at the type", async () => {
  const s = await seedAccount();
  await postEvent(s.account, { type: 'deals.mention', to: 'ola', name: 'Linked deal' });
  const mail = await until(async () => {
    const r = await api('GET', '/v1/outbox?limit=100');
    return r.status === 200 && r.body.items.find((m) => m.account_id === s.account);
  }, 'the email in the outbox', 20000);
  const links = [...mail.html.matchAll(/href="([^"]+)"/g)].map((m) => m[1].replaceAll('&amp;', '&'));
  for (const l of links) assert.match(l, /^https?:\/\//, `a relative link in the email: ${l}`);
  const settings = links.find((l) => l.includes('/email/settings/'));
  assert.ok(settings && settings.startsWith(BASE), `no settings link to ${BASE} in ${links}`);

  // A browser with no token of its own.
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(settings);
  await prefsReady(page);
  assert.ok(!page.url().includes('token='), `token left in the address: ${page.url()}`);
  assert.equal(new URL(page.url()).hash, '#email');
  assert.equal(await page.locator('[role="tab"][aria-selected="true"]').getAttribute('data-tab'), 'email');
  assert.match(await page.locator('#who').textContent(), /^ola · /);
  const row = typeRow(page, 'deals.mention');
  await row.waitFor();
  assert.ok(await row.evaluate((li) => li.classList.contains('highlight')), 'the type is highlighted');
  assert.ok(await row.isVisible());
  // Signed in: a change saves as Ola.
  const saved = nextCall(page, 'PATCH', '/v1/me/preferences');
  await row.locator('input[type="checkbox"]').click();
  assert.equal((await saved).status(), 200);
  const prefs = await ok('GET', '/v1/me/preferences', undefined, s.tokens.ola);
  assert.equal(prefs.tabs.email.types['deals.mention'].on, false);

  // The unsubscribe link of the same email: a page that asks, then undo.
  const unsubscribe = links.find((l) => l.includes('/email/unsubscribe/'));
  await page.goto(unsubscribe);
  // Ola already switched it off on the settings page: the page offers to turn it on.
  assert.equal(await page.locator('main').getAttribute('data-state'), 'unsubscribed');
  await page.getByRole('button', { name: 'Undo' }).click();
  await page.waitForSelector('main[data-state="resubscribed"]');
  const again = await ok('GET', '/v1/me/preferences', undefined, s.tokens.ola);
  assert.equal(again.tabs.email.types['deals.mention'].on, true);
  await context.close();
});

test('a bell item without a link is left-aligned like the others', async () => {
  const s = await seedAccount();
  const { context, page } = await openPage(browser, '/ui/preferences', { token: s.tokens.ola });
  await prefsReady(page);
  await streamOpen(page);
  await ok('POST', '/v1/events', {
    type: 'deals.stage_changed', account_id: s.account, actor_id: 'ada', recipients: ['ola'],
    object: { type: 'deal', id: uid('obj'), name: 'No link here' }, source: 'ui',
  });
  await postEvent(s.account, { to: 'ola', name: 'With a link' });
  const bell = page.locator('varsel-bell');
  await until(async () => Number(await bell.getAttribute('data-unread')) === 2, 'two unread items');
  await bell.locator('button.bell').click();
  const items = bell.locator('li.item .main');
  await until(async () => (await items.count()) === 2, 'two items in the list');
  const boxes = [];
  for (let i = 0; i < 2; i += 1) {
    const main = items.nth(i);
    boxes.push({
      tag: await main.evaluate((el) => el.tagName),
      align: await main.evaluate((el) => getComputedStyle(el).textAlign),
      main: await main.boundingBox(),
      title: await main.locator('.title').boundingBox(),
      body: await main.locator('.body').boundingBox(),
    });
  }
  assert.deepEqual(boxes.map((b) => b.tag).sort(), ['A', 'BUTTON']);
  for (const b of boxes) {
    assert.equal(b.align, 'left', `${b.tag} text-align`);
  }
  // The title and body start at the same x in both items, near the left edge.
  assert.ok(Math.abs(boxes[0].title.x - boxes[1].title.x) < 1, JSON.stringify(boxes));
  assert.ok(Math.abs(boxes[0].body.x - boxes[1].body.x) < 1, JSON.stringify(boxes));
  for (const b of boxes) assert.ok(b.title.x - b.main.x < 40, JSON.stringify(b));
  await context.close();
});

test('at 390 px every settings tab is on screen and the header is opaque', async () => {
  const s = await seedAccount();
  const { context, page } = await openPage(browser, '/ui/preferences', {
    token: s.tokens.kari, viewport: { width: 390, height: 844 },
  });
  await prefsReady(page);
  const tabs = page.locator('[role="tab"]');
  assert.equal(await tabs.count(), 4);
  for (let i = 0; i < 4; i += 1) {
    const box = await tabs.nth(i).boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `tab ${i} at ${JSON.stringify(box)}`);
    const clipped = await tabs.nth(i).evaluate((el) => el.scrollWidth > el.clientWidth + 1);
    assert.equal(clipped, false, `tab ${i} text is cut off`);
  }
  await page.locator('[role="tab"][data-tab="mobile"]').click();
  assert.equal(await page.locator('[role="tab"][aria-selected="true"]').getAttribute('data-tab'), 'mobile');
  await screenshot(page, 'settings-phone.png');
  // Rows scrolled under the sticky header do not show through.
  const bg = await page.locator('.topbar').evaluate((el) => getComputedStyle(el).backgroundColor);
  assert.equal(bg, 'rgb(255, 255, 255)');
  await context.close();
});

test('the language switch is the user\'s language: new bell items and emails follow it', async () => {
  const s = await seedAccount();
  const { context, page } = await openPage(browser, '/ui/preferences', { token: s.tokens.ola });
  await prefsReady(page);
  await streamOpen(page);
  const saved = nextCall(page, 'PATCH', '/v1/me');
  await page.selectOption('#lang', 'nb');
  assert.equal((await saved).status(), 200);
  assert.equal((await ok('GET', '/v1/me', undefined, s.tokens.ola)).locale, 'nb');
  await postEvent(s.account, { type: 'deals.mention', to: 'ola', name: 'Språk' });
  const bell = page.locator('varsel-bell');
  await until(async () => Number(await bell.getAttribute('data-unread')) === 1, 'the new item');
  await bell.locator('button.bell').click();
  assert.equal(await bell.locator('li.item .title').first().textContent(), 'Ada Admin nevnte deg på en avtale');
  const mail = await until(async () => {
    const r = await api('GET', '/v1/outbox?limit=100');
    return r.body.items.find((m) => m.account_id === s.account && m.user_id === 'ola');
  }, 'the email', 20000);
  assert.equal(mail.subject, 'Ada Admin nevnte deg på en avtale');
  assert.match(mail.text, /Åpne:/);
  await context.close();
});

test('with email off, the note says required emails still come', async () => {
  const s = await seedAccount();
  const { context, page } = await openPage(browser, '/ui/preferences#email', { token: s.tokens.ola });
  await prefsReady(page);
  const saved = nextCall(page, 'PATCH', '/v1/me/preferences');
  await page.getByRole('switch', { name: 'Email notifications' }).click();
  await saved;
  const note = page.locator('.master-note');
  assert.ok(await note.isVisible());
  const text = await note.textContent();
  assert.doesNotMatch(text, /nothing is sent/);
  assert.match(text, /Required messages about your account \(support, billing\) are still emailed/);
  await context.close();
});

test('▶ plays the sound chosen for a type', async () => {
  const s = await seedAccount();
  const { context, page } = await openPage(browser, '/ui/preferences#desktop', { token: s.tokens.ola });
  await prefsReady(page);
  await expand(page, 'deals');
  const row = typeRow(page, 'deals.mention');
  const saved = nextCall(page, 'PATCH', '/v1/me/preferences');
  await row.locator('select.type-sound').selectOption('knock');
  await saved;
  await page.evaluate(() => { window.__sounds.length = 0; });
  const play = row.getByRole('button', { name: 'Play the sound for Mentioned on a deal' });
  await play.click();
  assert.deepEqual(await page.evaluate(() => window.__sounds), ['knock']);
  await context.close();
});

test('"+ New profile" stores nothing until the form is sent; roles and users are picked', async () => {
  const s = await seedAccount();
  const { context, page } = await openPage(browser, '/ui/admin', { token: s.tokens.ada });
  await page.waitForSelector('body[data-ready="true"]');
  let posts = 0;
  page.on('request', (r) => {
    if (r.method() === 'POST' && r.url().endsWith('/profiles')) posts += 1;
  });
  await page.locator('#new-profile').click();
  await page.waitForSelector('#new-profile-form');
  assert.equal(posts, 0, 'one click stores no profile');
  // An empty name is refused by the form itself.
  await page.getByRole('button', { name: 'Create profile' }).click();
  assert.equal(posts, 0);
  assert.deepEqual((await ok('GET', `/v1/accounts/${s.account}/profiles`)).profiles, []);
  await page.locator('#new-profile-form input[name="name"]').fill('Sales team');
  // Roles and users are picked from the account's own (GET …/users), not typed.
  const roles = page.getByLabel('Roles it covers');
  assert.deepEqual(await roles.locator('option').allTextContents(), ['sales', 'super_admin']);
  await roles.selectOption('sales');
  const users = page.getByLabel('Users it covers');
  assert.deepEqual(await users.locator('option').evaluateAll((os) => os.map((o) => o.value)), ['ada', 'kari', 'ola']);
  assert.equal(await users.locator('option[value="kari"]').textContent(), 'Kari Nordmann (kari)');
  await users.selectOption('kari');
  const created = nextCall(page, 'POST', '/profiles');
  await page.getByRole('button', { name: 'Create profile' }).click();
  assert.equal((await created).status(), 201);
  await page.waitForSelector('#profile-form');
  const { profiles } = await ok('GET', `/v1/accounts/${s.account}/profiles`);
  assert.deepEqual(profiles.map((p) => [p.name, p.roles, p.user_ids]), [['Sales team', ['sales'], ['kari']]]);
  // The saved profile's form shows the picks.
  assert.deepEqual(await page.getByLabel('Roles it covers').evaluate((s) => [...s.selectedOptions].map((o) => o.value)), ['sales']);
  await context.close();
});

test('in an embed, the settings links open a new tab and leave the host page', async () => {
  const s = await seedAccount();
  const { context, page } = await openPage(browser, '/ui/demo-host', { token: s.tokens.ola });
  await page.waitForSelector('varsel-bell');
  await streamOpen(page);
  await postEvent(s.account, { to: 'ola', name: 'Embedded' });
  const bell = page.locator('varsel-bell');
  await until(async () => Number(await bell.getAttribute('data-unread')) === 1, 'the item');
  await bell.locator('button.bell').click();
  const prefs = bell.locator('a.prefs-link');
  assert.equal(await prefs.getAttribute('target'), '_blank');
  await bell.locator('button.more').first().click();
  const item = bell.locator('a[data-action="prefs"]').first();
  assert.equal(await item.getAttribute('target'), '_blank');
  const host = page.url();
  const [popup] = await Promise.all([context.waitForEvent('page'), prefs.click()]);
  await popup.waitForLoadState();
  assert.match(popup.url(), /\/ui\/preferences/);
  assert.equal(page.url(), host, 'the host tab stays');
  await context.close();
});
