// The UI as the server serves it: routes, content types, caching, security headers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE } from '../lib/harness.js';

test('pages are HTML with a CSP and no referrer; assets have their content types; ETags revalidate', async () => {
  for (const path of ['/ui/preferences', '/ui/admin', '/ui/outbox', '/ui/demo-host']) {
    const r = await fetch(BASE + path);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8', path);
    assert.match(r.headers.get('content-security-policy'), /script-src 'self'/, path);
    assert.equal(r.headers.get('referrer-policy'), 'no-referrer', path);
    assert.equal(r.headers.get('cache-control'), 'no-cache', path);
    assert.match(await r.text(), /<!doctype html>/i);
  }
  const js = await fetch(`${BASE}/ui/varsel.js`);
  assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(js.headers.get('access-control-allow-origin'), '*');
  assert.match(await js.text(), /document\.currentScript/);
  for (const [path, type] of [
    ['/ui/assets/widget.js', 'text/javascript; charset=utf-8'],
    ['/ui/assets/app.css', 'text/css; charset=utf-8'],
    ['/ui/assets/favicon.svg', 'image/svg+xml'],
  ]) {
    const r = await fetch(BASE + path);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers.get('content-type'), type, path);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    const etag = r.headers.get('etag');
    assert.match(etag, /^"[0-9a-f]{32}"$/);
    const again = await fetch(BASE + path, { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304, `${path} revalidates`);
  }
  const missing = await fetch(`${BASE}/ui/assets/nope.js`);
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).error.code, 'not_found');
  const sneaky = await fetch(`${BASE}/ui/assets/..%2F..%2FCargo.toml`);
  assert.equal(sneaky.status, 404);
  const root = await fetch(`${BASE}/ui`, { redirect: 'manual' });
  assert.equal(root.status, 303);
  assert.equal(root.headers.get('location'), '/ui/preferences');
});

test('the service worker is at /sw.js, allowed the whole origin, revalidated', async () => {
  const r = await fetch(`${BASE}/sw.js`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(r.headers.get('service-worker-allowed'), '/');
  assert.equal(r.headers.get('cache-control'), 'no-cache');
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.match(await r.text(), /showNotification/);
  const again = await fetch(`${BASE}/sw.js`, { headers: { 'If-None-Match': r.headers.get('etag') } });
  assert.equal(again.status, 304);
  assert.equal(again.headers.get('service-worker-allowed'), '/');
});
