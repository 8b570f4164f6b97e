// Styles of the bell and the pop-ups. They live in shadow roots, so a host page's CSS
// cannot reach them and theirs cannot leak out.

const base = `
:host { all: initial; font-family: "Segoe UI", Roboto, "Helvetica Neue", Arial, "Liberation Sans", system-ui, sans-serif;
  font-size: 14px; line-height: 1.4; color: #1f2937; --accent: #4f46e5; --accent-soft: #eef2ff; --red: #e11d48;
  --muted: #6b7280; --line: #e5e7eb; }
*, *::before, *::after { box-sizing: border-box; }
button { font: inherit; color: inherit; background: none; border: 0; cursor: pointer; }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; border-radius: 6px; }
.icon-btn { width: 30px; height: 30px; border-radius: 8px; display: inline-grid; place-items: center; color: var(--muted); }
.icon-btn:hover { background: #f3f4f6; color: #111827; }
.icon-btn svg { width: 16px; height: 16px; }
.menu { position: absolute; right: 8px; top: 100%; z-index: 3; min-width: 260px; margin-top: 2px; padding: 6px;
  background: #fff; border: 1px solid var(--line); border-radius: 10px; box-shadow: 0 12px 30px rgba(15, 23, 42, .16); }
.menu[hidden] { display: none; }
.menu [role="menuitem"] { display: block; width: 100%; text-align: left; padding: 8px 10px; border-radius: 6px;
  color: #111827; text-decoration: none; font-size: 13.5px; }
.menu [role="menuitem"]:hover, .menu [role="menuitem"]:focus-visible { background: var(--accent-soft); outline: none; }
.menu .sep { height: 1px; margin: 5px 4px; background: var(--line); }
.sr-only { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
`;

