// UI strings in English and Norwegian (Bokmål). The locale is the user's (from the
// catalog, which answers in the user's locale), unless they switched it on the page.

export const LOCALES = [
  { id: 'en', name: 'English' },
  { id: 'nb', name: 'Norsk (bokmål)' },
];

const en = {
  'app.name': 'Varsel',
  'lang.label': 'Language',
  'page.prefs.title': 'Notification preferences',
  'page.prefs.lead': 'Choose where you are notified and about what. Changes are saved as you make them.',
  'page.admin.title': 'Account defaults and profiles',
  'page.admin.lead': 'Defaults apply to every user in the account until they choose otherwise. Profiles give named sets of defaults to users by role or by name.',
  'page.outbox.title': 'Email outbox',
  'page.outbox.lead': 'Without an SMTP server, Varsel keeps the emails it would have sent here.',
  'auth.missing': 'This page needs a user token. Open it with ?token=… in the address, as the host application or `varsel serve --demo` gives it.',
  'auth.invalid': 'Your sign-in has expired or is not valid. Open the page again from the application.',
  'error.load': 'Could not load: {message}',
  'error.save': 'Not saved: {message}',
  'status.saving': 'Saving…',
  'status.saved': 'Saved',
  'tabs.label': 'Notification channels',
  'tab.email': 'Email',
  'tab.desktop': 'Desktop',
  'tab.other_apps': 'Other apps',
  'tab.mobile': 'Mobile app',
  'email.switch': 'Email notifications',
  'email.switch.desc': 'One email per notification, to the address of your account.',
  'desktop.bell': 'Bell',
  'desktop.bell.desc': 'Keep a list of notifications under the bell, with an unread count.',
  'desktop.favicon': 'Show a red dot in the browser tab while I have unread bell notifications',
  'desktop.popup': 'Pop-up',
  'desktop.popup.desc': 'Show a pop-up in the app while you are using it.',
  'desktop.sound': 'Default sound',
  'desktop.play': 'Play sound',
  'desktop.playNamed': 'Play {sound}',
  'desktop.browser': 'Browser',
  'desktop.browser.desc': 'Show a notification from your browser while the app is open in another tab or window.',
  'desktop.allow': 'Allow notifications',
  'perm.granted': 'Allowed in this browser',
  'perm.denied': 'Blocked in this browser — allow them in the site settings',
  'perm.default': 'Not allowed yet in this browser',
  'perm.unsupported': 'This browser cannot show notifications',
  'other.slack': 'Slack',
  'other.slack.desc': 'You are matched in Slack by the same email address.',
  'other.teams': 'Microsoft Teams',
  'other.teams.desc': 'One Teams tenant per account.',
  'other.connected': 'Connected',
  'other.notConnected': 'Not connected',
  'mobile.switch': 'Mobile push notifications',
  'mobile.switch.desc': 'Push to the devices where you signed in to the mobile app. Only you can switch this on or off.',
  'mobile.adminNote': 'Only each user can switch mobile notifications on or off; here you choose their mobile topics.',
  'master.off': '{channel} is switched off: the topics below are kept, but nothing is sent until you switch it on.',
  'topics.title': 'What you are notified about',
  'topics.search': 'Search notification types',
  'topics.searchPlaceholder': 'Search, e.g. “deal”',
  'topics.turnOffAll': 'Turn off all topics',
  'topics.reset': 'Reset to defaults',
  'topics.noMatch': 'No notification types match “{q}”.',
  'topics.count': '{on} of {total} on',
  'topics.soundFor': 'Sound for {name}',
  'topics.expandAll': 'Expand all',
  'topics.collapseAll': 'Collapse all',
  'confirm.turnOffAll': 'Turn off every topic on the {tab} tab? Required topics stay on.',
  'confirm.reset': 'Remove all your own choices and go back to the defaults?',
  'confirm.ok': 'Yes, go ahead',
  'confirm.cancel': 'Cancel',
  'source.user': 'Your choice',
  'source.profile': 'Profile',
  'source.account': 'Account default',
  'source.catalog': 'Default',
  'source.mandatory': 'Required',
  'source.mandatory.title': 'Required: this cannot be turned off',
  'sound.chime': 'Chime',
  'sound.bell': 'Bell',
  'sound.pop': 'Pop',
  'sound.ding': 'Ding',
  'sound.marimba': 'Marimba',
  'sound.knock': 'Knock',
  'sound.none': 'No sound',
  'bell.label': 'Notifications',
  'bell.labelUnread': 'Notifications, {n} unread',
  'bell.title': 'Notifications',
  'bell.markAll': 'Mark all as read',
  'bell.markRead': 'Mark as read',
  'bell.more': 'More actions for “{title}”',
  'bell.empty': 'You’re all caught up.',
  'bell.prefs': 'Notification preferences',
  'bell.loadMore': 'Show older',
  'bell.offline': 'Reconnecting…',
  'menu.dontShow': 'Don’t show me these again',
  'menu.mute': 'Mute sound',
  'menu.prefs': 'Go to notification preferences',
  'menu.done.dontShow': 'You will no longer see these on the desktop.',
  'menu.done.mute': 'Sound muted for this kind of notification.',
  'toast.close': 'Close',
  'toast.open': 'Open',
  'toast.region': 'New notifications',
  'admin.defaults': 'Account defaults',
  'admin.profiles': 'Profiles',
  'admin.newProfile': 'New profile',
  'admin.nav': 'Sets of defaults',
  'admin.account': 'Account {account}',
  'admin.refused': 'Only super admins can manage account defaults and profiles.',
  'admin.refusedDetail': 'You are signed in as {user}, who is not a super admin of account {account}. Ask a super admin to change the defaults, or to make you one.',
  'admin.tier': 'Account defaults and profiles need a Professional or Enterprise subscription.',
  'admin.profile.name': 'Profile name',
  'admin.profile.roles': 'Roles (comma separated)',
  'admin.profile.users': 'User ids (comma separated)',
  'admin.profile.save': 'Save details',
  'admin.profile.delete': 'Delete profile',
  'admin.profile.confirmDelete': 'Delete the profile “{name}”? Its users fall back to the account defaults.',
  'admin.profile.created': 'Profile created',
  'admin.profile.deleted': 'Profile deleted',
  'admin.profile.untitled': 'New profile',
  'admin.profile.covers': 'Covers roles: {roles} · users: {users}',
  'admin.profile.nobody': 'nobody yet',
  'admin.reset': 'Clear these defaults',
  'admin.confirmReset': 'Clear every setting here, so the built-in defaults apply?',
  'outbox.empty': 'The outbox is empty: no emails yet.',
  'outbox.unavailable': 'The outbox is not available on this server yet.',
  'outbox.needKey': 'The outbox is read with the server’s API key.',
  'outbox.key': 'API key',
  'outbox.show': 'Show outbox',
  'outbox.to': 'To',
  'outbox.subject': 'Subject',
  'outbox.when': 'When',
  'outbox.text': 'Text',
  'outbox.html': 'HTML',
  'outbox.refresh': 'Refresh',
  'outbox.title': 'Kept emails, newest first',
  'demo.title': 'Acme CRM',
  'skip': 'Skip to content',
};

