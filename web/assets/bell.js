// <varsel-bell>: the bell with its unread badge and the dropdown of the newest items,
// filtered to the unread or the archived ones; each item's menu snoozes or archives it.
// A grouped item ("Ada and 2 others commented …") opens to list its notifications.

import { absoluteTime, relativeTime, t } from './i18n.js';
import { adoptStyles, esc, rove, safeUrl } from './dom.js';
import { BELL_CSS } from './widget-css.js';
import { ICONS, MOVE_ACTIONS, menuKeys, menuMarkup, runMenuAction } from './menu.js';

/** The filter buttons, in their order in the panel's head. */
const FILTER_BUTTONS = ['unread', 'all', 'archived'];
const EMPTY = { all: 'bell.empty', unread: 'bell.emptyUnread', archived: 'bell.emptyArchived' };
const CHEVRON = '<svg class="chev" viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round" d="m9 6 6 6-6 6"/></svg>';

export class VarselBell extends HTMLElement {
  constructor() {
    super();
    this.root = this.attachShadow({ mode: 'open' });
    adoptStyles(this.root, BELL_CSS);
    this.isOpen = false;
    this.menuId = null;
    this.note = '';
    // The grouped items whose members are shown.
    this.expanded = new Set();
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
          <div class="filters" role="group">
            ${FILTER_BUTTONS.map((f) => `<button class="filter" type="button" data-filter="${f}" aria-pressed="false"></button>`).join('')}
          </div>
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
    this.dataset.filter = c.filter;
    const panel = this.$('#panel');
    panel.hidden = !this.isOpen;
    if (!this.isOpen) return;

    this.$('#panel-title').textContent = t('bell.title');
    const markAll = this.$('.mark-all');
    markAll.textContent = t('bell.markAll');
    markAll.disabled = n === 0 && !c.items.some((x) => !x.read_at);
    // "Mark all as read" is about the list; archived items are not in it. Out of sight
    // (and out of reach), it keeps its room: the head does not jump between views.
    markAll.style.visibility = c.filter === 'archived' ? 'hidden' : '';
    this.$('.filters').setAttribute('aria-label', t('bell.filter'));
    for (const btn of this.root.querySelectorAll('.filter')) {
      btn.textContent = t(`bell.filter.${btn.dataset.filter}`);
      btn.setAttribute('aria-pressed', String(btn.dataset.filter === c.filter));
    }
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
    list.setAttribute('aria-busy', String(c.loading));
    if (!c.items.length && c.loading) {
      list.innerHTML = `<li class="empty loading">${esc(t('bell.loading'))}</li>`;
    } else if (!c.items.length) {
      list.innerHTML = `<li class="empty" data-filter="${esc(c.filter)}">${ICONS.bell}${esc(t(EMPTY[c.filter] || 'bell.empty'))}</li>`;
    } else {
      const now = new Date();
      list.innerHTML = c.items.map((item) => this.itemMarkup(item, now)).join('');
    }
    this.fitMenu(list);
    if (focused) {
      const again =
        this.root.querySelector(`[data-focus="${CSS.escape(focused)}"]`) ||
        this.root.querySelector(`[data-focus="main-${CSS.escape(focused.replace(/^\w+-/, ''))}"]`);
      if (again) again.focus();
    }
  }

  /** The list scrolls, so an open menu near its end would be cut off: the list grows
   *  (up to its maximum height) to hold it, and scrolls it into sight. */
  fitMenu(list) {
    list.style.minHeight = '';
    const menu = this.menuId && this.root.querySelector(`#menu-${CSS.escape(this.menuId)}`);
    if (!menu || menu.hidden) return;
    // Where the menu ends, from the top of the list's content.
    const end = menu.getBoundingClientRect().bottom - list.getBoundingClientRect().top + list.scrollTop + 8;
    if (end > list.clientHeight) {
      const max = parseFloat(getComputedStyle(list).maxHeight);
      list.style.minHeight = `${Number.isFinite(max) ? Math.min(end, max) : end}px`;
    }
    if (end > list.scrollTop + list.clientHeight) list.scrollTop = end - list.clientHeight;
  }

