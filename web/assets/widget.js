// The embeddable part of Varsel: the bell, the pop-ups and the browser notifications,
// driven by one controller per page. `mount()` is what `/ui/varsel.js` calls; the
// settings page mounts it in its own header.

import { createClient, enc } from './api.js';
import { getLocale, pickLocale, setLocale, t } from './i18n.js';
import { Realtime } from './realtime.js';
import { FaviconDot } from './favicon.js';
import { playSound, unlockAudioOnGesture } from './sounds.js';
import { safeUrl } from './dom.js';
import { VarselBell } from './bell.js';
import { VarselToasts } from './toasts.js';

if (!customElements.get('varsel-bell')) customElements.define('varsel-bell', VarselBell);
if (!customElements.get('varsel-toasts')) customElements.define('varsel-toasts', VarselToasts);

const PAGE = 20;

/** The bell's views: the list, only its unread items, the archived items. */
export const FILTERS = ['all', 'unread', 'archived'];
/** The snooze choices the server resolves in the user's timezone (docs/API.md). */
export const SNOOZE_PRESETS = ['one_hour', 'this_afternoon', 'tomorrow', 'next_monday'];

/** Highest position first (a snoozed item that came back is on top); newest first for
 *  items without one. */
function byPosition(a, b) {
  const pa = Number(a.position);
  const pb = Number(b.position);
  if (Number.isFinite(pa) && Number.isFinite(pb) && pa !== pb) return pb - pa;
  return a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0;
}

/** The state of the bell for one signed-in user, fed by the API and the stream. */
export class Controller extends EventTarget {
  constructor({ base, token, preferencesUrl, embedded = false }) {
    super();
    this.base = base;
    this.token = token;
    this.api = createClient({ base, token });
    this.items = [];
    this.nextCursor = null;
    // Which view the list holds ('all', 'unread', 'archived'), whether its first page is
    // on its way, and a counter that tells answers for an older view from current ones.
    this.filter = 'all';
    this.loading = false;
    this.view = 0;
    this.unread = 0;
    this.prefs = null;
    this.status = 'connecting';
    this.favicon = new FaviconDot(`${base}/ui/assets/favicon.svg`);
    this.preferencesUrl = preferencesUrl || `${base}/ui/preferences`;
    // Embedded in a host's page, Varsel's own settings page opens in a new tab: the host's
    // tab stays where it is. A host that names its own settings page keeps the same tab.
    this.prefsNewTab = embedded && !preferencesUrl;
    this.realtime = new Realtime({ base, token, api: this.api });
    // The members of grouped items, by item id: {state: 'loading'|'ok'|'error', members, error}.
    this.groups = new Map();
  }

  async start() {
    this.realtime.addEventListener('notification', (e) => this.onFrame(e.detail));
    this.realtime.addEventListener('notification_updated', (e) => this.onFrame(e.detail, true));
    this.realtime.addEventListener('unread', (e) => this.setUnread(e.detail));
    this.realtime.addEventListener('feed_changed', (e) => this.onFeedChanged(e.detail));
    this.realtime.addEventListener('token', (e) => { this.token = e.detail; });
    this.realtime.addEventListener('status', (e) => {
      this.status = e.detail;
      this.changed();
    });
    window.addEventListener('varsel:prefs', (e) => {
      if (e.detail && e.detail.from !== this) this.setPrefs(e.detail.doc, false);
    });
    // Items first, then the stream: its frames update what is loaded.
    const [prefs, feed] = await Promise.allSettled([
      this.api.get('/v1/me/preferences'),
      this.api.get(this.feedPath()),
    ]);
    if (prefs.status === 'fulfilled') this.setPrefs(prefs.value, false);
    if (feed.status === 'fulfilled') {
      this.mergeItems(feed.value.items);
      this.nextCursor = feed.value.next_cursor || null;
    } else if (feed.reason && feed.reason.status === 401) {
      this.status = 'unauthorized';
    }
    this.changed();
    if (this.status !== 'unauthorized') this.realtime.start();
  }

  /** A link to the settings page, optionally at one type. Other origins get the token,
   *  since the page cannot read this origin's session. */
  prefsLink(type) {
    const url = new URL(this.preferencesUrl, window.location.href);
    if (type) url.searchParams.set('type', type);
    if (url.origin !== window.location.origin) url.searchParams.set('token', this.token);
    if (type) url.hash = 'desktop';
    return url.href;
  }

  changed() {
    this.dispatchEvent(new Event('change'));
    this.updateFavicon();
  }

  setPrefs(doc, announce) {
    if (!doc || !doc.tabs) return;
    this.prefs = doc;
    if (announce) window.dispatchEvent(new CustomEvent('varsel:prefs', { detail: { doc, from: this } }));
    this.changed();
  }

  setUnread(n) {
    this.unread = Math.max(0, Number(n) || 0);
    this.changed();
  }

