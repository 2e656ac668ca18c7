/*
 * massaged control panel. Plain JavaScript, no build step, nothing fetched
 * from outside the daemon. Talks to the control API (docs/api.md) with
 * fetch() and the bearer token kept in localStorage; the live status comes
 * from GET /api/v1/events read as a stream with fetch(), so the token
 * travels in a header and never in a URL.
 */
'use strict';

(function () {
  const TOKEN_KEY = 'massaged.token';
  const STALE_MS = 2500;          // no event for this long: reconnect
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const $ = (id) => document.getElementById(id);
  const el = {
    conn: $('conn'), connText: $('conn-text'), state: $('state'),
    estop: $('estop'), logout: $('logout'),
    banner: $('banner'), bannerTitle: $('banner-title'),
    bannerMsg: $('banner-msg'), bannerHelp: $('banner-help'), reset: $('reset'),
    main: $('main'), map: $('map'), zoneDetail: $('zone-detail'),
    setup: $('setup'), profile: $('profile'), program: $('program'),
    conditions: $('conditions'), programInfo: $('program-info'),
    refusal: $('refusal'), refusalText: $('refusal-text'),
    startError: $('start-error'), start: $('start'),
    session: $('session'), sProgram: $('s-program'), sId: $('s-id'),
    sProfile: $('s-profile'), sStep: $('s-step'), sRoutine: $('s-routine'),
    sProgress: $('s-progress'), sElapsed: $('s-elapsed'),
    sRemaining: $('s-remaining'), sIntensity: $('s-intensity'),
    intDown: $('int-down'), intUp: $('int-up'), sessionError: $('session-error'),
    pause: $('pause'), end: $('end'), lastStop: $('last-stop'),
    events: $('events'), zones: $('zones'), ctls: $('ctls'),
    sessions: $('sessions'), login: $('login'), loginForm: $('login-form'),
    token: $('token'), loginError: $('login-error'), toast: $('toast'),
  };

  let token = localStorage.getItem(TOKEN_KEY) || '';
  let profiles = [];
  let programs = [];
  let status = null;
  let mapKey = '';
  let zoneEls = {};
  let listEls = {};
  let selectedZone = null;
  let live = false;
  let loginWaiters = [];
  let toastTimer = null;
  let busy = false;

  /* --- small helpers --------------------------------------------------- */

  function text(node, s) { if (node.textContent !== s) node.textContent = s; }

  function h(tag, cls, content) {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (content !== undefined) n.textContent = content;
    return n;
  }

  function svg(tag, attrs) {
    const n = document.createElementNS(SVG_NS, tag);
    for (const k in attrs) n.setAttribute(k, attrs[k]);
    return n;
  }

  function mmss(s) {
    s = Math.max(0, Math.round(s || 0));
    const hh = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, ss = s % 60;
    const two = (v) => (v < 10 ? '0' : '') + v;
    return hh > 0 ? hh + ':' + two(m) + ':' + two(ss) : m + ':' + two(ss);
  }

  function clock(d) {
    return (d || new Date()).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
  }

  /* "piriformis_left" -> "Piriformis (L)" */
  function zoneLabel(name) {
    let side = '';
    let n = name;
    if (/_left$/.test(n)) { side = ' (L)'; n = n.slice(0, -5); }
    else if (/_right$/.test(n)) { side = ' (R)'; n = n.slice(0, -6); }
    n = n.replace(/_/g, ' ');
    return n.charAt(0).toUpperCase() + n.slice(1) + side;
  }

  function pretty(s) { return (s || '').replace(/_/g, ' '); }

  function toast(msg, bad) {
    el.toast.textContent = msg;
    el.toast.classList.toggle('toast-bad', !!bad);
    el.toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.toast.hidden = true; }, bad ? 8000 : 4000);
  }

  /* Pressure against limit, as a colour: pale, teal, amber, red. */
  const STOPS = [
    [0.00, [238, 242, 246]], [0.12, [166, 219, 226]], [0.45, [42, 157, 177]],
    [0.80, [242, 163, 58]], [1.00, [217, 48, 37]],
  ];
  function heat(ratio) {
    const r = Math.max(0, Math.min(1, ratio || 0));
    for (let i = 1; i < STOPS.length; i++) {
      if (r <= STOPS[i][0]) {
        const [a, ca] = STOPS[i - 1], [b, cb] = STOPS[i];
        const t = (r - a) / (b - a);
        const c = ca.map((v, k) => Math.round(v + (cb[k] - v) * t));
        return 'rgb(' + c.join(',') + ')';
      }
    }
    return 'rgb(217,48,37)';
  }

  /* --- the API ----------------------------------------------------------- */

  class AuthError extends Error {}

  async function api(method, path, body) {
    const opt = { method, cache: 'no-store', headers: { Authorization: 'Bearer ' + token } };
    if (body !== undefined) {
      opt.headers['Content-Type'] = 'application/json';
      opt.body = JSON.stringify(body);
    }
    const res = await fetch(path, opt);
    let doc = null;
    try { doc = await res.json(); } catch (e) { doc = null; }
    if (res.status === 401) {
      needLogin('The token was not accepted. Enter a token from the token file.');
      throw new AuthError('unauthorized');
    }
    return { ok: res.ok, status: res.status, doc };
  }

  function errorText(r) {
    if (r.doc && r.doc.message) return r.doc.message;
    return 'The daemon answered ' + r.status + '.';
  }

  /* --- login ------------------------------------------------------------- */

  function needLogin(msg) {
    token = '';
    localStorage.removeItem(TOKEN_KEY);
    el.login.hidden = false;
    el.loginError.hidden = !msg;
    el.loginError.textContent = msg || '';
    setTimeout(() => el.token.focus(), 0);
  }

  function waitForLogin() {
    if (token) return Promise.resolve();
    return new Promise((resolve) => loginWaiters.push(resolve));
  }

  el.loginForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = el.token.value.trim();
    if (t.length < 16) {
      el.loginError.hidden = false;
      el.loginError.textContent = 'A token has at least 16 characters.';
      return;
    }
    token = t;
    localStorage.setItem(TOKEN_KEY, t);
    el.token.value = '';
    el.login.hidden = true;
    const w = loginWaiters; loginWaiters = [];
    w.forEach((f) => f());
    loadLists();
  });

  el.logout.addEventListener('click', () => needLogin(''));

  /* --- emergency stop: one touch, first thing ------------------------------ */

  let lastStop = 0;
  function estop(ev) {
    if (ev) ev.preventDefault();
    const now = Date.now();
    if (now - lastStop < 600) return;
    lastStop = now;
    el.estop.classList.add('fired');
    setTimeout(() => el.estop.classList.remove('fired'), 400);
    fetch('api/v1/estop', {
      method: 'POST', cache: 'no-store', keepalive: true,
      headers: { Authorization: 'Bearer ' + token },
    }).then((res) => {
      if (res.ok) toast('EMERGENCY STOP: every zone vented.');
      else if (res.status === 401) toast('STOP NOT SENT: this panel has no valid token. Use the e-stop button on the table!', true);
      else toast('STOP answered ' + res.status + '. Use the e-stop button on the table!', true);
    }).catch(() => {
      toast('STOP NOT CONFIRMED: no connection to the daemon. Use the e-stop button on the table!', true);
    });
  }
  el.estop.addEventListener('pointerdown', estop);
  el.estop.addEventListener('click', estop);

  /* --- lists: profiles, programs, sessions --------------------------------- */

  async function loadLists() {
    if (!token) return;
    try {
      const [pr, pg] = await Promise.all([api('GET', 'api/v1/profiles'), api('GET', 'api/v1/programs')]);
      if (pr.ok) profiles = pr.doc.profiles || [];
      if (pg.ok) programs = pg.doc.programs || [];
      fillSelect(el.profile, profiles, localStorage.getItem('massaged.profile'));
      fillSelect(el.program, programs, localStorage.getItem('massaged.program'));
      renderSetup();
      if (status) renderZones(status);
    } catch (e) { /* shown by the connection state */ }
    loadSessions();
  }

  function fillSelect(sel, items, want) {
    const keep = sel.value || want;
    sel.textContent = '';
    for (const it of items) {
      const o = document.createElement('option');
      o.value = it.id;
      o.textContent = it.name;
      sel.appendChild(o);
    }
    if (items.some((it) => it.id === keep)) sel.value = keep;
  }

  async function loadSessions() {
    if (!token) return;
    let r;
    try { r = await api('GET', 'api/v1/sessions?limit=15'); } catch (e) { return; }
    if (!r.ok) return;
    const list = r.doc.sessions || [];
    el.sessions.textContent = '';
    if (list.length === 0) el.sessions.appendChild(h('li', 'empty', 'No sessions recorded yet.'));
    for (const s of list) {
      const li = h('li');
      const l1 = h('div', 's1');
      l1.appendChild(h('span', '', s.program || '?'));
      l1.appendChild(h('span', '', s.phase === 'end' ? mmss(s.active_s) : 'running'));
      const when = s.start ? new Date(s.start) : null;
      const l2 = h('div', 's2', (when ? when.toLocaleString([], { dateStyle: 'short', timeStyle: 'short' }) + ' · ' : '') +
        (s.profile || '') + (s.phase === 'end' ? ' · ' + pretty(s.end_reason) : ''));
      li.appendChild(l1); li.appendChild(l2);
      if (s.phase === 'end' && s.stop_message) li.appendChild(h('div', 's2', s.stop_message));
      el.sessions.appendChild(li);
    }
  }

  /* --- setup: profile, program, refusals ----------------------------------- */

  function currentProfile() { return profiles.find((p) => p.id === el.profile.value); }
  function currentProgram() { return programs.find((p) => p.id === el.program.value); }

  function renderSetup() {
    const prof = currentProfile();
    const prog = currentProgram();
    el.conditions.textContent = '';
    if (prof) {
      if (!prof.conditions || prof.conditions.length === 0) {
        el.conditions.appendChild(h('span', 'cond cond-none', 'No conditions'));
      }
      for (const c of prof.conditions || []) {
        const chip = h('span', 'cond', pretty(c.name));
        chip.title = c.reason || '';
        el.conditions.appendChild(chip);
      }
    }
    // Mark refused programs in the list itself.
    for (const o of el.program.options) {
      const p = programs.find((x) => x.id === o.value);
      const refused = prof && prof.refusals && prof.refusals[o.value];
      o.textContent = (p ? p.name : o.value) +
        (p && p.available === false ? ' — unavailable' : refused ? ' — refused' : '');
    }
    el.programInfo.textContent = '';
    if (prog) {
      const head = h('div', '', prog.id + ' · ' + mmss(prog.duration_s) + ' · ' + prog.steps.length + ' step' + (prog.steps.length === 1 ? '' : 's'));
      el.programInfo.appendChild(head);
      if (prog.description) el.programInfo.appendChild(h('div', '', prog.description));
      const ol = h('ol');
      for (const s of prog.steps) {
        const li = h('li', '', s.name + ' · ' + s.routine + ' ');
        li.appendChild(h('span', 'dur', mmss(s.duration_s)));
        ol.appendChild(li);
      }
      el.programInfo.appendChild(ol);
    }
    // A program whose routine's plugin was refused: the daemon's reason.
    const why = prog && prog.available === false ? 'Unavailable: ' + prog.unavailable
      : prof && prog && prof.refusals ? prof.refusals[prog.id] : null;
    el.refusal.hidden = !why;
    el.refusalText.textContent = why || '';
    const idle = status && status.state === 'idle';
    el.start.disabled = !prof || !prog || !!why || !idle || busy;
    el.start.textContent = status && status.state === 'fault' ? 'Reset the fault first' : 'Start session';
  }

  el.profile.addEventListener('change', () => {
    localStorage.setItem('massaged.profile', el.profile.value);
    el.startError.hidden = true;
    renderSetup();
    if (status) renderZones(status);
  });
  el.program.addEventListener('change', () => {
    localStorage.setItem('massaged.program', el.program.value);
    el.startError.hidden = true;
    renderSetup();
  });

  async function command(method, path, body, errBox) {
    if (errBox) errBox.hidden = true;
    busy = true;
    renderControls();
    try {
      const r = await api(method, path, body);
      if (!r.ok) {
        if (errBox) { errBox.textContent = errorText(r); errBox.hidden = false; }
        else toast(errorText(r), true);
      } else if (r.doc && r.doc.state) {
        render(r.doc);
      }
      return r;
    } catch (e) {
      if (!(e instanceof AuthError)) {
        const msg = 'No connection to the daemon.';
        if (errBox) { errBox.textContent = msg; errBox.hidden = false; } else toast(msg, true);
      }
      return null;
    } finally {
      busy = false;
      renderControls();
    }
  }

  el.start.addEventListener('click', () => {
    command('POST', 'api/v1/session', { program: el.program.value, profile: el.profile.value }, el.startError);
  });
  el.pause.addEventListener('click', () => {
    const paused = status && status.state === 'paused';
    command('POST', paused ? 'api/v1/session/resume' : 'api/v1/session/pause', undefined, el.sessionError);
  });
  el.end.addEventListener('click', () => command('POST', 'api/v1/session/stop', undefined, el.sessionError));
  function nudge(d) {
    if (!status || status.intensity == null) return;
    const pct = Math.max(10, Math.min(100, Math.round(status.intensity / 10) * 10 + d));
    if (pct !== status.intensity) command('PUT', 'api/v1/session/intensity', { percent: pct }, el.sessionError);
  }
  el.intDown.addEventListener('click', () => nudge(-10));
  el.intUp.addEventListener('click', () => nudge(10));
  el.reset.addEventListener('click', () => command('POST', 'api/v1/reset'));

  /* --- the body map ------------------------------------------------------ */

  function buildMap(zones) {
    const m = el.map;
    m.textContent = '';
    zoneEls = {};
    let half = 30, top = 1e9, bottom = 0;
    for (const z of zones) {
      half = Math.max(half, Math.abs(z.across_cm) + z.width_cm / 2 + 8);
      top = Math.min(top, z.along_cm - z.length_cm / 2);
      bottom = Math.max(bottom, z.along_cm + z.length_cm / 2);
    }
    if (zones.length === 0) { top = 0; bottom = 196; }
    // The part of the table with zones, and a little of the body around
    // it; the head end is always up.
    const y0 = Math.max(-12, top - 22), y1 = Math.min(bottom + 14, 205);
    const sideRoom = 9;
    m.setAttribute('viewBox', [-half - sideRoom, y0 - 9, 2 * (half + sideRoom), y1 - y0 + 18].join(' '));
    m.setAttribute('preserveAspectRatio', 'xMidYMid meet');

    const defs = svg('defs', {});
    const pat = svg('pattern', { id: 'hatch', width: 3, height: 3, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' });
    pat.appendChild(svg('rect', { width: 3, height: 3, fill: '#f3f5f7' }));
    pat.appendChild(svg('line', { x1: 0, y1: 0, x2: 0, y2: 3, stroke: '#a9b5bd', 'stroke-width': 1.3 }));
    defs.appendChild(pat);
    m.appendChild(defs);

    m.appendChild(svg('rect', { class: 'table-top', x: -half, y: Math.min(0, y0 - 4), width: 2 * half, height: 205 - Math.min(0, y0 - 4), rx: 6 }));
    // A person lying prone, head at the top: a silhouette for orientation.
    const body = svg('path', {
      class: 'body',
      d: 'M0,3 C6,3 8.5,7 8.5,12 C8.5,17 6,21 3.5,22 L3.5,25 C12,26 19,27 21,31 ' +
         'C23,38 24,52 24.5,70 C25,78 26,86 26,92 C26,96 25,99 23,100 ' +
         'L23,104 C21,130 18,150 16,165 C15,175 14,186 13,194 L4,194 ' +
         'C3,180 2.5,150 1.5,118 L-1.5,118 C-2.5,150 -3,180 -4,194 L-13,194 ' +
         'C-14,186 -15,175 -16,165 C-18,150 -21,130 -23,104 L-23,100 ' +
         'C-25,99 -26,96 -26,92 C-26,86 -25,78 -24.5,70 C-24,52 -23,38 -21,31 ' +
         'C-19,27 -12,26 -3.5,25 L-3.5,22 C-6,21 -8.5,17 -8.5,12 C-8.5,7 -6,3 0,3 Z',
    });
    m.appendChild(body);
    m.appendChild(svg('path', { class: 'arrow', d: 'M-3,' + (y0 - 4) + ' L0,' + (y0 - 8) + ' L3,' + (y0 - 4) + ' Z' }));
    const t1 = svg('text', { class: 'axis', x: 5, y: y0 - 4, 'text-anchor': 'start' });
    t1.textContent = 'HEAD';
    m.appendChild(t1);
    const t2 = svg('text', { class: 'axis', x: 0, y: y1 + 7, 'text-anchor': 'middle' });
    t2.textContent = 'FEET';
    m.appendChild(t2);
    // Seen from above, a prone client's left is on the viewer's left.
    const ym = (y0 + y1) / 2;
    const l = svg('text', { class: 'side', x: -half - 4.5, y: ym, 'text-anchor': 'middle' });
    l.textContent = 'L';
    m.appendChild(l);
    const r = svg('text', { class: 'side', x: half + 4.5, y: ym, 'text-anchor': 'middle' });
    r.textContent = 'R';
    m.appendChild(r);

    for (const z of zones) {
      const rect = svg('rect', {
        class: 'zone' + (z.endangerment ? ' endangered' : ''),
        x: z.across_cm - z.width_cm / 2, y: z.along_cm - z.length_cm / 2,
        width: z.width_cm, height: z.length_cm, rx: 1.8,
        'data-zone': z.name, tabindex: 0, role: 'button',
        'aria-label': zoneLabel(z.name),
      });
      const title = svg('title', {});
      title.textContent = zoneLabel(z.name);
      rect.appendChild(title);
      rect.addEventListener('click', () => selectZone(z.name));
      rect.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') selectZone(z.name); });
      m.appendChild(rect);
      zoneEls[z.name] = rect;
    }

    el.zones.textContent = '';
    listEls = {};
    for (const z of zones) {
      const li = h('li');
      li.dataset.zone = z.name;
      const name = h('span', 'zn', zoneLabel(z.name));
      const val = h('span', 'zv', '');
      const bar = h('span', 'zb');
      const fill = h('span');
      bar.appendChild(fill);
      li.appendChild(name); li.appendChild(val); li.appendChild(bar);
      li.addEventListener('click', () => selectZone(z.name));
      el.zones.appendChild(li);
      listEls[z.name] = { li, val, fill };
    }
  }

  function selectZone(name) {
    selectedZone = selectedZone === name ? null : name;
    for (const n in zoneEls) zoneEls[n].classList.toggle('selected', n === selectedZone);
    for (const n in listEls) listEls[n].li.classList.toggle('sel', n === selectedZone);
    renderZoneDetail();
  }

  function renderZoneDetail() {
    const z = status && selectedZone ? previewed(status.zones, status).find((x) => x.name === selectedZone) : null;
    el.zoneDetail.textContent = '';
    if (!z) { el.zoneDetail.textContent = 'Tap a zone for its pressure and limit.'; return; }
    const b = h('b', '', zoneLabel(z.name));
    el.zoneDetail.appendChild(b);
    el.zoneDetail.appendChild(document.createTextNode(
      z.excluded ? ' · excluded: never pressed (' + z.limit_reason + ')'
        : ' · ' + z.pressure_kpa.toFixed(1) + ' kPa (set ' + z.setpoint_kpa.toFixed(1) + ') of ' +
          z.limit_kpa.toFixed(1) + ' kPa · limit: ' + z.limit_reason +
          (z.endangerment ? ' · endangerment site: light pressure only' : '')));
  }

  /* Without a session, the map previews the selected profile's limits:
   * its excluded zones are hatched before anyone presses Start. */
  function previewed(zones, st) {
    const active = st.state === 'running' || st.state === 'paused' || st.state === 'stopping';
    const prof = active ? null : currentProfile();
    if (!prof || !prof.limits || prof.limits.length === 0) return zones;
    const lim = {};
    for (const l of prof.limits) lim[l.zone] = l;
    return zones.map((z) => (lim[z.name] ? Object.assign({}, z, {
      limit_kpa: lim[z.name].limit_kpa, limit_reason: lim[z.name].reason + ' (' + prof.id + ')',
      excluded: lim[z.name].excluded,
    }) : z));
  }

  function renderZones(st) {
    const key = st.zones.map((z) => [z.name, z.along_cm, z.across_cm, z.width_cm, z.length_cm].join(',')).join(';');
    if (key !== mapKey) { buildMap(st.zones); mapKey = key; }
    for (const z of previewed(st.zones, st)) {
      const rect = zoneEls[z.name];
      const ratio = z.limit_kpa > 0 ? z.pressure_kpa / z.limit_kpa : (z.pressure_kpa > 0.2 ? 1 : 0);
      const colour = heat(ratio);
      rect.setAttribute('fill', colour);
      rect.classList.toggle('excluded', !!z.excluded);
      rect.classList.toggle('over', !z.excluded && z.limit_kpa > 0 && z.pressure_kpa > z.limit_kpa);
      rect.dataset.pressure = z.pressure_kpa;
      const le = listEls[z.name];
      text(le.val, z.excluded ? 'excluded' : z.pressure_kpa.toFixed(1) + ' / ' + z.limit_kpa.toFixed(0) + ' kPa');
      le.li.classList.toggle('excl', !!z.excluded);
      le.fill.style.width = (z.excluded ? 0 : Math.min(100, ratio * 100)) + '%';
      le.fill.style.background = colour;
    }
    renderZoneDetail();
  }

  /* --- status ------------------------------------------------------------ */

  function renderControllers(st) {
    el.ctls.textContent = '';
    for (const c of st.controllers) {
      const li = h('li');
      const head = h('div', 'ctl-head');
      head.appendChild(h('span', 'dot' + (c.connected ? '' : ' down')));
      head.appendChild(h('span', '', c.name));
      head.appendChild(h('span', 'hint', c.connected ? 'connected' : 'NOT CONNECTED'));
      li.appendChild(head);
      const flags = h('div', 'flags');
      const names = { ready: 'ready', active: 'active', fault: 'fault', estop: 'e-stop open', client_stop: 'client stop', watchdog: 'watchdog' };
      for (const k in names) {
        if (c.status && c.status[k]) {
          const bad = k === 'fault' || k === 'estop' || k === 'client_stop' || k === 'watchdog';
          flags.appendChild(h('span', 'flag' + (bad ? ' flag-bad' : ''), names[k]));
        }
      }
      if (c.fault_code) flags.appendChild(h('span', 'flag flag-bad', 'fault ' + c.fault_code + ': ' + c.fault_name));
      if (c.rating_kpa) flags.appendChild(h('span', 'flag', 'rated ' + c.rating_kpa + ' kPa'));
      li.appendChild(flags);
      if (c.error) li.appendChild(h('div', 'ctl-err', c.error));
      el.ctls.appendChild(li);
    }
  }

  function renderBanner(st) {
    const down = st.controllers.filter((c) => !c.connected).map((c) => c.name);
    el.banner.classList.remove('banner-info', 'banner-warn');
    el.reset.hidden = true;
    if (st.state === 'fault') {
      text(el.bannerTitle, 'FAULT — every zone vented');
      text(el.bannerMsg, st.fault || 'a fault is latched');
      text(el.bannerHelp, 'Check the client, release the e-stop, then press Reset.');
      el.reset.hidden = false;
      el.banner.hidden = false;
    } else if (st.state === 'stopping') {
      el.banner.classList.add('banner-info');
      text(el.bannerTitle, 'Ending the session');
      text(el.bannerMsg, 'Pressure ramps down gently, then every zone vents.');
      text(el.bannerHelp, '');
      el.banner.hidden = false;
    } else if (down.length > 0) {
      el.banner.classList.add('banner-warn');
      text(el.bannerTitle, 'Controller not connected: ' + down.join(', '));
      text(el.bannerMsg, 'Sessions cannot start until every controller answers.');
      text(el.bannerHelp, 'Check its power and cable; the daemon keeps retrying.');
      el.banner.hidden = false;
    } else {
      el.banner.hidden = true;
    }
  }

  function renderControls() {
    const st = status;
    const active = st && (st.state === 'running' || st.state === 'paused' || st.state === 'stopping');
    el.pause.textContent = st && st.state === 'paused' ? 'Resume' : 'Pause';
    el.pause.classList.toggle('btn-primary', !!(st && st.state === 'paused'));
    el.pause.classList.toggle('btn-amber', !(st && st.state === 'paused'));
    el.pause.disabled = busy || !st || (st.state !== 'running' && st.state !== 'paused');
    el.end.disabled = busy || !st || (st.state !== 'running' && st.state !== 'paused');
    el.intDown.disabled = busy || !active || st.intensity == null || st.intensity <= 10 || st.state === 'stopping';
    el.intUp.disabled = busy || !active || st.intensity == null || st.intensity >= 100 || st.state === 'stopping';
    renderSetup();
  }

  function render(st) {
    status = st;
    el.state.className = 'state state-' + st.state;
    text(el.state, st.state);
    const active = st.state === 'running' || st.state === 'paused' || st.state === 'stopping';
    el.setup.hidden = active;
    el.session.hidden = !active;
    if (active) {
      text(el.sProgram, st.program_name || st.program || '—');
      text(el.sId, st.session_id ? 'session ' + st.session_id : '');
      text(el.sProfile, 'for ' + (st.profile_name || st.profile || '—'));
      if (st.step) {
        text(el.sStep, 'Step ' + (st.step.index + 1) + ' of ' + st.step.count + ': ' + st.step.name);
        text(el.sRoutine, st.step.routine);
        el.sRoutine.hidden = false;
      } else {
        text(el.sStep, st.state === 'stopping' ? 'Ramping down' : '—');
        el.sRoutine.hidden = true;
      }
      const total = (st.elapsed_s || 0) + (st.remaining_s || 0);
      el.sProgress.style.width = (total > 0 ? Math.min(100, 100 * st.elapsed_s / total) : 0) + '%';
      text(el.sElapsed, mmss(st.elapsed_s));
      text(el.sRemaining, mmss(st.remaining_s));
      text(el.sIntensity, st.intensity != null ? st.intensity + '%' : '—');
    }
    const ls = st.last_stop;
    el.lastStop.hidden = active || !ls;
    if (ls && !active) text(el.lastStop, 'Last stop: ' + pretty(ls.reason) + ' (category ' + ls.category + ') — ' + ls.message);
    renderBanner(st);
    renderZones(st);
    renderControllers(st);
    renderControls();
  }

  /* --- events -------------------------------------------------------------- */

  function logEvent(msg, cls) {
    const li = h('li', cls || '');
    li.appendChild(h('time', '', clock()));
    li.appendChild(h('span', '', msg));
    el.events.insertBefore(li, el.events.firstChild);
    while (el.events.children.length > 8) el.events.removeChild(el.events.lastChild);
  }

  function onEvent(type, data) {
    let d;
    try { d = JSON.parse(data); } catch (e) { return; }
    switch (type) {
      case 'status': render(d); return;
      case 'started': logEvent('Started ' + d.program + ' for ' + d.profile + ' (session ' + d.session_id + ')'); break;
      case 'step': logEvent('Step ' + (d.step + 1) + ': ' + d.step_name + ' (' + d.routine + ')'); break;
      case 'paused': logEvent('Paused'); break;
      case 'resumed': logEvent('Resumed'); break;
      case 'stopping': logEvent('Ending: ' + (d.message || pretty(d.reason))); break;
      case 'stopped':
        logEvent('Stopped: ' + pretty(d.reason) + ' — ' + (d.message || ''), d.category === 0 ? 'ev-fault' : '');
        loadSessions();
        break;
      case 'fault': logEvent('FAULT: ' + (d.message || ''), 'ev-fault'); break;
      case 'reset': logEvent('Fault reset'); break;
      case 'reloaded': logEvent('Configuration reloaded'); loadLists(); break;
      default: break;
    }
  }

  function setConn(state) {
    el.conn.className = 'conn conn-' + state;
    text(el.connText, state === 'live' ? 'Live' : state === 'reconnecting' ? 'Reconnecting…' : 'Connecting…');
    el.main.classList.toggle('stale', state !== 'live');
    live = state === 'live';
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  /* The event stream, read with fetch() so the token stays in a header. */
  async function streamLoop() {
    let attempt = 0;
    let everLive = false;
    for (;;) {
      await waitForLogin();
      const ctrl = new AbortController();
      let last = Date.now();
      const watchdog = setInterval(() => { if (Date.now() - last > STALE_MS) ctrl.abort(); }, 500);
      try {
        const res = await fetch('api/v1/events', {
          headers: { Authorization: 'Bearer ' + token, Accept: 'text/event-stream' },
          cache: 'no-store', signal: ctrl.signal,
        });
        if (res.status === 401) {
          needLogin('The token was not accepted. Enter a token from the token file.');
          continue;
        }
        if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
        const reader = res.body.getReader();
        const dec = new TextDecoder();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          last = Date.now();
          buf += dec.decode(value, { stream: true }).replace(/\r/g, '');
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let type = 'message';
            const data = [];
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) type = line.slice(6).trim();
              else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
            }
            if (data.length === 0) continue;
            if (!live && type === 'status') {
              setConn('live');
              attempt = 0;
              if (everLive) { logEvent('Connection restored'); loadLists(); }
              everLive = true;
            }
            onEvent(type, data.join('\n'));
          }
        }
      } catch (e) {
        /* fall through: reconnect */
      } finally {
        clearInterval(watchdog);
      }
      if (live) logEvent('Connection lost: reconnecting', 'ev-fault');
      setConn(everLive ? 'reconnecting' : 'connecting');
      attempt++;
      await sleep(Math.min(3000, 500 * attempt));
    }
  }

  /* --- tabs ---------------------------------------------------------------- */

  for (const tab of document.querySelectorAll('.tab')) {
    tab.addEventListener('click', () => {
      for (const t of document.querySelectorAll('.tab')) {
        const on = t === tab;
        t.classList.toggle('tab-on', on);
        t.setAttribute('aria-selected', on ? 'true' : 'false');
        $('tab-' + t.dataset.tab).hidden = !on;
      }
      if (tab.dataset.tab === 'sessions') loadSessions();
    });
  }

  /* --- start --------------------------------------------------------------- */

  setConn('connecting');
  if (!token) needLogin('');
  else loadLists();
  streamLoop();
})();
