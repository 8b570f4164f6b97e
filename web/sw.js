// Varsel's service worker, served at /sw.js with scope / (see docs/UI.md, "Web Push").
//
// It shows Web Push messages as OS notifications when no Varsel page is showing: the
// server sends Web Push only while the user has no tab on the stream, and a visible
// page with the bell shows its own pop-up or notification, so this worker checks again
// before showing anything. It has no fetch handler: pages and the API load from the
// network as if it were not there.
//
// The payload (crates/delivery/src/webpush.rs, `payload_json`):
//   {"id": "<notification id>:webpush", "title": "…", "body": "…",
//    "url"?: "https://…", "sound"?: "chime", "badge"?: 3}

'use strict';

const ICON = '/ui/assets/favicon.svg';
// Where a click goes when the notification has no link of its own.
const FALLBACK_URL = '/ui/preferences';
// The pages of this origin that carry the bell (and so the live stream): while one of
// them is visible, it tells the user itself.
const BELL_PAGES = ['/ui/preferences', '/ui/demo-host'];

self.addEventListener('install', () => {
  self.skipWaiting();
});

self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
});

/** The payload as an object, or null for anything we cannot read. */
function readPayload(data) {
  if (!data) return null;
  let p;
  try {
    p = data.json();
  } catch {
    return null;
  }
  if (!p || typeof p !== 'object' || Array.isArray(p)) return null;
  if (typeof p.title !== 'string' || !p.title) return null;
  return p;
}

/** An http(s) link, absolute; anything else (javascript:, data:, junk) is dropped. */
function safeUrl(u) {
  if (typeof u !== 'string' || !u) return null;
  try {
    const url = new URL(u, self.location.origin);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch {
    return null;
  }
}

/** The pages of this origin with the bell that are open and showing. */
async function visibleBellPages() {
  const list = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  return list.filter((c) => {
    if (c.visibilityState !== 'visible') return false;
    try {
      const path = new URL(c.url).pathname;
      return BELL_PAGES.some((p) => path === p || path.startsWith(p + '/'));
    } catch {
      return false;
    }
  });
}

async function onPush(payload) {
  const id = typeof payload.id === 'string' && payload.id ? payload.id : undefined;
  const showing = await visibleBellPages();
  if (showing.length) {
    // The page tells the user itself; it hears that a push came (and was left to it).
    for (const c of showing) c.postMessage({ type: 'varsel:push-skipped', id });
    return;
  }
  const url = safeUrl(payload.url);
  const options = {
    body: typeof payload.body === 'string' ? payload.body : '',
    icon: ICON,
    data: { url, id },
    silent: payload.sound === 'none',
  };
  // Tagged with the notification's id (without the `:webpush` delivery suffix), like the
  // tab's own browser notifications, so one replaces the other.
  if (id) options.tag = id.split(':')[0];
  await self.registration.showNotification(payload.title, options);
  // The unread count on the installed app's icon, where the browser has one.
  if (Number.isInteger(payload.badge) && payload.badge >= 0 && self.navigator && self.navigator.setAppBadge) {
    try {
      await (payload.badge > 0 ? self.navigator.setAppBadge(payload.badge) : self.navigator.clearAppBadge());
    } catch {
      /* no badge here */
    }
  }
}

self.addEventListener('push', (event) => {
  const payload = readPayload(event.data);
  if (!payload) return;
  event.waitUntil(
    onPush(payload).catch((e) => {
      console.info('Varsel: could not show a push notification', e && e.message ? e.message : e);
    }),
  );
});

async function openOrFocus(target) {
  const list = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const same = list.find((c) => c.url === target);
  if (same && 'focus' in same) {
    try {
      return await same.focus();
    } catch {
      /* not allowed from here: open a new one */
    }
  }
  if (self.clients.openWindow) return self.clients.openWindow(target);
  return null;
}

self.addEventListener('notificationclick', (event) => {
  const n = event.notification;
  n.close();
  const target = safeUrl(n.data && n.data.url) || new URL(FALLBACK_URL, self.location.origin).href;
  event.waitUntil(
    openOrFocus(target).catch((e) => {
      console.info('Varsel: could not open', target, e && e.message ? e.message : e);
    }),
  );
});
