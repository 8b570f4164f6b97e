// The preferences editor: the four tabs, their master switches, and "What you are
// notified about" with search, sections, checkboxes, sources and sounds. The settings
// page edits the user's own preferences with it; the admin page edits account defaults
// and profiles (mode 'admin': no sources, no mobile switch, no browser permission).
// The Desktop tab also holds the quiet hours card (quiet-hours.js).

import { t } from './i18n.js';
import { esc } from './dom.js';
import { SOUND_CHOICES, playSound } from './sounds.js';
import { confirmDialog } from './ui.js';
import { QuietHoursCard } from './quiet-hours.js';

export const TABS = ['email', 'desktop', 'other_apps', 'mobile'];

const TAB_ICONS = {
  email: '<path d="M4 6h16a1 1 0 0 1 1 1v10a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V7a1 1 0 0 1 1-1Zm0 1.5 8 5.5 8-5.5"/>',
  desktop: '<path d="M3 5h18v11H3zM9 20h6M12 16v4"/>',
  other_apps: '<path d="M4 4h6v6H4zM14 4h6v6h-6zM4 14h6v6H4zM14 14h6v6h-6z"/>',
  mobile: '<path d="M8 3h8a1 1 0 0 1 1 1v16a1 1 0 0 1-1 1H8a1 1 0 0 1-1-1V4a1 1 0 0 1 1-1Zm3 15h2"/>',
};
const icon = (d) =>
  `<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round">${d}</svg>`;
const CHEVRON = icon('<path d="m9 6 6 6-6 6"/>');
const LOCK = icon('<rect x="5" y="11" width="14" height="9" rx="2"/><path d="M8 11V8a4 4 0 0 1 8 0v3"/>');
const PLAY = '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path fill="currentColor" d="M8 5.5v13a1 1 0 0 0 1.5.86l10.5-6.5a1 1 0 0 0 0-1.72L9.5 4.64A1 1 0 0 0 8 5.5Z"/></svg>';
const SEARCH = icon('<circle cx="11" cy="11" r="6.5"/><path d="m16 16 4.5 4.5"/>');

/** Lower case without accents, for matching as you type. */
export function fold(s) {
  return String(s || '')
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase();
}

