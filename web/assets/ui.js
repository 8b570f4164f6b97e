// Shared by the pages: translated static text, the language switch, the save status,
// confirmation dialogs, error cards and loading the catalog in the right locale.

import { LOCALES, getLocale, pickLocale, setLocale, t } from './i18n.js';
import { esc } from './dom.js';

export function translatePage(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  const title = document.querySelector('meta[name="varsel-title"]');
  if (title) document.title = `${t(title.content)} · Varsel`;
}

/** Fills the language switch; `onPick(locale)` runs after the page's locale changed. */
export function languageSwitch(select, onPick) {
  select.innerHTML = LOCALES.map((l) => `<option value="${l.id}">${esc(l.name)}</option>`).join('');
  select.value = getLocale();
  select.addEventListener('change', async () => {
    setLocale(select.value, true);
    translatePage();
    await onPick(select.value);
  });
}

let statusTimer = null;
export function showStatus(text, kind = 'ok') {
  const el = document.getElementById('save-status');
  if (!el) return;
  clearTimeout(statusTimer);
  el.textContent = text;
  el.dataset.kind = kind;
  el.classList.add('show');
  if (kind === 'ok') statusTimer = setTimeout(() => el.classList.remove('show'), 2500);
}

/** A modal yes/no question; resolves true for yes. Escape and Cancel say no. */
export function confirmDialog(message, okLabel = t('confirm.ok')) {
  return new Promise((resolve) => {
    const d = document.createElement('dialog');
    d.className = 'confirm';
    d.setAttribute('aria-labelledby', 'confirm-text');
    d.innerHTML = `
      <form method="dialog">
        <p id="confirm-text">${esc(message)}</p>
        <div class="actions">
          <button class="btn secondary" value="cancel">${esc(t('confirm.cancel'))}</button>
          <button class="btn primary" value="ok">${esc(okLabel)}</button>
        </div>
      </form>`;
    document.body.appendChild(d);
    d.addEventListener('close', () => {
      resolve(d.returnValue === 'ok');
      d.remove();
    });
    d.showModal();
    d.querySelector('button[value="cancel"]').focus();
  });
}

export function errorCard(container, title, detail = '') {
  container.removeAttribute('aria-busy');
  container.innerHTML = `
    <div class="card refusal" role="alert">
      <svg viewBox="0 0 24 24" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" stroke-width="1.8"
        stroke-linecap="round"><circle cx="12" cy="12" r="9"/><path d="M12 7.5v5.5M12 16.5v.5"/></svg>
      <div><h2>${esc(title)}</h2>${detail ? `<p>${esc(detail)}</p>` : ''}</div>
    </div>`;
}

/** The catalog in the page's locale: the user's own (the catalog answers in it) unless
 *  they picked another here. Sets the page locale. */
export async function loadCatalog(api, wanted) {
  let catalog = await api.get(wanted ? `/v1/catalog?locale=${encodeURIComponent(wanted)}` : '/v1/catalog');
  const locale = wanted || pickLocale(catalog.locale);
  if (locale !== catalog.locale) catalog = await api.get(`/v1/catalog?locale=${encodeURIComponent(locale)}`);
  setLocale(locale);
  return catalog;
}
