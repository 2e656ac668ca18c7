/* intake.js: the client intake at the table. "New client" asks the
 * clinic's health questions (GET /api/v1/intake), the pressure and ramp
 * preferences, the sensitive zones on a body map and a note; before saving
 * it shows what the answers do, as the daemon computes them (POST
 * /api/v1/intake/preview): programs refused and why, zones excluded, the
 * limit of every zone. Saving writes a client profile (POST or PUT with
 * If-Match); a client's past sessions and erasure are here too.
 * Everything it says comes from panel/i18n (keys intake.*). */
(function () {
  const P = window.massagedPanel;
  if (!P) return;
  const { t, h, svg } = P;
  const $ = (id) => document.getElementById(id);

  let form = null;          // the clinic's questions, GET /api/v1/intake
  let editing = null;       // { id, revision } of the profile being edited
  let zoneState = {};       // zone -> 'cap' | 'avoid'
  let previewTimer = null;
  let previewSeq = 0;
  let lastFocus = null;

  function words(name) {
    const s = name.replace(/_/g, ' ');
    return s.charAt(0).toUpperCase() + s.slice(1);
  }

  function viewer() { const me = P.me(); return !me || me.role === 'viewer'; }

  /* --- the buttons beside the profile -------------------------------------- */

  const actions = $('intake-actions');
  const bNew = h('button', 'btn', t('intake.new'));
  const bEdit = h('button', 'btn', t('intake.edit'));
  const bHistory = h('button', 'btn', t('intake.history'));
  for (const b of [bNew, bEdit, bHistory]) { b.type = 'button'; actions.appendChild(b); }
  bNew.id = 'intake-new'; bEdit.id = 'intake-edit'; bHistory.id = 'intake-history';

  function renderActions() {
    const p = P.profile();
    const st = P.status();
    const active = st && (st.state === 'running' || st.state === 'paused' || st.state === 'stopping');
    actions.hidden = viewer();
    bNew.textContent = t('intake.new');
    bEdit.textContent = t('intake.edit');
    bHistory.textContent = t('intake.history');
    bNew.disabled = !!active;
    bEdit.disabled = !!active || !p || !p.writable;
    bHistory.disabled = !p;
  }
  setInterval(renderActions, 500);
  $('profile').addEventListener('change', renderActions);

  /* --- the dialog ---------------------------------------------------------- */

  const ov = h('div', 'overlay intake-overlay');
  ov.id = 'intake';
  ov.hidden = true;
  ov.setAttribute('role', 'dialog');
  ov.setAttribute('aria-modal', 'true');
  ov.setAttribute('aria-labelledby', 'intake-title');
  const box = h('div', 'dialog intake-dialog');
  ov.appendChild(box);
  document.body.appendChild(ov);

  function close() {
    ov.hidden = true;
    box.textContent = '';
    clearTimeout(previewTimer);
    if (lastFocus) lastFocus.focus();
  }
  ov.addEventListener('keydown', (e) => { if (e.key === 'Escape') close(); });

  function open() {
    lastFocus = document.activeElement;
    box.textContent = '';
    ov.hidden = false;
  }

  function head(text) {
    const h2 = h('h2', '', text);
    h2.id = 'intake-title';
    box.appendChild(h2);
  }

  function errorBox() {
    const e = h('p', 'form-error');
    e.id = 'intake-error';
    e.hidden = true;
    e.setAttribute('role', 'alert');
    return e;
  }

  function showError(e, msg) { e.textContent = msg; e.hidden = !msg; }

  async function loadForm() {
    const r = await P.api('GET', 'api/v1/intake');
    if (!r.ok) throw new Error(P.errorText(r));
    form = r.doc;
  }

  /* Radios for a list of choices; returns the fieldset. */
  function choices(name, legend, items, label, want) {
    const fs = h('fieldset', 'intake-choices');
    fs.appendChild(h('legend', 'field-label', legend));
    items.forEach((it, i) => {
      const l = h('label', 'choice');
      const r = h('input');
      r.type = 'radio'; r.name = name; r.value = it.name;
      r.checked = want ? it.name === want : i === Math.min(1, items.length - 1);
      r.addEventListener('change', schedulePreview);
      l.appendChild(r);
      l.appendChild(h('span', '', label(it)));
      fs.appendChild(l);
    });
    return fs;
  }

  function picked(name) {
    const r = box.querySelector('input[name="' + name + '"]:checked');
    return r ? r.value : null;
  }

  /* The answers as the API takes them. */
  function answers() {
    const conditions = [];
    for (const r of box.querySelectorAll('.intake-q input[value="yes"]:checked')) conditions.push(r.name.slice(2));
    const cap = [], avoid = [];
    for (const z in zoneState) (zoneState[z] === 'avoid' ? avoid : cap).push(z);
    return {
      name: $('intake-name').value.trim(),
      conditions,
      pressure: picked('pressure'),
      ramp: picked('ramp'),
      zones: { cap, avoid },
      note: $('intake-note').value.replace(/\s+/g, ' ').trim(),
    };
  }

  /* --- the body map of the intake ----------------------------------------- */

  function buildMap(wrap) {
    const st = P.status();
    const zones = st ? st.zones : [];
    const m = svg('svg', { id: 'intake-map', class: 'intake-map', role: 'img', 'aria-label': t('intake.map_label') });
    let half = 30, top = 1e9, bottom = 0;
    for (const z of zones) {
      half = Math.max(half, Math.abs(z.across_cm) + z.width_cm / 2 + 4);
      top = Math.min(top, z.along_cm - z.length_cm / 2);
      bottom = Math.max(bottom, z.along_cm + z.length_cm / 2);
    }
    m.setAttribute('viewBox', [-half - 2, top - 4, 2 * half + 4, bottom - top + 8].join(' '));
    const defs = svg('defs', {});
    const pat = svg('pattern', { id: 'intake-hatch', width: 3, height: 3, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' });
    pat.appendChild(svg('rect', { width: 3, height: 3, fill: '#f3f5f7' }));
    pat.appendChild(svg('line', { x1: 0, y1: 0, x2: 0, y2: 3, stroke: '#6b7a84', 'stroke-width': 1.4 }));
    defs.appendChild(pat);
    m.appendChild(defs);
    m.appendChild(svg('rect', { class: 'table-top', x: -half, y: top - 3, width: 2 * half, height: bottom - top + 6, rx: 4 }));
    for (const z of zones) {
      const r = svg('rect', {
        class: 'zone', x: z.across_cm - z.width_cm / 2, y: z.along_cm - z.length_cm / 2,
        width: z.width_cm, height: z.length_cm, rx: 1.5, 'data-zone': z.name,
      });
      r.addEventListener('click', () => cycleZone(z.name));
      m.appendChild(r);
    }
    wrap.appendChild(m);

    // The same zones as buttons: for keys, for fingers, for screen readers.
    const list = h('ul', 'intake-zones');
    list.id = 'intake-zones';
    for (const z of zones) {
      const li = h('li');
      const b = h('button', 'zone-chip');
      b.type = 'button';
      b.dataset.zone = z.name;
      b.addEventListener('click', () => cycleZone(z.name));
      li.appendChild(b);
      list.appendChild(li);
    }
    wrap.appendChild(list);
    renderZoneMarks();
  }

  function cycleZone(name) {
    const s = zoneState[name];
    if (!s) zoneState[name] = 'cap';
    else if (s === 'cap') zoneState[name] = 'avoid';
    else delete zoneState[name];
    renderZoneMarks();
    schedulePreview();
  }

  let limits = {};          // zone -> { limit_kpa, excluded, reason } of the preview

  function renderZoneMarks() {
    for (const b of box.querySelectorAll('.zone-chip')) {
      const z = b.dataset.zone, s = zoneState[z], l = limits[z];
      const what = l && l.excluded ? t('intake.zone_excluded')
        : s === 'avoid' ? t('intake.zone_avoid')
          : s === 'cap' ? t('intake.zone_cap') : t('intake.zone_normal');
      b.textContent = P.zoneLabel(z) + ' · ' + what + (l && !l.excluded ? ' · ' + t('intake.kpa', { v: Math.round(l.limit_kpa * 10) / 10 }) : '');
      b.className = 'zone-chip' + (s ? ' zc-' + s : '') + (l && l.excluded ? ' zc-excluded' : '');
      b.setAttribute('aria-pressed', s ? 'true' : 'false');
    }
    for (const r of box.querySelectorAll('#intake-map rect[data-zone]')) {
      const z = r.dataset.zone, s = zoneState[z], l = limits[z];
      const excluded = !!(l && (l.excluded || l.limit_kpa === 0));
      r.classList.toggle('excluded', excluded);
      r.classList.toggle('zc-cap', s === 'cap');
      r.classList.toggle('zc-avoid', s === 'avoid');
      r.setAttribute('fill', excluded ? 'url(#intake-hatch)' : s === 'cap' ? '#f5d48a' : '#d9efe9');
    }
  }

  /* --- the preview: what the answers do ------------------------------------- */

  function schedulePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(preview, 250);
  }

  async function preview() {
    const seq = ++previewSeq;
    const a = answers();
    if (!a.name) a.name = '-';
    const out = $('intake-preview');
    if (!out) return;
    let r;
    try { r = await P.api('POST', 'api/v1/intake/preview', a); } catch (e) { return; }
    if (seq !== previewSeq || !$('intake-preview')) return;
    out.textContent = '';
    out.setAttribute('aria-busy', 'false');
    if (!r.ok) {
      limits = {};
      renderZoneMarks();
      out.appendChild(h('p', 'form-error', P.errorText(r)));
      return;
    }
    const doc = r.doc;
    limits = {};
    for (const l of doc.limits) limits[l.zone] = l;
    renderZoneMarks();

    const ref = Object.entries(doc.refusals || {});
    out.appendChild(h('h3', '', t('intake.refused_title')));
    const ul = h('ul', 'intake-refusals');
    ul.id = 'intake-refusals';
    if (ref.length === 0) ul.appendChild(h('li', 'ok', t('intake.none_refused')));
    for (const [prog, why] of ref) {
      const li = h('li');
      li.appendChild(h('b', '', prog));
      li.appendChild(document.createTextNode(': ' + why));
      ul.appendChild(li);
    }
    out.appendChild(ul);

    const excl = doc.limits.filter((l) => l.excluded || l.limit_kpa === 0);
    out.appendChild(h('h3', '', t('intake.excluded_title')));
    out.appendChild(h('p', 'intake-excluded', excl.length
      ? excl.map((l) => P.zoneLabel(l.zone)).join(', ') : t('intake.none_excluded')));
    if (doc.refused) {
      out.appendChild(h('p', 'form-error intake-refused', t('intake.refused_all', { why: doc.refused })));
      return;
    }
    out.appendChild(h('h3', '', t('intake.limits_title')));
    const tbl = h('table', 'intake-limits');
    const thead = h('tr');
    for (const k of ['intake.col_zone', 'intake.col_limit', 'intake.col_why']) thead.appendChild(h('th', '', t(k)));
    tbl.appendChild(thead);
    for (const l of doc.limits) {
      const tr = h('tr');
      tr.dataset.zone = l.zone;
      tr.appendChild(h('td', '', P.zoneLabel(l.zone)));
      tr.appendChild(h('td', 'num', l.excluded ? t('intake.zone_excluded') : t('intake.kpa', { v: Math.round(l.limit_kpa * 10) / 10 })));
      tr.appendChild(h('td', '', l.reason));
      tbl.appendChild(tr);
    }
    out.appendChild(tbl);
  }

  /* --- new and edit -------------------------------------------------------- */

  async function openForm(profile) {
    try { await loadForm(); } catch (e) { P.toast(e.message, true); return; }
    editing = profile ? { id: profile.id, revision: profile.revision } : null;
    zoneState = {};
    limits = {};
    if (profile) for (const c of profile.zone_caps) zoneState[c.zones] = c.cap_kpa === 0 ? 'avoid' : 'cap';
    const has = new Set(profile ? profile.conditions.map((c) => c.name) : []);
    open();
    head(profile ? t('intake.edit_title') : t('intake.new_title'));
    const err = errorBox();

    const nameL = h('label', 'field');
    nameL.appendChild(h('span', 'field-label', t('intake.name')));
    const name = h('input');
    name.id = 'intake-name'; name.type = 'text'; name.maxLength = 95; name.autocomplete = 'off';
    name.value = profile ? profile.name : '';
    nameL.appendChild(name);
    box.appendChild(nameL);
    box.appendChild(h('p', 'form-note', t('intake.name_help')));

    const qs = h('fieldset', 'intake-questions');
    qs.appendChild(h('legend', 'field-label', t('intake.questions')));
    for (const c of form.conditions) {
      const q = h('fieldset', 'intake-q');
      q.dataset.condition = c.name;
      // A rule's reason opens with the condition in plain words.
      const lead = (c.reason || '').split(':')[0];
      q.appendChild(h('legend', 'q-name', t('intake.question', { condition: lead && lead.length <= 90 ? lead : words(c.name) })));
      q.appendChild(h('p', 'q-reason', c.reason));
      const row = h('div', 'q-row');
      for (const v of ['no', 'yes']) {
        const l = h('label', 'choice');
        const r = h('input');
        r.type = 'radio'; r.name = 'c-' + c.name; r.value = v;
        r.checked = (v === 'yes') === has.has(c.name);
        r.addEventListener('change', schedulePreview);
        l.appendChild(r);
        l.appendChild(h('span', '', t('intake.' + v)));
        row.appendChild(l);
      }
      q.appendChild(row);
      qs.appendChild(q);
    }
    box.appendChild(qs);

    box.appendChild(choices('pressure', t('intake.pressure'), form.pressure,
      (it) => t('intake.pressure_choice', { name: words(it.name), v: it.cap_kpa }), profile && profile.pressure));
    box.appendChild(choices('ramp', t('intake.ramp'), form.ramp,
      (it) => t('intake.ramp_choice', { name: words(it.name), v: it.ramp_kpa_s }), profile && profile.ramp));

    const zf = h('div', 'intake-zonebox');
    zf.appendChild(h('span', 'field-label', t('intake.zones')));
    zf.appendChild(h('p', 'form-note', t('intake.zones_help', { v: form.sensitive_cap_kpa })));
    buildMap(zf);
    box.appendChild(zf);

    const noteL = h('label', 'field');
    noteL.appendChild(h('span', 'field-label', t('intake.note', { n: form.note_max })));
    const note = h('textarea');
    note.id = 'intake-note'; note.maxLength = form.note_max; note.rows = 2;
    note.value = profile ? profile.note : '';
    noteL.appendChild(note);
    box.appendChild(noteL);

    const pv = h('section', 'intake-preview');
    pv.id = 'intake-preview';
    pv.setAttribute('aria-live', 'polite');
    pv.setAttribute('aria-label', t('intake.preview'));
    box.appendChild(h('h3', 'intake-preview-head', t('intake.preview')));
    box.appendChild(pv);

    box.appendChild(err);
    const row = h('div', 'confirm-row intake-buttons');
    const save = h('button', 'btn btn-primary', t('intake.save'));
    save.type = 'button'; save.id = 'intake-save';
    const cancel = h('button', 'btn', t('intake.cancel'));
    cancel.type = 'button'; cancel.id = 'intake-cancel';
    row.appendChild(save);
    row.appendChild(cancel);
    if (profile) {
      const erase = h('button', 'btn btn-danger', t('intake.erase'));
      erase.type = 'button'; erase.id = 'intake-erase';
      erase.addEventListener('click', () => confirmErase(profile, err));
      row.appendChild(erase);
    }
    box.appendChild(row);
    cancel.addEventListener('click', close);
    save.addEventListener('click', () => doSave(save, err));
    name.addEventListener('input', schedulePreview);
    name.focus();
    preview();
  }

  async function doSave(btn, err) {
    const a = answers();
    if (!a.name) { showError(err, t('intake.name_missing')); $('intake-name').focus(); return; }
    btn.disabled = true;
    showError(err, '');
    let r;
    try {
      if (editing) {
        r = await P.api('PUT', 'api/v1/profiles/' + editing.id, a, undefined, { 'If-Match': '"' + editing.revision + '"' });
      } else {
        r = await P.api('POST', 'api/v1/profiles', a);
      }
    } catch (e) {
      btn.disabled = false;
      showError(err, t('intake.no_answer'));
      return;
    }
    btn.disabled = false;
    if (r.status === 409 && r.doc && r.doc.error === 'conflict') {
      showError(err, t('intake.conflict', { rev: r.doc.revision }));
      return;
    }
    if (!r.ok) { showError(err, P.errorText(r)); return; }
    close();
    P.toast(t(editing ? 'intake.saved' : 'intake.created', { name: r.doc.name }));
    await P.reload(r.doc.id);
  }

  function confirmErase(profile, err) {
    const c = h('div', 'confirm');
    c.appendChild(h('p', '', t('intake.erase_confirm', { name: profile.name })));
    const row = h('div', 'confirm-row');
    const yes = h('button', 'btn btn-danger', t('intake.erase_yes'));
    yes.type = 'button'; yes.id = 'intake-erase-yes';
    const no = h('button', 'btn', t('intake.erase_no'));
    no.type = 'button';
    row.appendChild(yes); row.appendChild(no);
    c.appendChild(row);
    err.before(c);
    no.addEventListener('click', () => c.remove());
    yes.addEventListener('click', async () => {
      let r;
      try { r = await P.api('DELETE', 'api/v1/profiles/' + profile.id); } catch (e) { showError(err, t('intake.no_answer')); return; }
      if (!r.ok) { showError(err, P.errorText(r)); return; }
      close();
      P.toast(t('intake.erased'));
      await P.reload();
    });
  }

  /* --- history ------------------------------------------------------------- */

  function when(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    return d.toLocaleDateString() + ' ' + d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  async function openHistory(profile) {
    let r;
    try { r = await P.api('GET', 'api/v1/profiles/' + profile.id + '/sessions'); } catch (e) { return; }
    open();
    head(t('intake.history_title', { name: profile.name }));
    const ul = h('ul', 'intake-history');
    ul.id = 'intake-history-list';
    if (!r.ok) box.appendChild(h('p', 'form-error', P.errorText(r)));
    else if (r.doc.sessions.length === 0) ul.appendChild(h('li', 'empty', t('intake.history_none')));
    for (const s of (r.ok ? r.doc.sessions : [])) {
      const li = h('li');
      li.appendChild(h('b', '', when(s.start) + ' · ' + s.program));
      li.appendChild(h('span', '', t('intake.history_end', { how: s.end_reason || '—', min: Math.round((s.active_s || 0) / 6) / 10 })));
      const top = s.zones.filter((z) => z.peak_kpa > 0).sort((a, b) => b.peak_kpa - a.peak_kpa).slice(0, 6);
      li.appendChild(h('span', 'hint', top.length ? top.map((z) => t('intake.history_zone', {
        zone: P.zoneLabel(z.zone), peak: z.peak_kpa, lim: z.limit_kpa,
      })).join(' · ') : t('intake.history_nopressure')));
      if (Array.isArray(s.intensity_changes) && s.intensity_changes.length) {
        li.appendChild(h('span', 'hint', t('intake.history_intensity', {
          list: s.intensity_changes.map((c) => c.pct + '%').join(' → '),
        })));
      } else if (s.intensity_pct) {
        li.appendChild(h('span', 'hint', t('intake.history_intensity', { list: s.intensity_pct + '%' })));
      }
      ul.appendChild(li);
    }
    box.appendChild(ul);
    const closeB = h('button', 'btn btn-primary', t('intake.close'));
    closeB.type = 'button';
    closeB.addEventListener('click', close);
    box.appendChild(closeB);
    closeB.focus();
  }

  bNew.addEventListener('click', () => openForm(null));
  bEdit.addEventListener('click', async () => {
    const p = P.profile();
    if (!p) return;
    const r = await P.api('GET', 'api/v1/profiles/' + p.id).catch(() => null);
    if (!r || !r.ok) { P.toast(r ? P.errorText(r) : t('intake.no_answer'), true); return; }
    openForm(r.doc);
  });
  bHistory.addEventListener('click', () => { const p = P.profile(); if (p) openHistory(p); });
})();
