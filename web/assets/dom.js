// Small DOM helpers shared by the pages and the widget.

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML text and attribute values. */
export function esc(v) {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ESC[c]);
}

/** The URL if it is a web link (http, https, or relative), else null: no `javascript:`. */
export function safeUrl(u, base = window.location.href) {
  if (!u) return null;
  try {
    const url = new URL(u, base);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

/** Styles for a shadow root: a constructed sheet where supported (not blocked by a host
 *  page's CSP), else a <style> element. */
export function adoptStyles(root, css) {
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    root.adoptedStyleSheets = [...root.adoptedStyleSheets, sheet];
  } catch {
    const style = document.createElement('style');
    style.textContent = css;
    root.prepend(style);
  }
}

/** Moves focus within `items` by arrow keys, Home and End; returns true when it handled the key. */
export function rove(event, items) {
  const list = items.filter((el) => !el.disabled && el.offsetParent !== null);
  if (!list.length) return false;
  const root = event.currentTarget.getRootNode ? event.currentTarget.getRootNode() : document;
  const active = root.activeElement || document.activeElement;
  const i = list.indexOf(active);
  let next = null;
  if (event.key === 'ArrowDown' || event.key === 'ArrowRight') next = list[(i + 1) % list.length];
  else if (event.key === 'ArrowUp' || event.key === 'ArrowLeft') next = list[(i - 1 + list.length) % list.length];
  else if (event.key === 'Home') next = list[0];
  else if (event.key === 'End') next = list[list.length - 1];
  if (!next) return false;
  event.preventDefault();
  next.focus();
  return true;
}

/** A fresh id for this browser tab (crypto.randomUUID needs a secure context). */
export function newId(prefix) {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
