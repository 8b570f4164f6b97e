// The public API, as the pages and the widget use it: bearer auth, JSON in and out,
// errors as ApiError with the server's `{error: {code, message}}`.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || `http_${status}`;
  }
}

const TOKEN_KEY = 'varsel.token';

/** The credential a page was opened with: `?token=` (or `?key=` for the outbox) is moved
 *  into sessionStorage and taken out of the address bar, so it is not bookmarked or shared. */
export function credentialFromPage(param = 'token', storageKey = TOKEN_KEY) {
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get(param);
  if (fromUrl) {
    try { sessionStorage.setItem(storageKey, fromUrl); } catch { /* private mode: keep it in memory */ }
    url.searchParams.delete(param);
    history.replaceState(history.state, '', url.pathname + (url.search || '') + url.hash);
    return fromUrl;
  }
  try { return sessionStorage.getItem(storageKey) || ''; } catch { return ''; }
}

export function forgetCredential(storageKey = TOKEN_KEY) {
  try { sessionStorage.removeItem(storageKey); } catch { /* ignore */ }
}

/** The claims of a user token (not verified here: the server does that). */
export function claimsOf(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(
      atob(part).split('').map((c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''),
    );
    return JSON.parse(json);
  } catch {
    return null;
  }
}

export function createClient({ base = '', token }) {
  async function call(method, path, body) {
    const headers = { Accept: 'application/json' };
    // Read at each call: the bell swaps in a renewed token (see realtime.js).
    if (client.token) headers.Authorization = `Bearer ${client.token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let resp;
    try {
      resp = await fetch(base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(0, 'network', e && e.message ? e.message : 'network error');
    }
    if (resp.status === 204) return null;
    let data = null;
    const text = await resp.text();
    if (text) {
      try { data = JSON.parse(text); } catch { data = null; }
    }
    if (!resp.ok) {
      const err = data && data.error ? data.error : {};
      throw new ApiError(resp.status, err.code, err.message);
    }
    return data;
  }
  const client = {
    base,
    token,
    get: (p) => call('GET', p),
    post: (p, b) => call('POST', p, b),
    put: (p, b) => call('PUT', p, b),
    patch: (p, b) => call('PATCH', p, b),
    del: (p) => call('DELETE', p),
  };
  return client;
}

export const enc = encodeURIComponent;
