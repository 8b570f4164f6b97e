// <varsel-bell>: the bell with its unread badge and the dropdown of the newest items.

import { absoluteTime, relativeTime, t } from './i18n.js';
import { adoptStyles, esc, rove, safeUrl } from './dom.js';
import { BELL_CSS } from './widget-css.js';
import { ICONS, menuKeys, menuMarkup, runMenuAction } from './menu.js';

export class VarselBell extends HTMLElement {
  constructor() {
    super();
    this.root = this.attachShadow({ mode: 'open' });
    adoptStyles(this.root, BELL_CSS);
    this.isOpen = false;
    this.menuId = null;
    this.note = '';
  }

  connect(ctrl) {
    this.ctrl = ctrl;
    this.root.innerHTML += `
      <button class="bell" type="button" aria-haspopup="dialog" aria-expanded="false" aria-controls="panel">
        ${ICONS.bell}<span class="badge" aria-hidden="true" hidden></span>
      </button>
      <div class="panel" id="panel" role="dialog" aria-labelledby="panel-title" hidden>
        <div class="head">
          <h2 id="panel-title" tabindex="-1"></h2>
          <button class="text-btn mark-all" type="button"></button>
        </div>
        <div class="status" role="status" aria-live="polite"></div>
        <ul class="list" aria-labelledby="panel-title"></ul>
        <div class="foot">
          <a class="prefs-link"></a>
          <button class="text-btn more-items" type="button" hidden></button>
        </div>
      </div>`;
    this.$ = (sel) => this.root.querySelector(sel);
    ctrl.addEventListener('change', () => this.render());
    window.addEventListener('varsel:locale', () => this.render());
    this.root.addEventListener('click', (e) => this.onClick(e));
    this.root.addEventListener('keydown', (e) => this.onKey(e));
    document.addEventListener('pointerdown', (e) => {
      if (this.isOpen && !e.composedPath().includes(this)) this.close(false);
    });
    setInterval(() => this.isOpen && this.render(), 30000);
    this.render();
  }

  open() {
    this.isOpen = true;
    this.note = '';
    this.render();
    this.$('#panel-title').focus();
    this.ctrl.markSeen();
  }

  close(restoreFocus = true) {
    this.isOpen = false;
    this.menuId = null;
    this.render();
    if (restoreFocus) this.$('.bell').focus();
  }

  render() {
    const c = this.ctrl;
    if (!c) return;
    const n = c.unread;
    const badge = this.$('.badge');
    badge.hidden = n === 0;
    badge.textContent = n > 99 ? '99+' : String(n);
    const bell = this.$('.bell');
    const label = n > 0 ? t('bell.labelUnread', { n }) : t('bell.label');
    bell.setAttribute('aria-label', label);
    bell.title = label;
    bell.setAttribute('aria-expanded', String(this.isOpen));
    this.dataset.unread = String(n);
    this.dataset.stream = c.status;
    const panel = this.$('#panel');
    panel.hidden = !this.isOpen;
    if (!this.isOpen) return;

    this.$('#panel-title').textContent = t('bell.title');
    const markAll = this.$('.mark-all');
    markAll.textContent = t('bell.markAll');
    markAll.disabled = n === 0 && !c.items.some((x) => !x.read_at);
    const prefs = this.$('.prefs-link');
    prefs.textContent = t('bell.prefs');
    prefs.href = c.prefsLink();
    if (c.prefsNewTab) {
      prefs.target = '_blank';
      prefs.rel = 'noopener';
    }
    const more = this.$('.more-items');
    more.hidden = !c.nextCursor;
    more.textContent = t('bell.loadMore');
    const status =
      c.status === 'unauthorized' ? t('auth.invalid') : c.status === 'reconnecting' ? t('bell.offline') : this.note;
    this.$('.status').textContent = status;

    const focused = this.root.activeElement && this.root.activeElement.dataset.focus;
    const list = this.$('.list');
    if (!c.items.length) {
      list.innerHTML = `<li class="empty">${ICONS.bell}${esc(t('bell.empty'))}</li>`;
    } else {
      list.innerHTML = c.items.map((item) => this.itemMarkup(item)).join('');
    }
    if (focused) {
      const again =
        this.root.querySelector(`[data-focus="${CSS.escape(focused)}"]`) ||
        this.root.querySelector(`[data-focus="main-${CSS.escape(focused.replace(/^\w+-/, ''))}"]`);
      if (again) again.focus();
    }
  }

