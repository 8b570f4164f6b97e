// The admin page's "Connected apps": the account's Slack and Microsoft Teams connections
// (GET, PUT and DELETE /v1/accounts/{account}/connections/…; docs/CHANNELS.md).
//
// Secrets go one way: the bot token or workflow URL is sent once and the input is
// cleared after saving; the server answers only a hint (the token's last characters,
// the webhook's host), which is all the page ever shows.

import { enc } from './api.js';
import { absoluteTime, t } from './i18n.js';
import { esc } from './dom.js';
import { confirmDialog } from './ui.js';

const APPS = [
  { id: 'slack', field: 'bot_token', type: 'password', placeholder: 'xoxb-…' },
  { id: 'teams', field: 'webhook_url', type: 'url', placeholder: 'https://…' },
];

const appName = (id) => t(`other.${id}`);

/**
 * Draws the card into `el` and loads the connections.
 * api: the page's client; root: `/v1/accounts/{account}`; onStatus(text, kind): the
 * page's live status line.
 */
export async function showConnections(el, { api, root, onStatus }) {
  el.innerHTML = `
    <h2 class="set-title">${esc(t('apps.title'))}</h2>
    <p class="lead">${esc(t('apps.lead'))}</p>
    <div id="apps" aria-busy="true"><div class="loading"><span class="spinner"></span></div></div>`;
  const box = el.querySelector('#apps');
  let list;
  try {
    list = (await api.get(`${root}/connections`)).connections;
  } catch (e) {
    box.removeAttribute('aria-busy');
    box.innerHTML = `<p class="app-error" role="alert">${esc(t('error.load', { message: e.message }))}</p>`;
    return;
  }
  const state = Object.fromEntries(APPS.map((a) => [a.id, list.find((c) => c.provider === a.id && c.connected) || null]));
  box.removeAttribute('aria-busy');
  box.innerHTML = APPS.map(
    (a) => `
    <section class="card app" data-provider="${a.id}" aria-labelledby="app-${a.id}-title">
      <div class="app-head">
        <h3 id="app-${a.id}-title">${esc(appName(a.id))}</h3>
        <span class="pill" data-role="state"></span>
      </div>
      <p class="row-desc">${esc(t(`apps.${a.id}.desc`))}</p>
      <p class="app-detail" data-role="detail"></p>
      <form class="app-form" novalidate>
        <label class="field" for="app-${a.id}-input">${esc(t(`apps.${a.id}.label`))}</label>
        <input type="${a.type}" id="app-${a.id}-input" name="${a.field}" autocomplete="off" spellcheck="false"
          autocapitalize="off" placeholder="${esc(a.placeholder)}" aria-describedby="app-${a.id}-help app-${a.id}-error">
        <p class="help" id="app-${a.id}-help">${esc(t(`apps.${a.id}.help`))}</p>
        <p class="app-error" id="app-${a.id}-error" role="alert"></p>
        <div class="buttons">
          <button type="submit" class="btn primary" data-role="connect"></button>
          <button type="button" class="btn danger" data-role="disconnect"></button>
        </div>
      </form>
    </section>`,
  ).join('');

  const card = (id) => box.querySelector(`[data-provider="${id}"]`);

  function draw(id) {
    const c = state[id];
    const el2 = card(id);
    const pill = el2.querySelector('[data-role="state"]');
    pill.textContent = c ? t('other.connected') : t('other.notConnected');
    pill.classList.toggle('ok', !!c);
    el2.dataset.connected = String(!!c);
    const detail = el2.querySelector('[data-role="detail"]');
    const s = (c && c.settings) || {};
    const date = c ? absoluteTime(c.updated_at || c.created_at) : '';
    detail.textContent = !c
      ? ''
      : id === 'slack'
        ? t('apps.slack.detail', { hint: s.token_hint || '…', date })
        : t('apps.teams.detail', { host: s.webhook_host || '…', date });
    detail.hidden = !c;
    el2.querySelector('[data-role="connect"]').textContent = c ? t('apps.replace') : t('apps.connect');
    const off = el2.querySelector('[data-role="disconnect"]');
    off.textContent = t('apps.disconnect');
    off.hidden = !c;
  }

  function showError(id, message) {
    const el2 = card(id);
    el2.querySelector('.app-error').textContent = message;
    const input = el2.querySelector('input');
    if (message) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }

  // While a call runs, the card's buttons say so and ignore clicks; they are not disabled,
  // which would take the keyboard focus away from them.
  const pending = {};
  function busy(id, on) {
    const el2 = card(id);
    pending[id] = on;
    el2.setAttribute('aria-busy', String(on));
    for (const b of el2.querySelectorAll('button')) {
      if (on) b.setAttribute('aria-disabled', 'true');
      else b.removeAttribute('aria-disabled');
    }
  }

  for (const a of APPS) {
    draw(a.id);
    const el2 = card(a.id);
    const input = el2.querySelector('input');
    el2.querySelector('form').addEventListener('submit', async (e) => {
      e.preventDefault();
      if (pending[a.id]) return;
      const value = input.value.trim();
      if (!value) {
        showError(a.id, t(`apps.${a.id}.required`));
        input.focus();
        return;
      }
      showError(a.id, '');
      busy(a.id, true);
      try {
        state[a.id] = await api.put(`${root}/connections/${a.id}`, { [a.field]: value });
        // The secret is not kept in the page once the server has it.
        input.value = '';
        draw(a.id);
        onStatus(t('apps.done.connected', { app: appName(a.id) }), 'ok');
      } catch (err) {
        // Said once, next to the input (role="alert"); the input keeps what was typed.
        showError(a.id, t('apps.error.connect', { app: appName(a.id), message: err.message }));
      } finally {
        busy(a.id, false);
      }
    });
    input.addEventListener('input', () => {
      if (input.hasAttribute('aria-invalid')) showError(a.id, '');
    });
    el2.querySelector('[data-role="disconnect"]').addEventListener('click', async () => {
      if (pending[a.id]) return;
      const name = appName(a.id);
      if (!(await confirmDialog(t('apps.confirmDisconnect', { app: name }), t('apps.disconnect')))) return;
      showError(a.id, '');
      busy(a.id, true);
      try {
        await api.del(`${root}/connections/${enc(a.id)}`);
        state[a.id] = null;
        onStatus(t('apps.done.disconnected', { app: name }), 'ok');
      } catch (err) {
        if (err.status === 404) state[a.id] = null; // already gone
        else {
          showError(a.id, t('apps.error.disconnect', { app: name, message: err.message }));
        }
      } finally {
        busy(a.id, false);
        draw(a.id);
        // The Disconnect button is gone when it worked: keep focus in the card.
        if (!state[a.id]) input.focus();
      }
    });
  }
}
