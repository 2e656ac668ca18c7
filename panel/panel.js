/*
 * massaged control panel. Plain JavaScript, no build step, nothing fetched
 * from outside the daemon. Talks to the control API (docs/api.md) with
 * fetch() and the bearer token kept in localStorage; the live status comes
 * from GET /api/v1/events read as a stream with fetch(), so the token
 * travels in a header and never in a URL.
 *
 * Every text comes from a message catalogue, i18n/LANG.json (the daemon
 * lists them at i18n/index.json): adding a language is adding its file.
 * Stop causes are the daemon's list (GET /api/v1/causes) with the keys of
 * their texts: a new cause needs no change here, only its texts.
 *
 * The body map is map.js, the intake intake.js, the store's notice store.js.
 */
'use strict';

(function () {
  const TOKEN_KEY = 'massaged.token';
  const SILENT_MS = 1000;         // no event for this long: state UNKNOWN
  const STOP_TIMEOUT_MS = 1000;   // STOP without an answer: the red warning
  const STOP_RETRY_MS = 1000;     // ... and sends it again every second
  const CMD_TIMEOUT_MS = 3000;    // any other command
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const $ = (id) => document.getElementById(id);
  const el = {
    conn: $('conn'), connText: $('conn-text'), state: $('state'),
    estop: $('estop'), settingsBtn: $('settings-btn'),
    banner: $('banner'), bannerTitle: $('banner-title'),
    bannerMsg: $('banner-msg'), bannerHelp: $('banner-help'), reset: $('reset'),
    main: $('main'), map: $('map'), zoneDetail: $('zone-detail'),
    notice: $('notice'), setup: $('setup'), profile: $('profile'), program: $('program'),
    profileSearch: $('profile-search'), profileMore: $('profile-more'),
    conditions: $('conditions'), programInfo: $('program-info'),
    refusal: $('refusal'), refusalText: $('refusal-text'),
    startError: $('start-error'), start: $('start'), viewerNote: $('viewer-note'),
    session: $('session'), sProgram: $('s-program'), sId: $('s-id'),
    sProfile: $('s-profile'), sBy: $('s-by'), sStep: $('s-step'), sRoutine: $('s-routine'),
    sProgress: $('s-progress'), sStepLeft: $('s-step-left'), sTotal: $('s-total'),
    sElapsed: $('s-elapsed'), sRemaining: $('s-remaining'), sFinish: $('s-finish'),
    sIntensity: $('s-intensity'),
    intDown: $('int-down'), intUp: $('int-up'), sessionError: $('session-error'),
    pause: $('pause'), end: $('end'), lastStop: $('last-stop'),
    events: $('events'), zones: $('zones'), ctls: $('ctls'),
    sessions: $('sessions'), login: $('login'), loginForm: $('login-form'),
    token: $('token'), loginError: $('login-error'), toast: $('toast'),
    unknown: $('unknown'), unknownMsg: $('unknown-msg'),
    nostop: $('nostop'), nostopRetry: $('nostop-retry'),
    settings: $('settings'), who: $('who'), lang: $('lang'), theme: $('theme'),
    sound: $('sound'), testSound: $('test-sound'), tokenChange: $('token-change'),
    tokenLocked: $('token-locked'), tokenConfirm: $('token-confirm'),
    tokenYes: $('token-yes'), tokenNo: $('token-no'), settingsClose: $('settings-close'),
  };

  let token = localStorage.getItem(TOKEN_KEY) || '';
  let me = null;                 // { name, role } of this panel's token
  let profiles = [];
  let programs = [];
  let status = null;
  let live = false;
  let lastEvent = 0;
  let daemonRun = null;
  let loginWaiters = [];
  let toastTimer = null;
  let busy = false;
  let resetting = false;
  let resetError = '';

  /* --- the message catalogue ----------------------------------------------- */

  let lang = 'en';
  let msgs = {};
  let fallback = {};
  let langs = ['en'];
  const names = {};              // lang -> its own name

  function t(key, args) {
    let s = msgs[key];
    if (s === undefined) s = fallback[key];
    if (s === undefined) return key;
    if (args) s = s.replace(/\{(\w+)\}/g, (m, k) => (args[k] !== undefined ? String(args[k]) : m));
    return s;
  }

  function plural(key, n) {
    const form = new Intl.PluralRules(lang).select(n);
    const k = key + '.' + form;
    return t(msgs[k] !== undefined || fallback[k] !== undefined ? k : key + '.other', { n: num(n, 0) });
  }

  function num(v, digits) {
    return new Intl.NumberFormat(lang, { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(v || 0);
  }

  async function fetchJson(path) {
    const r = await fetch(path, { cache: 'no-store' });
    if (!r.ok) throw new Error(path + ': ' + r.status);
    return r.json();
  }

  /* The catalogue for the wanted language: the setting, else the first
   * of the browser's languages we have, else English. */
  function pickLang() {
    const want = localStorage.getItem('massaged.lang');
    if (want && langs.includes(want)) return want;
    for (const l of navigator.languages || [navigator.language || 'en']) {
      const base = String(l).toLowerCase().split('-')[0];
      if (langs.includes(l)) return l;
      if (langs.includes(base)) return base;
    }
    return 'en';
  }

  async function loadLang(l) {
    try { fallback = await fetchJson('i18n/en.json'); } catch (e) { fallback = {}; }
    try { msgs = l === 'en' ? fallback : await fetchJson('i18n/' + l + '.json'); } catch (e) { msgs = fallback; l = 'en'; }
    lang = l;
    document.documentElement.lang = l;
    translateStatic();
  }

  function translateStatic() {
    for (const n of document.querySelectorAll('[data-i18n]')) n.textContent = t(n.dataset.i18n);
    for (const n of document.querySelectorAll('[data-i18n-aria]')) n.setAttribute('aria-label', t(n.dataset.i18nAria));
    document.title = t('title');
    el.token.placeholder = t('login.placeholder');
    el.lang.textContent = '';
    for (const l of langs) {
      const o = document.createElement('option');
      o.value = l;
      o.textContent = names[l] || l;
      el.lang.appendChild(o);
    }
    el.lang.value = lang;
    bodyMap.reset();
    if (status) render(status);
    renderSetup();
    renderWho();
    setConn(live ? 'live' : el.conn.dataset.state || 'connecting');
  }

  async function initLangs() {
    try {
      const list = await fetchJson('i18n/index.json');
      if (Array.isArray(list) && list.length) langs = list.slice().sort();
    } catch (e) { /* English only */ }
    if (!langs.includes('en')) langs.unshift('en');
    await Promise.all(langs.map(async (l) => {
      try { names[l] = (await fetchJson('i18n/' + l + '.json'))['language.name'] || l; } catch (e) { names[l] = l; }
    }));
    await loadLang(pickLang());
  }

  /* --- theme and sound ----------------------------------------------------- */

  const darkQuery = window.matchMedia ? window.matchMedia('(prefers-color-scheme: dark)') : null;
  function applyTheme() {
    const want = localStorage.getItem('massaged.theme') || 'auto';
    const dark = want === 'dark' || (want === 'auto' && darkQuery && darkQuery.matches);
    document.documentElement.dataset.theme = dark ? 'dark' : 'light';
    el.theme.value = want;
    if (status) bodyMap.render(status);
  }
  if (darkQuery && darkQuery.addEventListener) darkQuery.addEventListener('change', applyTheme);

  function soundOn() { return localStorage.getItem('massaged.sound') !== 'off'; }
  let audio = null;
  /* A beep (Web Audio) and a vibration where the device has one. */
  function alarm(kind) {
    if (!soundOn()) return;
    const pattern = kind === 'fault' ? [880, 660, 880] : [660, 880];
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      let at = audio.currentTime + 0.02;
      for (const f of pattern) {
        const o = audio.createOscillator();
        const g = audio.createGain();
        o.frequency.value = f;
        g.gain.value = 0.2;
        o.connect(g); g.connect(audio.destination);
        o.start(at); o.stop(at + 0.18);
        at += 0.25;
      }
    } catch (e) { /* no audio on this device */ }
    if (navigator.vibrate) navigator.vibrate(kind === 'fault' ? [300, 100, 300, 100, 300] : [200, 100, 200]);
  }

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
    return new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(d || new Date());
  }
  function hhmm(d) {
    return new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' }).format(d);
  }

  /* "piriformis_left" -> "Piriformis (L)", from the catalogue when it
   * names the zone, else from the zone's own name. */
  function zoneLabel(name) {
    let side = '';
    let n = name;
    if (/_left$/.test(n)) { side = 'left'; n = n.slice(0, -5); } else if (/_right$/.test(n)) { side = 'right'; n = n.slice(0, -6); }
    let base = t('zone.' + n);
    if (base === 'zone.' + n) { base = n.replace(/_/g, ' '); base = base.charAt(0).toUpperCase() + base.slice(1); }
    return side ? t('zone.side.' + side, { name: base }) : base;
  }

  function routineLabel(r) {
    const s = t('routine.' + r);
    return s === 'routine.' + r ? (r || '').replace(/_/g, ' ') : s;
  }

  /* A stop cause's short name; "unknown" for a cause the daemon's list
   * does not have (a record's "unknown" end) or before the list came. */
  function reasonLabel(r) {
    const c = causes[r];
    const s = c ? t(c.label) : undefined;
    return s === undefined || s === c.label ? t('reason.unknown') : s;
  }

  function byText(who) { return who ? t('ev.by', { who }) : ''; }

  function toast(msg, bad) {
    el.toast.textContent = msg;
    el.toast.classList.toggle('toast-bad', !!bad);
    el.toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.toast.hidden = true; }, bad ? 8000 : 4000);
  }

  /* --- the API ----------------------------------------------------------- */

  class AuthError extends Error {}

  /* One request with a timeout; { ok, status, doc } or throws (TimeoutError
   * as e.name === 'TimeoutError'). */
  async function api(method, path, body, timeoutMs, headers) {
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), timeoutMs || CMD_TIMEOUT_MS);
    const opt = { method, cache: 'no-store', headers: Object.assign({ Authorization: 'Bearer ' + token }, headers), signal: ctrl.signal };
    if (body !== undefined) {
      opt.headers['Content-Type'] = 'application/json';
      opt.body = JSON.stringify(body);
    }
    try {
      const res = await fetch(path, opt);
      let doc = null;
      try { doc = await res.json(); } catch (e) { doc = null; }
      if (res.status === 401) {
        needLogin(t('login.rejected'));
        throw new AuthError('unauthorized');
      }
      return { ok: res.ok, status: res.status, doc };
    } catch (e) {
      if (e.name === 'AbortError') { const x = new Error('timeout'); x.name = 'TimeoutError'; throw x; }
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  function errorText(r) {
    if (r.status === 403) return t('cmd.forbidden');
    if (r.doc && r.doc.message) return r.doc.message;
    return t('cmd.status', { status: r.status });
  }

  /* --- stop causes: the daemon's list (GET /api/v1/causes) ---------------- */

  let causes = {};                 // key -> { category, label, text, advice }

  /* Once at start and after a restart of the daemon (a new version may
   * know more causes); until it comes, stops read "unknown". It waits no
   * longer than the silence that means UNKNOWN: the stream comes first. */
  async function loadCauses() {
    try {
      const r = await api('GET', 'api/v1/causes', undefined, SILENT_MS);
      if (r.ok && r.doc && Array.isArray(r.doc.causes)) {
        const m = {};
        for (const c of r.doc.causes) m[c.key] = c;
        causes = m;
      }
    } catch (e) { /* tried again at the next connection */ }
  }

  /* --- login and settings ------------------------------------------------ */

  function needLogin(msg) {
    token = '';
    me = null;
    localStorage.removeItem(TOKEN_KEY);
    el.login.hidden = false;
    el.loginError.hidden = !msg;
    el.loginError.textContent = msg || '';
    renderWho();
    setTimeout(() => el.token.focus(), 0);
  }

  function waitForLogin() {
    if (token) return Promise.resolve();
    return new Promise((resolve) => loginWaiters.push(resolve));
  }

  el.loginForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = el.token.value.trim();
    if (v.length < 16) {
      el.loginError.hidden = false;
      el.loginError.textContent = t('login.short');
      return;
    }
    token = v;
    localStorage.setItem(TOKEN_KEY, v);
    el.token.value = '';
    el.login.hidden = true;
    const w = loginWaiters; loginWaiters = [];
    w.forEach((f) => f());
    loadLists();
  });

  async function loadWho() {
    if (!token) return;
    try {
      const r = await api('GET', 'api/v1/whoami');
      if (r.ok) me = r.doc;
    } catch (e) { /* shown by the connection state */ }
    renderWho();
    renderControls();
  }

  function renderWho() {
    text(el.who, me ? t('settings.who', { name: me.name, role: t('role.' + me.role) }) : t('settings.who_unknown'));
  }

  function sessionActive() {
    return !!status && (status.state === 'running' || status.state === 'paused' || status.state === 'stopping');
  }

  function renderSettings() {
    const locked = sessionActive() || !live;
    el.tokenChange.disabled = locked;
    el.tokenLocked.hidden = !locked;
    if (locked) el.tokenConfirm.hidden = true;
    el.sound.checked = soundOn();
  }

  el.settingsBtn.addEventListener('click', () => {
    el.tokenConfirm.hidden = true;
    renderSettings();
    el.settings.hidden = false;
    el.settingsClose.focus();
  });
  el.settingsClose.addEventListener('click', () => { el.settings.hidden = true; el.settingsBtn.focus(); });
  el.lang.addEventListener('change', () => { localStorage.setItem('massaged.lang', el.lang.value); loadLang(el.lang.value); });
  el.theme.addEventListener('change', () => { localStorage.setItem('massaged.theme', el.theme.value); applyTheme(); });
  el.sound.addEventListener('change', () => localStorage.setItem('massaged.sound', el.sound.checked ? 'on' : 'off'));
  el.testSound.addEventListener('click', () => alarm('end'));
  el.tokenChange.addEventListener('click', () => { if (!sessionActive()) el.tokenConfirm.hidden = false; });
  el.tokenNo.addEventListener('click', () => { el.tokenConfirm.hidden = true; });
  el.tokenYes.addEventListener('click', () => {
    if (sessionActive()) return;      // never during a session
    el.tokenConfirm.hidden = true;
    el.settings.hidden = true;
    needLogin('');
  });

  /* --- emergency stop: one touch, first thing, retried until answered ------ */

  let stopping = null;              // the STOP being sent: { attempt }
  let lastStop = 0;
  function estop(ev) {
    if (ev) ev.preventDefault();
    el.estop.classList.add('fired');
    setTimeout(() => el.estop.classList.remove('fired'), 400);
    const now = Date.now();
    if (stopping || now - lastStop < 600) return;   // already sending, and retrying
    lastStop = now;
    stopping = { attempt: 0 };
    sendStop();
  }

  function sendStop() {
    const s = stopping;
    const t0 = Date.now();
    s.attempt++;
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), STOP_TIMEOUT_MS);
    fetch('api/v1/estop', {
      method: 'POST', cache: 'no-store', signal: ctrl.signal,
      headers: { Authorization: 'Bearer ' + token },
    }).then((res) => {
      clearTimeout(timer);
      stopping = null;
      el.nostop.hidden = true;
      if (res.ok) toast(s.attempt > 1 ? t('stop.confirmed', { n: s.attempt }) : t('stop.sent'));
      else if (res.status === 401) toast(t('stop.notoken'), true);
      else toast(t('stop.refused', { status: res.status }), true);
    }).catch(() => {
      clearTimeout(timer);
      // No answer within the second: say so, full screen, and retry.
      el.nostop.hidden = false;
      text(el.nostopRetry, t('stop.noanswer.retry', { n: s.attempt + 1 }));
      alarm('fault');
      // Once a second: a refused connection fails at once, a frozen
      // daemon only at the timeout.
      setTimeout(sendStop, Math.max(0, STOP_RETRY_MS - (Date.now() - t0)));
    });
  }
  el.estop.addEventListener('pointerdown', estop);
  el.estop.addEventListener('click', estop);

  /* --- lists: profiles, programs, sessions --------------------------------- */

  async function loadLists() {
    if (!token) return;
    loadWho();
    try {
      const [, pg] = await Promise.all([loadProfiles(), api('GET', 'api/v1/programs')]);
      if (pg.ok) programs = pg.doc.programs || [];
      fillSelect(el.program, programs, localStorage.getItem('massaged.program'));
      renderSetup();
      if (status) bodyMap.render(status);
    } catch (e) { /* shown by the connection state */ }
    loadSessions();
  }

  /* One page of profiles (there may be tens of thousands): the search box
   * asks the daemon (q), and the profile chosen stays in the list. */
  async function loadProfiles() {
    const q = viewer() ? '' : el.profileSearch.value.trim();
    const r = await api('GET', 'api/v1/profiles?limit=50' + (q ? '&q=' + encodeURIComponent(q) : ''));
    if (!r.ok) return;
    profiles = r.doc.profiles || [];
    const want = el.profile.value || localStorage.getItem('massaged.profile');
    if (want && !viewer() && !profiles.some((p) => p.id === want)) {
      const one = await api('GET', 'api/v1/profiles/' + encodeURIComponent(want)).catch(() => null);
      if (one && one.ok) profiles.unshift(one.doc);
    }
    fillSelect(el.profile, profiles, want);
    el.profileSearch.hidden = viewer();
    el.profileSearch.placeholder = t('setup.search');
    el.profileMore.hidden = !r.doc.next_cursor;
    el.profileMore.textContent = t('setup.more', { n: num(r.doc.total, 0) });
  }
  let searchTimer = null;
  el.profileSearch.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => loadProfiles().then(() => {
      renderSetup();
      if (status) bodyMap.render(status);
    }).catch(() => {}), 250);
  });

  function fillSelect(sel, items, want) {
    const keep = sel.value || want;
    sel.textContent = '';
    for (const it of items) {
      const o = document.createElement('option');
      o.value = it.id;
      o.textContent = it.name || it.id;   // a viewer gets ids only
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
    if (list.length === 0) el.sessions.appendChild(h('li', 'empty', t('history.empty')));
    for (const s of list) {
      const li = h('li');
      const l1 = h('div', 's1');
      l1.appendChild(h('span', '', s.program || '?'));
      l1.appendChild(h('span', '', s.phase === 'end' ? mmss(s.active_s) : s.phase === 'refused' ? t('history.refused') : t('history.running')));
      const when = s.start ? new Date(s.start) : null;
      const parts = [];
      if (when) parts.push(new Intl.DateTimeFormat(lang, { dateStyle: 'short', timeStyle: 'short' }).format(when));
      if (s.profile) parts.push(s.profile);
      if (s.started_by) parts.push(t('history.by', { who: s.started_by }));
      if (s.phase === 'end') parts.push(reasonLabel(s.end_reason) + byText(s.stopped_by));
      li.appendChild(l1);
      li.appendChild(h('div', 's2', parts.join(' · ')));
      if (s.phase === 'refused' && s.reason) li.appendChild(h('div', 's2', s.reason));
      el.sessions.appendChild(li);
    }
  }

  /* --- setup: profile, program, refusals ----------------------------------- */

  function currentProfile() { return profiles.find((p) => p.id === el.profile.value); }
  function currentProgram() { return programs.find((p) => p.id === el.program.value); }
  function viewer() { return !!me && me.role === 'viewer'; }

  function renderSetup() {
    const prof = currentProfile();
    const prog = currentProgram();
    el.conditions.textContent = '';
    if (prof) {
      if (!prof.conditions || prof.conditions.length === 0) {
        el.conditions.appendChild(h('span', 'cond cond-none', t('setup.no_conditions')));
      }
      for (const c of prof.conditions || []) {
        const chip = h('span', 'cond', (c.name || '').replace(/_/g, ' '));
        chip.title = c.reason || '';
        el.conditions.appendChild(chip);
      }
    }
    // Mark refused programs in the list itself.
    for (const o of el.program.options) {
      const p = programs.find((x) => x.id === o.value);
      const refused = prof && prof.refusals && prof.refusals[o.value];
      o.textContent = (p ? p.name : o.value) +
        (p && p.available === false ? ' — ' + t('setup.unavailable_mark') : refused ? ' — ' + t('setup.refused_mark') : '');
    }
    el.programInfo.textContent = '';
    if (prog) {
      el.programInfo.appendChild(h('div', '', mmss(prog.duration_s) + ' · ' + plural('setup.steps', prog.steps.length)));
      if (prog.description) el.programInfo.appendChild(h('div', '', prog.description));
      const ol = h('ol');
      for (const s of prog.steps) {
        const li = h('li', '', s.name + ' · ' + routineLabel(s.routine) + ' ');
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
    el.viewerNote.hidden = !viewer();
    el.start.disabled = !prof || !prog || !!why || !idle || busy || !live || viewer();
    text(el.start, status && status.state === 'fault' ? t('setup.reset_first') : t('setup.start'));
  }

  el.profile.addEventListener('change', () => {
    localStorage.setItem('massaged.profile', el.profile.value);
    el.startError.hidden = true;
    renderSetup();
    if (status) bodyMap.render(status);
  });
  el.program.addEventListener('change', () => {
    localStorage.setItem('massaged.program', el.program.value);
    el.startError.hidden = true;
    renderSetup();
  });

  function showError(box, msg) {
    if (box) { box.textContent = msg; box.hidden = false; } else toast(msg, true);
  }

  async function command(method, path, body, errBox) {
    if (errBox) errBox.hidden = true;
    el.notice.hidden = true;
    busy = true;
    renderControls();
    try {
      const r = await api(method, path, body);
      if (!r.ok) showError(errBox, errorText(r));
      else if (r.doc && r.doc.state) render(r.doc);
      return r;
    } catch (e) {
      if (!(e instanceof AuthError)) showError(errBox, e.name === 'TimeoutError' ? t('cmd.timeout') : t('cmd.noconn'));
      return null;
    } finally {
      busy = false;
      renderControls();
    }
  }

  el.start.addEventListener('click', async () => {
    const r = await command('POST', 'api/v1/session', { program: el.program.value, profile: el.profile.value }, el.startError);
    if (r && r.status === 409 && r.doc && r.doc.error === 'busy') {
      // Lost a race with another panel: say who won, where it stays seen.
      el.startError.hidden = true;
      let who = null;
      try { const s = await api('GET', 'api/v1/status'); if (s.ok) who = s.doc.started_by; } catch (e) { /* below */ }
      el.notice.textContent = who ? t('start.lost_race', { who }) : t('start.lost_race_table');
      el.notice.hidden = false;
    }
  });
  el.pause.addEventListener('click', () => {
    const paused = status && status.state === 'paused';
    command('POST', paused ? 'api/v1/session/resume' : 'api/v1/session/pause', undefined, el.sessionError);
  });
  el.end.addEventListener('click', () => command('POST', 'api/v1/session/stop', undefined, el.sessionError));
  /* To the next ten in that direction (75 % goes to 80 % or 70 %), from
   * 10 % to 100 %. */
  function nudge(d) {
    if (!status || status.intensity == null) return;
    const i = status.intensity;
    const pct = Math.max(10, Math.min(100, d > 0 ? Math.floor(i / 10) * 10 + 10 : Math.ceil(i / 10) * 10 - 10));
    if (pct !== status.intensity) command('PUT', 'api/v1/session/intensity', { percent: pct }, el.sessionError);
  }
  el.intDown.addEventListener('click', () => nudge(-1));
  el.intUp.addEventListener('click', () => nudge(1));
  el.reset.addEventListener('click', async () => {
    resetting = true;
    resetError = '';
    if (status) renderBanner(status);
    let r = null;
    try { r = await api('POST', 'api/v1/reset'); } catch (e) {
      if (!(e instanceof AuthError)) resetError = e.name === 'TimeoutError' ? t('cmd.timeout') : t('cmd.noconn');
    }
    resetting = false;
    if (r && !r.ok) resetError = t('reset.refused', { why: resetWhy(r) });
    if (r && r.ok && r.doc && r.doc.state) render(r.doc);
    else if (status) renderBanner(status);
  });

  /* Why the daemon refused a reset, in the panel's words when it can. */
  function resetWhy(r) {
    if (r.status === 403) return t('cmd.forbidden');
    if (r.doc && r.doc.error === 'fault_persists' && status) {
      const c = status.controllers.find((x) => x.connected && x.status && x.status.fault);
      if (c) return t('reset.persists', { ctl: c.name }) + ' ' + faultCtlText(c).what;
    }
    return errorText(r);
  }

  /* --- the body map (map.js) --------------------------------------------- */

  // Without map.js the panel still runs, STOP first of all: only the map
  // stays empty.
  const bodyMap = window.massagedMap ? window.massagedMap({
    el: { map: el.map, zones: el.zones, zoneDetail: el.zoneDetail },
    t, h, svg, text, num, zoneLabel,
    status: () => status, profile: () => currentProfile(), lang: () => lang,
  }) : { render() {}, reset() {} };

  /* --- status ------------------------------------------------------------ */

  function renderControllers(st) {
    el.ctls.textContent = '';
    for (const c of st.controllers) {
      const li = h('li');
      const head = h('div', 'ctl-head');
      head.appendChild(h('span', 'dot' + (c.connected ? '' : ' down')));
      head.appendChild(h('span', '', c.name));
      head.appendChild(h('span', 'hint', ctlState(c)));
      li.appendChild(head);
      // A controller that does not answer has no flags: the last ones it
      // sent are history. Its link error shows only while it is down.
      if (c.connected) {
        const flags = h('div', 'flags');
        for (const k of ['ready', 'active', 'fault', 'estop', 'client_stop', 'watchdog']) {
          if (c.status && c.status[k]) {
            const bad = k === 'fault' || k === 'estop' || k === 'client_stop' || k === 'watchdog';
            flags.appendChild(h('span', 'flag' + (bad ? ' flag-bad' : ''), t('ctl.flag.' + k)));
          }
        }
        if (c.fault_code) flags.appendChild(h('span', 'flag flag-bad', t('ctl.fault', { text: faultCtlText(c).what })));
        if (c.rating_kpa) flags.appendChild(h('span', 'flag', t('ctl.rated', { kpa: num(c.rating_kpa, 0) })));
        if (c.proof && c.proof.state === 'passed') flags.appendChild(h('span', 'flag', t('ctl.proven', { ms: num(c.proof.ms, 0) })));
        li.appendChild(flags);
      } else if (c.error) {
        li.appendChild(h('div', 'ctl-err', c.error));
      }
      el.ctls.appendChild(li);
    }
  }

  /* Connected, proving its safe state, not driven (not proven), or down. */
  function ctlState(c) {
    const p = c.proof && c.proof.state;
    return t(c.connected ? 'ctl.connected' : p === 'running' ? 'ctl.proving' : p === 'failed' ? 'ctl.unproven' : 'ctl.down');
  }

  /* A controller's own fault, in plain words. */
  function faultCtlText(c) {
    const n = { sensor_range: 'sensor', relay_out: 'relay' }[c.fault_name] || c.fault_name;  // a described device's
    const k = ['sensor', 'overpressure', 'watchdog', 'estop', 'relay'].includes(n) ? n : 'unknown';
    return { what: t('fault.ctl.' + k, { ctl: c.name }), todo: t('fault.ctl.' + k + '.do', { ctl: c.name }) };
  }

  /* What happened and what to do, for the latched fault of st. */
  function faultText(st) {
    const reason = st.fault_reason || (st.last_stop && st.last_stop.reason) || 'other';
    const by = st.last_stop && st.last_stop.by;
    if (reason === 'controller_fault') {
      const c = st.controllers.find((x) => x.connected && x.fault_code);
      if (c) return faultCtlText(c);
    }
    const c = causes[reason];
    const k = c && c.text && c.advice ? c : { text: 'fault.other', advice: 'fault.other.do' };
    return { what: t(k.text, { by: by ? ' ' + t('banner.by', { who: by }) : '' }), todo: t(k.advice) };
  }

  let restartNote = '';

  function renderBanner(st) {
    const down = st.controllers.filter((c) => !c.connected).map((c) => c.name);
    el.banner.classList.remove('banner-info', 'banner-warn', 'banner-ok');
    el.reset.hidden = true;
    if (st.state === 'fault') {
      const f = faultText(st);
      text(el.bannerTitle, (restartNote ? restartNote + ' · ' : '') + t('banner.fault'));
      text(el.bannerMsg, f.what);
      text(el.bannerHelp, resetError || f.todo);
      el.reset.hidden = viewer();
      el.reset.disabled = resetting || !live;
      text(el.reset, resetting ? t('banner.resetting') : t('banner.reset'));
      el.banner.title = st.fault ? t('fault.detail', { msg: st.fault }) : '';
    } else if (st.state === 'stopping') {
      el.banner.classList.add('banner-info');
      text(el.bannerTitle, t('banner.stopping'));
      text(el.bannerMsg, t('banner.stopping_msg'));
      text(el.bannerHelp, '');
    } else if (down.length > 0) {
      el.banner.classList.add('banner-warn');
      text(el.bannerTitle, t('banner.down', { names: down.join(', ') }));
      text(el.bannerMsg, t('banner.down_msg'));
      text(el.bannerHelp, t('banner.down_help'));
    } else {
      el.banner.classList.add(restartNote ? 'banner-info' : 'banner-ok');
      text(el.bannerTitle, restartNote || t('banner.ok'));
      text(el.bannerMsg, t('banner.ok_msg'));
      text(el.bannerHelp, '');
    }
  }

  function renderControls() {
    const st = status;
    const ok = live && !busy && !viewer();
    const active = st && (st.state === 'running' || st.state === 'paused' || st.state === 'stopping');
    text(el.pause, st && st.state === 'paused' ? t('session.resume') : t('session.pause'));
    el.pause.classList.toggle('btn-primary', !!(st && st.state === 'paused'));
    el.pause.classList.toggle('btn-amber', !(st && st.state === 'paused'));
    el.pause.disabled = !ok || !st || (st.state !== 'running' && st.state !== 'paused');
    el.end.disabled = !ok || !st || (st.state !== 'running' && st.state !== 'paused');
    el.intDown.disabled = !ok || !active || st.intensity == null || st.intensity <= 10 || st.state === 'stopping';
    el.intUp.disabled = !ok || !active || st.intensity == null || st.intensity >= 100 || st.state === 'stopping';
    el.profile.disabled = !live;
    el.program.disabled = !live;
    renderSetup();
    renderSettings();
  }

  function render(st) {
    status = st;
    /* Which table: a STOP pressed in the wrong tab must be visible as the
     * wrong table. */
    if (st.table) {
      const sub = document.querySelector('.brand-sub');
      sub.removeAttribute('data-i18n');  /* a name, not a catalogue text */
      text(sub, st.table);
      document.title = st.table + ' · massaged';
    }
    el.state.className = 'state state-' + (live ? st.state : 'unknown');
    text(el.state, live ? t('state.' + st.state) : t('state.unknown'));
    const active = st.state === 'running' || st.state === 'paused' || st.state === 'stopping';
    el.setup.hidden = active;
    el.session.hidden = !active;
    if (st.state !== 'fault') resetError = '';
    if (active) {
      text(el.sProgram, st.program_name || st.program || '—');
      text(el.sId, st.session_id ? t('session.id', { id: st.session_id }) : '');
      text(el.sProfile, t('session.for', { profile: st.profile_name || st.profile || '—' }));
      text(el.sBy, st.started_by ? t('session.started_by', { who: st.started_by }) : t('session.started_by_table'));
      if (st.step) {
        text(el.sStep, t('session.step', { i: st.step.index + 1, n: st.step.count, name: st.step.name }));
        text(el.sRoutine, routineLabel(st.step.routine));
        el.sRoutine.hidden = false;
        const dur = st.step.duration_s || 0;
        const done = Math.min(dur, st.step.elapsed_s || 0);
        el.sProgress.style.width = (dur > 0 ? 100 * done / dur : 0) + '%';
        text(el.sStepLeft, t('session.step_left', { t: mmss(dur - done) }));
      } else {
        text(el.sStep, st.state === 'stopping' ? t('session.ramping') : '—');
        el.sRoutine.hidden = true;
        el.sProgress.style.width = '0%';
        text(el.sStepLeft, '');
      }
      const total = (st.elapsed_s || 0) + (st.remaining_s || 0);
      el.sTotal.style.width = (total > 0 ? Math.min(100, 100 * st.elapsed_s / total) : 0) + '%';
      text(el.sElapsed, mmss(st.elapsed_s));
      text(el.sRemaining, mmss(st.remaining_s));
      text(el.sFinish, st.state === 'running' ? hhmm(new Date(Date.now() + 1000 * (st.remaining_s || 0))) : '—');
      text(el.sIntensity, st.intensity != null ? num(st.intensity, 0) + ' %' : '—');
    }
    const ls = st.last_stop;
    el.lastStop.hidden = active || !ls;
    if (ls && !active) text(el.lastStop, t('last_stop', { reason: reasonLabel(ls.reason), by: byText(ls.by) }));
    renderBanner(st);
    bodyMap.render(st);
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
    const who = d.by || t('ev.table');
    switch (type) {
      case 'status': render(d); return;
      case 'started':
        logEvent(t('ev.started', { who, program: d.program, profile: d.profile }));
        el.notice.hidden = true;
        break;
      case 'step': logEvent(t('ev.step', { i: d.step + 1, name: d.step_name, routine: routineLabel(d.routine) })); break;
      case 'paused': logEvent(t('ev.paused', { who })); break;
      case 'resumed': logEvent(t('ev.resumed', { who })); break;
      case 'stopping': logEvent(t('ev.stopping', { reason: reasonLabel(d.reason), by: byText(d.by) })); break;
      case 'stopped':
        logEvent(t('ev.stopped', { reason: reasonLabel(d.reason), by: byText(d.by) }), d.category === 0 ? 'ev-fault' : '');
        if (d.reason === 'program_end') alarm('end');
        loadSessions();
        break;
      case 'fault': {
        // Who caused it comes with the event: the status may not say yet.
        const f = status ? faultText(Object.assign({}, status, { fault_reason: d.reason, last_stop: { reason: d.reason, by: d.by } }))
          : { what: d.message };
        logEvent(t('ev.fault', { text: f.what }), 'ev-fault');
        alarm('fault');
        break;
      }
      case 'reset': logEvent(t('ev.reset', { who })); restartNote = ''; break;
      case 'reset_refused': logEvent(t('ev.reset_refused', { text: d.message || '' }), 'ev-fault'); break;
      case 'reloaded': logEvent(t('ev.reloaded')); loadLists(); break;
      default: break;
    }
  }

  function setConn(state) {
    el.conn.dataset.state = state;
    el.conn.className = 'conn conn-' + state;
    text(el.connText, state === 'live' ? t('conn.live') : state === 'lost' ? t('conn.lost') : t('conn.connecting'));
    live = state === 'live';
    // Lost contact: UNKNOWN over the whole panel (STOP stays above it).
    el.unknown.hidden = live || !everLive;
    if (!live && everLive) text(el.unknownMsg, t('unknown.msg', { s: num(Math.max(1, (Date.now() - lastEvent) / 1000), 0) }));
    if (!live && status) {
      el.state.className = 'state state-unknown';
      text(el.state, t('state.unknown'));
    }
    renderControls();
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  let everLive = false;

  /* The event stream, read with fetch() so the token stays in a header.
   * The daemon sends a status ten times a second: a second of silence
   * means the state of the table is unknown. */
  async function streamLoop() {
    let attempt = 0;
    for (;;) {
      await waitForLogin();
      // The causes first, so that the first stop heard has its words.
      if (Object.keys(causes).length === 0) await loadCauses();
      const ctrl = new AbortController();
      const attemptStart = Date.now();
      if (!everLive) lastEvent = attemptStart;
      const watchdog = setInterval(() => {
        if (Date.now() - Math.max(lastEvent, attemptStart) > SILENT_MS) {
          ctrl.abort();
          if (live) { logEvent(t('ev.lost'), 'ev-fault'); setConn('lost'); }
          if (everLive) text(el.unknownMsg, t('unknown.msg', { s: num((Date.now() - lastEvent) / 1000, 0) }));
        }
      }, 100);
      try {
        const res = await fetch('api/v1/events', {
          headers: { Authorization: 'Bearer ' + token, Accept: 'text/event-stream' },
          cache: 'no-store', signal: ctrl.signal,
        });
        if (res.status === 401) {
          needLogin(t('login.rejected'));
          continue;
        }
        if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
        const reader = res.body.getReader();
        const dec = new TextDecoder();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
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
            lastEvent = Date.now();
            if (!live && type === 'status') onContact(JSON.parse(data.join('\n')));
            attempt = 0;
            onEvent(type, data.join('\n'));
          }
        }
      } catch (e) {
        /* fall through: reconnect */
      } finally {
        clearInterval(watchdog);
      }
      if (live) { logEvent(t('ev.lost'), 'ev-fault'); setConn('lost'); }
      attempt++;
      await sleep(Math.min(1000, 200 * attempt));
    }
  }

  /* Contact (again): a different run of the daemon is a restart, said so
   * with the time and, in the banner, why the table is in fault. */
  function onContact(st) {
    const wasLive = everLive;
    const restarted = daemonRun !== null && st.daemon_run !== daemonRun;
    daemonRun = st.daemon_run;
    everLive = true;
    setConn('live');
    if (restarted) {
      loadCauses();
      restartNote = t('restart.title');
      logEvent(t('ev.restarted') + ': ' + t('restart.msg', { time: clock(new Date(1000 * st.daemon_started)) }), 'ev-fault');
    } else if (wasLive) {
      logEvent(t('ev.restored'));
    }
    if (wasLive) loadLists();
  }

  /* --- tabs ---------------------------------------------------------------- */

  for (const tab of document.querySelectorAll('.tab')) {
    tab.addEventListener('click', () => {
      for (const x of document.querySelectorAll('.tab')) {
        const on = x === tab;
        x.classList.toggle('tab-on', on);
        x.setAttribute('aria-selected', on ? 'true' : 'false');
        $('tab-' + x.dataset.tab).hidden = !on;
      }
      if (tab.dataset.tab === 'sessions') loadSessions();
    });
  }

  /* --- the client intake (intake.js) -------------------------------------- */

  window.massagedPanel = {
    t, api, errorText, zoneLabel, toast, h, svg,
    status: () => status, me: () => me, profile: () => currentProfile(),
    /* Reloads the lists, then selects profile id. */
    async reload(id) {
      if (id) { el.profile.value = id; localStorage.setItem('massaged.profile', id); }
      await loadLists();
      if (id) { el.profile.value = id; el.profile.dispatchEvent(new Event('change')); }
    },
  };

  /* --- start --------------------------------------------------------------- */

  applyTheme();
  setConn('connecting');
  initLangs().then(() => {
    if (!token) needLogin('');
    else loadLists();
    streamLoop();
  });
})();
