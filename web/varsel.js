/*
 * Varsel's embeddable bell, pop-ups and browser notifications: one tag in any page.
 *
 *   <script src="https://varsel.example/ui/varsel.js" data-token="USER_TOKEN"
 *           data-target="#bell-slot" async></script>
 *
 * data-token     the user token (HS256 JWT) your server signed or got from POST /v1/tokens
 * data-target    optional: a CSS selector where the bell goes (default: floating, top right)
 * data-locale    optional: en or nb (default: the user's locale)
 * data-preferences-url  optional: your own page for notification settings; links go there in
 *                the same tab (default: Varsel's settings page, in a new tab)
 *
 * When it is ready, window.Varsel is the controller and a `varsel:ready` event fires.
 * The live stream ends when the user token expires; define window.VarselTokenProvider
 * (a function returning a fresh token, or a promise of one) to keep it going.
 */
(function () {
  'use strict';
  var script = document.currentScript;
  // Once per page, even if the tag is there twice.
  if (!script || window.__varselLoaded) return;
  window.__varselLoaded = true;
  var base = script.src.replace(/\/ui\/varsel\.js(?:[?#].*)?$/, '');
  var opts = {
    base: base,
    token: script.getAttribute('data-token') || '',
    target: script.getAttribute('data-target') || null,
    locale: script.getAttribute('data-locale') || null,
    preferencesUrl: script.getAttribute('data-preferences-url') || null,
    embedded: true,
  };
  function start() {
    import(base + '/ui/assets/widget.js')
      .then(function (m) { return m.mount(opts); })
      .then(function (ctrl) {
        window.Varsel = ctrl;
        window.dispatchEvent(new CustomEvent('varsel:ready', { detail: ctrl }));
      })
      .catch(function (e) { console.error('Varsel: the widget could not start', e); });
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
