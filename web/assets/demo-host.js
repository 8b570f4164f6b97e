// The demo host page adds Varsel's one tag, with the user token from ?token=.
import { credentialFromPage } from './api.js';

const token = credentialFromPage();
if (!token) {
  document.getElementById('no-token').hidden = false;
} else {
  const tag = document.createElement('script');
  tag.src = '/ui/varsel.js';
  tag.dataset.token = token;
  tag.dataset.target = '#crm-bell';
  document.body.appendChild(tag);
  const short = `${token.slice(0, 12)}…`;
  document.getElementById('snippet').textContent =
    `<script src="${location.origin}/ui/varsel.js" data-token="${short}" data-target="#crm-bell"></script>`;
}
