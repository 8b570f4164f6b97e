// /ui/preferences: the user's notification settings, with the bell in the header.

import { claimsOf, createClient, credentialFromPage } from './api.js';
import { getLocale, pickLocale, setLocale, t } from './i18n.js';
import { PrefsEditor, TABS } from './prefs-editor.js';
import { errorCard, languageSwitch, loadCatalog, showStatus, translatePage } from './ui.js';
import { mount } from './widget.js';
import { enableWebPush } from './webpush.js';

async function main() {
  const app = document.getElementById('app');
  // The browser's language until the user's own is known.
  setLocale(pickLocale(navigator.language));
  // Until the page has loaded, a new language just reloads it.
  let relocalize = () => window.location.reload();
  const fail = (title) => {
    translatePage();
    languageSwitch(document.getElementById('lang'), (l) => relocalize(l));
    errorCard(app, title);
  };
  const token = credentialFromPage();
  if (!token) return fail(t('auth.missing'));
  const api = createClient({ token });
  const claims = claimsOf(token) || {};
  let catalog;
  let doc;
  try {
    catalog = await loadCatalog(api);
    doc = await api.get('/v1/me/preferences');
  } catch (e) {
    return fail(e.status === 401 ? t('auth.invalid') : t('error.load', { message: e.message }));
  }
  translatePage();
  document.getElementById('who').textContent = claims.sub ? `${claims.sub} · ${claims.account}` : '';

  // Web Push (docs/UI.md): once per page load, when the browser may show notifications
  // and the user wants them (Desktop → Browser). Its outcome is in body[data-push].
  let push = null;
  const maybePush = (d) => {
    if (push || !('Notification' in window) || Notification.permission !== 'granted') return;
    if (!d || !d.tabs || !d.tabs.desktop || !d.tabs.desktop.browser.enabled) return;
    push = enableWebPush(api).then((r) => {
      document.body.dataset.push = r.state;
      return r;
    });
    window.varselPush = push;
  };

  const params = new URLSearchParams(window.location.search);
  const fromHash = window.location.hash.slice(1);
  app.removeAttribute('aria-busy');
  const editor = new PrefsEditor(app, {
    mode: 'user',
    idPrefix: 'me',
    catalog,
    doc,
    tab: TABS.includes(fromHash) ? fromHash : 'email',
    focusType: params.get('type'),
    save: (patch) => api.patch('/v1/me/preferences', patch),
    turnOffAll: (tab) => api.post(`/v1/me/preferences/${tab}/turn-off-all`),
    reset: () => api.post('/v1/me/preferences/reset'),
    onStatus: showStatus,
    onTab: (tab) => history.replaceState(history.state, '', `${window.location.pathname}${window.location.search}#${tab}`),
    // The bell on this page follows the settings at once (favicon dot, …).
    onChange: (d) => {
      window.dispatchEvent(new CustomEvent('varsel:prefs', { detail: { doc: d, from: 'page' } }));
      maybePush(d);
    },
    onPermission: (state, d) => {
      if (state === 'granted') maybePush(d);
    },
  });
  window.addEventListener('hashchange', () => {
    const tab = window.location.hash.slice(1);
    if (TABS.includes(tab) && tab !== editor.tab) editor.selectTab(tab);
  });
  window.addEventListener('varsel:prefs', (e) => {
    if (e.detail && e.detail.from !== 'page') editor.setDoc(e.detail.doc);
  });
  relocalize = async (locale) => {
    try {
      // The user's language is one setting: new bell items, pop-ups and emails follow it.
      await api.patch('/v1/me', { locale });
      editor.setCatalog(await loadCatalog(api, locale));
    } catch (e) {
      showStatus(t('error.load', { message: e.message }), 'error');
    }
  };
  languageSwitch(document.getElementById('lang'), (l) => relocalize(l));
  window.varselEditor = editor;
  await mount({ token, target: '#bell-slot', locale: getLocale() });
  document.body.dataset.ready = 'true';
}

main();
