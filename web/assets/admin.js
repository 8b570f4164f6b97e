// /ui/admin: account defaults and notification profiles, for super admins.
// The API answers 403 to anyone else, and the page says so.
//
// PUT replaces a whole layer, but the API shows layers as effective values. So the page
// sends only what a layer decides: account defaults keep the master switches and every
// checkbox whose built-in default is not known to be the same (the admin's own settings
// tell it: source "catalog"); a profile keeps what differs from the account defaults.
// Types whose sound follows the default pop-up sound keep following it. Quiet hours are
// one setting of a layer: a PUT of the account defaults carries their window (or leaves it
// out: none); a profile's PUT carries its window or `quiet_hours: null` (none), since it
// replaces the whole profile — also when only its name or whom it covers changes.
// "Connected apps" (Slack, Teams) is connections.js; `#connections` in the address opens it.

import { claimsOf, createClient, credentialFromPage, enc } from './api.js';
import { pickLocale, setLocale, t } from './i18n.js';
import { esc } from './dom.js';
import { showConnections } from './connections.js';
import { PrefsEditor, TABS } from './prefs-editor.js';
import { confirmDialog, errorCard, languageSwitch, loadCatalog, showStatus, translatePage } from './ui.js';

const SWITCHES = [
  'email.enabled',
  'desktop.bell.enabled',
  'desktop.bell.favicon_dot',
  'desktop.popup.enabled',
  'desktop.popup.sound',
  'desktop.browser.enabled',
  'other_apps.slack.enabled',
  'other_apps.teams.enabled',
];

const get = (obj, path) => path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
function set(obj, keys, value) {
  let o = obj;
  keys.slice(0, -1).forEach((k) => {
    o[k] = o[k] || {};
    o = o[k];
  });
  o[keys[keys.length - 1]] = value;
}
const clone = (x) => JSON.parse(JSON.stringify(x));

/** Deep-merges a patch's `tabs` into a view; a patch's `quiet_hours` replaces the view's. */
function merge(view, patch) {
  const walk = (dst, src) => {
    for (const [k, v] of Object.entries(src)) {
      if (v && typeof v === 'object' && !Array.isArray(v) && dst[k] && typeof dst[k] === 'object') walk(dst[k], v);
      else dst[k] = v;
    }
  };
  const next = clone(view);
  walk(next.tabs, patch.tabs || {});
  if ('quiet_hours' in patch) next.quiet_hours = patch.quiet_hours;
  return next;
}

/** A layer's quiet hours as a PUT takes them (a view's window without its `source`). */
function quietOf(view) {
  const q = view && view.quiet_hours;
  if (!q) return undefined;
  const out = { enabled: q.enabled, start: q.start, end: q.end, days: q.days || [] };
  if (q.timezone) out.timezone = q.timezone;
  return out;
}

/** The body of a PUT of the account defaults: what they decide of the tabs, and their
 *  quiet hours. */
function layerBody(view, base, prev, patch) {
  const body = { tabs: layerTabs(view, base, prev, patch) };
  const quiet = quietOf(view);
  if (quiet) body.quiet_hours = quiet;
  return body;
}

/**
 * The `tabs` to store for a layer shown as `view`.
 * base.switch(path) / base.on(tab, id) / base.sound(id): the value the layer below gives,
 * or undefined when unknown (then the value is stored).
 * prev: the view before this change; patch: the change (its explicit sounds are kept).
 */
function layerTabs(view, base, prev, patch) {
  const tabs = {};
  for (const path of SWITCHES) {
    const v = get(view.tabs, path);
    if (v !== undefined && base.switch(path) !== v) set(tabs, path.split('.'), v);
  }
  const defaults = new Set([prev.tabs.desktop.popup.sound, view.tabs.desktop.popup.sound]);
  for (const tab of TABS) {
    for (const [id, s] of Object.entries(view.tabs[tab].types || {})) {
      if (!s.locked && base.on(tab, id) !== s.on) set(tabs, [tab, 'types', id, 'on'], s.on);
      if (tab !== 'desktop' || !s.sound) continue;
      const asked = get(patch, 'tabs.desktop.types') && patch.tabs.desktop.types[id] && patch.tabs.desktop.types[id].sound;
      const follows = defaults.has(s.sound) && !asked;
      if (!follows && base.sound(id) !== s.sound) set(tabs, [tab, 'types', id, 'sound'], s.sound);
    }
  }
  return tabs;
}

