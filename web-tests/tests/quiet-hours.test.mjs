// Quiet hours on the settings page (Desktop tab) and on the admin page: saving the
// window, keeping it after a reload, an account default or a profile's window shown as
// inherited, "Use the default", Norwegian labels, and the server's refusal of a window
// that ends as it starts.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, launch, nextCall, ok, openPage, prefsReady, screenshot, seedAccount, until } from '../lib/harness.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser.close();
});

const prefsOf = (token) => ok('GET', '/v1/me/preferences', undefined, token);
const adminReady = (page) => page.waitForSelector('body[data-ready="true"]');
const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri'];

/** The quiet hours card's controls, by their labels. */
function card(page, lang = 'en') {
  const c = page.locator('.card.quiet');
  const L = lang === 'nb'
    ? { title: 'Stilletid', start: 'Fra', end: 'Til', tz: 'Tidssone' }
    : { title: 'Quiet hours', start: 'From', end: 'Until', tz: 'Time zone' };
  return {
    root: c,
    toggle: c.getByRole('switch', { name: L.title }),
    start: c.getByLabel(L.start, { exact: true }),
    end: c.getByLabel(L.end, { exact: true }),
    tz: c.getByLabel(L.tz),
    day: (name) => c.getByRole('checkbox', { name }),
    source: c.locator('.quiet-source'),
    useDefault: c.locator('[data-act="quiet-default"]'),
    error: c.locator('.quiet-error'),
  };
}

/** Does `action` and waits for the save it makes (`method` on a path ending in `path`). */
async function saving(page, method, path, action) {
  const saved = nextCall(page, method, path);
  await action();
  const resp = await saved;
  // The page redraws once it has read the answer's body.
  await resp.finished();
  return resp;
}

