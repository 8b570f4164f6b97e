// <varsel-toasts>: pop-ups for the active tab. Each shows for a while (longer while the
// pointer or the focus is on it) and carries the item menu.

import { t } from './i18n.js';
import { adoptStyles, esc, safeUrl } from './dom.js';
import { TOASTS_CSS } from './widget-css.js';
import { ICONS, menuKeys, menuMarkup, runMenuAction } from './menu.js';

const SHOW_MS = 8000;
const MAX = 3;

export class VarselToasts extends HTMLElement {
  constructor() {
    super();
    this.root = this.attachShadow({ mode: 'open' });
    adoptStyles(this.root, TOASTS_CSS);
  }

  connect(ctrl) {
    this.ctrl = ctrl;
    this.root.innerHTML += `<div class="stack" role="region" aria-live="polite"></div>`;
    this.stack = this.root.querySelector('.stack');
    const label = () => this.stack.setAttribute('aria-label', t('toast.region'));
    label();
    window.addEventListener('varsel:locale', label);
    ctrl.addEventListener('popup', (e) => this.show(e.detail.item, e.detail.sound));
    this.root.addEventListener('click', (e) => this.onClick(e));
    this.root.addEventListener('keydown', (e) => this.onKey(e));
  }

  show(item, sound) {
    const old = this.stack.querySelector(`.toast[data-id="${CSS.escape(item.id)}"]`);
    if (old) old.remove();
    const url = safeUrl(item.url);
    const el = document.createElement('div');
    el.className = 'toast';
    el.dataset.id = item.id;
    el.dataset.type = item.type;
    el.dataset.sound = sound || 'none';
    el.innerHTML = `
      <div class="avatar" aria-hidden="true">${ICONS.bell}</div>
      <div class="content">
        <div class="title">${esc(item.title)}</div>
        <div class="body">${esc(item.body)}</div>
        ${url ? `<div class="links"><a class="open" href="${esc(url)}" data-id="${esc(item.id)}">${esc(t('toast.open'))}</a></div>` : ''}
      </div>
      <div class="side">
        <button class="icon-btn close" type="button" aria-label="${esc(t('toast.close'))}" title="${esc(t('toast.close'))}">${ICONS.close}</button>
        ${menuMarkup(item, this.ctrl.prefsLink(item.type), false, this.ctrl.prefsNewTab)}
      </div>`;
    this.stack.appendChild(el);
    while (this.stack.children.length > MAX) this.stack.firstElementChild.remove();
    let timer = null;
    let held = 0;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => el.remove(), SHOW_MS);
    };
    const hold = () => {
      held++;
      clearTimeout(timer);
    };
    const release = () => {
      held = Math.max(0, held - 1);
      if (!held) arm();
    };
    el.addEventListener('pointerenter', hold);
    el.addEventListener('pointerleave', release);
    el.addEventListener('focusin', hold);
    el.addEventListener('focusout', release);
    arm();
  }

  async onClick(e) {
    const el = e.target.closest('button, a');
    if (!el) return;
    const toast = el.closest('.toast');
    if (el.classList.contains('close')) {
      toast.remove();
      return;
    }
    if (el.classList.contains('more')) {
      const menu = toast.querySelector('.menu');
      const open = menu.hidden;
      menu.hidden = !open;
      el.setAttribute('aria-expanded', String(open));
      if (open) menu.querySelector('[role="menuitem"]').focus();
      return;
    }
    if (el.classList.contains('open')) {
      e.preventDefault();
      await Promise.race([this.ctrl.markRead(el.dataset.id).catch(() => {}), new Promise((r) => setTimeout(r, 1500))]);
      window.location.assign(el.href);
      return;
    }
    const action = el.dataset.action;
    if (action === 'dont-show' || action === 'mute') {
      let msg;
      try {
        msg = await runMenuAction(this.ctrl, action, el.dataset.type);
      } catch (err) {
        msg = t('error.save', { message: err.message });
      }
      toast.querySelector('.menu').hidden = true;
      toast.querySelector('.more').setAttribute('aria-expanded', 'false');
      toast.querySelector('.body').textContent = msg;
      toast.querySelector('.more').focus();
    }
  }

  onKey(e) {
    const toast = e.target.closest && e.target.closest('.toast');
    if (!toast) return;
    const menu = toast.querySelector('.menu');
    if (e.key === 'Escape') {
      e.preventDefault();
      if (!menu.hidden) {
        menu.hidden = true;
        toast.querySelector('.more').setAttribute('aria-expanded', 'false');
        toast.querySelector('.more').focus();
      } else {
        toast.remove();
      }
      return;
    }
    if (!menu.hidden) menuKeys(e, menu);
  }
}
