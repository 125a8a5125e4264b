// suyuan dock page (issue 6): keyboard-wedge scanning, a WebCrypto station key,
// events signed in the browser, and an IndexedDB outbox for when the Wi-Fi drops.
// Plain JavaScript, no build step: the binary embeds this file as it is.
(() => {
  'use strict';

  const body = document.body;
  const PARTY = body.dataset.party;
  const CSRF = body.dataset.csrf;
  const $ = (id) => document.getElementById(id);
  const hook = (window.suyuanDock = window.suyuanDock || {});
  hook.forceOffline = false; // tests flip this to simulate a dead network
  hook.dropEventPosts = false;

  // ---- JCS (RFC 8785) for the statements suyuan signs: strings, safe integers,
  // booleans, arrays, objects; no floats, no null. JSON.stringify already escapes
  // strings exactly as JCS does (JCS is defined by it), and the default sort
  // compares UTF-16 code units, which is JCS's key order.
  function jcs(v) {
    if (v === null || v === undefined) throw new Error('null is not allowed in a statement');
    if (typeof v === 'boolean') return v ? 'true' : 'false';
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) throw new Error('only integers within ±(2^53−1) are allowed: ' + v);
      return String(v);
    }
    if (typeof v === 'string') {
      if (/[\ud800-\udbff](?![\udc00-\udfff])|(?:[^\ud800-\udbff]|^)[\udc00-\udfff]/.test(v)) {
        throw new Error('lone surrogate in a string');
      }
      return JSON.stringify(v);
    }
    if (Array.isArray(v)) return '[' + v.map(jcs).join(',') + ']';
    if (typeof v === 'object') {
      return '{' + Object.keys(v).sort().map((k) => jcs(k) + ':' + jcs(v[k])).join(',') + '}';
    }
    throw new Error('unsupported value in a statement: ' + typeof v);
  }
  const enc = new TextEncoder();
  function message(kind, statement) {
    return enc.encode('suyuan/v1/' + kind + '\n' + jcs(statement));
  }
  function hex(buf) {
    return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
  }
  function b64url(buf) {
    let s = '';
    new Uint8Array(buf).forEach((b) => (s += String.fromCharCode(b)));
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  hook.jcs = jcs;
  hook.messageHex = (kind, st) => hex(message(kind, st));

  // ---- IndexedDB: the station key, the work in progress, the outbox.
  let dbp = null;
  function db() {
    if (!dbp) {
      dbp = new Promise((resolve, reject) => {
        const r = indexedDB.open('suyuan-dock', 1);
        r.onupgradeneeded = () => {
          const d = r.result;
          d.createObjectStore('keys', { keyPath: 'party' });
          d.createObjectStore('state', { keyPath: 'party' });
          d.createObjectStore('outbox', { keyPath: 'n', autoIncrement: true });
        };
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
    }
    return dbp;
  }
  async function idb(store, mode, f) {
    const d = await db();
    return new Promise((resolve, reject) => {
      const tx = d.transaction(store, mode);
      const req = f(tx.objectStore(store));
      tx.oncomplete = () => resolve(req && req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }
  const idbGet = (s, k) => idb(s, 'readonly', (o) => o.get(k));
  const idbAll = (s) => idb(s, 'readonly', (o) => o.getAll());
  const idbPut = (s, v) => idb(s, 'readwrite', (o) => o.put(v));
  const idbDel = (s, k) => idb(s, 'readwrite', (o) => o.delete(k));

  // ---- Network. A failed fetch (no route, Wi-Fi gone) is NetError: the caller queues.
  class NetError extends Error {}
  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.message) || 'HTTP ' + status);
      this.status = status;
      this.body = body || {};
    }
  }
  async function api(path, opts) {
    opts = opts || {};
    if (hook.forceOffline) throw new NetError('offline');
    // Tests: the event is signed, then the network drops before it is sent.
    if (hook.dropEventPosts && path === '/dock/api/events') throw new NetError('offline');
    let r;
    try {
      const headers = { 'x-csrf-token': CSRF };
      if (opts.body) headers['content-type'] = 'application/json';
      r = await fetch(path, { method: opts.method || 'GET', body: opts.body, headers, credentials: 'same-origin' });
    } catch (e) {
      throw new NetError(String(e));
    }
    let b = null;
    try {
      b = await r.json();
    } catch (e) {
      b = { message: 'HTTP ' + r.status };
    }
    if (r.status === 401 && path.startsWith('/dock/')) {
      // The session expired: everything scanned is in IndexedDB; sign in and it syncs.
      feedback('Session expired — sign in again; queued work is kept. 会话过期，请重新登录', false);
      $('relogin').hidden = false;
      setNet(false);
      throw new NetError('signed out');
    }
    if (!r.ok) throw new ApiError(r.status, b);
    return { status: r.status, body: b };
  }
  // Server clock minus this station's clock, in ms (from the station status).
  let clockOffset = 0;
  function setNet(ok) {
    const n = $('net');
    n.textContent = ok ? 'online' : 'offline 离线';
    n.classList.toggle('offline', !ok);
  }

  // ---- Feedback: a beep and a flash per scan, before anything else happens.
  let audio = null;
  function beep(ok) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const o = audio.createOscillator();
      const g = audio.createGain();
      o.frequency.value = ok ? 1200 : 220;
      o.type = ok ? 'sine' : 'square';
      g.gain.value = 0.2;
      o.connect(g).connect(audio.destination);
      o.start();
      o.stop(audio.currentTime + (ok ? 0.08 : 0.35));
    } catch (e) {
      /* no audio on this device: the colour still shows */
    }
  }
  function feedback(text, ok) {
    const f = $('feedback');
    f.textContent = text;
    f.className = 'feedback ' + (ok ? 'ok' : 'bad');
    body.classList.remove('flash-ok', 'flash-bad');
    void body.offsetWidth;
    body.classList.add(ok ? 'flash-ok' : 'flash-bad');
    setTimeout(() => body.classList.remove('flash-ok', 'flash-bad'), 400);
  }
  function log(text) {
    const li = document.createElement('li');
    li.textContent = new Date().toLocaleTimeString() + ' ' + text;
    $('log').prepend(li);
  }

  // ---- Station key: non-extractable Ed25519, generated once per party per browser.
  let station = null;
  async function stationKey() {
    let rec = await idbGet('keys', PARTY);
    if (!rec) {
      const pair = await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']);
      const raw = await crypto.subtle.exportKey('raw', pair.publicKey);
      rec = {
        party: PARTY,
        privateKey: pair.privateKey,
        publicKey: pair.publicKey,
        pub: b64url(raw),
        key_id: hex(await crypto.subtle.digest('SHA-256', raw)).slice(0, 16),
        pending: null,
      };
      await idbPut('keys', rec);
    }
    return rec;
  }
  function showStation(state, text) {
    $('station').dataset.state = state;
    $('station-text').textContent = text;
  }
  async function enroll() {
    if (!window.crypto || !crypto.subtle) {
      showStation('unsupported', 'This browser has no WebCrypto here (use https or localhost).');
      return;
    }
    try {
      station = await stationKey();
    } catch (e) {
      showStation('unsupported', 'This browser cannot make an Ed25519 key (needs Chromium 137+): ' + e);
      return;
    }
    $('station-key').textContent = station.key_id;
    if (station.pending === null) {
      try {
        const label = 'dock ' + (navigator.platform || '') + ' ' + new Date().toISOString().slice(0, 10);
        const r = await api('/dock/api/stations', {
          method: 'POST',
          body: JSON.stringify({ public_key: station.pub, label }),
        });
        station.pending = r.body.station.id;
        await idbPut('keys', station);
      } catch (e) {
        showStation('error', 'Could not enroll this station yet: ' + e.message);
        setTimeout(enroll, 5000);
        return;
      }
    }
    $('station-id').textContent = String(station.pending);
    await checkApproved();
  }
  // What the server thinks of this station's key, and its clock. Asked on load,
  // while waiting for approval, and whenever the server refuses an event for a
  // key or clock reason; the outbox is never dropped for either.
  let approvalTimer = null;
  async function stationStatus() {
    const r = await api('/dock/api/station?key_id=' + encodeURIComponent(station.key_id));
    const server = Date.parse(r.body.server_time);
    if (!Number.isNaN(server)) {
      clockOffset = server - Date.now();
      const off = Math.abs(clockOffset);
      const c = $('clock');
      if (off > 120000) {
        const mins = Math.round(off / 60000);
        const span = mins >= 90 ? Math.round(mins / 60) + ' h' : mins + ' min';
        c.textContent = "This station's clock is " + span + (clockOffset > 0 ? ' behind' : ' ahead of') +
          " the server's. Events are dated by the server's clock; please fix the device clock. 本机时钟与服务器相差 " + span + '。';
        c.hidden = false;
      } else {
        c.hidden = true;
      }
    }
    return r.body;
  }
  async function checkApproved() {
    clearTimeout(approvalTimer);
    let st;
    try {
      st = await stationStatus();
    } catch (e) {
      showStation('pending', 'Cannot check approval right now (' + e.message + ')');
      approvalTimer = setTimeout(checkApproved, 2000);
      return;
    }
    $('new-key').hidden = !['revoked', 'expired', 'wrong_role', 'other_party'].includes(st.state);
    if (st.state === 'approved') {
      showStation('approved', st.message);
      sync();
      return;
    }
    if (st.state === 'pending') {
      showStation(
        'pending',
        'Waiting for approval: ask your admin to run  suyuan key approve --pending ' + station.pending +
          '  (or see /dock/admin). 等待管理员批准本工位',
      );
    } else {
      showStation(st.state, st.message);
      beep(false);
    }
    approvalTimer = setTimeout(checkApproved, st.state === 'pending' ? 2000 : 15000);
  }
  // A revoked (or expired) station starts over with a new key; queued work is
  // re-signed with it once it is approved.
  async function newStationKey() {
    await idbDel('keys', PARTY);
    station = null;
    $('new-key').hidden = true;
    await enroll();
  }
  // Now by the server's clock: a station clock hours off would date events wrongly.
  function nowRfc3339() {
    return new Date(Date.now() + clockOffset).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
  async function signEvent(ev) {
    ev.party = PARTY;
    ev.key = station.key_id;
    const msg = message('event', ev);
    const sig = await crypto.subtle.sign({ name: 'Ed25519' }, station.privateKey, msg);
    const id = hex(await crypto.subtle.digest('SHA-256', msg));
    return { text: JSON.stringify(Object.assign({}, ev, { sig: b64url(sig) })), id };
  }

  // ---- Scans.
  function ssccOk(d) {
    let sum = 0;
    for (let i = 0; i < 17; i++) sum += Number(d[i]) * (i % 2 === 0 ? 3 : 1);
    return (10 - (sum % 10)) % 10 === Number(d[17]);
  }
  // Whatever the scanner sent: strip a symbology identifier (]Q3, ]C1, ]d2) and
  // spot SSCCs; units go to the server's parser (GS separators, AIs, URLs).
  function classify(raw) {
    let s = raw.trim();
    if (/^\][A-Za-z][0-9A-Za-z]/.test(s)) s = s.slice(3);
    const flat = s.replace(/\u001d/g, '');
    const m =
      flat.match(/^\(00\)\s*(\d{18})$/) ||
      flat.match(/^00(\d{18})$/) ||
      flat.match(/\/00\/(\d{18})(?:[?#].*)?$/) ||
      flat.match(/^(\d{18})$/);
    if (m) return { kind: 'container', sscc: m[1] };
    return { kind: 'unit' };
  }
  async function resolveItem(item) {
    if (item.kind === 'container') {
      if (item.units || item.isParent) return;
      let r;
      try {
        r = await api('/api/v1/containers/' + item.sscc);
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) {
          throw new Error(
            'SSCC ' + item.sscc + ' is not a packed case or pallet (already unpacked, or never packed) — scan the units inside. 此箱码未装箱或已拆箱，请扫描箱内单件',
          );
        }
        throw e;
      }
      item.units = r.body.units || [];
    } else if (item.batch === undefined) {
      const r = await api('/api/v1/resolve?code=' + encodeURIComponent(item.code));
      item.batch = r.body.batch;
      item.index = r.body.index;
      const h = r.body.holding || {};
      if (h.recall || h.disposition === 'recalled') {
        // Blocked at the scan, with the recall's own words.
        let reason = '';
        try {
          const st = await api('/api/v1/statements/' + h.recall);
          reason = st.body.statement.reason || '';
        } catch (e) {
          /* the recall itself is on record; its text is a nicety */
        }
        throw new Error('RECALLED 已召回 — do not move this unit. ' + reason);
      }
    }
  }
  const unitKey = (b, i) => b + ':' + i;
  const itemKey = (it) => (it.kind === 'container' ? 'sscc:' + it.sscc : it.batch !== undefined ? unitKey(it.batch, it.index) : 'raw:' + it.code);
  const short = (id) => (id ? id.slice(0, 8) + '…' : '');

  // ---- Work in progress, saved to IndexedDB on every change so a reload loses nothing.
  // marks: what the receiver reports of a shipment beyond the scans: `damaged` by
  // scanned item key or 'case:' + SSCC, `short` counts by case SSCC inside a pallet.
  const noMarks = () => ({ damaged: {}, short: {} });
  let work = { party: PARTY, mode: 'receive', items: [], shipment: null, to: '', asn: '', parent: null, marks: noMarks() };
  let shipments = [];
  async function save() {
    await idbPut('state', work);
  }

  async function onScan(raw) {
    if (!raw.trim()) return;
    const c = classify(raw);
    if (c.kind === 'container' && !ssccOk(c.sscc)) {
      beep(false);
      feedback('Bad SSCC check digit: ' + c.sscc + ' 箱码校验位错误', false);
      return;
    }
    const item = Object.assign({ code: raw.trim(), status: 'ok' }, c);
    if (work.mode === 'pack' && !work.parent) {
      if (item.kind !== 'container') {
        beep(false);
        feedback('Scan the case or pallet label first 请先扫箱码', false);
        return;
      }
      work.parent = item.sscc;
      beep(true);
      feedback('Packing into ' + item.sscc, true);
      await save();
      render();
      return;
    }
    try {
      await resolveItem(item);
      if (work.mode === 'sell' || work.mode === 'return') await retailCheck(item);
    } catch (e) {
      if (e instanceof NetError) {
        item.status = 'queued';
      } else {
        beep(false);
        feedback('Not accepted: ' + e.message, false);
        return;
      }
    }
    const key = itemKey(item);
    if (work.items.some((i) => itemKey(i) === key)) {
      beep(false);
      feedback('Already scanned 重复扫描: ' + (item.sscc || item.code), false);
      return;
    }
    work.items.push(item);
    await save();
    const expected = work.mode !== 'receive' || item.status === 'queued' || isExpected(item);
    beep(expected);
    if (item.status === 'queued') feedback('Queued offline 已离线暂存: ' + item.code, true);
    else if (work.mode === 'sell') feedback('OK to sell 可销售: unit ' + item.index, true);
    else if (work.mode === 'return') feedback('Return of unit ' + item.index + (item.disposition === 'returned' ? ' (already returned at the counter)' : '') + ' 退货', true);
    else if (expected) feedback('OK ' + (item.sscc ? 'SSCC ' + item.sscc : 'unit ' + item.index), true);
    else feedback('Not in this shipment 不在此到货单: ' + (item.sscc || item.code), false);
    render();
  }

  // ---- Retail counter: is this unit ours to sell or to take back? Says why not in plain words.
  async function retailCheck(item) {
    if (item.kind === 'container') throw new Error('scan the unit itself, not a case 请扫描单件商品');
    const r = await api('/api/v1/units/' + item.batch + '/' + item.index);
    const h = r.body.holding || {};
    const d = h.disposition;
    if (h.holder !== PARTY) {
      throw new Error('unit ' + item.index + ' is not held by ' + PARTY + ' (holder: ' + (h.holder || 'nobody') + ') 非本店库存');
    }
    if (work.mode === 'sell') {
      if (h.recall) throw new Error('RECALLED 已召回 — do not sell this unit.');
      if (d === 'retail_sold') throw new Error('unit ' + item.index + ' is already sold 已售出');
      if (d !== 'active') throw new Error('unit ' + item.index + ' is ' + d + ', not active stock 不可销售');
    } else {
      if (d !== 'retail_sold' && d !== 'returned') {
        throw new Error('unit ' + item.index + ' was not sold here (it is ' + d + ') 非本店售出');
      }
    }
    item.disposition = d;
    // Upstream = whoever last sent this unit to us (shipping, or returning with to).
    const hist = r.body.history || [];
    item.from = '';
    for (const ev of hist) {
      if ((ev.type === 'shipping' || ev.type === 'returning') && ev.to === PARTY) item.from = ev.party;
    }
  }

  // ---- Receive: expected (containers and loose ranges still in transit) vs scanned.
  function currentShipment() {
    return work.shipment;
  }
  function inRanges(ranges, b, i) {
    return ranges.some((r) => r.batch === b && r.first <= i && i <= r.last);
  }
  function isExpected(item) {
    const sh = currentShipment();
    if (!sh) return false;
    if (item.kind === 'container') return sh.containers.includes(item.sscc);
    return inRanges(sh.loose, item.batch, item.index);
  }
  function subtract(ranges, units) {
    // ranges minus a set of single units, as ranges
    let out = ranges.map((r) => Object.assign({}, r));
    for (const u of units) {
      const next = [];
      for (const r of out) {
        if (r.batch !== u.batch || u.index < r.first || u.index > r.last) {
          next.push(r);
          continue;
        }
        if (r.first < u.index) next.push({ batch: r.batch, first: r.first, last: u.index - 1 });
        if (r.last > u.index) next.push({ batch: r.batch, first: u.index + 1, last: r.last });
      }
      out = next;
    }
    return out;
  }
  function ranges(units) {
    const sorted = units.slice().sort((a, b) => (a.batch < b.batch ? -1 : a.batch > b.batch ? 1 : a.index - b.index));
    const out = [];
    for (const u of sorted) {
      const last = out[out.length - 1];
      if (last && last.batch === u.batch && last.last + 1 === u.index) last.last = u.index;
      else out.push({ batch: u.batch, first: u.index, last: u.index });
    }
    return out;
  }
  // Ranges sorted and merged where they touch or overlap.
  function mergeRanges(list) {
    const sorted = list
      .map((r) => Object.assign({}, r))
      .sort((a, b) => (a.batch < b.batch ? -1 : a.batch > b.batch ? 1 : a.first - b.first));
    const out = [];
    for (const r of sorted) {
      const last = out[out.length - 1];
      if (last && last.batch === r.batch && r.first <= last.last + 1) last.last = Math.max(last.last, r.last);
      else out.push(r);
    }
    return out;
  }
  // Ranges minus other ranges.
  function cutRanges(list, cuts) {
    let out = list.map((r) => Object.assign({}, r));
    for (const c of cuts) {
      const next = [];
      for (const r of out) {
        if (r.batch !== c.batch || c.last < r.first || c.first > r.last) {
          next.push(r);
          continue;
        }
        if (r.first < c.first) next.push({ batch: r.batch, first: r.first, last: c.first - 1 });
        if (r.last > c.last) next.push({ batch: r.batch, first: c.last + 1, last: r.last });
      }
      out = next;
    }
    return out;
  }
  const count = (list) => list.reduce((n, r) => n + r.last - r.first + 1, 0);
  // A case reported `n` short: its last `n` units (by index) are the ones recorded missing.
  function splitLast(list, n) {
    const got = [];
    const miss = [];
    const sorted = mergeRanges(list);
    for (let i = sorted.length - 1; i >= 0; i--) {
      const r = sorted[i];
      const len = r.last - r.first + 1;
      const take = Math.min(n, len);
      n -= take;
      if (take > 0) miss.unshift({ batch: r.batch, first: r.last - take + 1, last: r.last });
      if (take < len) got.unshift({ batch: r.batch, first: r.first, last: r.last - take });
    }
    return [got, miss];
  }
  hook.splitLast = splitLast;

  async function loadShipments() {
    try {
      const r = await api('/dock/api/shipments');
      shipments = r.body.shipments.filter((s) => s.in_transit.length > 0);
      setNet(true);
    } catch (e) {
      if (e instanceof NetError) setNet(false);
      return;
    }
    const sel = $('shipment');
    const keep = work.shipment && work.shipment.id;
    sel.innerHTML = '';
    sel.append(new Option('— pick a shipment 选择到货单 —', ''));
    for (const s of shipments) {
      const units = s.in_transit.reduce((n, h) => n + h.last - h.first + 1, 0);
      const label = (s.statement.asn ? 'ASN ' + s.statement.asn : short(s.id)) + ' from ' + s.from + ' · ' + units + ' units';
      sel.append(new Option(label, s.id));
    }
    if (keep) sel.value = keep;
  }
  async function pickShipment(id) {
    const s = shipments.find((x) => x.id === id);
    if (!s) {
      work.shipment = null;
      await save();
      render();
      return;
    }
    const containers = (s.statement.containers || []).slice();
    const contents = {};
    // The cases on each pallet, so the receiver can say how many of a case are short.
    const cases = {};
    for (const c of containers) {
      cases[c] = [];
      try {
        const r = await api('/api/v1/containers/' + c);
        contents[c] = r.body.units || [];
        for (const k of r.body.children || []) {
          const kr = await api('/api/v1/containers/' + k);
          cases[c].push({ sscc: k, units: kr.body.units || [] });
        }
      } catch (e) {
        contents[c] = contents[c] || [];
      }
    }
    const pending = s.in_transit.map((h) => ({ batch: h.batch, first: h.first, last: h.last }));
    // A container is still expected while everything in it is in transit (one
    // received before, with units short, is done; those units now come loose).
    for (let i = containers.length - 1; i >= 0; i--) {
      const c = containers[i];
      const all = contents[c] || [];
      if (!all.length || cutRanges(all, pending).length) containers.splice(i, 1);
    }
    // Loose = in transit and not inside an expected container.
    let loose = pending;
    for (const r of containers.flatMap((k) => contents[k] || [])) {
      const units = [];
      for (let i = r.first; i <= r.last && units.length < 100000; i++) units.push({ batch: r.batch, index: i });
      loose = subtract(loose, units);
    }
    work.shipment = { id: s.id, from: s.from, asn: s.statement.asn || '', containers, contents, cases, loose, pending };
    work.marks = noMarks();
    await save();
    render();
  }

  function row(cells, cls, action) {
    const tr = document.createElement('tr');
    tr.className = cls;
    for (const c of cells) {
      const td = document.createElement('td');
      td.textContent = c;
      tr.append(td);
    }
    const td = document.createElement('td');
    if (action) td.append(...action);
    tr.append(td);
    return tr;
  }
  const marks = () => work.marks || (work.marks = noMarks());
  // The "damaged" toggle of a scanned item or case, by its mark key.
  function damageButton(key) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'damage';
    b.dataset.mark = key;
    const on = !!marks().damaged[key];
    b.setAttribute('aria-pressed', on ? 'true' : 'false');
    b.textContent = on ? 'Damaged ✓ 破损' : 'Damaged? 破损';
    return b;
  }
  // How many of a case on a pallet did not arrive.
  function shortInput(sscc, max) {
    const i = document.createElement('input');
    i.className = 'short-count';
    i.dataset.case = sscc;
    i.inputMode = 'numeric';
    i.autocomplete = 'off';
    i.setAttribute('aria-label', 'units short in case ' + sscc);
    i.placeholder = 'short 短缺';
    i.title = 'units short, 0–' + max;
    const n = marks().short[sscc] || 0;
    i.value = n ? String(n) : '';
    return i;
  }
  function render() {
    $('work').dataset.mode = work.mode;
    document.querySelectorAll('#modes .mode').forEach((b) => b.classList.toggle('active', b.dataset.mode === work.mode));
    $('pack-parent').textContent = work.parent || '—';
    const tb = document.querySelector('#list tbody');
    tb.innerHTML = '';
    const sh = currentShipment();
    const m = marks();
    if (work.mode === 'receive' && sh) {
      for (const c of sh.containers) {
        const got = work.items.some((i) => i.kind === 'container' && i.sscc === c);
        const n = count(sh.contents[c] || []);
        const hurt = got && m.damaged['sscc:' + c];
        const state = got ? (hurt ? 'damaged 破损' : 'ok') : 'short 短缺';
        const tr = row(['SSCC ' + c + ' (' + n + ' units)', '1', got ? '1' : '0', state], got ? (hurt ? 'ok damaged' : 'ok') : 'short', got ? [damageButton('sscc:' + c)] : null);
        tr.dataset.sscc = c;
        tb.append(tr);
        if (!got) continue;
        // A scanned pallet: its cases, each with a short count and a damaged toggle.
        for (const k of (sh.cases && sh.cases[c]) || []) {
          const want = count(k.units);
          const short = Math.min(m.short[k.sscc] || 0, want);
          const bad = m.damaged['case:' + k.sscc];
          const st = short ? 'short 短缺 ' + short : bad ? 'damaged 破损' : 'ok';
          const cls = (short ? 'short' : 'ok') + (bad ? ' damaged' : '');
          const kr = row(['↳ case ' + k.sscc, String(want), String(want - short), st], cls, [shortInput(k.sscc, want), damageButton('case:' + k.sscc)]);
          kr.dataset.case = k.sscc;
          tb.append(kr);
        }
      }
      for (const r of sh.loose) {
        const got = work.items.filter((i) => i.kind === 'unit' && i.batch === r.batch && i.index >= r.first && i.index <= r.last).length;
        const want = r.last - r.first + 1;
        const tr = row([short(r.batch) + ' units ' + r.first + '–' + r.last, String(want), String(got), got === want ? 'ok' : 'short 短缺 ' + (want - got)], got === want ? 'ok' : 'short');
        tb.append(tr);
      }
    }
    for (const it of work.items) {
      const queued = it.status === 'queued';
      if (work.mode === 'receive' && sh && !queued && isExpected(it)) {
        // Each scanned unit of the shipment can be marked damaged (containers are above).
        if (it.kind === 'unit') {
          const key = unitKey(it.batch, it.index);
          const bad = m.damaged[key];
          const tr = row([short(it.batch) + ' unit ' + it.index, '', '1', bad ? 'damaged 破损' : 'scanned'], bad ? 'ok damaged' : 'ok', [damageButton(key)]);
          tr.dataset.unit = String(it.index);
          tb.append(tr);
        }
        continue;
      }
      const what = it.kind === 'container' ? 'SSCC ' + it.sscc : it.batch !== undefined ? short(it.batch) + ' unit ' + it.index : it.code;
      const over = work.mode === 'receive' && !queued;
      const tr = row([what, over ? '0' : '', '1', queued ? 'queued 待同步' : over ? 'overage 多到' : 'scanned'], queued ? 'queued' : over ? 'over' : 'ok');
      tb.append(tr);
    }
  }
  async function toggleDamaged(key) {
    const d = marks().damaged;
    if (d[key]) delete d[key];
    else d[key] = true;
    await save();
    render();
  }
  async function setShort(sscc, text) {
    const n = parseInt(String(text).replace(/[^0-9]/g, ''), 10) || 0;
    if (n) marks().short[sscc] = n;
    else delete marks().short[sscc];
    await save();
    render();
    // Typing goes on in the same box after the table is drawn again.
    const box = document.querySelector('input.short-count[data-case="' + sscc + '"]');
    if (box) {
      box.focus();
      box.setSelectionRange(box.value.length, box.value.length);
    }
  }

  // ---- Building events. The intent holds everything needed to build the event
  // again after a reload, so offline scans can still be resolved and signed later.
  function buildEvent(intent) {
    const ev = { v: 1, party: PARTY, key: '', time: intent.time, prev: {} };
    const units = intent.items.filter((i) => i.kind === 'unit').map((i) => ({ batch: i.batch, index: i.index }));
    const conts = intent.items.filter((i) => i.kind === 'container');
    if (intent.mode === 'ship') {
      ev.type = 'shipping';
      ev.to = intent.to;
      if (intent.asn) ev.asn = intent.asn;
    } else if (intent.mode === 'pack') {
      ev.type = 'packing';
      ev.parent = intent.parent;
    } else if (intent.mode === 'sell') {
      ev.type = 'retail_selling';
    } else if (intent.mode === 'counter-return') {
      // The consumer brings a sold unit back to the counter: no `to`.
      ev.type = 'returning';
      if (intent.reason) ev.reason = intent.reason;
    } else if (intent.mode === 'accept') {
      ev.type = 'accepting_return';
      ev.resolution = intent.resolution;
      if (intent.reason) ev.reason = intent.reason;
    } else if (intent.mode === 'upstream') {
      // Sent back to the party it came from; travels like a shipment.
      ev.type = 'returning';
      ev.to = intent.to;
      if (intent.reason) ev.reason = intent.reason;
    } else {
      const sh = intent.shipment;
      const m = intent.marks || noMarks();
      ev.type = 'receiving';
      ev.shipment = sh.id;
      const gotC = conts.filter((c) => sh.containers.includes(c.sscc));
      const gotU = units.filter((u) => inRanges(sh.loose, u.batch, u.index));
      const exceptions = [];
      const missingC = sh.containers.filter((c) => !gotC.some((g) => g.sscc === c));
      const shortRanges = subtract(sh.loose, gotU);
      for (const c of missingC) shortRanges.push(...(sh.contents[c] || []));
      const whole = gotC.map((c) => c.sscc);
      const loose = ranges(gotU);
      const damaged = [];
      for (const u of gotU) if (m.damaged[unitKey(u.batch, u.index)]) damaged.push({ batch: u.batch, first: u.index, last: u.index });
      for (const c of gotC) {
        // The scanned pallet is received by its SSCC; what is counted missing from
        // each of its cases is reported short, stays in transit and leaves the case.
        const missing = [];
        for (const k of (sh.cases && sh.cases[c.sscc]) || []) {
          const n = Math.min(m.short[k.sscc] || 0, count(k.units));
          if (n > 0) missing.push(...splitLast(k.units, n)[1]);
        }
        shortRanges.push(...missing);
        if (m.damaged['sscc:' + c.sscc]) damaged.push(...cutRanges(sh.contents[c.sscc] || [], missing));
        for (const k of (sh.cases && sh.cases[c.sscc]) || []) {
          if (m.damaged['case:' + k.sscc]) damaged.push(...cutRanges(k.units, missing));
        }
      }
      if (shortRanges.length) exceptions.push({ type: 'shortage', objects: mergeRanges(shortRanges) });
      if (damaged.length) exceptions.push({ type: 'damaged', objects: mergeRanges(damaged) });
      for (const it of intent.items) {
        const exp = it.kind === 'container' ? sh.containers.includes(it.sscc) : inRanges(sh.loose, it.batch, it.index);
        if (!exp) exceptions.push({ type: 'overage', note: 'scanned ' + (it.sscc ? 'SSCC ' + it.sscc : it.code) });
      }
      if (exceptions.length) ev.exceptions = exceptions;
      if (!whole.length && !loose.length) throw new Error('nothing of this shipment was scanned 未扫到此单货物');
      if (loose.length) ev.objects = mergeRanges(loose);
      if (whole.length) ev.containers = whole;
      return ev;
    }
    if (units.length) ev.objects = ranges(units);
    if (conts.length) ev.containers = conts.map((c) => c.sscc);
    if (!units.length && !conts.length) throw new Error('nothing scanned 没有扫描内容');
    return ev;
  }
  async function fillPrev(intent, ev) {
    const batches = new Set();
    (ev.objects || []).forEach((r) => batches.add(r.batch));
    // Only containers the event names (not one scanned as an overage), and of a
    // receipt only what it does not report short: `prev` names the batches it covers.
    const named = new Set(ev.containers || []);
    let inside = [];
    for (const it of intent.items) if (it.kind === 'container' && named.has(it.sscc)) inside.push(...(it.units || []));
    for (const e of ev.exceptions || []) if (e.type === 'shortage') inside = cutRanges(inside, e.objects);
    inside.forEach((r) => batches.add(r.batch));
    ev.prev = {};
    for (const b of batches) {
      const r = await api('/api/v1/batches/' + b);
      ev.prev[b] = r.body.head;
    }
  }
  async function post(text) {
    return api('/dock/api/events', { method: 'POST', body: text });
  }

  // One outbox entry through to the server. NetError leaves it queued.
  async function deliver(entry) {
    if (entry.signed && entry.event && entry.event.key !== station.key_id) {
      // Signed by a station key that has since been replaced: sign again with this
      // one, dated now (the new key is valid only from its approval on).
      entry.event.time = nowRfc3339();
      entry.signed = await signEvent(entry.event);
      await idbPut('outbox', entry);
    }
    if (!entry.signed) {
      for (const it of entry.intent.items) await resolveItem(it);
      const ev = buildEvent(entry.intent);
      await fillPrev(entry.intent, ev);
      entry.event = ev;
      entry.signed = await signEvent(ev);
      await idbPut('outbox', entry);
    }
    try {
      const r = await post(entry.signed.text);
      return r;
    } catch (e) {
      if (e instanceof ApiError && e.body.error === 'rule' && /station clock/.test(e.message) && !entry.redated) {
        // Dated in the future by a fast station clock: re-date by the server's clock once.
        entry.redated = true;
        await stationStatus().catch(() => null);
        entry.event.time = nowRfc3339();
        entry.intent.time = entry.event.time;
        entry.signed = await signEvent(entry.event);
        await idbPut('outbox', entry);
        log('the station clock is off; event re-dated by the server clock');
        return post(entry.signed.text);
      }
      if (!(e instanceof ApiError) || e.status !== 409 || e.body.error !== 'conflict' || entry.retried) throw e;
      // Another event moved a batch head since we signed. If it touched other
      // units, re-signing on the new head goes through; if it took these very
      // units, the server now refuses by the holder rule and says who holds them.
      entry.retried = true;
      log('conflict: heads moved (' + Object.values(e.body.heads || {}).map(short).join(', ') + '); re-signing once');
      await fillPrev(entry.intent, entry.event);
      entry.signed = await signEvent(entry.event);
      await idbPut('outbox', entry);
      return post(entry.signed.text);
    }
  }

  let syncing = false;
  async function sync() {
    if (syncing || !station || $('station').dataset.state !== 'approved') return;
    syncing = true;
    try {
      const all = await idbAll('outbox');
      for (const entry of all) {
        if (entry.failed) continue;
        try {
          const r = await deliver(entry);
          await idbDel('outbox', entry.n);
          hook.lastSent = entry.signed.text;
          setNet(true);
          const what = r.body.status === 'stored' ? 'stored' : 'already stored (duplicate)';
          log(entry.intent.mode + ' ' + what + ': ' + r.body.id);
          feedback('Signed and sent 已签名提交: ' + entry.intent.mode + ' ' + short(r.body.id), true);
          beep(true);
        } catch (e) {
          if (e instanceof NetError) {
            setNet(false);
            break;
          }
          if (e instanceof ApiError && (e.body.error === 'key_revoked' || e.body.error === 'key_not_valid')) {
            // The station, not the scan, is the problem: keep everything queued and say why.
            log('refused for the station key: ' + e.message);
            feedback('Not sent — station problem, scans kept 工位异常，扫描已保留: ' + e.message, false);
            beep(false);
            await checkApproved();
            break;
          }
          entry.failed = e.message;
          await idbPut('outbox', entry);
          log('refused: ' + e.message);
          feedback('Refused 被拒绝: ' + e.message, false);
          beep(false);
        }
      }
    } finally {
      syncing = false;
      await showOutbox();
    }
  }
  async function showOutbox() {
    const all = await idbAll('outbox');
    const waiting = all.filter((e) => !e.failed).length;
    const o = $('outbox-count');
    o.dataset.count = String(waiting);
    o.textContent = waiting + ' queued' + (all.length > waiting ? ', ' + (all.length - waiting) + ' refused' : '');
  }
  hook.sync = sync;
  hook.checkStation = () => checkApproved();
  hook.outbox = () => idbAll('outbox');

  async function submit() {
    if (!station || $('station').dataset.state !== 'approved') {
      beep(false);
      feedback('This station is not approved yet 工位未批准', false);
      return;
    }
    if (work.mode === 'receive' && !work.shipment) {
      beep(false);
      feedback('Pick the expected shipment first 请先选择到货单', false);
      return;
    }
    if (work.mode === 'ship' && !work.to) {
      beep(false);
      feedback('Pick the receiver 请选择收货方', false);
      return;
    }
    if (work.mode === 'return') {
      await submitReturn();
      return;
    }
    const intent = {
      mode: work.mode,
      time: nowRfc3339(),
      items: work.items,
      shipment: work.shipment,
      to: work.to,
      asn: work.asn,
      parent: work.parent,
      marks: work.marks,
    };
    // Built once now so mistakes show at once; built again at delivery with resolved scans.
    if (!intent.items.some((i) => i.status === 'queued')) {
      try {
        buildEvent(intent);
      } catch (e) {
        beep(false);
        feedback(e.message, false);
        return;
      }
    }
    await idbPut('outbox', { intent, signed: null });
    work.items = [];
    work.parent = null;
    work.marks = noMarks();
    if (work.mode === 'receive') {
      // What is left of it (shortages) comes back with the reloaded list.
      work.shipment = null;
      $('shipment').value = '';
    }
    await save();
    render();
    await showOutbox();
    feedback('Queued for signing 待签名', true);
    await sync();
    if (work.mode === 'receive') loadShipments();
  }

  // A return is up to three signed events, queued in order: the consumer's return at
  // the counter (for units still sold), the acceptance with reason and resolution,
  // and for "send upstream" a `returning` to the party each unit came from.
  async function submitReturn() {
    const reason = $('return-reason').value.trim();
    const choice = $('return-resolution').value;
    const fail = (m) => {
      beep(false);
      feedback(m, false);
    };
    if (!work.items.length) return fail('nothing scanned 没有扫描内容');
    if (work.items.some((i) => i.status !== 'ok')) return fail('some scans are not checked yet (offline?) 有未确认的扫描');
    if (!reason) return fail('Give the reason for the return 请填写退货原因');
    const time = nowRfc3339();
    const intents = [];
    const sold = work.items.filter((i) => i.disposition === 'retail_sold');
    if (sold.length) intents.push({ mode: 'counter-return', time, items: sold, reason });
    const resolution = choice === 'upstream' ? 'quarantine' : choice;
    intents.push({ mode: 'accept', time, items: work.items, reason, resolution });
    if (choice === 'upstream') {
      const by = {};
      for (const it of work.items) {
        if (!it.from) return fail('unit ' + it.index + ': no upstream party in its history 找不到上游');
        (by[it.from] = by[it.from] || []).push(it);
      }
      for (const to of Object.keys(by)) intents.push({ mode: 'upstream', time, items: by[to], to, reason });
    }
    for (const intent of intents) await idbPut('outbox', { intent, signed: null });
    work.items = [];
    $('return-reason').value = '';
    await save();
    render();
    await showOutbox();
    feedback('Queued for signing 待签名', true);
    await sync();
    loadFeedback();
  }

  // ---- Consumer feedback and return/exchange requests for this party's units.
  function unescapeHtml(s) {
    const t = document.createElement('textarea');
    t.innerHTML = s;
    return t.value;
  }
  async function loadFeedback() {
    let items;
    try {
      items = (await api('/dock/api/feedback')).body.feedback || [];
    } catch (e) {
      return;
    }
    const ul = $('consumer-feedback');
    ul.innerHTML = '';
    if (!items.length) {
      const li = document.createElement('li');
      li.textContent = 'No feedback yet 暂无反馈';
      ul.append(li);
    }
    for (const f of items) {
      const li = document.createElement('li');
      li.className = f.kind;
      li.dataset.id = String(f.id);
      const head = f.kind.toUpperCase() + ' · ' + f.time + (f.unit_index !== undefined ? ' · unit ' + f.unit_index : '') +
        (f.rating ? ' · ' + '★'.repeat(f.rating) : '') + (f.category ? ' · ' + f.category : '');
      const b = document.createElement('b');
      b.textContent = head;
      const p = document.createElement('div');
      p.textContent = unescapeHtml(f.comment || '') + (f.contact ? ' — ' + unescapeHtml(f.contact) : '');
      li.append(b, p);
      ul.append(li);
    }
  }
  hook.loadFeedback = loadFeedback;

  async function setMode(mode) {
    work.mode = mode;
    work.items = [];
    work.parent = null;
    work.marks = noMarks();
    await save();
    render();
    if (mode === 'sell' || mode === 'return') loadFeedback();
    $('scan').focus();
  }

  async function loadParties() {
    try {
      const r = await api('/api/v1/parties');
      const sel = $('ship-to');
      sel.innerHTML = '';
      sel.append(new Option('—', ''));
      for (const p of r.body.parties) if (p.slug !== PARTY) sel.append(new Option(p.name + ' (' + p.slug + ')', p.slug));
      sel.value = work.to || '';
    } catch (e) {
      /* offline: keep whatever was picked */
    }
  }

  // ---- Camera: BarcodeDetector where the browser has it (Chromium on Android,
  // macOS); elsewhere the vendored jsQR decoder, fetched on first use, reads QR
  // codes from video frames drawn on a canvas.
  let jsqrLoading = null;
  function loadJsQR() {
    if (window.jsQR) return Promise.resolve(window.jsQR);
    if (!jsqrLoading) {
      jsqrLoading = new Promise((resolve, reject) => {
        const s = document.createElement('script');
        s.src = '/dock/assets/jsQR.js';
        s.onload = () => (window.jsQR ? resolve(window.jsQR) : reject(new Error('QR decoder did not load')));
        s.onerror = () => {
          jsqrLoading = null;
          reject(new Error('QR decoder did not load (offline?)'));
        };
        document.head.append(s);
      });
    }
    return jsqrLoading;
  }
  async function makeDetector() {
    if ('BarcodeDetector' in window && !hook.noBarcodeDetector) {
      try {
        const have = await window.BarcodeDetector.getSupportedFormats();
        const formats = ['qr_code', 'data_matrix', 'code_128'].filter((f) => have.includes(f));
        if (formats.includes('qr_code')) {
          const d = new window.BarcodeDetector({ formats });
          return {
            name: 'BarcodeDetector',
            detect: async (video) => {
              const codes = await d.detect(video);
              return codes.length ? codes[0].rawValue : null;
            },
          };
        }
      } catch (e) {
        /* no usable detector here: fall back to jsQR */
      }
    }
    const jsQR = await loadJsQR();
    const canvas = document.createElement('canvas');
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    return {
      name: 'jsQR',
      detect: async (video) => {
        const w = video.videoWidth;
        const h = video.videoHeight;
        if (!w || !h) return null;
        // At most 800 px wide: a label at arm's length still has several pixels per module.
        const scale = Math.min(1, 800 / w);
        canvas.width = Math.round(w * scale);
        canvas.height = Math.round(h * scale);
        ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
        const img = ctx.getImageData(0, 0, canvas.width, canvas.height);
        const code = jsQR(img.data, img.width, img.height, { inversionAttempts: 'attemptBoth' });
        return code && code.data ? code.data : null;
      },
    };
  }
  function camera() {
    const btn = $('camera');
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
    btn.hidden = false;
    let stream = null;
    btn.addEventListener('click', async () => {
      const video = $('camera-view');
      if (stream) {
        stream.getTracks().forEach((t) => t.stop());
        stream = null;
        video.hidden = true;
        return;
      }
      try {
        const detector = await makeDetector();
        hook.decoder = detector.name;
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } });
        video.srcObject = stream;
        video.hidden = false;
        await video.play();
        let last = '';
        const tick = async () => {
          if (!stream) return;
          try {
            const code = await detector.detect(video);
            // The same code held in front of the lens is one scan, not ten.
            if (code && code !== last) {
              last = code;
              await onScan(code);
            }
          } catch (e) {
            /* a frame that cannot be read: try the next */
          }
          setTimeout(tick, 200);
        };
        tick();
      } catch (e) {
        stream = null;
        feedback('Camera unavailable 摄像头不可用: ' + e.message, false);
      }
    });
  }

  // ---- Wiring.
  async function start() {
    const saved = await idbGet('state', PARTY);
    if (saved) work = Object.assign(work, saved);
    render();
    const scan = $('scan');
    scan.addEventListener('keydown', (e) => {
      // Some wedge scanners type the GS separator (FNC1 inside GS1 codes) as Ctrl+].
      if (e.ctrlKey && (e.key === ']' || e.code === 'BracketRight' || e.key === '\u001d')) {
        e.preventDefault();
        const a = scan.selectionStart ?? scan.value.length;
        const b = scan.selectionEnd ?? scan.value.length;
        scan.value = scan.value.slice(0, a) + '\u001d' + scan.value.slice(b);
        scan.setSelectionRange(a + 1, a + 1);
        return;
      }
      if (e.key === 'Enter') {
        e.preventDefault();
        const v = scan.value;
        scan.value = '';
        onScan(v);
      }
    });
    // Always focused: a wedge scanner types wherever the focus is.
    const refocus = () => {
      const a = document.activeElement;
      if (!a || a === body || a.tagName === 'BUTTON') scan.focus();
    };
    scan.addEventListener('blur', () => setTimeout(refocus, 50));
    document.addEventListener('click', () => setTimeout(refocus, 50));
    document.querySelectorAll('#modes .mode').forEach((b) => b.addEventListener('click', () => setMode(b.dataset.mode)));
    $('shipment').addEventListener('change', (e) => pickShipment(e.target.value));
    $('reload-shipments').addEventListener('click', loadShipments);
    $('reload-feedback').addEventListener('click', loadFeedback);
    $('ship-to').addEventListener('change', (e) => {
      work.to = e.target.value;
      save();
    });
    $('asn').addEventListener('input', (e) => {
      work.asn = e.target.value;
      save();
    });
    $('asn').value = work.asn || '';
    $('submit').addEventListener('click', submit);
    $('list').addEventListener('click', (e) => {
      const b = e.target.closest('button[data-mark]');
      if (b) toggleDamaged(b.dataset.mark);
    });
    $('list').addEventListener('input', (e) => {
      const i = e.target.closest('input.short-count');
      if (i) setShort(i.dataset.case, i.value);
    });
    $('new-key').addEventListener('click', newStationKey);
    $('clear').addEventListener('click', () => setMode(work.mode));
    window.addEventListener('online', async () => {
      setNet(true);
      // Scans taken offline are resolved now; then the outbox goes out.
      for (const it of work.items) {
        if (it.status !== 'queued') continue;
        try {
          await resolveItem(it);
          if (work.mode === 'sell' || work.mode === 'return') await retailCheck(it);
          it.status = 'ok';
        } catch (e) {
          if (!(e instanceof NetError)) it.status = 'error';
        }
      }
      await save();
      render();
      sync();
    });
    window.addEventListener('offline', () => setNet(false));
    camera();
    scan.focus();
    await Promise.all([loadShipments(), loadParties(), loadFeedback()]);
    await showOutbox();
    await enroll();
    hook.ready = true;
  }
  start().catch((e) => feedback('Dock page failed to start: ' + e.message, false));
})();