const nb = {
  'app.name': 'Varsel',
  'lang.label': 'Språk',
  'page.prefs.title': 'Varslingsinnstillinger',
  'page.prefs.lead': 'Velg hvor du blir varslet, og om hva. Endringene lagres med en gang.',
  'page.admin.title': 'Standardinnstillinger og profiler for kontoen',
  'page.admin.lead': 'Standardinnstillingene gjelder for alle brukere i kontoen til de velger noe annet. Profiler gir navngitte sett med standarder til brukere etter rolle eller navn.',
  'page.outbox.title': 'Utboks for e-post',
  'page.outbox.lead': 'Uten SMTP-server legger Varsel e-postene den ville ha sendt her.',
  'auth.missing': 'Denne siden trenger et brukertoken. Åpne den med ?token=… i adressen, slik vertsprogrammet eller `varsel serve --demo` gir det.',
  'auth.invalid': 'Innloggingen din er utløpt eller ugyldig. Åpne siden på nytt fra programmet.',
  'error.load': 'Kunne ikke laste: {message}',
  'error.save': 'Ikke lagret: {message}',
  'status.saving': 'Lagrer …',
  'status.saved': 'Lagret',
  'tabs.label': 'Varslingskanaler',
  'tab.email': 'E-post',
  'tab.desktop': 'Skrivebord',
  'tab.other_apps': 'Andre apper',
  'tab.mobile': 'Mobilapp',
  'email.switch': 'Varsler på e-post',
  'email.switch.desc': 'Én e-post per varsel, til adressen på kontoen din.',
  'desktop.bell': 'Bjelle',
  'desktop.bell.desc': 'Samle varslene under bjellen, med antall uleste.',
  'desktop.favicon': 'Vis en rød prikk i nettleserfanen når jeg har uleste varsler i bjellen',
  'desktop.popup': 'Popup',
  'desktop.popup.desc': 'Vis en popup i appen mens du bruker den.',
  'desktop.sound': 'Standardlyd',
  'desktop.play': 'Spill av lyd',
  'desktop.playNamed': 'Spill av {sound}',
  'desktop.browser': 'Nettleser',
  'desktop.browser.desc': 'Vis et varsel fra nettleseren mens appen er åpen i en annen fane eller et annet vindu.',
  'desktop.allow': 'Tillat varsler',
  'perm.granted': 'Tillatt i denne nettleseren',
  'perm.denied': 'Blokkert i denne nettleseren – tillat dem i nettstedsinnstillingene',
  'perm.default': 'Ikke tillatt ennå i denne nettleseren',
  'perm.unsupported': 'Denne nettleseren kan ikke vise varsler',
  'other.slack': 'Slack',
  'other.slack.desc': 'Du kobles til Slack med den samme e-postadressen.',
  'other.teams': 'Microsoft Teams',
  'other.teams.desc': 'Én Teams-leietaker per konto.',
  'other.connected': 'Tilkoblet',
  'other.notConnected': 'Ikke tilkoblet',
  'mobile.switch': 'Pushvarsler på mobil',
  'mobile.switch.desc': 'Push til enhetene der du er logget inn i mobilappen. Bare du kan slå dette av eller på.',
  'mobile.adminNote': 'Bare hver enkelt bruker kan slå mobilvarsler av eller på; her velger du emnene deres på mobil.',
  'master.off': '{channel} er slått av: emnene nedenfor beholdes, men ingenting sendes før du slår det på.',
  'topics.title': 'Hva du blir varslet om',
  'topics.search': 'Søk i varslingstyper',
  'topics.searchPlaceholder': 'Søk, f.eks. «avtale»',
  'topics.turnOffAll': 'Slå av alle emner',
  'topics.reset': 'Tilbakestill til standard',
  'topics.noMatch': 'Ingen varslingstyper passer til «{q}».',
  'topics.count': '{on} av {total} på',
  'topics.soundFor': 'Lyd for {name}',
  'topics.expandAll': 'Vis alle',
  'topics.collapseAll': 'Skjul alle',
  'confirm.turnOffAll': 'Slå av alle emner i fanen {tab}? Påkrevde emner forblir på.',
  'confirm.reset': 'Fjerne alle dine egne valg og gå tilbake til standard?',
  'confirm.ok': 'Ja, fortsett',
  'confirm.cancel': 'Avbryt',
  'source.user': 'Ditt valg',
  'source.profile': 'Profil',
  'source.account': 'Kontostandard',
  'source.catalog': 'Standard',
  'source.mandatory': 'Påkrevd',
  'source.mandatory.title': 'Påkrevd: kan ikke slås av',
  'sound.chime': 'Klokkespill',
  'sound.bell': 'Bjelle',
  'sound.pop': 'Plopp',
  'sound.ding': 'Ding',
  'sound.marimba': 'Marimba',
  'sound.knock': 'Bank',
  'sound.none': 'Ingen lyd',
  'bell.label': 'Varsler',
  'bell.labelUnread': 'Varsler, {n} uleste',
  'bell.title': 'Varsler',
  'bell.markAll': 'Merk alle som lest',
  'bell.markRead': 'Merk som lest',
  'bell.more': 'Flere valg for «{title}»',
  'bell.empty': 'Du har ingen nye varsler.',
  'bell.prefs': 'Varslingsinnstillinger',
  'bell.loadMore': 'Vis eldre',
  'bell.offline': 'Kobler til igjen …',
  'menu.dontShow': 'Ikke vis meg disse igjen',
  'menu.mute': 'Slå av lyd',
  'menu.prefs': 'Gå til varslingsinnstillinger',
  'menu.done.dontShow': 'Du får ikke lenger disse på skrivebordet.',
  'menu.done.mute': 'Lyden er slått av for denne typen varsler.',
  'toast.close': 'Lukk',
  'toast.open': 'Åpne',
  'toast.region': 'Nye varsler',
  'admin.defaults': 'Kontostandard',
  'admin.profiles': 'Profiler',
  'admin.newProfile': 'Ny profil',
  'admin.nav': 'Sett med standarder',
  'admin.account': 'Konto {account}',
  'admin.refused': 'Bare superadministratorer kan endre standardinnstillinger og profiler for kontoen.',
  'admin.refusedDetail': 'Du er logget inn som {user}, som ikke er superadministrator i kontoen {account}. Be en superadministrator om å endre standardene, eller om å gjøre deg til en.',
  'admin.tier': 'Standardinnstillinger og profiler krever et Professional- eller Enterprise-abonnement.',
  'admin.profile.name': 'Profilnavn',
  'admin.profile.roles': 'Roller (kommaseparert)',
  'admin.profile.users': 'Bruker-id-er (kommaseparert)',
  'admin.profile.save': 'Lagre detaljer',
  'admin.profile.delete': 'Slett profil',
  'admin.profile.confirmDelete': 'Slette profilen «{name}»? Brukerne får kontostandarden i stedet.',
  'admin.profile.created': 'Profilen er opprettet',
  'admin.profile.deleted': 'Profilen er slettet',
  'admin.profile.untitled': 'Ny profil',
  'admin.profile.covers': 'Gjelder roller: {roles} · brukere: {users}',
  'admin.profile.nobody': 'ingen ennå',
  'admin.reset': 'Fjern disse standardene',
  'admin.confirmReset': 'Fjerne alle innstillingene her, slik at de innebygde standardene gjelder?',
  'outbox.empty': 'Utboksen er tom: ingen e-poster ennå.',
  'outbox.unavailable': 'Utboksen er ikke tilgjengelig på denne serveren ennå.',
  'outbox.needKey': 'Utboksen leses med serverens API-nøkkel.',
  'outbox.key': 'API-nøkkel',
  'outbox.show': 'Vis utboksen',
  'outbox.to': 'Til',
  'outbox.subject': 'Emne',
  'outbox.when': 'Når',
  'outbox.text': 'Tekst',
  'outbox.html': 'HTML',
  'outbox.refresh': 'Oppdater',
  'outbox.title': 'Lagrede e-poster, nyeste først',
  'demo.title': 'Acme CRM',
  'skip': 'Hopp til innholdet',
};

