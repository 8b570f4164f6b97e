// Web Push for the pages Varsel serves itself: registers the service worker at /sw.js
// (scope /) and hands the browser's push subscription to the server, so the user is told
// even with no Varsel tab open (Desktop → Browser). The embed (varsel.js) never
// calls this: it runs on the host application's origin, where Varsel has no worker.
//
// Nothing here may break the page: every failure (no service worker support, no push
// service reachable, a server without Web Push) is logged with console.info and answered
// as a state: 'subscribed', 'unsupported', 'no-key' (the server offers no Web Push),
// 'failed'.

export const SW_URL = '/sw.js';

/** The bytes of a base64url string (padded or not), as pushManager.subscribe wants them. */
export function base64UrlToBytes(s) {
  const b64 = String(s).replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function sameKey(buf, bytes) {
  if (!buf) return false;
  const a = new Uint8Array(buf);
  return a.length === bytes.length && a.every((v, i) => v === bytes[i]);
}

const log = (...args) => console.info('Varsel Web Push:', ...args);

/** Registers /sw.js and waits until a worker is active for this page. */
export async function registerWorker() {
  await navigator.serviceWorker.register(SW_URL, { scope: '/' });
  return navigator.serviceWorker.ready;
}

/**
 * Registers the worker, subscribes to push with the server's key and stores the
 * subscription (`POST /v1/me/devices`). Answers `{state, device?, error?}`; never throws.
 * @param {{get, post}} api  the page's API client (user token)
 */
export async function enableWebPush(api) {
  if (!('serviceWorker' in navigator) || !window.isSecureContext) {
    log('service workers are not available here');
    return { state: 'unsupported' };
  }
  let reg;
  try {
    reg = await registerWorker();
  } catch (e) {
    log('the service worker could not be registered:', e && e.message ? e.message : e);
    return { state: 'failed', error: String(e && e.message ? e.message : e) };
  }
  if (!('PushManager' in window) || !reg.pushManager) {
    log('this browser has no Push API');
    return { state: 'unsupported' };
  }
  let key;
  try {
    key = (await api.get('/v1/webpush/key')).public_key;
  } catch (e) {
    log(e.status === 404 ? 'the server offers no Web Push' : `the server's key could not be read: ${e.message}`);
    return { state: e.status === 404 ? 'no-key' : 'failed', error: e.message };
  }
  if (!key) {
    log('the server offers no Web Push');
    return { state: 'no-key' };
  }
  try {
    const applicationServerKey = base64UrlToBytes(key);
    let sub = await reg.pushManager.getSubscription();
    // A subscription for another key (the server's key changed) no longer works.
    if (sub && !sameKey(sub.options && sub.options.applicationServerKey, applicationServerKey)) {
      await sub.unsubscribe();
      sub = null;
    }
    if (!sub) sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey });
    const device = await api.post('/v1/me/devices', { kind: 'webpush', subscription: sub.toJSON() });
    return { state: 'subscribed', device };
  } catch (e) {
    const message = `${e && e.name ? e.name + ': ' : ''}${e && e.message ? e.message : e}`;
    log('no push subscription:', message);
    return { state: 'failed', error: message };
  }
}