describe('quiet hours', () => {
  test('set on the settings page, saved as one setting, kept after a reload; "Use the default" removes them', async () => {
    const s = await seedAccount();
    const { context, page } = await openPage(browser, '/ui/preferences#desktop', { token: s.tokens.ola });
    await prefsReady(page);
    const q = card(page);
    assert.equal(await q.toggle.isChecked(), false, 'no quiet hours to start with');
    assert.equal(await q.start.inputValue(), '22:00', 'a night is offered');
    assert.equal(await q.end.inputValue(), '07:00');
    assert.match(await q.root.textContent(), /Required notifications .* always come through/, 'the help says what pierces them');
    assert.equal(await q.tz.inputValue(), '', 'the user\'s own time zone');
    assert.equal(await q.tz.locator('option').first().textContent(), 'My time zone (Europe/Oslo)');

    let r = await saving(page, 'PATCH', '/v1/me/preferences', () => q.toggle.click());
    assert.equal(r.status(), 200);
    assert.deepEqual(r.request().postDataJSON(), { quiet_hours: { enabled: true, start: '22:00', end: '07:00', days: [] } });
    // A typed time is saved after a pause (one save, not one per digit).
    r = await saving(page, 'PATCH', '/v1/me/preferences', () => q.start.fill('22:30'));
    assert.equal(r.request().postDataJSON().quiet_hours.start, '22:30');
    await saving(page, 'PATCH', '/v1/me/preferences', () => q.day('Saturday').uncheck());
    r = await saving(page, 'PATCH', '/v1/me/preferences', () => q.day('Sunday').uncheck());
    assert.deepEqual(r.request().postDataJSON().quiet_hours.days, WEEKDAYS);
    r = await saving(page, 'PATCH', '/v1/me/preferences', () => q.tz.selectOption('America/New_York'));
    assert.equal(r.status(), 200);
    await until(async () => (await q.source.textContent()).includes('You chose these quiet hours'), 'the source line');
    assert.equal(await q.source.locator('.source').textContent(), 'Your choice');
    assert.equal(await q.useDefault.textContent(), 'Use the default');

    const prefs = await prefsOf(s.tokens.ola);
    assert.deepEqual(prefs.quiet_hours, {
      enabled: true, start: '22:30', end: '07:00', days: WEEKDAYS, timezone: 'America/New_York', source: 'user',
    });
    assert.equal(prefs.user_timezone, 'Europe/Oslo');

    await page.reload();
    await prefsReady(page);
    assert.equal(await q.toggle.isChecked(), true);
    assert.equal(await q.start.inputValue(), '22:30');
    assert.equal(await q.end.inputValue(), '07:00');
    assert.equal(await q.tz.inputValue(), 'America/New_York');
    for (const d of ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday']) assert.equal(await q.day(d).isChecked(), true, d);
    for (const d of ['Saturday', 'Sunday']) assert.equal(await q.day(d).isChecked(), false, d);

    await q.root.scrollIntoViewIfNeeded();
    await page.evaluate(() => {
      document.activeElement.blur();
      const top = document.querySelector('.card.quiet').getBoundingClientRect().top + window.scrollY;
      window.scrollTo(0, top - 300);
    });
    await page.mouse.move(0, 0);
    await page.waitForFunction(() => !document.querySelector('#save-status.show'), null, { timeout: 5000 });
    await screenshot(page, 'settings-quiet-hours.png');

    // Back to the default: none here, since no profile or account sets any.
    r = await saving(page, 'PATCH', '/v1/me/preferences', () => q.useDefault.click());
    assert.deepEqual(r.request().postDataJSON(), { quiet_hours: null });
    await until(async () => !(await q.toggle.isChecked()), 'the switch off');
    assert.equal(await q.useDefault.isVisible(), false);
    assert.equal((await prefsOf(s.tokens.ola)).quiet_hours ?? null, null);
    await context.close();
  });

  test('an account default set on the admin page shows as inherited on a user\'s page', async () => {
    const s = await seedAccount();
    const admin = await openPage(browser, '/ui/admin', { token: s.tokens.ada });
    await adminReady(admin.page);
    await admin.page.getByRole('tab', { name: 'Desktop' }).click();
    const a = card(admin.page);
    assert.equal(await a.tz.inputValue(), '');
    assert.equal(await a.tz.locator('option').first().textContent(), 'Each user’s own time zone');
    assert.match(await a.source.textContent(), /These defaults set no quiet hours/);
    let r = await saving(admin.page, 'PUT', '/defaults', () => a.toggle.click());
    assert.equal(r.status(), 200);
    r = await saving(admin.page, 'PUT', '/defaults', () => a.start.fill('23:00'));
    assert.equal(r.status(), 200);
    // Another setting of the layer keeps the quiet hours (a PUT replaces the whole layer).
    r = await saving(admin.page, 'PUT', '/defaults', () => admin.page.locator('select[data-switch="desktop.popup.sound"]').selectOption('knock'));
    assert.equal(r.status(), 200);
    const defaults = await ok('GET', `/v1/accounts/${s.account}/defaults`);
    assert.equal(defaults.quiet_hours.enabled, true);
    assert.equal(defaults.quiet_hours.start, '23:00');
    assert.equal(defaults.quiet_hours.end, '07:00');
    assert.equal(defaults.tabs.desktop.popup.sound, 'knock');
    await until(async () => (await a.useDefault.textContent()) === 'Remove quiet hours', 'the admin\'s way back');

    const { context, page } = await openPage(browser, '/ui/preferences#desktop', { token: s.tokens.ola });
    await prefsReady(page);
    const q = card(page);
    assert.equal(await q.toggle.isChecked(), true);
    assert.equal(await q.start.inputValue(), '23:00');
    assert.equal(await q.source.locator('.source').textContent(), 'Account default');
    assert.match(await q.source.textContent(), /From your account’s defaults/);
    assert.equal(await q.useDefault.isVisible(), false, 'nothing of her own to remove');
    assert.equal((await prefsOf(s.tokens.ola)).quiet_hours.source, 'account');

    // A change makes them her own; "Use the default" gives the account's back.
    r = await saving(page, 'PATCH', '/v1/me/preferences', () => q.end.fill('06:30'));
    assert.deepEqual(r.request().postDataJSON(), { quiet_hours: { enabled: true, start: '23:00', end: '06:30', days: [] } });
    await until(async () => (await q.source.textContent()).startsWith('Your choice'), 'her own');
    assert.equal((await prefsOf(s.tokens.ola)).quiet_hours.source, 'user');
    await saving(page, 'PATCH', '/v1/me/preferences', () => q.useDefault.click());
    await until(async () => (await q.source.textContent()).startsWith('Account default'), 'the account\'s again');
    assert.equal(await q.end.inputValue(), '07:00');
    const back = await prefsOf(s.tokens.ola);
    assert.equal(back.quiet_hours.source, 'account');
    assert.equal(back.quiet_hours.end, '07:00');

    // Removed on the admin page, the user has none.
    await saving(admin.page, 'PUT', '/defaults', () => a.useDefault.click());
    assert.equal((await ok('GET', `/v1/accounts/${s.account}/defaults`)).quiet_hours ?? null, null);
    assert.equal((await prefsOf(s.tokens.ola)).quiet_hours ?? null, null);
    await context.close();
    await admin.context.close();
  });

  test('quiet hours on a profile naming a user: kept after a reload, hers as "Profile", refused, removed', async () => {
    const s = await seedAccount();
    const { context, page } = await openPage(browser, '/ui/admin', { token: s.tokens.ada });
    await adminReady(page);
    await page.getByRole('button', { name: '+ New profile' }).click();
    await page.getByLabel('Profile name').fill('Night shift');
    await page.getByLabel('Users it covers').selectOption('ola');
    const created = await saving(page, 'POST', '/profiles', () => page.getByRole('button', { name: 'Create profile' }).click());
    assert.equal(created.status(), 201);
    assert.equal(created.request().postDataJSON().quiet_hours, null, 'a new profile has none of its own');
    const id = (await created.json()).id;
    const put = `/profiles/${id}`;
    await until(async () => (await page.locator('.admin-nav [aria-current="true"]').textContent()).includes('Night shift'), 'the new profile shown');
    await page.getByRole('tab', { name: 'Desktop' }).click();
    const a = card(page);
    assert.match(await a.root.textContent(), /Quiet hours for the users this profile covers/);
    assert.match(await a.source.textContent(), /This profile sets no quiet hours/);
    assert.equal(await a.tz.locator('option').first().textContent(), 'Each user’s own time zone');

    let r = await saving(page, 'PUT', put, () => a.toggle.click());
    assert.equal(r.status(), 200);
    assert.deepEqual(r.request().postDataJSON().quiet_hours, { enabled: true, start: '22:00', end: '07:00', days: [] });
    await saving(page, 'PUT', put, () => a.start.fill('21:00'));
    await saving(page, 'PUT', put, () => a.day('Sunday').uncheck());
    r = await saving(page, 'PUT', put, () => a.tz.selectOption('Europe/London'));
    assert.equal(r.status(), 200);
    const nights = {
      enabled: true, start: '21:00', end: '07:00', days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat'], timezone: 'Europe/London',
    };
    const body = r.request().postDataJSON();
    assert.deepEqual(body.quiet_hours, nights);
    assert.equal(body.name, 'Night shift', 'the PUT is the whole profile');
    assert.deepEqual(body.user_ids, ['ola']);
    await until(async () => (await a.useDefault.textContent()) === 'Remove quiet hours', 'the way back');
    // Saving the profile's details keeps its quiet hours (a PUT replaces the profile).
    r = await saving(page, 'PUT', put, () => page.getByRole('button', { name: 'Save details' }).click());
    assert.equal(r.status(), 200);
    assert.deepEqual(r.request().postDataJSON().quiet_hours, nights);
    const stored = (await ok('GET', `/v1/accounts/${s.account}/profiles`)).profiles.find((p) => p.id === id);
    assert.deepEqual(stored.quiet_hours, nights, 'the API has them, without a source');

    await page.reload();
    await adminReady(page);
    await page.getByRole('button', { name: /Night shift/ }).click();
    await page.getByRole('tab', { name: 'Desktop' }).click();
    assert.equal(await a.toggle.isChecked(), true);
    assert.equal(await a.start.inputValue(), '21:00');
    assert.equal(await a.end.inputValue(), '07:00');
    assert.equal(await a.tz.inputValue(), 'Europe/London');
    assert.equal(await a.day('Saturday').isChecked(), true);
    assert.equal(await a.day('Sunday').isChecked(), false);

    // Ola, whom the profile names, has them as the profile's; Kari, not named, has none.
    const user = await openPage(browser, '/ui/preferences#desktop', { token: s.tokens.ola });
    await prefsReady(user.page);
    const q = card(user.page);
    assert.equal(await q.toggle.isChecked(), true);
    assert.equal(await q.start.inputValue(), '21:00');
    assert.equal(await q.tz.inputValue(), 'Europe/London');
    assert.equal(await q.day('Sunday').isChecked(), false);
    assert.equal(await q.source.locator('.source').textContent(), 'Profile');
    assert.match(await q.source.textContent(), /From your profile\. A change here makes them your own/);
    assert.equal(await q.useDefault.isVisible(), false, 'nothing of his own to remove');
    assert.deepEqual((await prefsOf(s.tokens.ola)).quiet_hours, { ...nights, source: 'profile' });
    assert.equal((await prefsOf(s.tokens.kari)).quiet_hours ?? null, null);
    await user.context.close();

    // A window that ends when it starts: the server's refusal in the card, the saved end back.
    r = await saving(page, 'PUT', put, () => a.end.fill('21:00'));
    assert.equal(r.status(), 422);
    const refusal = await r.json();
    assert.equal(refusal.error.code, 'invalid_preference');
    await a.error.waitFor({ state: 'visible' });
    assert.equal(await a.error.textContent(), `Quiet hours not saved: ${refusal.error.message}`);
    assert.equal(await a.end.inputValue(), '07:00');
    assert.equal((await ok('GET', `/v1/accounts/${s.account}/profiles`)).profiles[0].quiet_hours.end, '07:00');

    // "Remove quiet hours": the PUT says null, and Ola has none.
    r = await saving(page, 'PUT', put, () => a.useDefault.click());
    assert.equal(r.status(), 200);
    assert.equal(r.request().postDataJSON().quiet_hours, null);
    await until(async () => /This profile sets no quiet hours/.test(await a.source.textContent()), 'none again');
    assert.equal(await a.error.isVisible(), false, 'the good save clears the refusal');
    assert.equal((await ok('GET', `/v1/accounts/${s.account}/profiles`)).profiles[0].quiet_hours ?? null, null);
    assert.equal((await prefsOf(s.tokens.ola)).quiet_hours ?? null, null);

    // In Norwegian.
    await page.getByLabel('Language').selectOption('nb');
    await until(async () => /Denne profilen har ingen stilletid/.test(await page.locator('.card.quiet .quiet-source').textContent()), 'Norwegian');
    assert.match(await page.locator('.card.quiet').textContent(), /Stilletid for brukerne denne profilen gjelder/);
    await context.close();
  });

  test('in Norwegian the card is Norwegian', async () => {
    const s = await seedAccount();
    const { context, page } = await openPage(browser, '/ui/preferences#desktop', { token: s.tokens.kari });
    await prefsReady(page);
    const q = card(page, 'nb');
    assert.equal(await q.root.locator('h2').textContent(), 'Stilletid');
    assert.match(await q.root.textContent(), /Påkrevde varsler .* kommer alltid fram/);
    assert.equal(await q.tz.locator('option').first().textContent(), 'Min tidssone (Europe/Oslo)');
    assert.equal(await q.day('mandag').isChecked(), true);
    assert.equal(await q.root.locator('legend').textContent(), 'Dager');
    const r = await saving(page, 'PATCH', '/v1/me/preferences', () => q.toggle.click());
    assert.equal(r.status(), 200);
    await until(async () => (await q.source.textContent()).startsWith('Ditt valg'), 'her choice, in Norwegian');
    assert.match(await q.source.textContent(), /Du har valgt denne stilletiden selv/);
    assert.equal(await q.useDefault.textContent(), 'Bruk standarden');
    await context.close();
  });

  test('a window that ends when it starts is refused with the server\'s message, and the old one stays', async () => {
    const s = await seedAccount();
    const refused = await api('PATCH', '/v1/me/preferences',
      { quiet_hours: { enabled: true, start: '22:00', end: '22:00' } }, s.tokens.ola);
    assert.equal(refused.status, 422);
    assert.equal(refused.body.error.code, 'invalid_preference');

    const { context, page } = await openPage(browser, '/ui/preferences#desktop', { token: s.tokens.ola });
    await prefsReady(page);
    const q = card(page);
    await saving(page, 'PATCH', '/v1/me/preferences', () => q.toggle.click());
    const r = await saving(page, 'PATCH', '/v1/me/preferences', () => q.end.fill('22:00'));
    assert.equal(r.status(), 422);
    await q.error.waitFor({ state: 'visible' });
    const shown = await q.error.textContent();
    assert.ok(shown.includes(refused.body.error.message), `“${shown}” has the server's message “${refused.body.error.message}”`);
    assert.match(shown, /^Quiet hours not saved: /);
    assert.equal(await q.error.getAttribute('role'), 'alert');
    assert.equal(await q.end.inputValue(), '07:00', 'the saved value is put back');
    assert.equal((await prefsOf(s.tokens.ola)).quiet_hours.end, '07:00');
    // The next good save clears the message.
    await saving(page, 'PATCH', '/v1/me/preferences', () => q.end.fill('06:00'));
    await until(async () => !(await q.error.isVisible()), 'the message gone');
    assert.equal((await prefsOf(s.tokens.ola)).quiet_hours.end, '06:00');
    await context.close();
  });
});