  itemMarkup(item, now = new Date()) {
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
        <div class="actions">${readBtn}${menuMarkup(item, this.ctrl.prefsLink(item.type), this.menuId === item.id, this.ctrl.prefsNewTab, { feed: true, now })}</div>
        ${item.count > 1 && Array.isArray(item.actor_ids) ? this.groupMarkup(item) : ''}
      </li>`;
  }

  /** A grouped item's disclosure (an item that groups notifications carries `actor_ids`):
   *  "3 notifications", and when open its members (newest first, loaded when first opened). */
  groupMarkup(item) {
    const id = esc(item.id);
    const open = this.expanded.has(item.id);
    const group = this.ctrl.groups.get(item.id);
    let inner = '';
    if (open) {
      if (!group || (group.state === 'loading' && !group.members.length)) {
        inner = `<li class="member-note">${esc(t('bell.loading'))}</li>`;
      } else if (group.state === 'error') {
        inner = `<li class="member-note error">${esc(t('error.load', { message: group.error }))}</li>`;
      } else if (!group.members.length) {
        inner = `<li class="member-note">${esc(t('bell.group.empty'))}</li>`;
      } else {
        inner = group.members
          .map(
            (m) => `<li class="member" data-event="${esc(m.event_id)}">
              <span class="m-title">${esc(m.title)}</span>
              ${m.body ? `<span class="m-body">${esc(m.body)}</span>` : ''}
              <time datetime="${esc(m.created_at)}" title="${esc(absoluteTime(m.created_at))}">${esc(relativeTime(m.created_at))}</time>
            </li>`,
          )
          .join('');
      }
    }
    return `
      <div class="group">
        <button class="group-toggle" type="button" aria-expanded="${open}" aria-controls="members-${id}"
          data-id="${id}" data-focus="group-${id}">${CHEVRON}<span>${esc(t('bell.group.toggle', { n: item.count }))}</span></button>
        <ul class="members" id="members-${id}" aria-label="${esc(t('bell.group.label', { title: item.title }))}"
          aria-busy="${!!(open && group && group.state === 'loading')}" ${open ? '' : 'hidden'}>${inner}</ul>
      </div>`;
  }

  toggleGroup(id) {
    const open = !this.expanded.has(id);
    if (open) this.expanded.add(id);
    else this.expanded.delete(id);
    const group = this.ctrl.groups.get(id);
    if (open && (!group || group.state === 'error')) this.ctrl.loadMembers(id).catch(() => {});
    this.render();
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
    if (el.classList.contains('filter')) {
      this.menuId = null;
      this.note = '';
      c.setFilter(el.dataset.filter).catch((err) => {
        this.note = t('error.load', { message: err.message });
        this.render();
      });
      return;
    }
    if (el.classList.contains('mark-all')) return void c.markAllRead().catch((err) => this.say(err));
    if (el.classList.contains('more-items')) return void c.loadMore().catch((err) => this.say(err));
    if (el.classList.contains('read')) return void c.markRead(el.dataset.id).catch((err) => this.say(err));
    if (el.classList.contains('group-toggle')) return void this.toggleGroup(el.dataset.id);
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
    if (MOVE_ACTIONS.includes(action)) return void this.moveItem(el.dataset.id, action, el.dataset.preset);
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

  /** Snooze, archive or unarchive: the item leaves the list at once and the focus goes to
   *  its neighbour; the outcome ("Snoozed until …") is announced in the status line. If
   *  the server refuses, the item comes back with its menu button focused. */
  async moveItem(id, action, preset) {
    const c = this.ctrl;
    this.menuId = null;
    const ids = c.items.map((x) => x.id);
    const at = ids.indexOf(id);
    const next = at >= 0 ? ids[at + 1] || ids[at - 1] : null;
    const pending = runMenuAction(c, action, null, { id, preset });
    this.render();
    const target =
      (next && this.root.querySelector(`[data-focus="main-${CSS.escape(next)}"]`)) || this.$('#panel-title');
    target.focus();
    try {
      this.note = await pending;
      this.render();
    } catch (err) {
      this.note = err && err.code === 'preset_passed' ? t('menu.error.presetPassed') : t('error.save', { message: err.message });
      this.render();
      const more = this.root.querySelector(`[data-focus="more-${CSS.escape(id)}"]`);
      if (more) more.focus();
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
    const active = this.root.activeElement;
    if (active && active.classList.contains('filter') && (e.key === 'ArrowLeft' || e.key === 'ArrowRight')) {
      rove(e, [...this.root.querySelectorAll('.filter')]);
      return;
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