  itemMarkup(item) {
    const id = esc(item.id);
    const unread = !item.read_at;
    const url = safeUrl(item.url);
    const tag = url ? 'a' : 'button';
    const attrs = url ? `href="${esc(url)}"` : 'type="button"';
    const count = item.count > 1 ? `<span class="count">${item.count}</span>` : '';
    const readBtn = unread
      ? `<button class="icon-btn read" type="button" data-id="${id}" data-focus="read-${id}"
           aria-label="${esc(t('bell.markRead'))}" title="${esc(t('bell.markRead'))}">${ICONS.check}</button>`
      : '';
    return `
      <li class="item ${unread ? 'unread' : 'read'}" data-id="${id}" data-type="${esc(item.type)}">
        <${tag} class="main" ${attrs} data-id="${id}" data-focus="main-${id}">
          <span class="dot" aria-hidden="true"></span>
          <span class="title">${esc(item.title)}${count}</span>
          <span class="body">${esc(item.body)}</span>
          <time datetime="${esc(item.created_at)}" title="${esc(absoluteTime(item.created_at))}">${esc(relativeTime(item.created_at))}</time>
        </${tag}>
        <div class="actions">${readBtn}${menuMarkup(item, this.ctrl.prefsLink(item.type), this.menuId === item.id, this.ctrl.prefsNewTab)}</div>
      </li>`;
  }

  async onClick(e) {
    const el = e.target.closest('button, a');
    if (!el) return;
    const c = this.ctrl;
    if (el.classList.contains('bell')) {
      if (this.isOpen) this.close();
      else this.open();
      return;
    }
    if (el.classList.contains('mark-all')) return void c.markAllRead().catch((err) => this.say(err));
    if (el.classList.contains('more-items')) return void c.loadMore().catch((err) => this.say(err));
    if (el.classList.contains('read')) return void c.markRead(el.dataset.id).catch((err) => this.say(err));
    if (el.classList.contains('more')) {
      this.menuId = this.menuId === el.dataset.id ? null : el.dataset.id;
      this.render();
      if (this.menuId) {
        const first = this.root.querySelector(`#menu-${CSS.escape(this.menuId)} [role="menuitem"]`);
        if (first) first.focus();
      }
      return;
    }
    const action = el.dataset.action;
    if (action === 'dont-show' || action === 'mute') {
      this.menuId = null;
      try {
        this.note = await runMenuAction(c, action, el.dataset.type);
      } catch (err) {
        this.note = t('error.save', { message: err.message });
      }
      this.render();
      const more = this.root.querySelector(`[data-focus="more-${CSS.escape(el.dataset.id)}"]`);
      if (more) more.focus();
      return;
    }
    if (el.classList.contains('main')) {
      const id = el.dataset.id;
      const href = el.getAttribute('href');
      const item = c.items.find((x) => x.id === id);
      if (item && !item.read_at) {
        if (href) e.preventDefault();
        await Promise.race([c.markRead(id).catch(() => {}), new Promise((r) => setTimeout(r, 1500))]);
        if (href) window.location.assign(href);
      }
    }
  }

  onKey(e) {
    if (e.key === 'Escape' && (this.menuId || this.isOpen)) {
      if (this.menuId) {
        const id = this.menuId;
        this.menuId = null;
        this.render();
        const more = this.root.querySelector(`[data-focus="more-${CSS.escape(id)}"]`);
        if (more) more.focus();
      } else if (this.isOpen) {
        this.close();
      }
      e.preventDefault();
      return;
    }
    if (!this.isOpen) return;
    if (this.menuId) {
      const menu = this.root.querySelector(`#menu-${CSS.escape(this.menuId)}`);
      if (menu && menu.contains(this.root.activeElement) && menuKeys(e, menu)) return;
    }
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp' || e.key === 'Home' || e.key === 'End') {
      rove(e, [...this.root.querySelectorAll('.main')]);
    }
  }

  say(err) {
    this.note = t('error.save', { message: err.message });
    this.render();
  }
}
