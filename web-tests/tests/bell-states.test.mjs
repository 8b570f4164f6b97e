// The bell's filters (Unread / All / Archived), archive and snooze from the item menu,
// and snoozed items coming back over the stream — from the menu, from the API, and by
// themselves when the server's wake job runs.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE, launch, nextCall, ok, postEvent, prefsReady, screenshot, seedAccount, streamOpen, uid, until,
} from '../lib/harness.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser.close();
});

/** The user's feed through the API (`query`: e.g. `?archived=true`). */
const feed = (s, user, query = '') => ok('GET', `/v1/me/feed${query}`, undefined, s.tokens[user]);
const unreadCount = async (s, user) => (await ok('GET', '/v1/me/feed/unread-count', undefined, s.tokens[user])).unread;

/** Posts one event per name to `user` (oldest first) and waits until all are in the feed;
 *  answers their feed items, newest first. */
async function seedItems(s, user, names) {
  for (const name of names) await postEvent(s.account, { to: user, actor: 'ada', name });
  return until(async () => {
    const { items } = await feed(s, user, '?limit=100');
    return items.length === names.length ? items : null;
  }, `${names.length} items in the feed`);
}

/** A page whose browser clock reads `hour` o'clock local time (a fixed-offset time zone):
 *  the menu offers "this afternoon" only before 13:00 local time. */
async function openAt(hour, path, { token, locale = 'en-US' }) {
  let offset = (((hour - new Date().getUTCHours()) % 24) + 24) % 24;
  if (offset > 12) offset -= 24;
  // Etc/GMT signs are inverted: UTC+3 is Etc/GMT-3.
  const timezoneId = offset === 0 ? 'Etc/GMT' : `Etc/GMT${offset > 0 ? '-' : '+'}${Math.abs(offset)}`;
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale, timezoneId, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  const url = new URL(BASE + path);
  url.searchParams.set('token', token);
  await page.goto(url.href);
  assert.equal(await page.evaluate(() => new Date().getHours()), hour, `the page's clock is at ${hour} o'clock`);
  return { context, page };
}

/** Opens the settings page with the bell connected and its panel open. */
async function openBell(token, { hour = 10, locale } = {}) {
  const { context, page } = await openAt(hour, '/ui/preferences', { token, locale });
  await prefsReady(page);
  await streamOpen(page);
  const bell = page.locator('varsel-bell');
  await bell.locator('button.bell').click();
  await bell.locator('.panel').waitFor();
  return { context, page, bell };
}

const badge = async (bell) => Number(await bell.getAttribute('data-unread'));
const bodies = (bell) => bell.locator('li.item .body').allTextContents();
const row = (bell, name) => bell.locator('li.item', { hasText: name });
const menuItems = (bell, name) => row(bell, name).getByRole('menuitem').allTextContents();
const status = async (bell) => (await bell.locator('.status').textContent()).trim();
// The list's one-line message ("nothing here", or "loading" while a view loads), or null.
const emptyText = async (bell) => ((await bell.locator('li.empty').count()) === 1
  ? (await bell.locator('li.empty').textContent()).trim() : null);
// The list is empty and its view has loaded (the loading line stands in the same place).
const loadedEmpty = async (bell) => {
  const text = await emptyText(bell);
  return text !== null && !text.startsWith('Laster inn') && !text.startsWith('Loading');
};
const filterButton = (bell, name) => bell.locator('.filters').getByRole('button', { name, exact: true });

async function openMenu(bell, name) {
  await row(bell, name).locator('button.more').click();
  await row(bell, name).getByRole('menu').waitFor();
}

