// The live stream (Server-Sent Events) and this tab's presence. A tab is active when it
// is focused and visible; the server routes pop-ups to the active tab and browser
// notifications to open tabs when none is active.

import { enc } from './api.js';
import { newId } from './dom.js';

export function tabIsActive() {
  return document.visibilityState === 'visible' && document.hasFocus();
}

export class Realtime extends EventTarget {
  constructor({ base, token, api }) {
    super();
    this.base = base;
    this.token = token;
    this.api = api;
    this.tabId = newId('tab_');
    this.active = tabIsActive();
    this.es = null;
    this.retryMs = 1000;
    this.stopped = false;
    this.onPresence = () => this.reportPresence();
  }

  start() {
    for (const ev of ['focus', 'blur', 'pageshow']) window.addEventListener(ev, this.onPresence);
    document.addEventListener('visibilitychange', this.onPresence);
    this.open();
  }

  stop() {
    this.stopped = true;
    for (const ev of ['focus', 'blur', 'pageshow']) window.removeEventListener(ev, this.onPresence);
    document.removeEventListener('visibilitychange', this.onPresence);
    if (this.es) this.es.close();
  }

  open() {
    if (this.stopped) return;
    this.active = tabIsActive();
    const url = `${this.base}/v1/me/stream?tab_id=${enc(this.tabId)}&active=${this.active}&token=${enc(this.token)}`;
    const es = new EventSource(url);
    this.es = es;
    let opened = false;
    es.addEventListener('open', () => {
      this.retryMs = 1000;
      // A reconnect reuses the first URL, whose `active` may be stale by now.
      if (opened) this.sendPresence(tabIsActive());
      opened = true;
      this.emit('status', 'open');
    });
    es.addEventListener('notification', (e) => {
      try { this.emit('notification', JSON.parse(e.data)); } catch { /* a frame we cannot read */ }
    });
    // A grouped item took in another notification: its new title, count and place.
    es.addEventListener('notification_updated', (e) => {
      try { this.emit('notification_updated', JSON.parse(e.data)); } catch { /* a frame we cannot read */ }
    });
    es.addEventListener('unread_count', (e) => {
      try { this.emit('unread', JSON.parse(e.data).unread); } catch { /* ignore */ }
    });
    // An item archived, unarchived or snoozed on another tab (or this one).
    es.addEventListener('feed_changed', (e) => {
      try { this.emit('feed_changed', JSON.parse(e.data)); } catch { /* ignore */ }
    });
    // The server ends the stream when the user token expires. A host that can sign a
    // fresh one sets `window.VarselTokenProvider` (a function returning the token or a
    // promise of it); without one, reconnecting finds out whether the old one still works.
    es.addEventListener('token_expired', () => {
      es.close();
      this.renew();
    });
    es.addEventListener('error', () => {
      if (es.readyState === EventSource.CLOSED) this.recover();
      else this.emit('status', 'reconnecting');
    });
  }

  async renew() {
    this.emit('status', 'reconnecting');
    const provider = typeof window.VarselTokenProvider === 'function' ? window.VarselTokenProvider : null;
    if (provider) {
      try {
        const fresh = await provider();
        if (typeof fresh === 'string' && fresh) {
          this.token = fresh;
          this.api.token = fresh;
          this.emit('token', fresh);
          this.open();
          return;
        }
      } catch { /* the host could not renew it: fall through */ }
    }
    this.recover();
  }

  /** The browser gave up (an HTTP error): find out why, then try again later or stop. */
  async recover() {
    this.emit('status', 'reconnecting');
    try {
      await this.api.get('/v1/me/feed/unread-count');
    } catch (e) {
      if (e.status === 401 || e.status === 403) {
        this.emit('status', 'unauthorized');
        return;
      }
    }
    const wait = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, 30000);
    setTimeout(() => this.open(), wait);
  }

  reportPresence() {
    const now = tabIsActive();
    if (now === this.active) return;
    this.sendPresence(now);
  }

  sendPresence(active) {
    this.active = active;
    this.api.post('/v1/me/presence', { tab_id: this.tabId, active }).catch(() => {});
    this.emit('presence', active);
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
