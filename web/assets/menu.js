// The item menu of the bell and the pop-ups: "Don't show me these again",
// "Mute sound", "Go to notification preferences"; in the bell also snooze (for an hour,
// until this afternoon, tomorrow, next Monday) and archive ("Move back to inbox" for an
// archived item).

import { t, untilTime } from './i18n.js';
import { esc, rove } from './dom.js';

export const ICONS = {
  bell: '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path fill="currentColor" d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7.3-5.7L18 15V11a6 6 0 0 0-4.5-5.8V4.5a1.5 1.5 0 0 0-3 0v.7A6 6 0 0 0 6 11v4l-1.3 1.3A1 1 0 0 0 5.4 18h13.2a1 1 0 0 0 .7-1.7Z"/></svg>',
  check: '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path fill="none" stroke="currentColor" stroke-width="2.4" stroke-linecap="round" stroke-linejoin="round" d="m5 12.5 4.5 4.5L19 7.5"/></svg>',
  more: '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><circle cx="5" cy="12" r="2" fill="currentColor"/><circle cx="12" cy="12" r="2" fill="currentColor"/><circle cx="19" cy="12" r="2" fill="currentColor"/></svg>',
  close: '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" d="M6 6l12 12M18 6 6 18"/></svg>',
};

/** The snooze choices offered at `now` (local browser time): "this afternoon" (14:00)
 *  only before 13:00, as the server refuses it from then on. */
export function snoozeChoices(now = new Date()) {
  const all = ['one_hour', 'this_afternoon', 'tomorrow', 'next_monday'];
  return now.getHours() < 13 ? all : all.filter((p) => p !== 'this_afternoon');
}

/** The bell's own entries: snooze and archive, or "Move back to inbox" when archived. */
function feedEntries(item, id, now) {
  if (item.archived_at) {
    return `<button type="button" role="menuitem" data-action="unarchive" data-id="${id}">${esc(t('menu.unarchive'))}</button>`;
  }
  const snooze = snoozeChoices(now).map(
    (p) => `<button type="button" role="menuitem" data-action="snooze" data-preset="${p}" data-id="${id}">${esc(t(`menu.snooze.${p}`))}</button>`,
  );
  return `${snooze.join('')}
      <button type="button" role="menuitem" data-action="archive" data-id="${id}">${esc(t('menu.archive'))}</button>`;
}

/** The "⋯" button and its menu for one item. `feed: true` (the bell) adds snooze and
 *  archive; the pop-ups' menu keeps the three type entries. */
export function menuMarkup(item, prefsHref, open, newTab = false, { feed = false, now = new Date() } = {}) {
  const id = esc(item.id);
  const own = feed ? `${feedEntries(item, id, now)}
      <div class="sep" role="separator"></div>` : '';
  return `
    <button class="icon-btn more" type="button" aria-haspopup="menu" aria-expanded="${open}" aria-controls="menu-${id}"
      data-id="${id}" data-focus="more-${id}" aria-label="${esc(t('bell.more', { title: item.title }))}"
      title="${esc(t('bell.more', { title: item.title }))}">${ICONS.more}</button>
    <div class="menu" role="menu" id="menu-${id}" aria-label="${esc(t('bell.more', { title: item.title }))}" ${open ? '' : 'hidden'}>
      ${own}
      <button type="button" role="menuitem" data-action="dont-show" data-id="${id}" data-type="${esc(item.type)}">${esc(t('menu.dontShow'))}</button>
      <button type="button" role="menuitem" data-action="mute" data-id="${id}" data-type="${esc(item.type)}">${esc(t('menu.mute'))}</button>
      <a role="menuitem" data-action="prefs" href="${esc(prefsHref)}"${newTab ? ' target="_blank" rel="noopener"' : ''}>${esc(t('menu.prefs'))}</a>
    </div>`;
}

/** Arrow keys, Home, End inside an open menu; returns true when handled. */
export function menuKeys(event, menu) {
  if (!menu) return false;
  return rove(event, [...menu.querySelectorAll('[role="menuitem"]')]);
}

/** The actions that take the item out of the bell's current view. */
export const MOVE_ACTIONS = ['snooze', 'archive', 'unarchive'];

/** Runs a menu action against the controller; returns the message to announce. `id` and
 *  `preset` are for the bell's own actions (snooze, archive, unarchive). */
export async function runMenuAction(ctrl, action, type, { id, preset } = {}) {
  if (action === 'snooze') {
    const until = await ctrl.snooze(id, preset);
    return t('menu.done.snooze', { time: untilTime(until) });
  }
  if (action === 'archive') {
    await ctrl.archive(id);
    return t('menu.done.archive');
  }
  if (action === 'unarchive') {
    await ctrl.unarchive(id);
    return t('menu.done.unarchive');
  }
  if (action === 'dont-show') {
    await ctrl.dontShow(type);
    return t('menu.done.dontShow');
  }
  if (action === 'mute') {
    await ctrl.mute(type);
    return t('menu.done.mute');
  }
  return '';
}
