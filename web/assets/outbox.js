// /ui/outbox: the emails Varsel kept because no SMTP server is configured. The outbox is
// read with the server's API key (`GET /v1/outbox`): `?key=` on the address, or typed in.

import { createClient, credentialFromPage, forgetCredential } from './api.js';
import { absoluteTime, pickLocale, setLocale, t } from './i18n.js';
import { esc } from './dom.js';
import { languageSwitch, translatePage } from './ui.js';

const KEY = 'varsel.key';

function keyForm(app, message) {
  app.innerHTML = `
    <form class="card key-form" id="key-form">
      <p class="row-desc" style="flex-basis:100%;margin:0">${esc(message)}</p>
      <label>${esc(t('outbox.key'))}<input type="password" name="key" autocomplete="off" required></label>
      <button class="btn primary" type="submit">${esc(t('outbox.show'))}</button>
    </form>`;
  app.querySelector('form').addEventListener('submit', (e) => {
    e.preventDefault();
    const key = new FormData(e.target).get('key');
    try { sessionStorage.setItem(KEY, key); } catch { /* ignore */ }
    load(app, String(key));
  });
}

function mailMarkup(m) {
  // The HTML part is shown in a sandboxed frame: no scripts, no same-origin access.
  const html = m.html
    ? `<h3>${esc(t('outbox.html'))}</h3><iframe sandbox="" title="${esc(m.subject)}" srcdoc="${esc(m.html)}"></iframe>`
    : '';
  const to = Array.isArray(m.to) ? m.to.join(', ') : m.to;
  return `
    <li class="mail" data-id="${esc(m.id)}">
      <details>
        <summary><span class="to">${esc(to)}</span><span class="subject">${esc(m.subject)}${m.type ? ` <span class="pill">${esc(m.type)}</span>` : ''}</span>
          <time datetime="${esc(m.created_at)}">${esc(absoluteTime(m.created_at))}</time></summary>
        <div class="bodies">
          <h3>${esc(t('outbox.text'))}</h3><pre>${esc(m.text || '')}</pre>
          ${html}
        </div>
      </details>
    </li>`;
}

async function load(app, key) {
  app.setAttribute('aria-busy', 'true');
  const api = createClient({ token: key });
  let data;
  try {
    data = await api.get('/v1/outbox?limit=50');
  } catch (e) {
    app.removeAttribute('aria-busy');
    if (e.status === 404) {
      app.innerHTML = `<div class="card empty-state" id="outbox-unavailable" role="status">${esc(t('outbox.unavailable'))}</div>`;
      return;
    }
    if (e.status === 401 || e.status === 403) {
      forgetCredential(KEY);
      keyForm(app, t('outbox.needKey'));
      return;
    }
    app.innerHTML = `<div class="card empty-state" role="alert">${esc(t('error.load', { message: e.message }))}</div>`;
    return;
  }
  app.removeAttribute('aria-busy');
  const items = data.items || [];
  let cursor = data.next_cursor || null;
  app.innerHTML = `
    <div class="card">
      <div class="topics-head"><h2>${esc(t('outbox.title'))}</h2>
        <button class="btn secondary" type="button" id="refresh">${esc(t('outbox.refresh'))}</button></div>
      ${items.length
        ? `<ul class="mail-list" id="outbox-list">${items.map(mailMarkup).join('')}</ul>`
        : `<p class="empty-state" id="outbox-empty">${esc(t('outbox.empty'))}</p>`}
      <p class="more-row"><button class="btn ghost" type="button" id="older" ${cursor ? '' : 'hidden'}>${esc(t('bell.loadMore'))}</button></p>
    </div>`;
  app.querySelector('#refresh').addEventListener('click', () => load(app, key));
  const older = app.querySelector('#older');
  older.addEventListener('click', async () => {
    try {
      const page = await api.get(`/v1/outbox?limit=50&cursor=${encodeURIComponent(cursor)}`);
      app.querySelector('#outbox-list').insertAdjacentHTML('beforeend', (page.items || []).map(mailMarkup).join(''));
      cursor = page.next_cursor || null;
      older.hidden = !cursor;
    } catch (e) {
      older.insertAdjacentText('afterend', ` ${t('error.load', { message: e.message })}`);
    }
  });
}

async function main() {
  setLocale(pickLocale(navigator.language));
  translatePage();
  const app = document.getElementById('app');
  const key = credentialFromPage('key', KEY);
  languageSwitch(document.getElementById('lang'), () => (key ? load(app, key) : keyForm(app, t('outbox.needKey'))));
  if (key) await load(app, key);
  else {
    app.removeAttribute('aria-busy');
    keyForm(app, t('outbox.needKey'));
  }
  document.body.dataset.ready = 'true';
}

main();
