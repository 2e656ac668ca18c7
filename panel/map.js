/*
 * map.js: the panel's body map: the table seen from above, its zones
 * coloured by pressure against limit, the zone list beside it and the
 * detail of the selected zone. Without a session it previews the selected
 * client profile's limits, so excluded zones show before Start.
 *
 * panel.js makes one (window.massagedMap) and hands it the elements and
 * helpers it needs; the map never talks to the API itself.
 */
'use strict';

window.massagedMap = function (P) {
  const { el, t, h, svg, text, num, zoneLabel } = P;
  let mapKey = '';                 // the zones and language it was built for
  let zoneEls = {};
  let listEls = {};
  let selectedZone = null;

  /* Pressure against limit, as a colour: the idle colour of the theme,
   * then teal, amber, red: a zone under light pressure is clearly tinted. */
  function stops() {
    const dark = document.documentElement.dataset.theme === 'dark';
    return [
      [0.00, dark ? [52, 68, 79] : [238, 242, 246]], [0.06, [126, 203, 214]], [0.40, [26, 140, 162]],
      [0.80, [242, 163, 58]], [1.00, [217, 48, 37]],
    ];
  }
  function heat(ratio) {
    const r = Math.max(0, Math.min(1, ratio || 0));
    const st = stops();
    for (let i = 1; i < st.length; i++) {
      if (r <= st[i][0]) {
        const [a, ca] = st[i - 1], [b, cb] = st[i];
        const f = (r - a) / (b - a);
        const c = ca.map((v, k) => Math.round(v + (cb[k] - v) * f));
        return 'rgb(' + c.join(',') + ')';
      }
    }
    return 'rgb(217,48,37)';
  }

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
    pat.appendChild(svg('line', { x1: 0, y1: 0, x2: 0, y2: 3, stroke: '#8d9aa3', 'stroke-width': 1.3 }));
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
    t1.textContent = t('map.head');
    m.appendChild(t1);
    const t2 = svg('text', { class: 'axis', x: 0, y: y1 + 7, 'text-anchor': 'middle' });
    t2.textContent = t('map.feet');
    m.appendChild(t2);
    // Seen from above, a prone client's left is on the viewer's left.
    const ym = (y0 + y1) / 2;
    const l = svg('text', { class: 'side', x: -half - 4.5, y: ym, 'text-anchor': 'middle' });
    l.textContent = t('map.left');
    m.appendChild(l);
    const r = svg('text', { class: 'side', x: half + 4.5, y: ym, 'text-anchor': 'middle' });
    r.textContent = t('map.right');
    m.appendChild(r);

    // The map is a picture (role img) for assistive technology: its zones
    // are pointer targets, and the zone list below is the one for keys
    // and for fingers (44 px rows). Each zone carries a short label.
    zones.forEach((z, i) => {
      const rect = svg('rect', {
        class: 'zone' + (z.endangerment ? ' endangered' : ''),
        x: z.across_cm - z.width_cm / 2, y: z.along_cm - z.length_cm / 2,
        width: z.width_cm, height: z.length_cm, rx: 1.8,
        'data-zone': z.name,
      });
      rect.addEventListener('click', () => selectZone(z.name));
      m.appendChild(rect);
      const lab = svg('text', { class: 'zlabel', x: z.across_cm, y: z.along_cm + 1.1, 'text-anchor': 'middle' });
      lab.textContent = String(i + 1);
      m.appendChild(lab);
      zoneEls[z.name] = rect;
    });

    el.zones.textContent = '';
    listEls = {};
    zones.forEach((z, i) => {
      const li = h('li');
      li.dataset.zone = z.name;
      const b = h('button');
      b.type = 'button';
      const name = h('span', 'zn', (i + 1) + '  ' + zoneLabel(z.name));
      const val = h('span', 'zv', '');
      const bar = h('span', 'zb');
      const fill = h('span');
      bar.appendChild(fill);
      b.appendChild(name); b.appendChild(val); b.appendChild(bar);
      b.addEventListener('click', () => selectZone(z.name));
      li.appendChild(b);
      el.zones.appendChild(li);
      listEls[z.name] = { li, val, fill, b };
    });
  }

  function selectZone(name) {
    selectedZone = selectedZone === name ? null : name;
    for (const n in zoneEls) zoneEls[n].classList.toggle('selected', n === selectedZone);
    for (const n in listEls) {
      listEls[n].li.classList.toggle('sel', n === selectedZone);
      listEls[n].b.setAttribute('aria-pressed', n === selectedZone ? 'true' : 'false');
    }
    renderZoneDetail();
  }

  function renderZoneDetail() {
    const st = P.status();
    const z = st && selectedZone ? previewed(st.zones, st).find((x) => x.name === selectedZone) : null;
    el.zoneDetail.textContent = '';
    if (!z) { el.zoneDetail.textContent = t('map.tap'); return; }
    el.zoneDetail.appendChild(h('b', '', zoneLabel(z.name)));
    el.zoneDetail.appendChild(document.createTextNode(' · ' + (z.excluded
      ? t('zone.detail_excluded', { reason: z.limit_reason })
      : t('zone.detail', { p: num(z.pressure_kpa, 1), sp: num(z.setpoint_kpa, 1), lim: num(z.limit_kpa, 1), reason: z.limit_reason }) +
        (z.endangerment ? ' · ' + t('zone.endangerment') : ''))));
  }

  /* Without a session, the map previews the selected profile's limits:
   * its excluded zones are hatched before anyone presses Start. */
  function previewed(zones, st) {
    const active = st.state === 'running' || st.state === 'paused' || st.state === 'stopping';
    const prof = active ? null : P.profile();
    if (!prof || !prof.limits || prof.limits.length === 0) return zones;
    const lim = {};
    for (const l of prof.limits) lim[l.zone] = l;
    return zones.map((z) => (lim[z.name] ? Object.assign({}, z, {
      limit_kpa: lim[z.name].limit_kpa, limit_reason: lim[z.name].reason + ' (' + prof.id + ')',
      excluded: lim[z.name].excluded,
    }) : z));
  }

  function renderZones(st) {
    const key = P.lang() + ';' + st.zones.map((z) => [z.name, z.along_cm, z.across_cm, z.width_cm, z.length_cm].join(',')).join(';');
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
      text(le.val, z.excluded ? t('map.excluded') : t('zone.value', { p: num(z.pressure_kpa, 1), lim: num(z.limit_kpa, 0) }));
      le.li.classList.toggle('excl', !!z.excluded);
      le.fill.style.width = (z.excluded ? 0 : Math.min(100, ratio * 100)) + '%';
      le.fill.style.background = colour;
    }
    renderZoneDetail();
  }

  return {
    render: renderZones,
    /* Builds it again at the next render (the texts changed). */
    reset() { mapKey = ''; },
  };
};