describe('bell: filters, archive, snooze', () => {
  test('archive from the item menu: the item leaves the list and the badge; "Archived" shows it; "Move back to inbox" returns it', async () => {
    const s = await seedAccount();
    const [charlie, bravo, alpha] = await seedItems(s, 'ola', ['Alpha', 'Bravo', 'Charlie']);
    assert.deepEqual([charlie.body, bravo.body, alpha.body], ['Charlie', 'Bravo', 'Alpha']);
    assert.ok(charlie.position > bravo.position && bravo.position > alpha.position, 'items carry their position');
    const { context, page, bell } = await openBell(s.tokens.ola);
    assert.deepEqual(await bodies(bell), ['Charlie', 'Bravo', 'Alpha']);
    assert.equal(await badge(bell), 3);
    assert.equal(await filterButton(bell, 'All').getAttribute('aria-pressed'), 'true');
    assert.equal(await filterButton(bell, 'Unread').getAttribute('aria-pressed'), 'false');

    await openMenu(bell, 'Bravo');
    const archived = nextCall(page, 'POST', `/v1/me/feed/${bravo.id}/archive`);
    await row(bell, 'Bravo').getByRole('menuitem', { name: 'Archive', exact: true }).click();
    assert.equal((await archived).status(), 204);
    assert.deepEqual(await bodies(bell), ['Charlie', 'Alpha'], 'the item left the list');
    await page.waitForSelector('varsel-bell[data-unread="2"]', { state: 'attached' });
    assert.equal(await bell.locator('.badge').textContent(), '2');
    await until(async () => (await status(bell)) === 'Moved to Archived.', 'the archive is announced');
    assert.equal(await unreadCount(s, 'ola'), 2);
    // The focus went to the next item, not to the page.
    assert.equal(await page.evaluate(() => document.querySelector('varsel-bell').shadowRoot.activeElement.dataset.focus), `main-${alpha.id}`);

    // Another one through the API: the Archived view lists both, newest position first.
    await ok('POST', `/v1/me/feed/${alpha.id}/archive`, undefined, s.tokens.ola);
    await page.waitForSelector('varsel-bell[data-unread="1"]', { state: 'attached' });
    const listed = nextCall(page, 'GET', '/v1/me/feed');
    await filterButton(bell, 'Archived').click();
    assert.match((await listed).url(), /[?&]archived=true/);
    await until(async () => (await bodies(bell)).join() === 'Bravo,Alpha', 'the archived items');
    assert.equal(await filterButton(bell, 'Archived').getAttribute('aria-pressed'), 'true');
    assert.equal(await filterButton(bell, 'All').getAttribute('aria-pressed'), 'false');
    assert.equal(await bell.getByRole('button', { name: 'Mark all as read' }).isVisible(), false, 'nothing to mark in the archive');
    assert.equal(await badge(bell), 1, 'the badge still counts the list');
    await page.mouse.move(0, 0);
    await page.waitForTimeout(200);
    await screenshot(page, 'bell-archived.png');

    // An archived item's menu brings it back instead of offering snooze and archive.
    await openMenu(bell, 'Bravo');
    assert.deepEqual(await menuItems(bell, 'Bravo'), [
      'Move back to inbox', 'Don’t show me these again', 'Mute sound', 'Go to notification preferences',
    ]);
    const back = nextCall(page, 'POST', `/v1/me/feed/${bravo.id}/unarchive`);
    await row(bell, 'Bravo').getByRole('menuitem', { name: 'Move back to inbox' }).click();
    assert.equal((await back).status(), 204);
    assert.deepEqual(await bodies(bell), ['Alpha']);
    await page.waitForSelector('varsel-bell[data-unread="2"]', { state: 'attached' });
    await until(async () => (await status(bell)) === 'Moved back to the inbox.', 'the move is announced');

    // A new item does not land in the Archived view; the badge follows it all the same.
    await postEvent(s.account, { to: 'ola', actor: 'kari', name: 'Delta' });
    await page.waitForSelector('varsel-bell[data-unread="3"]', { state: 'attached' });
    assert.deepEqual(await bodies(bell), ['Alpha']);

    await filterButton(bell, 'All').click();
    await until(async () => (await bodies(bell)).join() === 'Delta,Charlie,Bravo', 'Bravo back in its place in the list');
    assert.deepEqual((await feed(s, 'ola', '?archived=true')).items.map((i) => i.body), ['Alpha']);
    await context.close();
  });

  test('"Unread" shows only the unread items, from the keyboard too, and keeps the filter when paging', async () => {
    const s = await seedAccount();
    // 23 items in one batch; two of them read: 21 unread, more than a page (20).
    const names = Array.from({ length: 23 }, (_, i) => `Deal ${String(i + 1).padStart(2, '0')}`);
    await ok('POST', '/v1/events/batch', {
      events: names.map((name) => ({
        type: 'deals.stage_changed',
        account_id: s.account,
        actor_id: 'ada',
        recipients: ['ola'],
        object: { type: 'deal', id: uid('obj'), name, url: 'https://crm.example/deals/1' },
        data: { stage: 'Contract sent' },
        source: 'ui',
      })),
    });
    const items = await until(async () => {
      const f = await feed(s, 'ola', '?limit=100');
      return f.items.length === 23 ? f.items : null;
    }, '23 items');
    const read = [items[1], items[4]];
    for (const item of read) await ok('POST', `/v1/me/feed/${item.id}/read`, undefined, s.tokens.ola);

    const { context, page, bell } = await openBell(s.tokens.ola);
    assert.equal(await badge(bell), 21);
    assert.equal(await bell.locator('li.item').count(), 20, 'the first page of the list');
    assert.equal(await bell.locator('li.item.read').count(), 2);

    // Toggle buttons: Tab reaches them, arrows move between them, Enter presses one.
    await filterButton(bell, 'All').focus();
    await page.keyboard.press('ArrowLeft');
    assert.equal(await page.evaluate(() => document.querySelector('varsel-bell').shadowRoot.activeElement.textContent), 'Unread');
    const listed = page.waitForRequest((r) => r.url().includes('/v1/me/feed?') && r.url().includes('unread=true'));
    await page.keyboard.press('Enter');
    await listed;
    await until(async () => (await bell.locator('li.item').count()) === 20, 'a page of unread items');
    assert.equal(await bell.locator('li.item.read').count(), 0, 'only unread items');
    assert.equal(await filterButton(bell, 'Unread').getAttribute('aria-pressed'), 'true');
    assert.equal(await filterButton(bell, 'All').getAttribute('aria-pressed'), 'false');
    for (const item of read) assert.equal(await row(bell, item.body).count(), 0, `${item.body} is read`);

    // "Show older" asks for the next page of the same view.
    const older = page.waitForRequest((r) => r.url().includes('cursor='));
    await bell.getByRole('button', { name: 'Show older' }).click();
    assert.match((await older).url(), /unread=true/);
    await until(async () => (await bell.locator('li.item').count()) === 21, 'the 21st unread item');
    assert.equal(await bell.locator('li.item.read').count(), 0);
    assert.equal(await bell.getByRole('button', { name: 'Show older' }).isVisible(), false);

    // A new item comes in at the top of the Unread view.
    await postEvent(s.account, { to: 'ola', actor: 'kari', name: 'Brand new' });
    await page.waitForSelector('varsel-bell[data-unread="22"]', { state: 'attached' });
    assert.equal((await bodies(bell))[0], 'Brand new');

    // All read: the Unread view, loaded again, is empty and says so.
    // The badge drops before the server answers; the view is loaded again after it has.
    const allRead = nextCall(page, 'POST', '/v1/me/feed/read-all');
    await bell.getByRole('button', { name: 'Mark all as read' }).click();
    assert.equal((await allRead).status(), 204);
    await page.waitForSelector('varsel-bell[data-unread="0"]', { state: 'attached' });
    await filterButton(bell, 'Unread').click();
    await until(async () => (await bell.locator('li.empty').textContent()).trim() === 'No unread notifications.', 'the empty Unread view');
    await context.close();
  });

  test('snooze for 1 hour: the item leaves the list and the badge, the time is announced; it comes back live at the top', async () => {
    const s = await seedAccount();
    const [newer, older] = await seedItems(s, 'ola', ['Older deal', 'Newer deal']);
    const { context, page, bell } = await openBell(s.tokens.ola);
    await page.evaluate(() => { window.__sameLoad = true; });
    assert.deepEqual(await bodies(bell), ['Newer deal', 'Older deal']);
    assert.equal(await badge(bell), 2);

    await openMenu(bell, 'Older deal');
    assert.deepEqual(await menuItems(bell, 'Older deal'), [
      'Snooze for 1 hour', 'Snooze until this afternoon', 'Snooze until tomorrow', 'Snooze until next Monday', 'Archive',
      'Don’t show me these again', 'Mute sound', 'Go to notification preferences',
    ]);
    assert.equal(await row(bell, 'Older deal').getByRole('separator').count(), 1);
    await page.mouse.move(0, 0);
    await page.waitForTimeout(200);
    await screenshot(page, 'bell-snooze-menu.png');

    const snoozed = nextCall(page, 'POST', `/v1/me/feed/${older.id}/snooze`);
    await row(bell, 'Older deal').getByRole('menuitem', { name: 'Snooze for 1 hour' }).click();
    const resp = await snoozed;
    assert.equal(resp.status(), 200);
    assert.deepEqual(resp.request().postDataJSON(), { preset: 'one_hour' });
    const until1h = (await resp.json()).snoozed_until;
    assert.ok(Math.abs(Date.parse(until1h) - (Date.now() + 3600e3)) < 60e3, `an hour ahead: ${until1h}`);
    assert.deepEqual(await bodies(bell), ['Newer deal'], 'the item left the list');
    await page.waitForSelector('varsel-bell[data-unread="1"]', { state: 'attached' });
    const time = await page.evaluate((iso) => new Intl.DateTimeFormat('en', { hour: 'numeric', minute: '2-digit' }).format(new Date(iso)), until1h);
    const said = await until(async () => {
      const text = await status(bell);
      return text.startsWith('Snoozed until') ? text : null;
    }, 'the snooze is announced');
    assert.ok(said.replace(/\s+/g, ' ').includes(time.replace(/\s+/g, ' ')), `"${said}" names ${time}`);
    assert.equal(await bell.locator('.status').getAttribute('aria-live'), 'polite');
    const asleep = (await feed(s, 'ola', '?snoozed=true')).items;
    assert.deepEqual(asleep.map((i) => [i.id, i.snoozed_until]), [[older.id, until1h]]);
    assert.equal(await unreadCount(s, 'ola'), 1);

    // Read it first, to see it come back unread.
    await ok('POST', `/v1/me/feed/${older.id}/read`, undefined, s.tokens.ola);
    // Back at once through the API: a frame puts it on top of the open bell, unread.
    await ok('DELETE', `/v1/me/feed/${older.id}/snooze`, undefined, s.tokens.ola);
    await until(async () => (await bodies(bell)).join() === 'Older deal,Newer deal', 'the item back at the top');
    assert.equal(await row(bell, 'Older deal').getAttribute('class'), 'item unread');
    await page.waitForSelector('varsel-bell[data-unread="2"]', { state: 'attached' });
    assert.equal(await page.evaluate(() => window.__sameLoad), true, 'no reload');
    const [top] = (await feed(s, 'ola')).items;
    assert.equal(top.id, older.id);
    assert.ok(top.position > newer.position, 'a new, highest position');
    assert.equal(top.created_at, older.created_at, 'created_at stays');
    assert.equal(top.snoozed_until, null);
    await context.close();
  });

  test('a refused snooze puts the item back where it was, with the badge, and says why', async () => {
    const s = await seedAccount();
    const [, middle] = await seedItems(s, 'ola', ['Bottom deal', 'Middle deal', 'Top deal']);
    const { context, page, bell } = await openBell(s.tokens.ola);
    // The server refuses "this afternoon" from 13:00 in the user's time zone, which need
    // not be the browser's: the refusal is made up here, whatever the time.
    await page.route('**/v1/me/feed/*/snooze', (route) => route.fulfill({
      status: 400,
      contentType: 'application/json',
      body: JSON.stringify({ error: { code: 'preset_passed', message: 'this afternoon has passed in your timezone; choose another time' } }),
    }));
    await openMenu(bell, 'Middle deal');
    const refused = page.waitForResponse((r) => r.url().endsWith(`/v1/me/feed/${middle.id}/snooze`));
    await row(bell, 'Middle deal').getByRole('menuitem', { name: 'Snooze until this afternoon' }).click();
    assert.equal((await refused).status(), 400);
    await until(async () => (await status(bell)).startsWith('This afternoon is too close'), 'the refusal is said');
    assert.deepEqual(await bodies(bell), ['Top deal', 'Middle deal', 'Bottom deal'], 'back in its place');
    assert.equal(await badge(bell), 3);
    assert.equal(await page.evaluate(() => document.querySelector('varsel-bell').shadowRoot.activeElement.dataset.focus), `more-${middle.id}`);
    assert.equal(await unreadCount(s, 'ola'), 3);
    await context.close();
  });

  test('a snooze until a few seconds ahead, set through the API, ends by itself at the top of the open bell', async () => {
    const s = await seedAccount();
    const [second, first] = await seedItems(s, 'ola', ['First deal', 'Second deal']);
    const { context, page, bell } = await openBell(s.tokens.ola);
    await page.evaluate(() => { window.__sameLoad = true; });
    assert.deepEqual(await bodies(bell), ['Second deal', 'First deal']);

    const untilIso = new Date(Date.now() + 2500).toISOString();
    const answer = await ok('POST', `/v1/me/feed/${first.id}/snooze`, { until: untilIso }, s.tokens.ola);
    assert.equal(Date.parse(answer.snoozed_until), Date.parse(untilIso));
    // The open tab gets the new count at once.
    await page.waitForSelector('varsel-bell[data-unread="1"]', { state: 'attached' });
    // The server's wake job brings it back: a notification frame, then the count.
    await page.waitForSelector('varsel-bell[data-unread="2"]', { state: 'attached', timeout: 15000 });
    assert.ok(Date.now() >= Date.parse(untilIso), 'not before its time');
    await until(async () => (await bodies(bell)).join() === 'First deal,Second deal', 'the woken item on top');
    assert.equal(await row(bell, 'First deal').getAttribute('class'), 'item unread');
    assert.equal(await page.evaluate(() => window.__sameLoad), true, 'no reload');
    const top = (await feed(s, 'ola')).items[0];
    assert.equal(top.id, first.id);
    assert.ok(top.position > second.position);
    await context.close();
  });

  test('in Norwegian the filters and the item menu speak Norwegian; the menu works from the keyboard', async () => {
    const s = await seedAccount();
    await seedItems(s, 'kari', ['Nordlys AS', 'Fjord ASA']);
    const { context, page, bell } = await openBell(s.tokens.kari, { locale: 'nb-NO' });
    assert.deepEqual(await bell.locator('.filters button').allTextContents(), ['Uleste', 'Alle', 'Arkivert']);
    assert.equal(await bell.locator('.filters').getAttribute('aria-label'), 'Vis');

    // Keyboard: Enter on "⋯" opens the menu at its first entry; arrows, Home, End move.
    await row(bell, 'Nordlys AS').locator('button.more').focus();
    await page.keyboard.press('Enter');
    const focused = () => page.evaluate(() => document.querySelector('varsel-bell').shadowRoot.activeElement.textContent);
    assert.equal(await focused(), 'Slumre i 1 time');
    assert.deepEqual(await menuItems(bell, 'Nordlys AS'), [
      'Slumre i 1 time', 'Slumre til i ettermiddag', 'Slumre til i morgen', 'Slumre til neste mandag', 'Arkiver',
      'Ikke vis meg disse igjen', 'Slå av lyd', 'Gå til varslingsinnstillinger',
    ]);
    await page.keyboard.press('ArrowDown');
    assert.equal(await focused(), 'Slumre til i ettermiddag');
    await page.keyboard.press('End');
    assert.equal(await focused(), 'Gå til varslingsinnstillinger');
    await page.keyboard.press('ArrowDown');
    assert.equal(await focused(), 'Slumre i 1 time', 'the arrows wrap');
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('Home');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    assert.equal(await focused(), 'Slumre til i morgen');
    const snoozed = nextCall(page, 'POST', '/snooze');
    await page.keyboard.press('Enter');
    const resp = await snoozed;
    assert.equal(resp.status(), 200);
    assert.deepEqual(resp.request().postDataJSON(), { preset: 'tomorrow' });
    await until(async () => (await status(bell)).startsWith('Slumrer til '), 'the snooze said in Norwegian');
    assert.deepEqual(await bodies(bell), ['Fjord ASA']);

    await bell.locator('.filters').getByRole('button', { name: 'Arkivert' }).click();
    await until(async () => await loadedEmpty(bell), 'the archive loaded');
    assert.equal(await emptyText(bell), 'Ingenting er arkivert. Arkiverte varsler blir liggende her.');
    await context.close();

    // From 13:00 local time "this afternoon" is no longer offered.
    const late = await openBell(s.tokens.kari, { hour: 16, locale: 'nb-NO' });
    await openMenu(late.bell, 'Fjord ASA');
    const entries = await menuItems(late.bell, 'Fjord ASA');
    assert.deepEqual(entries.slice(0, 4), ['Slumre i 1 time', 'Slumre til i morgen', 'Slumre til neste mandag', 'Arkiver']);
    const archived = nextCall(late.page, 'POST', '/archive');
    await row(late.bell, 'Fjord ASA').getByRole('menuitem', { name: 'Arkiver' }).click();
    assert.equal((await archived).status(), 204);
    await until(async () => (await status(late.bell)) === 'Flyttet til Arkivert.', 'the archive said in Norwegian');
    await until(async () => await loadedEmpty(late.bell), 'the empty list');
    assert.equal(await emptyText(late.bell), 'Du har ingen nye varsler.');
    await late.context.close();
  });

  test('an item archived or snoozed in one tab leaves the other tabs\' lists too; unarchived, it comes back', async () => {
    const s = await seedAccount();
    await seedItems(s, 'ola', ['Alpha', 'Bravo']);
    const one = await openBell(s.tokens.ola);
    const two = await openBell(s.tokens.ola);
    assert.deepEqual(await bodies(two.bell), ['Bravo', 'Alpha']);

    await openMenu(one.bell, 'Bravo');
    await row(one.bell, 'Bravo').getByRole('menuitem', { name: 'Archive' }).click();
    await until(async () => (await bodies(two.bell)).join() === 'Alpha', 'the other tab drops the archived item');
    await until(async () => (await badge(two.bell)) === 1, 'the other tab\'s badge');

    await openMenu(one.bell, 'Alpha');
    await row(one.bell, 'Alpha').getByRole('menuitem', { name: 'Snooze for 1 hour' }).click();
    await until(async () => (await two.bell.locator('li.empty').count()) === 1, 'the other tab drops the snoozed item');
    assert.equal(await badge(two.bell), 0);

    // Unarchived through the API: every open tab takes it back.
    const [bravo] = (await feed(s, 'ola', '?archived=true')).items;
    await ok('POST', `/v1/me/feed/${bravo.id}/unarchive`, undefined, s.tokens.ola);
    await until(async () => (await bodies(two.bell)).join() === 'Bravo', 'the other tab lists the unarchived item');
    await until(async () => (await bodies(one.bell)).join() === 'Bravo', 'so does the first');
    await one.context.close();
    await two.context.close();
  });
});