  updateFavicon() {
    const d = this.prefs && this.prefs.tabs.desktop;
    const wanted = !!(d && d.bell.enabled && d.bell.favicon_dot && this.unread > 0);
    this.favicon.set(wanted);
  }

  mergeItems(list, atTop = false) {
    for (const item of list) {
      const i = this.items.findIndex((x) => x.id === item.id);
      if (i >= 0) this.items[i] = { ...this.items[i], ...item };
      else if (atTop) this.items.unshift(item);
      else this.items.push(item);
    }
    this.items.sort(byPosition);
  }

  /** The feed's address for the current view (and a page of it). */
  feedPath(cursor) {
    let path = `/v1/me/feed?limit=${PAGE}`;
    if (this.filter === 'unread') path += '&unread=true';
    else if (this.filter === 'archived') path += '&archived=true';
    if (cursor) path += `&cursor=${enc(cursor)}`;
    return path;
  }

  /** Shows another view ('all', 'unread', 'archived'): loads its first page. */
  async setFilter(filter) {
    if (!FILTERS.includes(filter)) throw new Error(`unknown filter: ${filter}`);
    this.filter = filter;
    const view = ++this.view;
    this.items = [];
    this.nextCursor = null;
    this.loading = true;
    this.changed();
    try {
      const page = await this.api.get(this.feedPath());
      if (view !== this.view) return;
      // Frames that came in meanwhile are already listed; the page joins them.
      this.mergeItems(page.items);
      this.nextCursor = page.next_cursor || null;
    } finally {
      if (view === this.view) {
        this.loading = false;
        this.changed();
      }
    }
  }

  /** Whether a stream frame's item belongs in the current view. Archived items are not
   *  in the list, and the archived view takes no new items (the badge still follows). */
  listsFrame(item) {
    if (this.filter === 'archived' || item.archived_at || item.snoozed_until) return false;
    if (this.filter === 'unread') return !item.read_at || this.items.some((x) => x.id === item.id);
    return true;
  }

  /** Keeps this tab's list like the others when an item is archived, unarchived or
   *  snoozed elsewhere: it leaves the list, or the view is loaded again to take it in. */
  onFeedChanged({ id, change } = {}) {
    const listed = this.items.some((x) => x.id === id);
    const joinsThisView = (change === 'archived') === (this.filter === 'archived') && change !== 'snoozed';
    if (joinsThisView) {
      if (!listed) this.setFilter(this.filter).catch(() => {});
    } else if (listed) {
      this.items = this.items.filter((x) => x.id !== id);
      this.changed();
    }
  }

  /** A `notification` frame, or (`updated`) a `notification_updated` one: a grouped item
   *  that took in another notification. That item is news: it is replaced and moves to
   *  the top (or joins the list like a new one when it is not listed). */
  onFrame(f, updated = false) {
    const { popup, browser, bell, ...item } = f;
    if (updated) this.takeUpdate(item, bell !== false);
    else if (bell !== false && this.listsFrame(item)) this.mergeItems([item], true);
    if (popup) {
      this.dispatchEvent(new CustomEvent('popup', { detail: { item, sound: popup.sound } }));
      playSound(popup.sound);
    }
    if (browser) this.browserNotification(item);
    this.changed();
  }

  takeUpdate(item, toBell) {
    const lists = toBell && this.listsFrame(item);
    const i = this.items.findIndex((x) => x.id === item.id);
    const old = i >= 0 ? this.items.splice(i, 1)[0] : null;
    // Its members changed: an open group loads them again.
    const group = this.groups.get(item.id);
    this.groups.delete(item.id);
    if (lists) {
      const next = { ...(old || {}), ...item };
      // On top even if the server kept its position (the list is ordered by position).
      const top = this.items.reduce((m, x) => Math.max(m, Number(x.position)), -Infinity);
      if (Number.isFinite(top) && !(Number(next.position) > top)) next.position = top + 1;
      this.items.unshift(next);
      this.items.sort(byPosition);
    } else if (old) {
      // Not news for this view (the Archived one, or a frame not for the bell): the item
      // changes where it is.
      this.items.splice(i, 0, { ...old, ...item });
    }
    if (group && this.items.some((x) => x.id === item.id)) this.loadMembers(item.id).catch(() => {});
  }

  /** The notifications grouped into an item (`GET /v1/me/feed/{id}/members`), newest
   *  first; kept until the item changes. */
  async loadMembers(id) {
    const had = this.groups.get(id);
    this.groups.set(id, { state: 'loading', members: had ? had.members : [] });
    this.changed();
    try {
      const answer = await this.api.get(`/v1/me/feed/${enc(id)}/members`);
      this.groups.set(id, { state: 'ok', members: answer.members || [] });
    } catch (err) {
      this.groups.set(id, { state: 'error', members: [], error: err.message });
      throw err;
    } finally {
      this.changed();
    }
  }

