// The bell, pop-ups with sounds, browser notifications for inactive tabs, the item menu,
// and the one-tag embed on a host page — all live over the stream from the real server.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  expand, hidePage, launch, nextCall, ok, openPage, postEvent, prefsReady, screenshot, seedAccount, streamOpen,
  tidy, typeRow, until,
} from '../lib/harness.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser.close();
});

const unread = (page) => page.locator('varsel-bell').getAttribute('data-unread');

describe('bell and pop-ups', () => {
  test('a new event raises the badge and shows a pop-up with the type\'s sound in the focused page', async () => {
    const s = await seedAccount();
    const { context, page } = await openPage(browser, '/ui/preferences#desktop', { token: s.tokens.ola });
    await prefsReady(page);
    await streamOpen(page);
    assert.equal(await page.locator('varsel-bell .badge').isVisible(), false, 'no badge without unread items');

    // A per-type sound chosen on the page is the one the pop-up plays.
    await expand(page, 'deals');
    const saved = nextCall(page, 'PATCH', '/v1/me/preferences');
    await typeRow(page, 'deals.stage_changed').locator('select').selectOption('marimba');
    await saved;

    await postEvent(s.account, { type: 'deals.stage_changed', to: 'ola', actor: 'ada', name: 'Nordlys renewal' });
    await page.waitForSelector('varsel-bell[data-unread="1"]', { state: 'attached' });
    assert.equal(await page.locator('varsel-bell .badge').textContent(), '1');
    assert.equal(await page.locator('varsel-bell .bell').getAttribute('aria-label'), 'Notifications, 1 unread');

    const toast = page.locator('varsel-toasts .toast');
    await toast.waitFor();
    assert.match(await toast.locator('.title').textContent(), /Ada Admin/);
    assert.equal(await toast.locator('.body').textContent(), 'Nordlys renewal');
    assert.equal(await toast.getAttribute('data-sound'), 'marimba');
    assert.deepEqual(await page.evaluate(() => window.__sounds), ['marimba', 'marimba'], 'the preview, then the pop-up');
    assert.deepEqual(await page.evaluate(() => window.__notifications), [], 'an active tab gets no OS notification');
    await tidy(page);
    await screenshot(page, 'popup.png');

    // A second event: the default sound for a type left alone.
    await postEvent(s.account, { type: 'deals.mention', to: 'ola', actor: 'kari', name: 'Budget note' });
    await page.waitForSelector('varsel-bell[data-unread="2"]', { state: 'attached' });
    await until(async () => (await toast.count()) === 2, 'two pop-ups');
    assert.equal(await toast.nth(1).getAttribute('data-sound'), 'chime');
    await context.close();
  });

  test('the bell lists the newest items; mark one and all read; the badge follows', async () => {
    const s = await seedAccount();
    await postEvent(s.account, { to: 'ola', actor: 'ada', name: 'Older deal' });
    await until(async () => (await ok('GET', '/v1/me/feed/unread-count', undefined, s.tokens.ola)).unread === 1, 'first item');
    const { context, page } = await openPage(browser, '/ui/preferences', { token: s.tokens.ola });
    await prefsReady(page);
    await streamOpen(page);
    await postEvent(s.account, { type: 'deals.mention', to: 'ola', actor: 'kari', name: 'Newest deal', url: 'https://crm.example/deals/42' });
    await page.waitForSelector('varsel-bell[data-unread="2"]', { state: 'attached' });
    await page.locator('varsel-toasts .toast').getByRole('button', { name: 'Close' }).click();

    await page.locator('varsel-bell .bell').click();
    const panel = page.locator('varsel-bell .panel');
    await panel.waitFor();
    const items = panel.locator('li.item');
    assert.equal(await items.count(), 2);
    assert.equal(await items.nth(0).locator('.body').textContent(), 'Newest deal', 'newest first');
    assert.match(await items.nth(0).locator('.title').textContent(), /Kari Nordmann/);
    assert.equal(await items.nth(0).locator('a.main').getAttribute('href'), 'https://crm.example/deals/42');
    assert.match(await items.nth(0).locator('time').textContent(), /now|second|minute/);
    await page.mouse.move(0, 0);
    await page.waitForTimeout(200);
    await screenshot(page, 'bell-open.png');

    const read = nextCall(page, 'POST', '/read');
    await items.nth(1).getByRole('button', { name: 'Mark as read' }).click();
    assert.equal((await read).status(), 204);
    await page.waitForSelector('varsel-bell[data-unread="1"]', { state: 'attached' });
    assert.equal(await items.nth(1).getAttribute('class'), 'item read');
    assert.equal((await ok('GET', '/v1/me/feed/unread-count', undefined, s.tokens.ola)).unread, 1);

    await panel.getByRole('button', { name: 'Mark all as read' }).click();
    await page.waitForSelector('varsel-bell[data-unread="0"]', { state: 'attached' });
    assert.equal(await page.locator('varsel-bell .badge').isVisible(), false);
    assert.equal((await ok('GET', '/v1/me/feed/unread-count', undefined, s.tokens.ola)).unread, 0);

    // Reading elsewhere (another tab, the API) updates this tab through the stream.
    await postEvent(s.account, { to: 'ola', actor: 'ada', name: 'Third' });
    await page.waitForSelector('varsel-bell[data-unread="1"]', { state: 'attached' });
    await ok('POST', '/v1/me/feed/read-all', undefined, s.tokens.ola);
    await page.waitForSelector('varsel-bell[data-unread="0"]', { state: 'attached' });
    await context.close();
  });

  test('the bell works from the keyboard: Enter opens, arrows move, Escape closes and returns focus', async () => {
    const s = await seedAccount();
    await postEvent(s.account, { to: 'ola', actor: 'ada', name: 'One' });
    await postEvent(s.account, { to: 'ola', actor: 'kari', name: 'Two' });
    await until(async () => (await ok('GET', '/v1/me/feed/unread-count', undefined, s.tokens.ola)).unread === 2, 'items');
    const { context, page } = await openPage(browser, '/ui/preferences', { token: s.tokens.ola });
    await prefsReady(page);
    await page.locator('varsel-bell .bell').focus();
    await page.keyboard.press('Enter');
    await page.locator('varsel-bell .panel').waitFor();
    assert.equal(await page.locator('varsel-bell .bell').getAttribute('aria-expanded'), 'true');
    await page.keyboard.press('ArrowDown');
    const first = await page.evaluate(() => document.querySelector('varsel-bell').shadowRoot.activeElement.dataset.focus);
    assert.match(first, /^main-ntf_/);
    await page.keyboard.press('ArrowDown');
    const second = await page.evaluate(() => document.querySelector('varsel-bell').shadowRoot.activeElement.dataset.focus);
    assert.notEqual(second, first);
    await page.keyboard.press('Escape');
    assert.equal(await page.locator('varsel-bell .panel').isVisible(), false);
    assert.equal(await page.evaluate(() => document.querySelector('varsel-bell').shadowRoot.activeElement.className), 'bell');
    await context.close();
  });

  test('the item menu: "Don\'t show me these again", "Mute sound", "Go to notification preferences"', async () => {
    const s = await seedAccount();
    await postEvent(s.account, { type: 'deals.stage_changed', to: 'ola', actor: 'ada' });
    await postEvent(s.account, { type: 'deals.mention', to: 'ola', actor: 'ada' });
    await until(async () => (await ok('GET', '/v1/me/feed/unread-count', undefined, s.tokens.ola)).unread === 2, 'items');
    const { context, page } = await openPage(browser, '/ui/preferences#desktop', { token: s.tokens.ola });
    await prefsReady(page);
    await page.locator('varsel-bell .bell').click();
    const item = (type) => page.locator(`varsel-bell li.item[data-type="${type}"]`);

    await item('deals.stage_changed').locator('button.more').click();
    const menu = item('deals.stage_changed').getByRole('menu');
    await menu.waitFor();
    const dont = nextCall(page, 'POST', '/dont-show');
    await menu.getByRole('menuitem', { name: 'Don’t show me these again' }).click();
    assert.equal((await dont).status(), 200);
    let prefs = await ok('GET', '/v1/me/preferences', undefined, s.tokens.ola);
    assert.deepEqual(prefs.tabs.desktop.types['deals.stage_changed'], { on: false, source: 'user', locked: false, sound: 'chime' });
    assert.equal(prefs.tabs.email.types['deals.stage_changed'].on, true, 'only the desktop tab');
    // The settings page on the same page follows at once.
    await expand(page, 'deals');
    assert.equal(await typeRow(page, 'deals.stage_changed').locator('input[type="checkbox"]').isChecked(), false);

    await page.locator('varsel-bell .bell').click();
    await item('deals.mention').locator('button.more').click();
    const mute = nextCall(page, 'POST', '/mute');
    await item('deals.mention').getByRole('menuitem', { name: 'Mute sound' }).click();
    assert.equal((await mute).status(), 200);
    prefs = await ok('GET', '/v1/me/preferences', undefined, s.tokens.ola);
    assert.equal(prefs.tabs.desktop.types['deals.mention'].sound, 'none');
    await until(async () => (await typeRow(page, 'deals.mention').locator('select').inputValue()) === 'none', 'select follows');

    // A muted type's pop-up is silent.
    await postEvent(s.account, { type: 'deals.mention', to: 'ola', actor: 'kari' });
    const toast = page.locator('varsel-toasts .toast');
    await toast.waitFor();
    assert.equal(await toast.getAttribute('data-sound'), 'none');

    await item('deals.mention').first().locator('button.more').click();
    const link = item('deals.mention').first().getByRole('menuitem', { name: 'Go to notification preferences' });
    const href = await link.getAttribute('href');
    assert.match(href, /\/ui\/preferences\?type=deals\.mention#desktop$/);
    await link.click();
    await page.waitForURL(/type=deals\.mention/);
    await prefsReady(page);
    const row = typeRow(page, 'deals.mention');
    await row.waitFor();
    assert.match(await row.getAttribute('class'), /highlight/);
    assert.equal(await page.evaluate(() => document.activeElement.dataset.typeCb), 'deals.mention');
    await context.close();
  });

  test('with the page hidden, a browser notification is shown (permission granted) instead of a pop-up', async () => {
    const s = await seedAccount();
    const { context, page } = await openPage(browser, '/ui/preferences#desktop', { token: s.tokens.ola, grant: true });
    await prefsReady(page);
    assert.equal(await page.locator('.perm').getAttribute('data-state'), 'granted');
    assert.equal(await page.locator('.perm').textContent(), 'Allowed in this browser');
    assert.equal(await page.getByRole('button', { name: 'Allow notifications' }).isVisible(), false);
    await streamOpen(page);
    await hidePage(page);

    await postEvent(s.account, { type: 'deals.stage_changed', to: 'ola', actor: 'ada', name: 'Hidden-tab deal' });
    const notes = await until(async () => {
      const n = await page.evaluate(() => window.__notifications);
      return n.length ? n : null;
    }, 'a browser notification');
    assert.equal(notes.length, 1);
    assert.match(notes[0].title, /Ada Admin/);
    assert.equal(notes[0].body, 'Hidden-tab deal');
    assert.match(notes[0].tag, /^ntf_/);
    await page.waitForSelector('varsel-bell[data-unread="1"]', { state: 'attached' });
    assert.equal(await page.locator('varsel-toasts .toast').count(), 0, 'no pop-up in an inactive tab');
    assert.deepEqual(await page.evaluate(() => window.__sounds), [], 'and no sound');
    await context.close();
  });

  test('without permission no browser notification is attempted, and "Allow notifications" asks for it', async () => {
    const s = await seedAccount();
    const { context, page } = await openPage(browser, '/ui/preferences#desktop', { token: s.tokens.ola });
    await prefsReady(page);
    const state = await page.evaluate(() => Notification.permission);
    assert.notEqual(state, 'granted');
    assert.equal(await page.locator('.perm').getAttribute('data-state'), state);
    await streamOpen(page);
    await hidePage(page);
    await postEvent(s.account, { to: 'ola', actor: 'ada' });
    await page.waitForSelector('varsel-bell[data-unread="1"]', { state: 'attached' });
    await page.waitForTimeout(300);
    assert.deepEqual(await page.evaluate(() => window.__notifications), []);
    await context.grantPermissions(['notifications']);
    if (state === 'default') {
      await page.getByRole('button', { name: 'Allow notifications' }).click();
      await until(async () => (await page.locator('.perm').getAttribute('data-state')) === 'granted', 'granted state');
    }
    await context.close();
  });

  test('one script tag puts the bell and pop-ups into a host page, isolated from its styles', async () => {
    const s = await seedAccount();
    const { context, page } = await openPage(browser, '/ui/demo-host', { token: s.tokens.kari });
    await page.waitForFunction(() => window.Varsel && window.Varsel.status === 'open');
    assert.equal(await page.locator('script[src="/ui/varsel.js"][data-token]').count(), 1);
    assert.equal(await page.locator('#crm-bell varsel-bell').count(), 1, 'the bell sits in the host\'s slot');
    // The host styles every button in uppercase; the bell's own buttons stay untouched.
    const [hostCase, bellCase] = await page.evaluate(() => [
      getComputedStyle(document.querySelector('.embed button')).textTransform,
      getComputedStyle(document.querySelector('varsel-bell').shadowRoot.querySelector('.bell')).textTransform,
    ]);
    assert.equal(hostCase, 'uppercase');
    assert.equal(bellCase, 'none');

    await postEvent(s.account, { to: 'kari', actor: 'ada', name: 'Nordlys AS' });
    await page.waitForSelector('#crm-bell varsel-bell[data-unread="1"]', { state: 'attached' });
    const toast = page.locator('varsel-toasts .toast');
    await toast.waitFor();
    assert.match(await toast.locator('.title').textContent(), /Ada Admin flyttet en avtale/, 'in Kari\'s language');
    assert.equal(await toast.getByRole('link').textContent(), 'Åpne');
    await page.waitForSelector('link[rel~="icon"][data-varsel-dot="on"]', { state: 'attached' });
    await tidy(page);
    await screenshot(page, 'demo-host.png');
    await context.close();
  });
});
