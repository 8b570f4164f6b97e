// Grouped bell items: comments on one object by several people become one item, which
// `notification_updated` frames change in place and move to the top; the badge counts it
// once; its disclosure lists the grouped notifications (`GET /v1/me/feed/{id}/members`).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE, launch, nextCall, ok, postEvent, prefsReady, putUser, screenshot, seedAccount, streamOpen, uid, until,
} from '../lib/harness.js';

// The built-in catalog's comment type, grouped in the bell (catalog/crm.toml: bell_grouping).
const COMMENT = 'comments.activity';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser.close();
});

/** Records the stream's frames by type in window.__frames, before the page's scripts run. */
const RECORD_FRAMES = `(() => {
  window.__frames = [];
  const add = EventSource.prototype.addEventListener;
  EventSource.prototype.addEventListener = function (type, fn, opts) {
    if (type === 'notification' || type === 'notification_updated') {
      add.call(this, type, (e) => window.__frames.push({ type, data: JSON.parse(e.data) }), opts);
    }
    return add.call(this, type, fn, opts);
  };
})();`;

const feed = (token) => ok('GET', '/v1/me/feed', undefined, token);
const frames = (page, type) => page.evaluate((t) => window.__frames.filter((f) => f.type === t).map((f) => f.data), type);

/** A comment by `actor` on the object `object` (the same object for a group). */
function comment(s, object, actor, to, { name = 'Q4 plan' } = {}) {
  return ok('POST', '/v1/events', {
    type: COMMENT,
    account_id: s.account,
    actor_id: actor,
    recipients: [to],
    object: { type: 'activity', id: object, name, url: `https://crm.example/activities/${object}` },
    data: { comment: `A comment by ${actor}` },
    source: 'ui',
  });
}

/** The settings page with the stream recorded, the bell connected and its panel open. */
async function openBell(token, locale = 'en-US') {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale, deviceScaleFactor: 1 });
  await context.addInitScript(RECORD_FRAMES);
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  const url = new URL(`${BASE}/ui/preferences`);
  url.searchParams.set('token', token);
  await page.goto(url.href);
  await prefsReady(page);
  await streamOpen(page);
  const bell = page.locator('varsel-bell');
  await bell.locator('button.bell').click();
  await bell.locator('.panel').waitFor();
  return { context, page, bell };
}

const items = (bell) => bell.locator('li.item');
const countOf = async (item) => ((await item.locator('.count').count()) ? Number(await item.locator('.count').textContent()) : 1);
const titleOf = async (item) => (await item.locator('.title').evaluate((el) => el.firstChild.textContent)).trim();

