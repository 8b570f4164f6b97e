// The "Quiet hours" card on the Desktop tab: a daily window (start, end, the days it
// starts on, a time zone) in which Varsel holds what interrupts. The settings page edits
// the user's own window; the admin page the account defaults' and each profile's (the
// editor's `layer` option: 'account' or 'profile'). The window is one
// setting: every change sends the whole of it (`PATCH {quiet_hours: {…}}`), and "Use the
// default" sends `{quiet_hours: null}`, so the layer below applies again.

import { t } from './i18n.js';
import { esc } from './dom.js';

export const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
/** What the card shows before any layer sets quiet hours. */
const FRESH = { enabled: false, start: '22:00', end: '07:00', days: [], timezone: '' };
/** Typing a time changes it one part at a time: wait for a pause before saving. */
const TYPING_MS = 700;

const TIME = /^([01]\d|2[0-3]):[0-5]\d$/;

/** The IANA time zones the browser knows, with `also` (a stored one) among them. */
function zones(also) {
  let list = [];
  try {
    list = Intl.supportedValuesOf('timeZone');
  } catch {
    list = ['UTC', 'Europe/Oslo', 'Europe/London', 'America/New_York'];
  }
  if (!list.includes('UTC')) list = [...list, 'UTC'];
  if (also && !list.includes(also)) list = [also, ...list];
  return list;
}

export class QuietHoursCard {
  /** @param editor the PrefsEditor: its ids, mode, current document and `run(fn, hooks)`
   *  for saving in order. */
  constructor(editor) {
    this.editor = editor;
    this.timer = null;
    this.error = '';
  }

  id(s) {
    return this.editor.id(`qh-${s}`);
  }

  get admin() {
    return this.editor.mode === 'admin';
  }

  /** On the admin page: true when the editor shows a profile (not the account defaults). */
  get profile() {
    return this.admin && this.editor.opts.layer === 'profile';
  }

  /** The window as the document has it (with `source` in the user's view), or null. */
  get value() {
    return this.editor.doc.quiet_hours || null;
  }

  markup() {
    const sw = this.id('enabled');
    const days = DAYS.map(
      (d) => `<label class="day" title="${esc(t('day.long.' + d))}"><input type="checkbox" data-quiet-day="${d}">
        <span aria-hidden="true">${esc(t('day.short.' + d))}</span><span class="visually-hidden">${esc(t('day.long.' + d))}</span></label>`,
    ).join('');
    return `
      <div class="row">
        <div class="row-text">
          <h2 class="row-title quiet-title" id="${this.id('title')}"><label for="${sw}">${esc(t('quiet.title'))}</label></h2>
          <p class="row-desc" id="${sw}-desc">${esc(t(this.profile ? 'quiet.desc.profile' : this.admin ? 'quiet.desc.admin' : 'quiet.desc'))}</p>
        </div>
        <input type="checkbox" role="switch" class="switch" id="${sw}" data-quiet="enabled" aria-describedby="${sw}-desc">
      </div>
      <div class="quiet-fields" role="group" aria-labelledby="${this.id('title')}">
        <label class="field" for="${this.id('start')}">${esc(t('quiet.start'))}
          <input type="time" id="${this.id('start')}" data-quiet="start" required></label>
        <label class="field" for="${this.id('end')}">${esc(t('quiet.end'))}
          <input type="time" id="${this.id('end')}" data-quiet="end" required></label>
        <label class="field tz" for="${this.id('tz')}">${esc(t('quiet.timezone'))}
          <select id="${this.id('tz')}" data-quiet="timezone"></select></label>
        <fieldset class="days">
          <legend>${esc(t('quiet.days'))}</legend>
          <div class="day-list">${days}</div>
          <p class="help">${esc(t('quiet.days.help'))}</p>
        </fieldset>
      </div>
      <div class="quiet-foot">
        <p class="quiet-source" id="${this.id('source')}"></p>
        <button type="button" class="btn secondary" data-act="quiet-default" hidden>${esc(t('quiet.useDefault'))}</button>
      </div>
      <p class="quiet-error" id="${this.id('error')}" role="alert"></p>`;
  }

  $(sel) {
    return this.editor.el.querySelector(sel);
  }