export const BELL_CSS = `${base}
:host { display: inline-block; position: relative; }
:host([floating]) { position: fixed; top: 12px; right: 16px; z-index: 2147483000; }
.bell { position: relative; width: 40px; height: 40px; border-radius: 999px; display: grid; place-items: center; color: #374151; }
:host([floating]) .bell { background: #fff; box-shadow: 0 2px 10px rgba(15, 23, 42, .15); }
.bell:hover { background: rgba(79, 70, 229, .08); color: #111827; }
.bell[aria-expanded="true"] { background: var(--accent-soft); color: var(--accent); }
.bell svg { width: 22px; height: 22px; }
.badge { position: absolute; top: 2px; right: 1px; min-width: 18px; height: 18px; padding: 0 5px; border-radius: 999px;
  background: var(--red); color: #fff; font-size: 11px; font-weight: 700; line-height: 18px; text-align: center;
  box-shadow: 0 0 0 2px #fff; }
.badge[hidden] { display: none; }
.panel { position: absolute; right: 0; top: calc(100% + 8px); width: min(400px, calc(100vw - 24px)); z-index: 2;
  background: #fff; border: 1px solid var(--line); border-radius: 14px; box-shadow: 0 20px 50px rgba(15, 23, 42, .18);
  overflow: hidden; text-align: left; }
.panel[hidden] { display: none; }
.head { display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; row-gap: 10px;
  padding: 14px 16px 10px; border-bottom: 1px solid var(--line); }
.filters { flex-basis: 100%; display: flex; gap: 2px; padding: 3px; border-radius: 10px; background: #f3f4f6; }
.filter { flex: 1; padding: 5px 10px; border-radius: 7px; font-size: 13px; font-weight: 600; color: var(--muted); }
.filter:hover { color: #111827; }
.filter[aria-pressed="true"] { background: #fff; color: var(--accent); box-shadow: 0 1px 3px rgba(15, 23, 42, .14); }
.head h2 { margin: 0; font-size: 16px; font-weight: 650; }
.head h2:focus { outline: none; }
.text-btn { color: var(--accent); font-weight: 600; font-size: 13px; padding: 4px 6px; border-radius: 6px; }
.text-btn:hover { background: var(--accent-soft); }
.text-btn:disabled { color: var(--muted); cursor: default; background: none; }
.status { padding: 6px 16px; font-size: 12.5px; color: var(--muted); background: #f9fafb; border-bottom: 1px solid var(--line); }
/* Empty, the live region stays in the page (a region that appears with its text is not
   always announced) but takes no room. */
.status:empty { padding: 0; border-bottom: 0; }
ul { list-style: none; margin: 0; padding: 0; max-height: min(440px, 60vh); overflow-y: auto; }
li.item { position: relative; display: flex; flex-wrap: wrap; gap: 0 4px; padding: 2px 8px 2px 0; border-bottom: 1px solid #f1f5f9; }
li.item.unread { background: #f8f9ff; }
.main { flex: 1; min-width: 0; display: grid; grid-template-columns: 18px 1fr; column-gap: 4px; padding: 10px 4px 10px 8px;
  color: inherit; text-decoration: none; border-radius: 8px; text-align: left; justify-items: start; }
.main:hover { background: rgba(79, 70, 229, .05); }
.dot { width: 8px; height: 8px; border-radius: 999px; margin: 6px 0 0 4px; }
.unread .dot { background: var(--accent); }
.title { font-weight: 600; color: #111827; overflow-wrap: anywhere; }
.read .title { font-weight: 500; color: #374151; }
.body { grid-column: 2; color: #4b5563; font-size: 13px; margin-top: 2px; overflow-wrap: anywhere;
  display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical; overflow: hidden; }
time { grid-column: 2; color: var(--muted); font-size: 12px; margin-top: 4px; }
.count { display: inline-block; margin-left: 6px; padding: 0 6px; border-radius: 999px; background: #e0e7ff; color: #3730a3; font-size: 11px; font-weight: 700; }
.actions { display: flex; align-items: flex-start; gap: 2px; padding-top: 8px; }
/* A grouped item: its disclosure and members, under the item's text. */
.group { flex-basis: 100%; min-width: 0; padding: 0 0 10px 30px; margin-top: -4px; }
.group-toggle { display: inline-flex; align-items: center; gap: 4px; padding: 3px 8px 3px 4px; border-radius: 6px;
  color: var(--accent); font-size: 12.5px; font-weight: 600; }
.group-toggle:hover { background: var(--accent-soft); }
.group-toggle .chev { width: 14px; height: 14px; transition: transform .15s; }
.group-toggle[aria-expanded="true"] .chev { transform: rotate(90deg); }
@media (prefers-reduced-motion: reduce) { .group-toggle .chev { transition: none; } }
ul.members { max-height: none; overflow: visible; margin: 4px 0 0 11px; padding-left: 12px; border-left: 2px solid #e0e7ff; }
ul.members[hidden] { display: none; }
.member { display: grid; padding: 5px 0; }
.member + .member { border-top: 1px dashed #eef0f4; }
.m-title { font-size: 13px; color: #111827; overflow-wrap: anywhere; }
.m-body { font-size: 12.5px; color: #4b5563; overflow-wrap: anywhere; }
.member time { grid-column: auto; margin-top: 1px; }
.member-note { padding: 5px 0; font-size: 12.5px; color: var(--muted); }
.member-note.error { color: #be123c; }
/* The menu opens under its "⋯" button, over the item's own text, not below the whole item. */
li.item .menu { top: 40px; }
.empty { padding: 36px 16px; text-align: center; color: var(--muted); }
.empty svg { width: 36px; height: 36px; color: #c7d2fe; display: block; margin: 0 auto 8px; }
.empty.loading { padding: 24px 16px; }
.foot { display: flex; justify-content: space-between; align-items: center; padding: 10px 16px; border-top: 1px solid var(--line); background: #fafafa; }
.foot a { font-weight: 600; font-size: 13px; text-decoration: none; }
.foot a:hover { text-decoration: underline; }
`;

export const TOASTS_CSS = `${base}
:host { position: fixed; right: 20px; bottom: 20px; z-index: 2147483001; width: min(380px, calc(100vw - 32px)); }
.stack { display: flex; flex-direction: column; gap: 10px; }
.toast { position: relative; display: grid; grid-template-columns: 36px 1fr auto; gap: 10px; padding: 14px 12px 14px 14px;
  background: #fff; border: 1px solid var(--line); border-left: 4px solid var(--accent); border-radius: 12px;
  box-shadow: 0 16px 40px rgba(15, 23, 42, .18); animation: slide-in .22s ease-out; }
@media (prefers-reduced-motion: reduce) { .toast { animation: none; } }
@keyframes slide-in { from { transform: translateY(12px); opacity: 0; } to { transform: none; opacity: 1; } }
.avatar { width: 36px; height: 36px; border-radius: 10px; background: var(--accent-soft); color: var(--accent); display: grid; place-items: center; }
.avatar svg { width: 20px; height: 20px; }
.title { font-weight: 650; color: #111827; overflow-wrap: anywhere; }
.body { color: #4b5563; font-size: 13px; margin-top: 2px; overflow-wrap: anywhere; }
.links { margin-top: 8px; display: flex; gap: 12px; font-size: 13px; }
.links a { font-weight: 600; text-decoration: none; }
.links a:hover { text-decoration: underline; }
.side { display: flex; flex-direction: column; gap: 2px; }
`;