  browserNotification(item) {
    if (!('Notification' in window) || Notification.permission !== 'granted') return;
    try {
      const n = new Notification(item.title, {
        body: item.body,
        tag: item.id,
        lang: getLocale(),
        icon: `${this.base}/ui/assets/favicon.svg`,
      });
      n.onclick = () => {
        window.focus();
        this.markRead(item.id);
        const url = safeUrl(item.url);
        if (url) window.location.assign(url);
        n.close();
      };
    } catch {
      // Some browsers only show notifications from a service worker.
    }
  }

  async markRead(id) {
    const item = this.items.find((x) => x.id === id);
    if (item && !item.read_at) {
      item.read_at = new Date().toISOString();
      this.changed();
    }
    await this.api.post(`/v1/me/feed/${enc(id)}/read`);
  }

  async markAllRead() {
    const now = new Date().toISOString();
    // The server marks the list's items, not the archived ones.
    if (this.filter !== 'archived') for (const item of this.items) if (!item.read_at) item.read_at = now;
    this.setUnread(0);
    await this.api.post('/v1/me/feed/read-all');
  }

  async markSeen() {
    if (this.items.some((x) => !x.seen_at)) {
      const now = new Date().toISOString();
      for (const item of this.items) if (!item.seen_at) item.seen_at = now;
      await this.api.post('/v1/me/feed/seen').catch(() => {});
    }
  }

  async loadMore() {
    if (!this.nextCursor) return;
    const view = this.view;
    const page = await this.api.get(this.feedPath(this.nextCursor));
    if (view !== this.view) return;
    this.mergeItems(page.items);
    this.nextCursor = page.next_cursor || null;
    this.changed();
  }

  /** Takes an item out of the current view at once, then asks the server; on failure the
   *  item (and the badge) are put back and the error is thrown again. */
  async moveOut(id, call) {
    const view = this.view;
    const i = this.items.findIndex((x) => x.id === id);
    const item = i >= 0 ? this.items[i] : null;
    // The unread count holds the list's unread items; archived ones are not in it.
    const counted = !!(item && !item.read_at && !item.archived_at);
    if (item) {
      this.items.splice(i, 1);
      if (counted) this.unread = Math.max(0, this.unread - 1);
      this.changed();
    }
    try {
      return await call();
    } catch (err) {
      if (item && view === this.view && !this.items.some((x) => x.id === id)) {
        this.mergeItems([item]);
        if (counted) this.unread += 1;
        this.changed();
      }
      throw err;
    }
  }

  /** Archives an item: it leaves the list and the unread count. */
  async archive(id) {
    await this.moveOut(id, () => this.api.post(`/v1/me/feed/${enc(id)}/archive`));
  }

  /** Moves an archived item back to the list. */
  async unarchive(id) {
    await this.moveOut(id, () => this.api.post(`/v1/me/feed/${enc(id)}/unarchive`));
  }

  /** Snoozes an item until a preset (`one_hour`, `this_afternoon`, `tomorrow`,
   *  `next_monday`) or a time (a Date or an RFC 3339 string); answers when it comes back
   *  (RFC 3339). It comes back over the stream, at the top. */
  async snooze(id, preset) {
    let body;
    if (SNOOZE_PRESETS.includes(preset)) body = { preset };
    else if (preset instanceof Date) body = { until: preset.toISOString() };
    else if (typeof preset === 'string' && !Number.isNaN(Date.parse(preset))) body = { until: preset };
    else throw new Error(`unknown snooze: ${preset}`);
    const answer = await this.moveOut(id, () => this.api.post(`/v1/me/feed/${enc(id)}/snooze`, body));
    return answer.snoozed_until;
  }

  async dontShow(type) {
    this.setPrefs(await this.api.post(`/v1/me/preferences/types/${enc(type)}/dont-show`), true);
  }

  async mute(type) {
    this.setPrefs(await this.api.post(`/v1/me/preferences/types/${enc(type)}/mute`), true);
  }
}

/** Puts the bell (into `target`, or floating at the top right) and the pop-ups on the page. */
export async function mount({ base = '', token, target, locale, preferencesUrl, embedded = false } = {}) {
  if (!token) {
    console.warn('Varsel: no user token (data-token) was given; the bell stays hidden.');
    return null;
  }
  const ctrl = new Controller({ base, token, preferencesUrl, embedded });
  if (locale) setLocale(pickLocale(locale));
  else if (!document.documentElement.dataset.varselLocale) {
    // The catalog answers in the user's own locale.
    ctrl.api.get('/v1/catalog').then((c) => setLocale(pickLocale(c.locale))).catch(() => {});
  }
  unlockAudioOnGesture();

  const bell = document.createElement('varsel-bell');
  const slot = typeof target === 'string' ? document.querySelector(target) : target;
  if (slot) slot.appendChild(bell);
  else {
    bell.setAttribute('floating', '');
    document.body.appendChild(bell);
  }
  const toasts = document.createElement('varsel-toasts');
  document.body.appendChild(toasts);
  bell.connect(ctrl);
  toasts.connect(ctrl);
  ctrl.bell = bell;
  ctrl.toasts = toasts;
  await ctrl.start();
  return ctrl;
}

export { t };