describe('grouped bell items', () => {
  test('three comments on one object by three people: one item, changed in place and moved to the top, counted once; its members open from the keyboard', async () => {
    const s = await seedAccount();
    await putUser(s.account, 'nina', { name: 'Nina Berg' });
    const object = uid('act');
    const { context, page, bell } = await openBell(s.tokens.ola);

    await comment(s, object, 'ada', 'ola');
    await until(async () => (await items(bell).count()) === 1, 'the first comment');
    const id = await items(bell).first().getAttribute('data-id');
    const single = await titleOf(items(bell).first());
    assert.match(single, /Ada Admin/);
    assert.equal(await items(bell).first().locator('.group-toggle').count(), 0, 'a single notification has nothing to open');

    // Something newer on top, then the second comment: the group is news again.
    await postEvent(s.account, { to: 'ola', actor: 'kari', name: 'Nordlys renewal' });
    await until(async () => (await items(bell).count()) === 2, 'a newer item');
    assert.notEqual(await items(bell).first().getAttribute('data-id'), id);
    await comment(s, object, 'kari', 'ola');
    await until(async () => (await countOf(items(bell).first())) === 2, 'the item counts two');
    assert.equal(await items(bell).first().getAttribute('data-id'), id, 'the same item, now at the top');
    await comment(s, object, 'nina', 'ola');
    await until(async () => (await countOf(items(bell).first())) === 3, 'the item counts three');

    assert.equal(await items(bell).count(), 2, 'one item for the three comments (and the deal)');
    const top = items(bell).first();
    assert.equal(await top.getAttribute('data-id'), id);
    const title = await titleOf(top);
    assert.notEqual(title, single, 'the title changed in place');
    assert.match(title, /Nina Berg/);
    assert.match(title, /2/);
    const updates = await frames(page, 'notification_updated');
    assert.deepEqual(updates.map((f) => [f.id, f.count]), [[id, 2], [id, 3]], 'two notification_updated frames');
    assert.equal((await frames(page, 'notification')).filter((f) => f.id === id).length, 1, 'one notification frame for the group');
    // The group is one unread item, however many comments it holds (plus the deal).
    await page.waitForSelector('varsel-bell[data-unread="2"]', { state: 'attached' });
    const f = await feed(s.tokens.ola);
    assert.equal(f.items.length, 2);
    assert.equal(f.items[0].id, id);
    assert.equal(f.items[0].count, 3);
    assert.deepEqual(f.items[0].actor_ids, ['nina', 'kari', 'ada']);
    assert.equal(f.items[0].title, title);
    await ok('POST', `/v1/me/feed/${f.items[1].id}/read`, undefined, s.tokens.ola);
    await page.waitForSelector('varsel-bell[data-unread="1"]', { state: 'attached' });

    // The disclosure, by keyboard: its members, newest first, loaded when opened.
    const toggle = top.locator('.group-toggle');
    assert.equal(await toggle.textContent(), '3 notifications');
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
    await toggle.focus();
    const loaded = nextCall(page, 'GET', `/v1/me/feed/${id}/members`);
    await page.keyboard.press('Enter');
    assert.equal((await loaded).status(), 200);
    const members = top.locator('.members .member');
    await until(async () => (await members.count()) === 3, 'three members');
    assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
    const shown = await members.locator('.m-title').allTextContents();
    assert.match(shown[0], /Nina Berg/);
    assert.match(shown[1], /Kari Nordmann/);
    assert.match(shown[2], /Ada Admin/);
    const api = await ok('GET', `/v1/me/feed/${id}/members`, undefined, s.tokens.ola);
    assert.deepEqual(api.members.map((m) => m.actor_id), ['nina', 'kari', 'ada']);
    assert.deepEqual(shown, api.members.map((m) => m.title));
    assert.equal(
      await page.evaluate(() => document.querySelector('varsel-bell').shadowRoot.activeElement.dataset.focus),
      `group-${id}`,
      'the focus stays on the toggle',
    );
    // The pop-ups of the comments would cover the panel in the picture.
    await page.evaluate(() => document.querySelector('varsel-toasts').shadowRoot.querySelectorAll('.toast').forEach((el) => el.remove()));
    await page.mouse.move(0, 0);
    await page.waitForTimeout(200);
    await screenshot(page, 'bell-grouped.png');

    // Space closes it again.
    await page.keyboard.press('Space');
    await until(async () => (await toggle.getAttribute('aria-expanded')) === 'false', 'closed');
    assert.equal(await top.locator('.members').isVisible(), false);
    await context.close();
  });

  test('a grouped item that is not listed joins the list when it changes', async () => {
    const s = await seedAccount();
    await putUser(s.account, 'nina', { name: 'Nina Berg' });
    const object = uid('act');
    await comment(s, object, 'ada', 'ola');
    const [first] = await until(async () => {
      const { items: list } = await feed(s.tokens.ola);
      return list.length ? list : null;
    }, 'the first comment');
    await ok('POST', `/v1/me/feed/${first.id}/read`, undefined, s.tokens.ola);

    const { context, page, bell } = await openBell(s.tokens.ola);
    // The Unread view: the read item is not in it.
    await bell.locator('.filter[data-filter="unread"]').click();
    await until(async () => (await bell.locator('li.empty').count()) === 1, 'an empty Unread view');
    await comment(s, object, 'kari', 'ola');
    await until(async () => (await items(bell).count()) === 1, 'the group joins the Unread view');
    assert.equal(await items(bell).first().getAttribute('data-id'), first.id);
    assert.equal(await countOf(items(bell).first()), 2);
    assert.equal(await items(bell).first().getAttribute('class'), 'item unread');
    await page.waitForSelector('varsel-bell[data-unread="1"]', { state: 'attached' });
    await context.close();
  });

  test('in Norwegian the grouped title and the disclosure are Norwegian', async () => {
    const s = await seedAccount();
    await putUser(s.account, 'nina', { name: 'Nina Berg' });
    const object = uid('act');
    const { context, bell } = await openBell(s.tokens.kari, 'nb-NO');
    for (const actor of ['ada', 'ola', 'nina']) await comment(s, object, actor, 'kari', { name: 'Q4-plan' });
    await until(async () => (await items(bell).count()) === 1 && (await countOf(items(bell).first())) === 3, 'one item of three');
    const title = await titleOf(items(bell).first());
    assert.match(title, /Nina Berg/);
    assert.match(title, /og 2 andre/);
    assert.equal(await items(bell).first().locator('.group-toggle').textContent(), '3 varsler');
    await context.close();
  });
});
