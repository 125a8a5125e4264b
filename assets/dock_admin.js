// suyuan dock admin page (issue 6): lists a party's stations and dock users and
// adds users, through the bearer-token API. Approve/revoke need the root key,
// which stays on the admin's computer: the page shows the exact CLI command.
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const origin = window.location.origin;
  let party = sessionStorage.getItem('suyuan-admin-party') || '';
  let token = sessionStorage.getItem('suyuan-admin-token') || '';

  async function call(path, opts) {
    opts = opts || {};
    const headers = { authorization: 'Bearer ' + token };
    if (opts.body) headers['content-type'] = 'application/json';
    const r = await fetch(path, { method: opts.method || 'GET', headers, body: opts.body });
    let b = {};
    try {
      b = await r.json();
    } catch (e) {
      b = { message: 'HTTP ' + r.status };
    }
    if (!r.ok) throw new Error(b.message || 'HTTP ' + r.status);
    return b;
  }
  function showError(m) {
    const e = $('admin-error');
    e.textContent = m;
    e.hidden = !m;
  }
  // Shell-quotes one argument for the command shown.
  const q = (s) => (/^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : "'" + String(s).replace(/'/g, "'\\''") + "'");
  function command(st) {
    const common = ['suyuan', 'key', '', '--server', q(origin), '--token', '"$SUYUAN_TOKEN"', '--keystore', q(party + '.json')];
    if (st.state === 'pending') {
      common[2] = 'approve';
      return common.concat(['--pending', String(st.station.id)]).join(' ');
    }
    if (st.state === 'revoked') return '';
    common[2] = 'revoke';
    return common.concat(['--public-key', q(st.station.public_key), '--reason', q('station ' + st.station.id + ' retired')]).join(' ');
  }
  function cell(tr, text, cls) {
    const td = document.createElement('td');
    if (cls) {
      const c = document.createElement('code');
      c.className = cls;
      c.textContent = text;
      td.append(c);
    } else {
      td.textContent = text;
    }
    tr.append(td);
  }
  async function load() {
    showError('');
    try {
      const p = encodeURIComponent(party);
      const [st, us] = await Promise.all([call('/api/v1/dock/stations?party=' + p), call('/api/v1/dock/users?party=' + p)]);
      const tb = document.querySelector('#stations tbody');
      tb.innerHTML = '';
      for (const s of st.stations) {
        const tr = document.createElement('tr');
        tr.dataset.station = String(s.station.id);
        tr.dataset.state = s.state;
        tr.title = s.message;
        cell(tr, String(s.station.id));
        cell(tr, s.station.label);
        cell(tr, s.station.key_id, 'key');
        cell(tr, s.station.requested_by);
        cell(tr, s.state + (s.role ? ' (' + s.role + ')' : ''));
        cell(tr, command(s), 'command');
        tb.append(tr);
      }
      const ul = $('users');
      ul.innerHTML = '';
      for (const n of us.users) {
        const li = document.createElement('li');
        li.textContent = n;
        ul.append(li);
      }
      $('admin-data').hidden = false;
    } catch (e) {
      $('admin-data').hidden = true;
      showError('Could not load: ' + e.message);
    }
  }
  $('admin-auth').addEventListener('submit', (e) => {
    e.preventDefault();
    party = $('admin-party').value.trim();
    token = $('admin-token').value.trim();
    sessionStorage.setItem('suyuan-admin-party', party);
    sessionStorage.setItem('suyuan-admin-token', token);
    load();
  });
  $('add-user').addEventListener('submit', async (e) => {
    e.preventDefault();
    const out = $('add-result');
    try {
      const body = JSON.stringify({ party, name: $('new-name').value.trim(), password: $('new-password').value });
      const r = await call('/api/v1/dock/users', { method: 'POST', body });
      out.textContent = 'Added ' + r.name + ' 已添加';
      out.className = 'ok';
      $('new-name').value = '';
      $('new-password').value = '';
      load();
    } catch (err) {
      out.textContent = 'Not added: ' + err.message;
      out.className = 'error';
    }
  });
  $('admin-party').value = party;
  if (party && token) load();
})();