function getPath(obj, path) {
  return path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

/** `{tabs: {…keys…: value}}`; keys is an array, since type ids contain dots. */
export function patchFor(keys, value) {
  const root = { tabs: {} };
  let o = root.tabs;
  keys.slice(0, -1).forEach((k) => {
    o[k] = {};
    o = o[k];
  });
  o[keys[keys.length - 1]] = value;
  return root;
}

export class PrefsEditor {
  /**
   * @param {HTMLElement} el
   * @param {{mode: 'user'|'admin', catalog, doc, save: (patch) => Promise<doc>,
   *          turnOffAll: (tab) => Promise<doc>, reset: () => Promise<doc>,
   *          onStatus?: (text, kind) => void, onChange?: (doc) => void, tab?: string, focusType?: string,
   *          onPermission?: (state, doc) => void, quietHours?: boolean,
   *          layer?: 'account'|'profile'}} opts  onPermission: the browser's notification
   *          permission, each time the page looks at it (user mode only); quietHours: false
   *          leaves the quiet hours card out; layer (admin mode): whose quiet hours the card
   *          edits, the account defaults' (default) or a profile's
   */
  constructor(el, opts) {
    this.el = el;
    this.opts = opts;
    this.mode = opts.mode;
    this.catalog = opts.catalog;
    this.doc = opts.doc;
    this.tab = TABS.includes(opts.tab) ? opts.tab : 'email';
    this.query = '';
    this.expanded = new Set();
    this.queue = Promise.resolve();
    this.idp = opts.idPrefix || 'p';
    this.quiet = new QuietHoursCard(this);
    el.addEventListener('change', (e) => this.onChange(e));
    // A typed time is saved after a pause, or at once when the field is left.
    el.addEventListener('focusout', (e) => {
      if (e.target.type === 'time') this.quiet.flush();
    });
    el.addEventListener('input', (e) => {
      if (e.target.matches('input[type="search"]')) {
        this.query = e.target.value;
        this.applyFilter();
      }
    });
    el.addEventListener('click', (e) => this.onClick(e));
    el.addEventListener('keydown', (e) => this.onKey(e));
    this.onPermission = () => this.updatePermission();
    window.addEventListener('focus', this.onPermission);
    this.render();
    if (opts.focusType) this.focusType(opts.focusType);
  }

  id(s) {
    return `${this.idp}-${s}`.replace(/[^A-Za-z0-9_.:-]/g, '_');
  }

  setDoc(doc) {
    const before = this.typeIds();
    this.doc = doc;
    if (before !== this.typeIds()) this.renderPanel();
    else this.update();
  }

  setCatalog(catalog) {
    this.catalog = catalog;
    this.render();
  }

  typeIds() {
    return Object.keys((this.doc.tabs[this.tab] || {}).types || {}).join(',');
  }

  selectTab(tab, focus) {
    if (!TABS.includes(tab)) return;
    this.tab = tab;
    if (this.opts.onTab) this.opts.onTab(tab);
    this.render();
    if (focus) this.el.querySelector(`#${CSS.escape(this.id('tab-' + tab))}`).focus();
  }

  // ---------- markup ----------

  render() {
    const tabs = TABS.map((tab) => {
      const sel = tab === this.tab;
      return `<button type="button" role="tab" class="tab" id="${this.id('tab-' + tab)}" data-tab="${tab}"
          aria-selected="${sel}" aria-controls="${this.id('panel')}" tabindex="${sel ? 0 : -1}">
          ${icon(TAB_ICONS[tab])}<span>${esc(t('tab.' + tab))}</span></button>`;
    }).join('');
    this.el.innerHTML = `
      <div class="tablist" role="tablist" aria-label="${esc(t('tabs.label'))}">${tabs}</div>
      <section class="tabpanel" id="${this.id('panel')}" role="tabpanel" aria-labelledby="${this.id('tab-' + this.tab)}"></section>`;
    this.renderPanel();
  }

  renderPanel() {
    const panel = this.el.querySelector('[role="tabpanel"]');
    const focusedId = document.activeElement && panel.contains(document.activeElement) ? document.activeElement.id : null;
    panel.innerHTML = `
      <div class="card channel">${this.channelMarkup()}</div>
      ${this.tab === 'desktop' && this.opts.quietHours !== false ? `<section class="card quiet" aria-labelledby="${this.id('qh-title')}">${this.quiet.markup()}</section>` : ''}
      <div class="card topics">
        <div class="topics-head">
          <h2 id="${this.id('topics-title')}">${esc(t('topics.title'))}</h2>
          <div class="tools">
            <div class="search">${SEARCH}
              <input type="search" id="${this.id('search')}" value="${esc(this.query)}" autocomplete="off"
                aria-label="${esc(t('topics.search'))}" placeholder="${esc(t('topics.searchPlaceholder'))}">
            </div>
            <button type="button" class="btn ghost" data-act="expand">${esc(t('topics.expandAll'))}</button>
            <button type="button" class="btn secondary" data-act="turn-off-all">${esc(t('topics.turnOffAll'))}</button>
            <button type="button" class="btn secondary" data-act="reset">${esc(this.mode === 'admin' ? t('admin.reset') : t('topics.reset'))}</button>
          </div>
        </div>
        <p class="note master-note" hidden></p>
        <p class="no-match" role="status" hidden></p>
        <div class="sections">${this.sectionsMarkup()}</div>
      </div>`;
    this.update();
    this.applyFilter();
    this.updatePermission();
    if (focusedId) {
      const again = document.getElementById(focusedId);
      if (again) again.focus();
    }
  }

  switchRow(path, title, desc, extra = '') {
    const id = this.id('sw-' + path);
    return `
      <div class="row">
        <div class="row-text">
          <label class="row-title" for="${id}">${esc(title)}</label>
          ${desc ? `<p class="row-desc" id="${id}-desc">${esc(desc)}</p>` : ''}
          ${extra}
        </div>
        <input type="checkbox" role="switch" class="switch" id="${id}" data-switch="${path}" ${desc ? `aria-describedby="${id}-desc"` : ''}>
      </div>`;
  }

  soundOptions() {
    return SOUND_CHOICES.map((s) => `<option value="${s}">${esc(t('sound.' + s))}</option>`).join('');
  }

  channelMarkup() {
    const admin = this.mode === 'admin';
    switch (this.tab) {
      case 'email':
        return this.switchRow('email.enabled', t('email.switch'), t('email.switch.desc'));
      case 'desktop': {
        const fav = this.id('sw-desktop.bell.favicon_dot');
        const snd = this.id('sw-desktop.popup.sound');
        const bellExtra = `
          <div class="sub"><input type="checkbox" id="${fav}" data-switch="desktop.bell.favicon_dot">
            <label for="${fav}">${esc(t('desktop.favicon'))}</label></div>`;
        const popupExtra = `
          <div class="sub sound-pick"><label for="${snd}">${esc(t('desktop.sound'))}</label>
            <select id="${snd}" data-switch="desktop.popup.sound">${this.soundOptions()}</select>
            <button type="button" class="icon-btn play" data-play="${snd}" aria-label="${esc(t('desktop.play'))}" title="${esc(t('desktop.play'))}">${PLAY}</button>
          </div>`;
        const browserExtra = admin
          ? ''
          : `<div class="sub perm-row"><button type="button" class="btn secondary" data-act="allow">${esc(t('desktop.allow'))}</button>
              <span class="perm" role="status"></span></div>`;
        return (
          this.switchRow('desktop.bell.enabled', t('desktop.bell'), t('desktop.bell.desc'), bellExtra) +
          this.switchRow('desktop.popup.enabled', t('desktop.popup'), t('desktop.popup.desc'), popupExtra) +
          this.switchRow('desktop.browser.enabled', t('desktop.browser'), t('desktop.browser.desc'), browserExtra)
        );
      }
      case 'other_apps':
        return ['slack', 'teams']
          .map((app) => {
            const pill = `<span class="pill" data-connected-for="${app}"></span>`;
            return this.switchRow(`other_apps.${app}.enabled`, t('other.' + app), t(`other.${app}.desc`), pill);
          })
          .join('');
      case 'mobile':
        return admin
          ? `<p class="note">${esc(t('mobile.adminNote'))}</p>`
          : this.switchRow('mobile.enabled', t('mobile.switch'), t('mobile.switch.desc'));
      default:
        return '';
    }
  }

  sectionsMarkup() {
    const types = (this.doc.tabs[this.tab] || {}).types || {};
    return this.catalog.sections
      .map((sec) => {
        const rows = sec.types.filter((ty) => types[ty.id]);
        if (!rows.length) return '';
        const listId = this.id(`sec-${this.tab}-${sec.id}`);
        const open = this.expanded.has(`${this.tab}:${sec.id}`);
        return `
          <div class="section" data-section="${esc(sec.id)}" data-search="${esc(fold(sec.name + ' ' + sec.id))}">
            <h3 class="section-head">
              <button type="button" class="section-toggle" aria-expanded="${open}" aria-controls="${listId}" data-section="${esc(sec.id)}">
                <span class="chev">${CHEVRON}</span><span class="section-name">${esc(sec.name)}</span>
                <span class="section-count"></span>
              </button>
            </h3>
            <ul class="types" id="${listId}" ${open ? '' : 'hidden'}>${rows.map((ty) => this.typeMarkup(ty, sec)).join('')}</ul>
          </div>`;
      })
      .join('');
  }

  typeMarkup(ty, sec) {
    const cb = this.id(`cb-${this.tab}-${ty.id}`);
    const sound =
      this.tab === 'desktop'
        ? `<select class="type-sound" id="${this.id(`snd-${ty.id}`)}" data-sound-for="${esc(ty.id)}"
             aria-label="${esc(t('topics.soundFor', { name: ty.name }))}">${this.soundOptions()}</select>
           <button type="button" class="icon-btn play" data-play="${this.id(`snd-${ty.id}`)}"
             aria-label="${esc(t('topics.playFor', { name: ty.name }))}" title="${esc(t('topics.playFor', { name: ty.name }))}">${PLAY}</button>`
        : '';
    const search = fold(`${ty.name} ${ty.description} ${ty.id} ${sec.name}`);
    return `
      <li class="type" data-type="${esc(ty.id)}" data-search="${esc(search)}">
        <input type="checkbox" id="${cb}" data-type-cb="${esc(ty.id)}" aria-describedby="${cb}-desc">
        <label for="${cb}"><span class="type-name">${esc(ty.name)}</span>
          <span class="type-desc" id="${cb}-desc">${esc(ty.description)}</span></label>
        <span class="meta">
          <span class="source" data-source-for="${esc(ty.id)}"></span>
          ${sound}
        </span>
      </li>`;
  }

  // ---------- values ----------

  update() {
    const tabDoc = this.doc.tabs[this.tab] || {};
    const types = tabDoc.types || {};
    for (const input of this.el.querySelectorAll('[data-switch]')) {
      const v = getPath(this.doc.tabs, input.dataset.switch);
      if (input.type === 'checkbox') input.checked = !!v;
      else if (v !== undefined) input.value = v;
    }
    const d = this.doc.tabs.desktop;
    const fav = this.el.querySelector('[data-switch="desktop.bell.favicon_dot"]');
    if (fav) fav.disabled = !d.bell.enabled;
    for (const pill of this.el.querySelectorAll('[data-connected-for]')) {
      const app = this.doc.tabs.other_apps[pill.dataset.connectedFor];
      pill.textContent = app && app.connected ? t('other.connected') : t('other.notConnected');
      pill.classList.toggle('ok', !!(app && app.connected));
    }
    for (const li of this.el.querySelectorAll('li.type')) {
      const s = types[li.dataset.type];
      if (!s) continue;
      const cb = li.querySelector('input[type="checkbox"]');
      cb.checked = s.on;
      cb.disabled = s.locked;
      li.classList.toggle('locked', s.locked);
      li.classList.toggle('off', !s.on);
      const src = li.querySelector('.source');
      const source = s.locked ? 'mandatory' : s.source;
      if (source) {
        src.dataset.source = source;
        src.innerHTML = (source === 'mandatory' ? LOCK : '') + esc(t('source.' + source));
        src.title = source === 'mandatory' ? t('source.mandatory.title') : '';
        src.hidden = false;
      } else {
        src.hidden = true;
      }
      const sel = li.querySelector('select');
      if (sel && s.sound) sel.value = s.sound;
    }
    for (const sec of this.el.querySelectorAll('.section')) {
      const rows = [...sec.querySelectorAll('li.type')];
      const on = rows.filter((li) => (types[li.dataset.type] || {}).on).length;
      sec.querySelector('.section-count').textContent = t('topics.count', { on, total: rows.length });
    }
    const note = this.el.querySelector('.master-note');
    const off = this.masterOff();
    note.hidden = !off;
    // Mandatory types are emailed even with email off: the note must not say "nothing".
    const mandatoryEmail = this.tab === 'email' && Object.values(types).some((s) => s.locked && s.on);
    note.textContent = !off ? '' : mandatoryEmail ? t('master.offEmail') : t('master.off', { channel: t('tab.' + this.tab) });
    this.el.querySelector('.topics').classList.toggle('muted', !!off);
    this.quiet.update();
    if (this.opts.onChange) this.opts.onChange(this.doc);
  }

  masterOff() {
    const tb = this.doc.tabs;
    switch (this.tab) {
      case 'email':
        return !tb.email.enabled;
      case 'desktop':
        return !tb.desktop.bell.enabled && !tb.desktop.popup.enabled && !tb.desktop.browser.enabled;
      case 'other_apps':
        return !tb.other_apps.slack.enabled && !tb.other_apps.teams.enabled;
      case 'mobile':
        return this.mode === 'user' && !tb.mobile.enabled;
      default:
        return false;
    }
  }

  updatePermission() {
    const perm = this.el.querySelector('.perm');
    if (!perm) return;
    const btn = this.el.querySelector('[data-act="allow"]');
    const state = 'Notification' in window ? Notification.permission : 'unsupported';
    perm.dataset.state = state;
    perm.textContent = t('perm.' + state);
    btn.hidden = state !== 'default';
    if (this.opts.onPermission) this.opts.onPermission(state, this.doc);
  }

  applyFilter() {
    const q = fold(this.query.trim());
    let any = false;
    for (const sec of this.el.querySelectorAll('.section')) {
      const secHit = q && sec.dataset.search.includes(q);
      let shown = 0;
      for (const li of sec.querySelectorAll('li.type')) {
        const hit = !q || secHit || li.dataset.search.includes(q);
        li.hidden = !hit;
        if (hit) shown++;
      }
      sec.hidden = shown === 0;
      if (shown) any = true;
      const open = q ? shown > 0 : this.expanded.has(`${this.tab}:${sec.dataset.section}`);
      sec.querySelector('.types').hidden = !open;
      sec.querySelector('.section-toggle').setAttribute('aria-expanded', String(open));
    }
    const none = this.el.querySelector('.no-match');
    none.hidden = any;
    none.textContent = any ? '' : t('topics.noMatch', { q: this.query.trim() });
    const expand = this.el.querySelector('[data-act="expand"]');
    const allOpen = [...this.el.querySelectorAll('.section:not([hidden]) .section-toggle')].every(
      (b) => b.getAttribute('aria-expanded') === 'true',
    );
    expand.textContent = allOpen ? t('topics.collapseAll') : t('topics.expandAll');
    expand.dataset.state = allOpen ? 'open' : 'closed';
  }

  /** Opens the Desktop tab at one type (from a bell item's "preferences" link). */
  focusType(typeId) {
    const sec = this.catalog.sections.find((s) => s.types.some((ty) => ty.id === typeId));
    if (!sec) return;
    if (!(this.doc.tabs[this.tab].types || {})[typeId]) {
      const tab = TABS.find((tb) => (this.doc.tabs[tb].types || {})[typeId]);
      if (tab) this.selectTab(tab);
    }
    this.expanded.add(`${this.tab}:${sec.id}`);
    this.applyFilter();
    const li = this.el.querySelector(`li.type[data-type="${CSS.escape(typeId)}"]`);
    if (!li) return;
    li.classList.add('highlight');
    li.scrollIntoView({ block: 'center' });
    li.querySelector('input').focus({ preventScroll: true });
  }

  // ---------- events ----------

  status(text, kind) {
    if (this.opts.onStatus) this.opts.onStatus(text, kind);
  }

  /** Saves in order: each answer is the whole document, so the last one wins.
   *  hooks.onError(err) runs when this save fails (before the old values are redrawn). */
  run(fn, hooks = {}) {
    const before = this.doc;
    this.status(t('status.saving'), 'busy');
    this.queue = this.queue
      .then(fn)
      .then((doc) => {
        this.setDoc(doc);
        this.status(t('status.saved'), 'ok');
      })
      .catch((err) => {
        if (hooks.onError) hooks.onError(err);
        this.doc = before;
        this.update();
        this.status(t('error.save', { message: err.message }), 'error');
      });
    return this.queue;
  }

  onChange(e) {
    const el = e.target;
    if (this.quiet.onChange(el)) return;
    if (el.dataset.switch) {
      const value = el.type === 'checkbox' ? el.checked : el.value;
      if (el.tagName === 'SELECT') playSound(el.value);
      this.run(() => this.opts.save(patchFor(el.dataset.switch.split('.'), value)));
    } else if (el.dataset.typeCb) {
      this.run(() => this.opts.save(patchFor([this.tab, 'types', el.dataset.typeCb], { on: el.checked })));
    } else if (el.dataset.soundFor) {
      playSound(el.value);
      this.run(() => this.opts.save(patchFor(['desktop', 'types', el.dataset.soundFor], { sound: el.value })));
    }
  }

  async onClick(e) {
    const el = e.target.closest('button');
    if (!el) return;
    if (el.dataset.tab) return this.selectTab(el.dataset.tab, true);
    if (el.classList.contains('section-toggle')) {
      const key = `${this.tab}:${el.dataset.section}`;
      const open = el.getAttribute('aria-expanded') !== 'true';
      if (open) this.expanded.add(key);
      else this.expanded.delete(key);
      if (this.query) {
        el.setAttribute('aria-expanded', String(open));
        el.closest('.section').querySelector('.types').hidden = !open;
      } else {
        this.applyFilter();
      }
      return;
    }
    if (el.dataset.play) {
      playSound(this.el.querySelector(`#${CSS.escape(el.dataset.play)}`).value);
      return;
    }
    switch (el.dataset.act) {
      case 'expand': {
        const open = el.dataset.state !== 'open';
        for (const sec of this.el.querySelectorAll('.section:not([hidden])')) {
          const key = `${this.tab}:${sec.dataset.section}`;
          if (open) this.expanded.add(key);
          else this.expanded.delete(key);
        }
        if (!open && this.query) {
          for (const sec of this.el.querySelectorAll('.section')) {
            sec.querySelector('.types').hidden = true;
            sec.querySelector('.section-toggle').setAttribute('aria-expanded', 'false');
          }
        } else {
          this.applyFilter();
        }
        return;
      }
      case 'quiet-default':
        this.quiet.useDefault();
        return;
      case 'turn-off-all':
        if (await confirmDialog(t('confirm.turnOffAll', { tab: t('tab.' + this.tab) }))) {
          await this.run(() => this.opts.turnOffAll(this.tab));
        }
        return;
      case 'reset':
        if (await confirmDialog(this.mode === 'admin' ? t('admin.confirmReset') : t('confirm.reset'))) {
          await this.run(() => this.opts.reset());
        }
        return;
      case 'allow':
        if ('Notification' in window) {
          try {
            await Notification.requestPermission();
          } catch {
            /* old callback-style browsers */
          }
        }
        this.updatePermission();
        return;
      default:
    }
  }

  onKey(e) {
    const tab = e.target.closest('[role="tab"]');
    if (!tab) return;
    const i = TABS.indexOf(tab.dataset.tab);
    let next = null;
    if (e.key === 'ArrowRight') next = TABS[(i + 1) % TABS.length];
    else if (e.key === 'ArrowLeft') next = TABS[(i - 1 + TABS.length) % TABS.length];
    else if (e.key === 'Home') next = TABS[0];
    else if (e.key === 'End') next = TABS[TABS.length - 1];
    if (next) {
      e.preventDefault();
      this.selectTab(next, true);
    }
  }
}
