// The admin page: account defaults and profiles for super admins; a refusal for others.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, expand, launch, nextCall, ok, openPage, prefsReady, putUser, seedAccount, tokenFor, typeRow, until,
} from '../lib/harness.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser.close();
});

const adminReady = (page) => page.waitForSelector('body[data-ready="true"]');
const prefsOf = (token) => ok('GET', '/v1/me/preferences', undefined, token);

describe('admin page', () => {
  test('account defaults change what a fresh user sees, and a user\'s own choice wins over them', async () => {
    const s = await seedAccount();
    // Kari made her own choice before the admin changes anything.
    await ok('PATCH', '/v1/me/preferences', { tabs: { email: { types: { 'deals.stage_changed': { on: true } } } } }, s.tokens.kari);

    const { context, page } = await openPage(browser, '/ui/admin', { token: s.tokens.ada });
    await adminReady(page);
    assert.equal(await page.locator('.admin-nav [aria-current="true"]').textContent(), 'Account defaults');
    assert.equal(await page.locator('li.type .source:not([hidden]):not([data-source="mandatory"])').count(), 0, 'defaults have no source labels');
    await expand(page, 'deals');
    let saved = nextCall(page, 'PUT', '/defaults');
    await typeRow(page, 'deals.stage_changed').locator('input[type="checkbox"]').uncheck();
    assert.equal((await saved).status(), 200);
    await page.getByRole('tab', { name: 'Desktop' }).click();
    saved = nextCall(page, 'PUT', '/defaults');
    await page.locator('select[data-switch="desktop.popup.sound"]').selectOption('knock');
    assert.equal((await saved).status(), 200);

    // A user created after the change.
    await putUser(s.account, 'nina', { name: 'Nina Berg' });
    const nina = await tokenFor(s.account, 'nina');
    const fresh = await prefsOf(nina);
    assert.deepEqual(fresh.tabs.email.types['deals.stage_changed'], { on: false, source: 'account', locked: false });
    assert.equal(fresh.tabs.desktop.popup.sound, 'knock');
    assert.equal(fresh.tabs.desktop.types['deals.mention'].sound, 'knock', 'types that follow the default sound follow it');
    assert.equal(fresh.tabs.email.types['deals.mention'].source, 'catalog', 'untouched types stay built-in defaults');
    assert.equal(fresh.tabs.desktop.types['login_alert.risky_login'].sound, 'knock');
    // Kari's explicit choice wins.
    assert.deepEqual((await prefsOf(s.tokens.kari)).tabs.email.types['deals.stage_changed'], { on: true, source: 'user', locked: false });

    // What the fresh user sees on their own page.
    const user = await openPage(browser, '/ui/preferences', { token: nina });
    await prefsReady(user.page);
    await expand(user.page, 'deals');
    const row = typeRow(user.page, 'deals.stage_changed');
    assert.equal(await row.locator('input[type="checkbox"]').isChecked(), false);
    assert.equal(await row.locator('.source').textContent(), 'Account default');
    assert.equal(await typeRow(user.page, 'deals.mention').locator('.source').textContent(), 'Default');
    // Her own choice wins, and keeps winning when the admin changes the defaults again.
    const mine = nextCall(user.page, 'PATCH', '/v1/me/preferences');
    await row.locator('input[type="checkbox"]').check();
    await mine;
    await until(async () => (await row.locator('.source').textContent()) === 'Your choice', 'her label');
    await page.getByRole('tab', { name: 'Email' }).click();
    await expand(page, 'deals');
    saved = nextCall(page, 'PUT', '/defaults');
    await page.getByRole('button', { name: 'Turn off all topics' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Yes, go ahead' }).click();
    await saved;
    const after2 = await prefsOf(nina);
    assert.deepEqual(after2.tabs.email.types['deals.stage_changed'], { on: true, source: 'user', locked: false });
    assert.deepEqual(after2.tabs.email.types['deals.mention'], { on: false, source: 'account', locked: false });
    assert.equal(after2.tabs.email.types['account.billing'].on, true, 'required types stay on');
    await user.context.close();

    // The defaults page shows what was saved after a reload; clearing them restores the built-in ones.
    await page.reload();
    await adminReady(page);
    await expand(page, 'deals');
    assert.equal(await typeRow(page, 'deals.mention').locator('input[type="checkbox"]').isChecked(), false);
    saved = nextCall(page, 'PUT', '/defaults');
    await page.getByRole('button', { name: 'Clear these defaults' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Yes, go ahead' }).click();
    await saved;
    const cleared = await prefsOf(nina);
    assert.equal(cleared.tabs.email.types['deals.mention'].source, 'catalog');
    assert.equal(cleared.tabs.desktop.popup.sound, 'chime');
    await context.close();
  });

  test('profiles: create, cover a role, set a value the role\'s users get, delete', async () => {
    const s = await seedAccount();
    const { context, page } = await openPage(browser, '/ui/admin', { token: s.tokens.ada });
    await adminReady(page);
    // "+ New profile" opens a form; the profile is stored when it is sent with a name.
    await page.getByRole('button', { name: '+ New profile' }).click();
    await page.getByLabel('Profile name').fill('Sales team');
    await page.getByLabel('Roles it covers').selectOption('sales');
    const created = nextCall(page, 'POST', '/profiles');
    await page.getByRole('button', { name: 'Create profile' }).click();
    assert.equal((await created).status(), 201);
    await until(async () => (await page.locator('.admin-nav [aria-current="true"]').textContent()).includes('Sales team'), 'nav');
    let saved;

    await expand(page, 'deals');
    saved = nextCall(page, 'PUT', /\/profiles\/prf_/);
    await typeRow(page, 'deals.mention').locator('input[type="checkbox"]').uncheck();
    assert.equal((await saved).status(), 200);

    // Ola and Kari have the role "sales"; Ada does not.
    assert.deepEqual((await prefsOf(s.tokens.ola)).tabs.email.types['deals.mention'], { on: false, source: 'profile', locked: false });
    assert.equal((await prefsOf(s.tokens.ada)).tabs.email.types['deals.mention'].source, 'catalog');
    const list = await ok('GET', `/v1/accounts/${s.account}/profiles`);
    assert.equal(list.profiles.length, 1);
    assert.deepEqual(list.profiles[0].roles, ['sales']);

    await page.reload();
    await adminReady(page);
    await page.getByRole('button', { name: /Sales team/ }).click();
    await expand(page, 'deals');
    assert.equal(await typeRow(page, 'deals.mention').locator('input[type="checkbox"]').isChecked(), false);
    const deleted = nextCall(page, 'DELETE', `/profiles/${list.profiles[0].id}`);
    await page.getByRole('button', { name: 'Delete profile' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Yes, go ahead' }).click();
    assert.equal((await deleted).status(), 204);
    assert.equal((await prefsOf(s.tokens.ola)).tabs.email.types['deals.mention'].source, 'catalog');
    assert.equal(await page.locator('.admin-nav [aria-current="true"]').textContent(), 'Account defaults');
    await context.close();
  });

  test('a user who is not a super admin gets a clear refusal', async () => {
    const s = await seedAccount();
    const r = await api('GET', `/v1/accounts/${s.account}/defaults`, undefined, s.tokens.ola);
    assert.equal(r.status, 403);
    const { context, page } = await openPage(browser, '/ui/admin', { token: s.tokens.ola });
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.textContent(), /Only super admins can manage account defaults and profiles/);
    assert.match(await alert.textContent(), /signed in as ola/);
    assert.equal(await page.locator('input, [role="tab"]').count(), 0, 'no controls to use');
    // In her own language too, and the language switch still works.
    await page.getByLabel('Language').selectOption('nb');
    await page.waitForLoadState();
    await until(async () => /Bare superadministratorer/.test(await page.getByRole('alert').textContent()), 'Norwegian refusal');
    await context.close();
  });

  test('a page opened without a token says how to open it', async () => {
    const { context, page } = await openPage(browser, '/ui/preferences', {});
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.textContent(), /needs a user token/);
    await context.close();
  });
});