  /** Draws the document's window into the card (not while a typed time waits to be saved). */
  update() {
    const card = this.$('.card.quiet');
    if (!card || this.timer) return;
    const q = this.value;
    const w = { ...FRESH, ...(q || {}) };
    const own = q ? q.timezone || '' : '';
    this.$('[data-quiet="enabled"]').checked = !!(q && q.enabled);
    this.$('[data-quiet="start"]').value = w.start;
    this.$('[data-quiet="end"]').value = w.end;
    const days = Array.isArray(w.days) && w.days.length ? w.days : DAYS;
    for (const cb of card.querySelectorAll('[data-quiet-day]')) cb.checked = days.includes(cb.dataset.quietDay);
    this.fillZones(own);
    card.classList.toggle('off', !(q && q.enabled));
    card.dataset.source = q ? q.source || 'layer' : 'none';

    // Where the window comes from, and the way back to the layer below.
    const source = this.$('.quiet-source');
    const back = this.$('[data-act="quiet-default"]');
    let text = '';
    let pill = '';
    let backLabel = '';
    if (this.admin) {
      // The account defaults' window or a profile's: "Remove quiet hours" stores the layer without one.
      if (q) backLabel = t('quiet.clear');
      else text = t(this.profile ? 'quiet.none.profile' : 'quiet.none.account');
    } else if (!q) {
      text = '';
    } else if (q.source === 'user') {
      pill = 'user';
      text = t('quiet.from.user');
      backLabel = t('quiet.useDefault');
    } else {
      pill = q.source;
      text = t('quiet.from.' + q.source);
    }
    source.innerHTML = (pill ? `<span class="source" data-source="${esc(pill)}">${esc(t('source.' + pill))}</span> ` : '') + esc(text);
    source.hidden = !text;
    back.hidden = !backLabel;
    if (backLabel) back.textContent = backLabel;
    const err = this.$('.quiet-error');
    err.textContent = this.error;
    err.hidden = !this.error;
  }

  fillZones(own) {
    const sel = this.$('[data-quiet="timezone"]');
    const mine = this.editor.doc.user_timezone;
    const first = this.admin ? t('quiet.tz.each') : mine ? t('quiet.tz.mine', { tz: mine }) : t('quiet.tz.mineUnknown');
    const key = `${first}|${own}`;
    if (sel.dataset.filled !== key) {
      sel.innerHTML =
        `<option value="">${esc(first)}</option>` +
        zones(own).map((z) => `<option value="${esc(z)}">${esc(z.replace(/_/g, ' '))}</option>`).join('');
      sel.dataset.filled = key;
    }
    sel.value = own;
  }

  /** The window the card shows now, as the API takes it; null while a time is incomplete. */
  read() {
    const start = this.$('[data-quiet="start"]').value;
    const end = this.$('[data-quiet="end"]').value;
    if (!TIME.test(start) || !TIME.test(end)) return null;
    const picked = [...this.editor.el.querySelectorAll('[data-quiet-day]:checked')].map((cb) => cb.dataset.quietDay);
    const body = {
      enabled: this.$('[data-quiet="enabled"]').checked,
      start,
      end,
      // Every day is said with no days at all.
      days: picked.length === DAYS.length ? [] : picked,
    };
    const tz = this.$('[data-quiet="timezone"]').value;
    if (tz) body.timezone = tz;
    return body;
  }

  /** A change in the card: true when it was the card's. */
  onChange(el) {
    if (!el.dataset.quiet && !el.dataset.quietDay) return false;
    clearTimeout(this.timer);
    this.timer = null;
    if (el.dataset.quietDay && !this.editor.el.querySelector('[data-quiet-day]:checked')) {
      // No day at all would read as every day: keep the last one and say why.
      el.checked = true;
      this.showError(t('quiet.days.one'));
      return true;
    }
    if (el.type === 'time') {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.save();
      }, TYPING_MS);
    } else {
      this.save();
    }
    return true;
  }

  /** Leaving a time field saves what it holds at once. */
  flush() {
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.save();
  }

  save() {
    const body = this.read();
    if (!body) return;
    this.send(body);
  }

  /** "Use the default": this layer's window goes, the one below applies. */
  useDefault() {
    clearTimeout(this.timer);
    this.timer = null;
    this.send(null);
  }

  send(quiet) {
    this.showError('');
    return this.editor.run(() => this.editor.opts.save({ quiet_hours: quiet }), {
      onError: (err) => this.showError(t('quiet.error', { message: err.message })),
    });
  }

  showError(text) {
    this.error = text;
    const err = this.$('.quiet-error');
    if (!err) return;
    err.textContent = text;
    err.hidden = !text;
  }
}