const STRINGS = { en, nb };
const CHOICE_KEY = 'varsel.locale';
let current = 'en';

export function supported(locale) {
  return Object.prototype.hasOwnProperty.call(STRINGS, locale);
}

/** The locale to use: the one the user picked on a page, else the given one (the user's). */
export function pickLocale(userLocale) {
  let chosen = null;
  try { chosen = localStorage.getItem(CHOICE_KEY); } catch { /* ignore */ }
  if (chosen && supported(chosen)) return chosen;
  const base = (userLocale || '').toLowerCase().split(/[-_]/)[0];
  if (supported(base)) return base;
  if (base === 'no' || base === 'nn') return 'nb';
  return 'en';
}

export function getLocale() {
  return current;
}

/** Sets the locale; `remember` keeps the choice for the next visit. Tells listeners. */
export function setLocale(locale, remember = false) {
  current = supported(locale) ? locale : 'en';
  document.documentElement.lang = current;
  if (remember) {
    try { localStorage.setItem(CHOICE_KEY, current); } catch { /* ignore */ }
  }
  window.dispatchEvent(new CustomEvent('varsel:locale', { detail: current }));
}

export function t(key, vars) {
  let s = (STRINGS[current] && STRINGS[current][key]) ?? en[key] ?? key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] === undefined ? `{${k}}` : String(vars[k])));
  return s;
}

/** "5 minutes ago", "i går", … */
export function relativeTime(iso, now = Date.now()) {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return '';
  const secs = Math.round((then - now) / 1000);
  const rtf = new Intl.RelativeTimeFormat(current, { numeric: 'auto' });
  const abs = Math.abs(secs);
  if (abs < 45) return rtf.format(0, 'second');
  if (abs < 3600) return rtf.format(Math.round(secs / 60), 'minute');
  if (abs < 86400) return rtf.format(Math.round(secs / 3600), 'hour');
  if (abs < 86400 * 7) return rtf.format(Math.round(secs / 86400), 'day');
  return new Intl.DateTimeFormat(current, { dateStyle: 'medium' }).format(new Date(then));
}

export function absoluteTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return new Intl.DateTimeFormat(current, { dateStyle: 'medium', timeStyle: 'short' }).format(d);
}