const splitList = (s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

async function main() {
  const app = document.getElementById('app');
  // The browser's language until the user's own is known.
  setLocale(pickLocale(navigator.language));
  // Until the page has loaded, a new language just reloads it.
  let relocalize = () => window.location.reload();
  let switchReady = false;
  const fail = (title, detail) => {
    translatePage();
    if (!switchReady) languageSwitch(document.getElementById('lang'), (l) => relocalize(l));
    errorCard(app, title, detail);
  };
  const token = credentialFromPage();
  if (!token) return fail(t('auth.missing'));
  const api = createClient({ token });
  const claims = claimsOf(token) || {};
  const account = claims.account || '';
  const root = `/v1/accounts/${enc(account)}`;
  let catalog;
  let defaults;
  let profiles;
  let people = null;
  try {
    catalog = await loadCatalog(api);
  } catch (e) {
    return fail(e.status === 401 ? t('auth.invalid') : t('error.load', { message: e.message }));
  }
  translatePage();
  languageSwitch(document.getElementById('lang'), (l) => relocalize(l));
  switchReady = true;
  document.getElementById('who').textContent = claims.sub ? `${claims.sub} · ${account}` : '';
  try {
    defaults = await api.get(`${root}/defaults`);
    profiles = (await api.get(`${root}/profiles`)).profiles;
    // The account's users and roles for the pickers; without them, free text.
    people = await api.get(`${root}/users`).catch(() => null);
  } catch (e) {
    if (e.status === 403 && e.code === 'tier_not_allowed') return fail(t('admin.tier'), e.message);
    if (e.status === 403) return fail(t('admin.refused'), t('admin.refusedDetail', { user: claims.sub, account }));
    return fail(e.status === 401 ? t('auth.invalid') : t('error.load', { message: e.message }));
  }
  // The admin's own settings show the built-in default of every type whose source is "catalog".
  const mine = await api.get('/v1/me/preferences').catch(() => null);
  const catalogBase = {
    switch: () => undefined,
    on: (tab, id) => {
      const s = mine && mine.tabs[tab].types[id];
      return s && s.source === 'catalog' ? s.on : undefined;
    },
    sound: () => undefined,
  };
  const accountBase = {
    switch: (path) => get(defaults.tabs, path),
    on: (tab, id) => (defaults.tabs[tab].types[id] || {}).on,
    sound: (id) => (defaults.tabs.desktop.types[id] || {}).sound,
  };

  let selected = 'defaults';
  let editor = null;
  app.removeAttribute('aria-busy');
  app.innerHTML = `
    <div class="admin">
      <nav class="admin-nav" id="admin-nav">
        <h2 id="nav-title" class="sr-only"></h2>
        <ul aria-labelledby="nav-title"><li><button type="button" class="nav-item" data-sel="defaults"></button></li></ul>
        <h2 id="profiles-title"></h2>
        <ul id="profile-list" aria-labelledby="profiles-title"></ul>
        <button type="button" class="btn secondary" id="new-profile"></button>
        <h2 id="apps-nav-title"></h2>
        <ul aria-labelledby="apps-nav-title"><li><button type="button" class="nav-item" data-sel="connections"></button></li></ul>
      </nav>
      <div class="admin-main" id="admin-main"></div>
    </div>`;
  const main = document.getElementById('admin-main');

  function renderNav() {
    document.getElementById('admin-nav').setAttribute('aria-label', t('admin.menu'));
    document.getElementById('nav-title').textContent = t('admin.nav');
    document.getElementById('apps-nav-title').textContent = t('tab.other_apps');
    const apps = app.querySelector('[data-sel="connections"]');
    apps.innerHTML = `${esc(t('apps.title'))}<span class="nav-sub">${esc(t('other.slack'))}, ${esc(t('other.teams'))}</span>`;
    apps.setAttribute('aria-current', String(selected === 'connections'));
    document.getElementById('profiles-title').textContent = t('admin.profiles');
    document.getElementById('new-profile').textContent = `+ ${t('admin.newProfile')}`;
    const def = app.querySelector('[data-sel="defaults"]');
    def.textContent = t('admin.defaults');
    def.setAttribute('aria-current', String(selected === 'defaults'));
    document.getElementById('profile-list').innerHTML = profiles
      .map((p) => {
        const who = [...p.roles, ...p.user_ids].join(', ') || t('admin.profile.nobody');
        return `<li><button type="button" class="nav-item" data-sel="${esc(p.id)}" aria-current="${selected === p.id}">
            ${esc(p.name)}<span class="nav-sub">${esc(who)}</span></button></li>`;
      })
      .join('');
  }

  function editorFor(el, doc, store, idPrefix, tab, profile = false) {
    let current = doc;
    return new PrefsEditor(el, {
      mode: 'admin',
      // Which layer the quiet hours card speaks of.
      layer: profile ? 'profile' : 'account',
      idPrefix,
      catalog,
      doc,
      tab,
      onStatus: showStatus,
      save: async (patch) => {
        const next = merge(current, patch);
        current = await store(next, current, patch);
        return current;
      },
      turnOffAll: async (tb) => {
        const next = clone(current);
        for (const s of Object.values(next.tabs[tb].types)) if (!s.locked) s.on = false;
        current = await store(next, current, { tabs: {} });
        return current;
      },
      reset: async () => {
        current = await store(null, current, { tabs: {} });
        return current;
      },
    });
  }

  function showDefaults(tab) {
    main.innerHTML = `
      <h2 class="set-title">${esc(t('admin.defaults'))}</h2>
      <p class="lead">${esc(t('admin.account', { account }))} · ${esc(t('page.admin.lead'))}</p>
      <div id="editor" class="prefs"></div>`;
    editor = editorFor(
      document.getElementById('editor'),
      defaults,
      async (next, prev, patch) => {
        const body = next ? layerBody(next, catalogBase, prev, patch) : {};
        defaults = await api.put(`${root}/defaults`, body);
        return defaults;
      },
      'def',
      tab,
    );
  }

  /** The body of a profile's PUT: the whole profile (a PUT replaces it), with its quiet
   *  hours or `null` for none. `view` null: an empty layer (no settings, no quiet hours). */
  function profileBody(p, view, prev, patch) {
    return {
      name: p.name,
      roles: p.roles,
      user_ids: p.user_ids,
      tabs: view ? layerTabs(view, accountBase, prev, patch) : {},
      quiet_hours: (view && quietOf(view)) || null,
    };
  }

  /** A profile as the server answered it; `quiet_hours` is absent when it has none. */
  function keep(p, saved) {
    Object.assign(p, saved);
    p.quiet_hours = saved.quiet_hours || null;
    return p;
  }

  /** What the profile's editor shows: its tabs and its own quiet hours. */
  const profileView = (p) => ({ tabs: p.tabs, quiet_hours: p.quiet_hours || null });

  function showProfile(id, tab) {
    const p = profiles.find((x) => x.id === id);
    if (!p) return showDefaults(tab);
    main.innerHTML = `
      <h2 class="set-title" id="profile-title">${esc(p.name)}</h2>
      <p class="lead">${esc(t('admin.profile.covers', { roles: p.roles.join(', ') || '–', users: p.user_ids.join(', ') || '–' }))}</p>
      <form class="card profile-form" id="profile-form">
        <label class="field wide">${esc(t('admin.profile.name'))}<input type="text" name="name" required maxlength="200" value="${esc(p.name)}"></label>
        ${pickerField('roles', 'admin.profile.roles', p.roles)}
        ${pickerField('user_ids', 'admin.profile.users', p.user_ids)}
        <div class="buttons">
          <button type="button" class="btn danger" id="delete-profile">${esc(t('admin.profile.delete'))}</button>
          <button type="submit" class="btn primary">${esc(t('admin.profile.save'))}</button>
        </div>
      </form>
      <div id="editor" class="prefs"></div>`;
    editor = editorFor(
      document.getElementById('editor'),
      profileView(p),
      async (next, prev, patch) => {
        const saved = await api.put(`${root}/profiles/${enc(p.id)}`, profileBody(p, next, prev, patch));
        return profileView(keep(p, saved));
      },
      'prf',
      tab,
      true,
    );
    document.getElementById('profile-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const f = new FormData(e.target);
      const draft = { ...p, name: String(f.get('name')).trim(), roles: picked(e.target, 'roles'), user_ids: picked(e.target, 'user_ids') };
      try {
        // The profile's settings and quiet hours go along unchanged.
        const cur = profileView(p);
        const saved = await api.put(`${root}/profiles/${enc(p.id)}`, profileBody(draft, cur, cur, { tabs: {} }));
        keep(p, saved);
        showStatus(t('status.saved'), 'ok');
        renderNav();
        showProfile(p.id, editor.tab);
      } catch (err) {
        showStatus(t('error.save', { message: err.message }), 'error');
      }
    });
    document.getElementById('delete-profile').addEventListener('click', async () => {
      if (!(await confirmDialog(t('admin.profile.confirmDelete', { name: p.name })))) return;
      try {
        await api.del(`${root}/profiles/${enc(p.id)}`);
        profiles = profiles.filter((x) => x.id !== p.id);
        showStatus(t('admin.profile.deleted'), 'ok');
        select('defaults');
      } catch (err) {
        showStatus(t('error.save', { message: err.message }), 'error');
      }
    });
  }

  /** A picker of roles or users (multiple choice) when the account's people are known,
   *  else a comma-separated text field. Chosen values nobody has any more stay listed. */
  function pickerField(name, label, chosen) {
    if (!people) {
      return `<label class="field">${esc(t(label))}<input type="text" name="${name}" value="${esc(chosen.join(', '))}"></label>`;
    }
    const known = name === 'roles'
      ? people.roles.map((r) => ({ value: r, text: r }))
      : people.users.map((u) => ({ value: u.id, text: u.name ? `${u.name} (${u.id})` : u.id }));
    for (const c of chosen) if (!known.some((k) => k.value === c)) known.push({ value: c, text: c });
    const options = known
      .map((k) => `<option value="${esc(k.value)}"${chosen.includes(k.value) ? ' selected' : ''}>${esc(k.text)}</option>`)
      .join('');
    return `<label class="field">${esc(t(label + 'Pick'))}<select multiple size="6" name="${name}">${options}</select></label>`;
  }

  /** The values of a picker field (or of its text fallback). */
  function picked(form, name) {
    const el = form.elements[name];
    if (el && el.tagName === 'SELECT') return [...el.selectedOptions].map((o) => o.value);
    return splitList(String(new FormData(form).get(name) || ''));
  }

  /** The form for a new profile: nothing is stored until "Create profile". */
  function showNewProfile() {
    const tab = editor ? editor.tab : undefined;
    editor = tab ? { tab } : null;
    selected = 'new';
    renderNav();
    main.innerHTML = `
      <h2 class="set-title">${esc(t('admin.newProfile'))}</h2>
      <p class="lead">${esc(t('admin.profile.newLead'))}</p>
      <form class="card profile-form" id="new-profile-form">
        <label class="field wide">${esc(t('admin.profile.name'))}<input type="text" name="name" required maxlength="200"></label>
        ${pickerField('roles', 'admin.profile.roles', [])}
        ${pickerField('user_ids', 'admin.profile.users', [])}
        <div class="buttons">
          <button type="button" class="btn secondary" id="cancel-profile">${esc(t('admin.profile.cancel'))}</button>
          <button type="submit" class="btn primary">${esc(t('admin.profile.create'))}</button>
        </div>
      </form>`;
    const name = main.querySelector('input[name="name"]');
    name.focus();
    document.getElementById('cancel-profile').addEventListener('click', () => select('defaults', true));
    document.getElementById('new-profile-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const f = new FormData(e.target);
      const body = {
        name: String(f.get('name')).trim(),
        roles: picked(e.target, 'roles'),
        user_ids: picked(e.target, 'user_ids'),
        // A new profile starts as the account defaults, without quiet hours of its own.
        quiet_hours: null,
      };
      if (!body.name) {
        name.value = '';
        name.reportValidity();
        return;
      }
      try {
        const p = await api.post(`${root}/profiles`, body);
        profiles.push(keep(p, p));
        showStatus(t('admin.profile.created'), 'ok');
        select(p.id, true);
      } catch (err) {
        showStatus(t('error.save', { message: err.message }), 'error');
      }
    });
  }

  function select(what, focus = false) {
    if (what === 'new') return showNewProfile();
    const tab = editor ? editor.tab : undefined;
    selected = what;
    renderNav();
    // Only "Connected apps" has an address of its own (a link from elsewhere can open it).
    const hash = what === 'connections' ? '#connections' : '';
    if (window.location.hash !== hash) history.replaceState(history.state, '', window.location.pathname + window.location.search + hash);
    if (what === 'defaults') showDefaults(tab);
    else if (what === 'connections') {
      // The editor's tab is kept for when a set of defaults is shown again.
      editor = tab ? { tab } : null;
      showConnections(main, { api, root, onStatus: showStatus });
    } else showProfile(what, tab);
    if (focus) {
      const h = main.querySelector('h2');
      h.setAttribute('tabindex', '-1');
      h.focus();
    }
  }

  app.addEventListener('click', async (e) => {
    const nav = e.target.closest('[data-sel]');
    if (nav) return select(nav.dataset.sel, true);
    if (e.target.closest('#new-profile')) showNewProfile();
  });

  relocalize = async (locale) => {
    // The admin's own language, as on the settings page.
    await api.patch('/v1/me', { locale }).catch((e) => showStatus(t('error.save', { message: e.message }), 'error'));
    catalog = await loadCatalog(api, locale);
    select(selected);
  };
  select(window.location.hash === '#connections' ? 'connections' : 'defaults');
  document.body.dataset.ready = 'true';
}

main();
