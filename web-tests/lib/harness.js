// Shared by the browser tests: the API (with the server key), fresh accounts and users,
// user tokens, events, and headless Debian Chromium through playwright-core.
//
// scripts/browser-test starts the real `varsel serve` and sets UI_TEST_URL and
// UI_TEST_API_KEY; each test makes its own account, so tests never see each other's data.

import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const BASE = process.env.UI_TEST_URL || 'http://127.0.0.1:8080';
export const KEY = process.env.UI_TEST_API_KEY || '';
export const SHOTS = process.env.UI_TEST_SCREENSHOTS || join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'screenshots');

let counter = 0;
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${process.pid}-${counter}`;
}

/** One API call; answers `{status, body}` and never throws on an HTTP error status. */
export async function api(method, path, body, auth = KEY) {
  const headers = { Authorization: `Bearer ${auth}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const resp = await fetch(BASE + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await resp.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = text; }
  return { status: resp.status, body: json };
}

/** Like api(), but fails unless the status is 2xx. */
export async function ok(method, path, body, auth) {
  const r = await api(method, path, body, auth);
  if (r.status < 200 || r.status > 299) throw new Error(`${method} ${path} → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

export async function putUser(account, id, { name, locale = 'en', roles = [], permissions = ['forms', 'inbox'] } = {}) {
  return ok('PUT', `/v1/accounts/${account}/users/${id}`, {
    email: `${id}@${account}.example`,
    name: name || id,
    locale,
    timezone: 'Europe/Oslo',
    roles,
    permissions,
    flags: { visited_inbox: true },
  });
}

export async function tokenFor(account, user) {
  return (await ok('POST', '/v1/tokens', { account_id: account, user_id: user, ttl_seconds: 3600 })).token;
}

/** A fresh enterprise account with a super admin (ada, English), kari (Norwegian) and ola. */
export async function seedAccount(tier = 'enterprise') {
  const account = uid('acct');
  await ok('PUT', `/v1/accounts/${account}`, { name: 'Acme AS', tier });
  await putUser(account, 'ada', { name: 'Ada Admin', roles: ['super_admin'] });
  await putUser(account, 'kari', { name: 'Kari Nordmann', locale: 'nb', roles: ['sales'] });
  await putUser(account, 'ola', { name: 'Ola Hansen', roles: ['sales'] });
  const tokens = {
    ada: await tokenFor(account, 'ada'),
    kari: await tokenFor(account, 'kari'),
    ola: await tokenFor(account, 'ola'),
  };
  return { account, tokens };
}

/** Posts an event with the server key; each call is a new activity (mentions notify once). */
export async function postEvent(account, { type = 'deals.stage_changed', to, actor = 'ada', name = 'Q4 renewal', url, data } = {}) {
  const id = uid('obj');
  return ok('POST', '/v1/events', {
    type,
    account_id: account,
    actor_id: actor,
    recipients: Array.isArray(to) ? to : [to],
    object: { type: 'deal', id, name, url: url || `https://crm.example/deals/${id}` },
    data: data || { stage: 'Contract sent' },
    source: 'ui',
  });
}

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];

export async function launch() {
  return chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

/** A browser with an on-disk profile in `dir` (a browser context like a user's own, not
 *  the off-the-record ones `browser.newContext()` makes); close the context to stop it. */
export async function launchPersistent(dir, options = {}) {
  return chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
    ...options,
  });
}

/** Records every `new Notification(…)` in window.__notifications, then lets the real one run. */
const CAPTURE = `(() => {
  window.__notifications = [];
  window.__sounds = [];
  window.addEventListener('varsel:sound', (e) => window.__sounds.push(e.detail));
  const Real = window.Notification;
  if (!Real) return;
  class Recorded extends Real {
    constructor(title, options) {
      window.__notifications.push({ title, body: options && options.body, tag: options && options.tag });
      super(title, options);
    }
  }
  window.Notification = Recorded;
})();`;

/** A new browser context (its own storage) and page, at `path` with `token`. */
export async function openPage(browser, path, { token, grant = false, viewport = { width: 1280, height: 900 }, locale = 'en-US' } = {}) {
  const context = await browser.newContext({ viewport, locale, deviceScaleFactor: 1 });
  if (grant) await context.grantPermissions(['notifications'], { origin: BASE });
  await context.addInitScript(CAPTURE);
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  const url = new URL(BASE + path);
  if (token) url.searchParams.set('token', token);
  await page.goto(url.href);
  return { context, page };
}

/** Waits until the settings page has loaded its data and the bell is connected. */
export async function prefsReady(page) {
  await page.waitForSelector('body[data-ready="true"]');
}

export async function screenshot(page, name, options = {}) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, name), ...options });
}

/** Makes the page look hidden and unfocused, and tells it (as the browser would). */
export async function hidePage(page) {
  const presence = page.waitForRequest((r) => r.url().endsWith('/v1/me/presence') && r.postDataJSON().active === false);
  await page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
    document.hasFocus = () => false;
    window.dispatchEvent(new Event('blur'));
    document.dispatchEvent(new Event('visibilitychange'));
  });
  const req = await presence;
  await req.response();
}

/** Polls `fn` until it returns a truthy value (returned) or the time is up (throws with `what`). */
export async function until(fn, what, timeout = 10000) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}

/** Waits until the bell's stream is connected (the server has the tab registered). */
export async function streamOpen(page) {
  await page.waitForSelector('varsel-bell[data-stream="open"]', { state: 'attached' });
}

/** The row of a type on the settings page. */
export function typeRow(page, type) {
  return page.locator(`li.type[data-type="${type}"]`);
}

/** Expands a section of the current tab unless it is open. */
export async function expand(page, section) {
  const btn = page.locator(`button.section-toggle[data-section="${section}"]`);
  if ((await btn.getAttribute('aria-expanded')) !== 'true') await btn.click();
}

/** Resolves with the response of the next call `method path` (path: the end of the URL's path, or a RegExp). */
export function nextCall(page, method, path) {
  const hit = (p) => (path instanceof RegExp ? path.test(p) : p.endsWith(path));
  return page.waitForResponse((r) => r.request().method() === method && hit(new URL(r.url()).pathname));
}

/** The ids of the type rows a person can see now. */
export function visibleTypes(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('li.type')].filter((li) => li.offsetParent !== null).map((li) => li.dataset.type),
  );
}

/** The colour where the red dot would be on the page's favicon, as [r, g, b, a]. */
export function faviconDotPixel(page) {
  return page.evaluate(async () => {
    const link = document.querySelector('link[rel~="icon"]');
    const img = new Image();
    img.src = link.href;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = 64;
    c.height = 64;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0, 64, 64);
    const r = 64 * 0.22;
    return [...g.getImageData(Math.round(64 - r - 2), Math.round(r + 2), 1, 1).data];
  });
}

export const isRed = ([r, g, b, a]) => a > 200 && r > 190 && g < 90 && b < 120;

/** Top of the page, no focus ring, no fading "Saved" note: for the screenshots. */
export async function tidy(page) {
  await page.evaluate(() => {
    document.activeElement.blur();
    window.scrollTo(0, 0);
  });
  await page.mouse.move(0, 0);
  await page.waitForFunction(() => !document.querySelector('#save-status.show'), null, { timeout: 5000 });
  // Pop-ups slide in for 0.22 s.
  await page.waitForTimeout(400);
}

