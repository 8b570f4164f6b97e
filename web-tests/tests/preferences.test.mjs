// The settings page: saving, reloading, search, bulk actions, languages, the favicon dot,
// keyboard use and labels.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  expand, faviconDotPixel, isRed, launch, nextCall, ok, openPage, postEvent, prefsReady, putUser, screenshot,
  seedAccount, streamOpen, tidy, tokenFor, typeRow, until, visibleTypes,
} from '../lib/harness.js';

let browser;

before(async () => {
  browser = await launch();
});
after(async () => {
  await browser.close();
});

describe('settings page', () => {
  test('a type switched off is saved at once, labelled "Your choice", and still off after a reload', async () => {
    const s = await seedAccount();
    const { context, page } = await openPage(browser, '/ui/preferences', { token: s.tokens.ola });
    await prefsReady(page);
    // The token moved from the address into the tab's session.
    assert.ok(!page.url().includes('token='), `token left in the address: ${page.url()}`);
    await expand(page, 'deals');
    const row = typeRow(page, 'deals.stage_changed');
    assert.equal(await row.locator('input[type="checkbox"]').isChecked(), true);
    assert.equal(await row.locator('.source').textContent(), 'Default');

    const saved = nextCall(page, 'PATCH', '/v1/me/preferences');
    await row.locator('input[type="checkbox"]').click();
    assert.equal((await saved).status(), 200);
    await until(async () => (await row.locator('.source').textContent()) === 'Your choice', 'the source label');

    const prefs = await ok('GET', '/v1/me/preferences', undefined, s.tokens.ola);
    assert.deepEqual(prefs.tabs.email.types['deals.stage_changed'], { on: false, source: 'user', locked: false });
    assert.equal(prefs.tabs.desktop.types['deals.stage_changed'].on, true, 'only the email tab changed');

    await page.reload();
    await prefsReady(page);
    await expand(page, 'deals');
    assert.equal(await typeRow(page, 'deals.stage_changed').locator('input[type="checkbox"]').isChecked(), false);
    assert.equal(await typeRow(page, 'deals.stage_changed').locator('.source').textContent(), 'Your choice');
    assert.equal(await typeRow(page, 'deals.mention').locator('input[type="checkbox"]').isChecked(), true);
    await context.close();
  });

  test('master switches and the default sound save and survive a reload', async () => {
    const s = await seedAccount();
    const { context, page } = await openPage(browser, '/ui/preferences#desktop', { token: s.tokens.ola });
    await prefsReady(page);
    assert.equal(await page.locator('[role="tab"][aria-selected="true"]').getAttribute('data-tab'), 'desktop');
    let saved = nextCall(page, 'PATCH', '/v1/me/preferences');
    await page.selectOption('select[data-switch="desktop.popup.sound"]', 'marimba');
    await saved;
    assert.deepEqual(await page.evaluate(() => window.__sounds), ['marimba'], 'changing the sound plays it');
    saved = nextCall(page, 'PATCH', '/v1/me/preferences');
    await page.locator('input[data-switch="desktop.browser.enabled"]').click();
    await saved;
    await page.click('[role="tab"][data-tab="email"]');
    saved = nextCall(page, 'PATCH', '/v1/me/preferences');
    await page.getByRole('switch', { name: 'Email notifications' }).click();
    await saved;
    // The response resolves when its head arrives; the page redraws once it has read the
    // body, so wait for the note rather than look at once.
    await page.locator('.master-note').waitFor({ state: 'visible', timeout: 5000 });
    assert.ok(await page.locator('.master-note').isVisible(), 'a switched-off channel says so');

    const prefs = await ok('GET', '/v1/me/preferences', undefined, s.tokens.ola);
    assert.equal(prefs.tabs.desktop.popup.sound, 'marimba');
    assert.equal(prefs.tabs.desktop.browser.enabled, false);
    assert.equal(prefs.tabs.email.enabled, false);
    // Types that follow the default sound follow the new one.
    assert.equal(prefs.tabs.desktop.types['deals.mention'].sound, 'marimba');

    await page.reload();
    await prefsReady(page);
    assert.equal(await page.getByRole('switch', { name: 'Email notifications' }).isChecked(), false);
    await page.getByRole('tab', { name: 'Desktop' }).click();
    assert.equal(await page.locator('select[data-switch="desktop.popup.sound"]').inputValue(), 'marimba');
    assert.equal(await page.locator('input[data-switch="desktop.browser.enabled"]').isChecked(), false);
    assert.equal(await page.locator('input[data-switch="desktop.bell.enabled"]').isChecked(), true);
    await context.close();
  });

  test('the search box filters types as you type, across sections', async () => {
    const s = await seedAccount();
    const { context, page } = await openPage(browser, '/ui/preferences', { token: s.tokens.ola });
    await prefsReady(page);
    assert.deepEqual(await visibleTypes(page), [], 'sections start collapsed');
    const search = page.getByRole('searchbox', { name: 'Search notification types' });

    await search.pressSequentially('MENTION', { delay: 20 });
    const hits = await visibleTypes(page);
    assert.ok(hits.length >= 8, `expected the mention types, got ${hits}`);
    for (const id of ['deals.mention', 'comments.mention', 'tickets.mention', 'crm.mention']) assert.ok(hits.includes(id), id);
    assert.ok(!hits.includes('deals.stage_changed'));
    assert.equal(await page.locator('.section[data-section="academy"]').isVisible(), false);
    assert.equal(
      await page.locator('button.section-toggle[data-section="deals"]').getAttribute('aria-expanded'),
      'true',
      'sections with matches open',
    );

    await search.fill('payout failed');
    assert.deepEqual(await visibleTypes(page), [], 'no type is named like that on the email tab');
    assert.match(await page.locator('.no-match').textContent(), /No notification types match “payout failed”/);

    await search.fill('Deals');
    const deals = await visibleTypes(page);
    assert.deepEqual(deals.sort(), ['deals.assigned', 'deals.mention', 'deals.stage_changed'], 'a section name shows its types');

    await search.fill('');
    assert.deepEqual(await visibleTypes(page), [], 'clearing the search folds the sections again');
    assert.ok(await page.locator('.section[data-section="academy"]').isVisible());
    await context.close();
  });

  test('"Turn off all topics" switches off every type of the tab but the required ones; "Reset" undoes it', async () => {
    const s = await seedAccount();
    const { context, page } = await openPage(browser, '/ui/preferences#desktop', { token: s.tokens.ola });
    await prefsReady(page);
    await page.getByRole('button', { name: 'Turn off all topics' }).click();
    const done = nextCall(page, 'POST', '/v1/me/preferences/desktop/turn-off-all');
    await page.getByRole('dialog').getByRole('button', { name: 'Yes, go ahead' }).click();
    assert.equal((await done).status(), 200);
    await page.getByRole('button', { name: 'Expand all' }).click();
    await until(
      () => page.evaluate(() => [...document.querySelectorAll('li.type:not(.locked) input[type="checkbox"]')].every((c) => !c.checked)),
      'every unlocked checkbox off',
    );
    const locked = page.locator('li.type.locked input[type="checkbox"]');
    assert.equal(await locked.count(), 2);
    for (const cb of await locked.all()) {
      assert.equal(await cb.isChecked(), true);
      assert.equal(await cb.isDisabled(), true);
    }
    assert.equal(await typeRow(page, 'account.billing').locator('.source').textContent(), 'Required');

    const prefs = await ok('GET', '/v1/me/preferences', undefined, s.tokens.ola);
    for (const [id, v] of Object.entries(prefs.tabs.desktop.types)) {
      assert.equal(v.on, v.locked, `${id} should be ${v.locked ? 'on (required)' : 'off'}`);
    }
    assert.ok(Object.values(prefs.tabs.email.types).every((v) => v.on), 'other tabs keep their settings');

    await page.getByRole('button', { name: 'Reset to defaults' }).click();
    const reset = nextCall(page, 'POST', '/v1/me/preferences/reset');
    await page.getByRole('dialog').getByRole('button', { name: 'Yes, go ahead' }).click();
    await reset;
    await until(
      () => page.evaluate(() => [...document.querySelectorAll('li.type input[type="checkbox"]')].every((c) => c.checked)),
      'every checkbox on again',
    );
    assert.equal(await typeRow(page, 'deals.mention').locator('.source').textContent(), 'Default');
    await context.close();
  });

  test('Norwegian for a Norwegian user, English on request; screenshots of both', async () => {
    const s = await seedAccount();
    await postEvent(s.account, { to: 'kari', actor: 'ada' });
    const tall = { width: 1280, height: 1300 };
    let { context, page } = await openPage(browser, '/ui/preferences#desktop', { token: s.tokens.kari, viewport: tall });
    await prefsReady(page);
    assert.equal(await page.locator('h1').textContent(), 'Varslingsinnstillinger');
    assert.equal(await page.locator('html').getAttribute('lang'), 'nb');
    assert.equal(await page.getByRole('tab', { name: 'Skrivebord' }).getAttribute('aria-selected'), 'true');
    assert.equal(await page.locator('button.section-toggle[data-section="deals"] .section-name').textContent(), 'Avtaler');
    await streamOpen(page);
    await until(async () => (await page.locator('varsel-bell .bell').getAttribute('aria-label')) === 'Varsler, 1 uleste', 'the bell label in Norwegian');
    await expand(page, 'blog');
    await tidy(page);
    await screenshot(page, 'settings-nb.png');

    await page.getByLabel('Språk').selectOption('en');
    await until(async () => (await page.locator('h1').textContent()) === 'Notification preferences', 'English heading');
    await until(
      async () => (await page.locator('button.section-toggle[data-section="deals"] .section-name').textContent()) === 'Deals',
      'English section names from the catalog',
    );
    await page.reload();
    await prefsReady(page);
    assert.equal(await page.locator('h1').textContent(), 'Notification preferences', 'the choice is remembered');
    await context.close();

    ({ context, page } = await openPage(browser, '/ui/preferences#desktop', { token: s.tokens.ola, viewport: tall }));
    await prefsReady(page);
    assert.equal(await page.locator('h1').textContent(), 'Notification preferences');
    await expand(page, 'blog');
    let saved = nextCall(page, 'PATCH', '/v1/me/preferences');
    await page.selectOption(`li.type[data-type="blog.post_comment"] select`, 'ding');
    await saved;
    saved = nextCall(page, 'PATCH', '/v1/me/preferences');
    await typeRow(page, 'blog.scan_finished').locator('input[type="checkbox"]').uncheck();
    await saved;
    await until(async () => (await typeRow(page, 'blog.scan_finished').locator('.source').textContent()) === 'Your choice', 'label');
    await tidy(page);
    await screenshot(page, 'settings-en.png');
    await context.close();
  });

  test('the favicon gets a red dot while unread items exist, only when that option is on', async () => {
    const s = await seedAccount();
    await postEvent(s.account, { to: 'ola', actor: 'ada' });
    const { context, page } = await openPage(browser, '/ui/preferences#desktop', { token: s.tokens.ola });
    await prefsReady(page);
    await streamOpen(page);
    await page.waitForSelector('link[rel~="icon"][data-varsel-dot="on"]', { state: 'attached' });
    assert.ok(isRed(await faviconDotPixel(page)), 'the dot is red');

    const fav = page.getByLabel('Show a red dot in the browser tab while I have unread bell notifications');
    let saved = nextCall(page, 'PATCH', '/v1/me/preferences');
    await fav.uncheck();
    await saved;
    await page.waitForSelector('link[rel~="icon"]:not([data-varsel-dot])', { state: 'attached' });
    assert.equal(await page.locator('link[rel~="icon"]').getAttribute('href'), '/ui/assets/favicon.svg');
    assert.ok(!isRed(await faviconDotPixel(page)), 'no dot while the option is off');
    assert.equal((await ok('GET', '/v1/me/preferences', undefined, s.tokens.ola)).tabs.desktop.bell.favicon_dot, false);

    saved = nextCall(page, 'PATCH', '/v1/me/preferences');
    await fav.check();
    await saved;
    await page.waitForSelector('link[rel~="icon"][data-varsel-dot="on"]', { state: 'attached' });
    assert.ok(isRed(await faviconDotPixel(page)));

    // Reading everything removes it, live.
    await ok('POST', '/v1/me/feed/read-all', undefined, s.tokens.ola);
    await page.waitForSelector('link[rel~="icon"]:not([data-varsel-dot])', { state: 'attached' });
    assert.ok(!isRed(await faviconDotPixel(page)));
    await context.close();
  });

  test('keyboard: arrow keys move between tabs, sections open with Enter, every control has a label', async () => {
    const s = await seedAccount();
    const { context, page } = await openPage(browser, '/ui/preferences', { token: s.tokens.ada });
    await prefsReady(page);
    await page.getByRole('tab', { name: 'Email' }).focus();
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.tab), 'desktop');
    assert.equal(await page.getByRole('tab', { name: 'Desktop' }).getAttribute('aria-selected'), 'true');
    await page.keyboard.press('End');
    assert.equal(await page.getByRole('tab', { name: 'Mobile app' }).getAttribute('aria-selected'), 'true');
    await page.keyboard.press('Home');
    await page.keyboard.press('ArrowRight');

    await page.locator('button.section-toggle[data-section="payments"]').focus();
    await page.keyboard.press('Enter');
    assert.equal(await page.locator('button.section-toggle[data-section="payments"]').getAttribute('aria-expanded'), 'true');
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => document.activeElement.closest('li.type')?.dataset.type);
    assert.ok(focused && focused.startsWith('payments.'), `focus moved into the section (${focused})`);
    const saved = nextCall(page, 'PATCH', '/v1/me/preferences');
    await page.keyboard.press('Space');
    await saved;
    // A visible focus ring.
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.equal(outline, 'solid');

    await page.getByRole('button', { name: 'Expand all' }).click();
    const unlabeled = await page.evaluate(() =>
      [...document.querySelectorAll('#app input, #app select, #app button')]
        .filter((el) => {
          const text = (el.labels && [...el.labels].map((l) => l.textContent).join('')) || el.getAttribute('aria-label') ||
            (el.tagName === 'BUTTON' ? el.textContent : '');
          return !String(text).trim();
        })
        .map((el) => el.outerHTML.slice(0, 120)),
    );
    assert.deepEqual(unlabeled, []);
    await context.close();
  });

  test('Other apps shows Slack and Teams as not connected; the mobile switch is the user\'s', async () => {
    const s = await seedAccount();
    const { context, page } = await openPage(browser, '/ui/preferences#other_apps', { token: s.tokens.ola });
    await prefsReady(page);
    const pills = await page.locator('[data-connected-for]').allTextContents();
    assert.deepEqual(pills, ['Not connected', 'Not connected']);
    assert.ok(await page.getByRole('switch', { name: 'Slack' }).isChecked());
    await page.getByRole('tab', { name: 'Mobile app' }).click();
    const mobile = page.getByRole('switch', { name: 'Mobile push notifications' });
    assert.equal(await mobile.isChecked(), false, 'mobile starts off');
    const saved = nextCall(page, 'PATCH', '/v1/me/preferences');
    await mobile.check();
    await saved;
    assert.equal((await ok('GET', '/v1/me/preferences', undefined, s.tokens.ola)).tabs.mobile.enabled, true);
    await context.close();
  });

  test('a type hidden from a user (audience rule) is not offered to them', async () => {
    const s = await seedAccount();
    await putUser(s.account, 'lea', { roles: [], permissions: [] });
    const token = await tokenFor(s.account, 'lea');
    const { context, page } = await openPage(browser, '/ui/preferences', { token });
    await prefsReady(page);
    await page.getByRole('searchbox').fill('payment');
    assert.deepEqual(await visibleTypes(page), [], 'payments need the super_admin role');
    await page.getByRole('searchbox').fill('form');
    assert.ok(!(await visibleTypes(page)).includes('forms.submission'), 'form submissions need the forms permission');
    await context.close();
  });
});
