// room.test.mjs: the panel as it is used in a treatment room, against the
// real daemon and simulator: STOP above everything in every state and on
// every screen, STOP with a frozen daemon, UNKNOWN when the daemon dies,
// every fault in plain words, two panels with named tokens, a viewer, the
// settings, dark theme, German, sound, and axe-core with zero violations
// in every state.
//
//   cd tests/browser && npm ci && MASSAGED_BUILD=build node --test
//
// UPDATE_SCREENSHOTS=1 also saves docs/screenshots/{dark,german,...}.png.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import { BUILD, CHROMIUM, REPO, TOKEN, axeViolations, launchBrowser, sleep, startTable, stopOnTop, tempDir, waitFor } from './harness.mjs';

const SHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? path.join(REPO, 'docs', 'screenshots') : null;
const have = fs.existsSync(path.join(BUILD, 'massaged')) && fs.existsSync(CHROMIUM);

const TABLET1 = 'tablet-1-token-0123456789';
const TABLET2 = 'tablet-2-token-0123456789';
const VIEWER = 'hall-viewer-token-0123456789';
const SIZES = {
  tablet: { width: 1280, height: 800 },
  small: { width: 1024, height: 600 },
  phone: { width: 390, height: 844 },
};

async function shot(page, name) {
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name + '.png') });
}

/* axe-core (WCAG 2.1 A and AA and best practices): zero violations. */
async function axe(page, what) {
  assert.deepEqual(await axeViolations(page), [], what + ': axe violations');
}

/* Both, in one state. */
async function check(page, what) {
  await stopOnTop(page, what);
  await axe(page, what);
}

/* Counts beeps and vibrations: Web Audio oscillators and navigator.vibrate. */
function soundSpy() {
  window.__beeps = 0;
  window.__vibrations = 0;
  const Real = window.AudioContext;
  window.AudioContext = class extends Real {
    createOscillator() { window.__beeps++; return super.createOscillator(); }
  };
  navigator.vibrate = () => { window.__vibrations++; return true; };
}

describe('the panel in a treatment room', { skip: !have && 'massaged or chromium not found' }, () => {
  let dir, sim, daemon, browser;
  const contexts = [];

  async function panel(token, opts = {}) {
    const ctx = await browser.newContext(Object.assign({ viewport: SIZES.tablet, locale: 'en-GB', colorScheme: 'light', bypassCSP: true }, opts));
    contexts.push(ctx);
    if (token) await ctx.addInitScript((tk) => { if (!localStorage.getItem('massaged.token')) localStorage.setItem('massaged.token', tk); }, token);
    await ctx.addInitScript(soundSpy);
    const p = await ctx.newPage();
    await p.goto(daemon.url);
    if (token) await p.locator('#conn-text', { hasText: opts.locale === 'de-DE' ? 'Live' : 'Live' }).waitFor();
    return p;
  }

  async function idle() {
    await daemon.api('POST', 'api/v1/estop').catch(() => null);
    for (const c of [0, 1]) for (const cmd of ['estop', 'client_stop', 'sensor_fault', 'refuse']) await sim.cmd(cmd + ' ' + c + ' off');
    await sim.cmd('stick all all off');
    // Idle for a whole second with the same proofs: after a frozen daemon
    // thaws, its status still shows the controllers as they were until
    // the link threads see the watchdog's trip, and each is then proven
    // again (a watchdog period) before it can be driven.
    let seen = null;
    await waitFor(async () => {
      const r = await daemon.api('POST', 'api/v1/reset');
      const s = await daemon.api('GET', 'api/v1/status');
      const ok = r.status === 200 && s.doc.state === 'idle' && s.doc.controllers.every((c) => c.connected && !c.status.fault);
      const key = ok ? s.doc.controllers.map((c) => c.proof.passed).join(',') : null;
      if (!ok || !seen || seen.key !== key) { seen = ok ? { key, t: Date.now() } : null; return false; }
      return Date.now() - seen.t >= 1000;
    }, 15000, 'the table idle');
  }

  async function startSession(token = TOKEN) {
    const r = await daemon.api('POST', 'api/v1/session', { program: 'browser_test', profile: 'standard' }, token);
    assert.equal(r.status, 201, JSON.stringify(r.doc));
  }

  before(async () => {
    dir = tempDir('massaged-room-');
    ({ sim, daemon } = await startTable(dir, {
      tokens: [TOKEN, 'tablet-1 ' + TABLET1 + ' operator', 'tablet-2 ' + TABLET2 + ' operator', 'hall ' + VIEWER + ' viewer'],
    }));
    browser = await launchBrowser(chromium, ['--autoplay-policy=no-user-gesture-required']);
  });

  beforeEach(async () => { if (daemon && daemon.child && daemon.child.exitCode === null) await idle(); });

  after(async () => {
    if (daemon && daemon.child) { try { daemon.thaw(); } catch (e) { /* gone */ } }
    if (browser) await browser.close();
    const report = daemon ? daemon.sanitizerReport() : '';
    if (daemon) await daemon.stop();
    if (sim) await sim.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    assert.equal(report, '', 'sanitizer findings in the daemon log');
  });

  test('STOP is on top and axe passes in every state, on every screen', async () => {
    for (const [size, viewport] of Object.entries(SIZES)) {
      const phone = size === 'phone';
      const p = await panel(null, phone ? { viewport, isMobile: true, hasTouch: true, deviceScaleFactor: 2 } : { viewport });
      await p.locator('#login').waitFor({ state: 'visible' });
      await check(p, size + ' first load, login');
      await p.fill('#token', 'not-the-right-token-at-all');
      await p.click('#login-btn');
      await p.locator('#login-error').filter({ hasText: 'not accepted' }).waitFor();
      await check(p, size + ' token rejected');
      await p.fill('#token', TABLET1);
      await p.click('#login-btn');
      await p.locator('#conn-text', { hasText: 'Live' }).waitFor();
      await check(p, size + ' idle');
      await p.selectOption('#profile', 'refused_dvt');
      await p.locator('#refusal').waitFor({ state: 'visible' });
      await check(p, size + ' refusal');
      if (phone) {
        // Start is never under the fixed STOP, even scrolled to the end.
        await p.locator('#start').scrollIntoViewIfNeeded();
        await p.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
        const [st, sp] = [await p.locator('#start').boundingBox(), await p.locator('#estop').boundingBox()];
        assert.ok(st.y + st.height <= sp.y || st.y >= sp.y + sp.height, 'Start under STOP');
        await p.evaluate(() => window.scrollTo(0, 0));
      }
      await p.selectOption('#profile', 'standard');
      await p.click('#settings-btn');
      await p.locator('#settings').waitFor({ state: 'visible' });
      await check(p, size + ' settings');
      await p.click('#token-change');
      await p.locator('#token-confirm').waitFor({ state: 'visible' });
      await check(p, size + ' token confirmation');
      await p.click('#token-no');
      await p.click('#settings-close');
      await startSession(TABLET1);
      await p.locator('#state', { hasText: 'running' }).waitFor();
      await check(p, size + ' running');
      await p.click('#settings-btn');
      await check(p, size + ' settings during a session');
      assert.equal(await p.locator('#token-change').isDisabled(), true, 'token change during a session');
      await p.click('#settings-close');
      await daemon.api('POST', 'api/v1/session/pause');
      await p.locator('#state', { hasText: 'paused' }).waitFor();
      await check(p, size + ' paused');
      await daemon.api('POST', 'api/v1/session/stop');
      await p.locator('#state', { hasText: 'stopping' }).waitFor();
      await check(p, size + ' stopping');
      await p.locator('#estop').click();
      await p.locator('#state', { hasText: 'fault' }).waitFor();
      await check(p, size + ' fault');
      await p.click('#reset');
      await p.locator('#state', { hasText: 'idle' }).waitFor();
      // Frozen daemon: UNKNOWN, then STOP pressed: the red warning.
      daemon.freeze();
      try {
        await p.locator('#unknown').waitFor({ state: 'visible', timeout: 3000 });
        await check(p, size + ' unknown');
        await p.locator('#estop').click();
        await p.locator('#nostop').waitFor({ state: 'visible', timeout: 3000 });
        await check(p, size + ' STOP not answered');
      } finally {
        daemon.thaw();
      }
      await p.locator('#nostop').waitFor({ state: 'hidden', timeout: 10000 });
      await idle();
      await p.context().close();
    }
  });

  test('STOP with a frozen daemon: the full-screen warning within 1.5 s, then retries until it is through', async (t) => {
    const p = await panel(TABLET1);
    await startSession(TABLET1);
    await p.locator('#state', { hasText: 'running' }).waitFor();
    daemon.freeze();
    let t0;
    try {
      t0 = Date.now();
      await p.locator('#estop').click();
      await p.locator('#nostop').waitFor({ state: 'visible', timeout: 1500 });
      const shown = Date.now() - t0;
      assert.ok(shown < 1500, 'warning after ' + shown + ' ms');
      t.diagnostic('STOP warning after ' + shown + ' ms');
      // The stream is silent too: UNKNOWN within 1.5 s of the freeze.
      await p.locator('#unknown').waitFor({ state: 'attached' });
      await waitFor(() => p.locator('#unknown').isVisible(), 1500 - (Date.now() - t0), 'UNKNOWN', 20);
      t.diagnostic('UNKNOWN after ' + (Date.now() - t0) + ' ms of a frozen daemon');
      assert.match(await p.locator('#nostop').textContent(), /The table did not answer.*Use the table's emergency stop now/s);
      await stopOnTop(p, 'warning');
      await sleep(1200);
      assert.match(await p.locator('#nostop-retry').textContent(), /attempt [2-9]/);
      await shot(p, 'no-answer');
    } finally {
      daemon.thaw();
    }
    // The retry gets through: the table is stopped and latched.
    await p.locator('#nostop').waitFor({ state: 'hidden', timeout: 10000 });
    await waitFor(async () => (await daemon.api('GET', 'api/v1/status')).doc.state === 'fault', 5000, 'the table in fault');
    const st = (await daemon.api('GET', 'api/v1/status')).doc;
    assert.equal(st.last_stop.reason, 'estop');
    assert.equal(st.last_stop.by, 'tablet-1');
    await idle();
    await p.context().close();
  });

  test('a killed daemon: UNKNOWN within 1.5 s, controls off, STOP on; after the restart it says so and why the fault', async (t) => {
    const p = await panel(TABLET1);
    await startSession(TABLET1);
    await p.locator('#state', { hasText: 'running' }).waitFor();
    const t0 = Date.now();
    await daemon.kill();
    await p.locator('#unknown').waitFor({ state: 'visible', timeout: 1500 });
    assert.ok(Date.now() - t0 < 1500, 'UNKNOWN after ' + (Date.now() - t0) + ' ms');
    t.diagnostic('UNKNOWN after ' + (Date.now() - t0) + ' ms');
    assert.equal(await p.locator('#state').textContent(), 'UNKNOWN');
    assert.equal(await p.locator('#pause').isDisabled(), true);
    assert.equal(await p.locator('#end').isDisabled(), true);
    await stopOnTop(p, 'daemon dead');
    assert.match(await p.locator('#unknown').textContent(), /no contact with the table/);
    await shot(p, 'unknown');
    // The controllers' watchdogs vent and latch; the daemon comes back in
    // fault, and the panel says it restarted and why.
    await sleep(1500);
    await daemon.start();
    await p.locator('#unknown').waitFor({ state: 'hidden', timeout: 15000 });
    await p.locator('#state', { hasText: 'fault' }).waitFor({ timeout: 10000 });
    const banner = await p.locator('#banner').textContent();
    assert.match(banner, /The daemon restarted/);
    assert.match(banner, /lost contact with the daemon and vented on its own/);
    assert.match(await p.locator('#events').textContent(), /The daemon restarted/);
    await idle();
    await p.context().close();
  });

  const FAULTS = [
    { name: 'client stop switch', inject: 'client_stop 0 on', release: 'client_stop 0 off',
      what: /The client pressed the hand-held stop switch\./, todo: /Ask the client what is wrong/ },
    { name: 'e-stop circuit', inject: 'estop 0 on', release: 'estop 0 off',
      what: /emergency stop circuit is open/, todo: /Release the emergency stop button on the table/ },
    { name: 'sensor', inject: 'sensor_fault 0 on', release: 'sensor_fault 0 off',
      what: /A pressure sensor of controller \w+ is faulty\./, todo: /Call service to check the sensor/, refused: true },
    { name: 'over-pressure', inject: 'overpressure 0 all', release: null,
      what: /(measured too much pressure|more pressure than its limit)/, todo: /air cushions/ },
    // Readings frozen, then the setpoints drop: they no longer follow.
    { name: 'stuck actuator', inject: 'stick 0 all on', release: 'stick 0 all off', intensity: 10, minKpa: 11,
      what: /did not follow its setpoint/, todo: /kinks or leaks/ },
    { name: 'lost link', inject: 'hang 1 4000', release: null,
      what: /lost contact with a controller/, todo: /power and cable/ },
    { name: 'operator STOP', api: true,
      what: /STOP was pressed by tablet-2\./, todo: /Check the client\. When it is safe, press Reset\./ },
  ];

  test('every fault says what happened and what to do, in plain words', async () => {
    const p = await panel(TABLET1);
    const seen = new Set();
    for (const f of FAULTS) {
      await startSession(TABLET1);
      await p.locator('#state', { hasText: 'running' }).waitFor();
      await waitFor(async () => Number(await p.locator('#map rect[data-zone="gluteus_maximus_left"]').getAttribute('data-pressure')) > (f.minKpa || 3),
        20000, 'pressure before ' + f.name).catch(async (e) => {
        // Say what the daemon saw, so a rare miss can be read from the log.
        const s = await daemon.api('GET', 'api/v1/status').catch(() => null);
        throw new Error(e.message + '; daemon: ' + JSON.stringify(s && s.doc && {
          state: s.doc.state, step: s.doc.step, last_stop: s.doc.last_stop,
          controllers: s.doc.controllers })
          + '; log tail: ' + daemon.log().slice(-3000));
      });
      if (f.api) await daemon.api('POST', 'api/v1/estop', undefined, TABLET2);
      else await sim.cmd(f.inject);
      if (f.intensity) await daemon.api('PUT', 'api/v1/session/intensity', { percent: f.intensity });
      await waitFor(async () => (await p.locator('#state').textContent()) === 'fault', 20000, f.name + ': the fault');
      await waitFor(async () => f.what.test(await p.locator('#banner-msg').textContent()), 5000, f.name + ' text');
      const msg = await p.locator('#banner-msg').textContent();
      const todo = await p.locator('#banner-help').textContent();
      assert.match(todo, f.todo, f.name);
      assert.doesNotMatch(msg + todo, /category|\(API\)|MAP_VERSION/, f.name + ': no jargon');
      assert.ok(!seen.has(todo), f.name + ': the same advice as another fault');
      seen.add(todo);
      await check(p, 'fault ' + f.name);
      if (f.name === 'sensor') await shot(p, 'fault-sensor');
      if (f.refused) {
        // Reset while the sensor is still faulty: refused, with why.
        await p.click('#reset');
        await p.locator('#banner-help', { hasText: 'Reset refused' }).waitFor({ timeout: 5000 });
        assert.match(await p.locator('#banner-help').textContent(), /still reports the fault: its cause is still there/);
        assert.equal(await p.locator('#state').textContent(), 'fault');
      }
      if (f.release) await sim.cmd(f.release);
      if (f.name === 'lost link') await sleep(4500);
      await idle();
      await p.locator('#state', { hasText: 'idle' }).waitFor();
    }
    await p.context().close();
  });

  test('two panels: every command shows on both, with who; the loser of a start race sees why', async () => {
    const a = await panel(TABLET1);
    const b = await panel(TABLET2);
    for (const p of [a, b]) {
      await p.selectOption('#profile', 'standard');
      await p.selectOption('#program', 'browser_test');
    }
    // b's start leaves first but reaches the daemon only after a's.
    let release;
    const held = new Promise((r) => { release = r; });
    await b.route('**/api/v1/session', async (route) => { await held; await route.continue(); });
    const bClick = b.click('#start');
    await sleep(200);
    await a.click('#start');
    await a.locator('#state', { hasText: 'running' }).waitFor();
    release();
    await bClick;
    await b.locator('#notice', { hasText: 'Not started: tablet-1 started a session first.' }).waitFor({ timeout: 5000 });
    for (const p of [a, b]) {
      await p.locator('#s-by', { hasText: 'Started by tablet-1' }).waitFor();
      await p.locator('#events', { hasText: 'tablet-1 started' }).waitFor();
    }
    await check(b, 'lost start race');
    await b.click('#pause');
    for (const p of [a, b]) await p.locator('#events', { hasText: 'Paused by tablet-2' }).waitFor();
    await b.click('#pause');
    await a.locator('#estop').click();
    for (const p of [a, b]) {
      await p.locator('#state', { hasText: 'fault' }).waitFor();
      await p.locator('#banner-msg', { hasText: 'STOP was pressed by tablet-1.' }).waitFor();
    }
    await b.click('#reset');
    for (const p of [a, b]) await p.locator('#events', { hasText: 'Fault reset by tablet-2' }).waitFor();
    await a.context().close();
    await b.context().close();
  });

  test('a viewer watches and presses STOP, nothing else', async () => {
    const v = await panel(VIEWER);
    await v.locator('#viewer-note').waitFor({ state: 'visible' });
    assert.equal(await v.locator('#start').isDisabled(), true);
    await v.click('#settings-btn');
    assert.match(await v.locator('#who').textContent(), /hall \(viewer/);
    await v.click('#settings-close');
    await startSession(TABLET2);
    await v.locator('#state', { hasText: 'running' }).waitFor();
    assert.equal(await v.locator('#pause').isDisabled(), true);
    assert.equal(await v.locator('#end').isDisabled(), true);
    await check(v, 'viewer running');
    await v.locator('#estop').click();
    await v.locator('#state', { hasText: 'fault' }).waitFor();
    await v.locator('#banner-msg', { hasText: 'STOP was pressed by hall.' }).waitFor();
    assert.equal(await v.locator('#reset').isHidden(), true, 'no Reset for a viewer');
    await idle();
    await v.context().close();
  });

  test('the token moves only from the settings, with confirmation, never during a session', async () => {
    const p = await panel(TABLET1);
    await startSession(TABLET1);
    await p.locator('#state', { hasText: 'running' }).waitFor();
    await p.click('#settings-btn');
    assert.equal(await p.locator('#token-change').isDisabled(), true);
    await p.locator('#token-locked').waitFor({ state: 'visible' });
    await p.click('#settings-close');
    await daemon.api('POST', 'api/v1/session/stop');
    await p.locator('#state', { hasText: 'idle' }).waitFor({ timeout: 30000 });
    await p.click('#settings-btn');
    await p.click('#token-change');
    // Asked first; "No" keeps the token and the connection.
    await p.click('#token-no');
    assert.equal(await p.locator('#login').isHidden(), true);
    await p.click('#token-change');
    await p.click('#token-yes');
    await p.locator('#login').waitFor({ state: 'visible' });
    assert.equal(await p.evaluate(() => localStorage.getItem('massaged.token')), null);
    await stopOnTop(p, 'after a token change');
    await p.context().close();
  });

  test('dark theme: from the device, and switchable; the map and every text legible', async () => {
    const p = await panel(TABLET1, { colorScheme: 'dark' });
    assert.equal(await p.evaluate(() => document.documentElement.dataset.theme), 'dark');
    const bg = await p.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const [r, g, b] = bg.match(/\d+/g).map(Number);
    assert.ok(r + g + b < 120, 'a dark background: ' + bg);
    await check(p, 'dark idle');
    await startSession(TABLET1);
    await p.locator('#state', { hasText: 'running' }).waitFor();
    await sleep(1500);
    // The step's own progress and time left, and when the session ends.
    assert.match(await p.locator('#s-step').textContent(), /Step 1 of 1: knead/);
    assert.match(await p.locator('#s-routine').textContent(), /Swedish massage/);
    assert.match(await p.locator('#s-step-left').textContent(), /0:5\d left in this step/);
    const w = await p.evaluate(() => parseFloat(document.getElementById('s-progress').style.width));
    assert.ok(w > 0 && w < 10, 'step progress ' + w + '%');
    assert.match(await p.locator('#s-finish').textContent(), /\d{1,2}:\d\d/);
    await check(p, 'dark running');
    await shot(p, 'dark');
    await p.click('#settings-btn');
    await p.selectOption('#theme', 'light');
    assert.equal(await p.evaluate(() => document.documentElement.dataset.theme), 'light');
    await p.selectOption('#theme', 'auto');
    assert.equal(await p.evaluate(() => document.documentElement.dataset.theme), 'dark');
    await p.click('#settings-close');
    await idle();
    await p.context().close();
  });

  test('German from the browser language, numbers and times in its format, switchable', async () => {
    const p = await panel(TABLET1, { locale: 'de-DE' });
    await p.locator('#state', { hasText: 'bereit' }).waitFor();
    assert.equal(await p.evaluate(() => document.documentElement.lang), 'de');
    assert.match(await p.locator('#estop').textContent(), /Not-Halt/);
    assert.match(await p.locator('#start').textContent(), /Sitzung starten/);
    await check(p, 'German idle');
    await startSession(TABLET2);
    await p.locator('#s-by', { hasText: 'Gestartet von tablet-2' }).waitFor();
    await waitFor(async () => /\d,\d \/ \d+ kPa/.test(await p.locator('#zones').textContent()), 10000, 'a decimal comma');
    assert.match(await p.locator('#s-finish').textContent(), /^\d\d:\d\d$/);
    await sleep(1000);
    await shot(p, 'german');
    await p.locator('#estop').click();
    await p.locator('#banner-msg', { hasText: 'STOP wurde gedrückt von tablet-1.' }).waitFor();
    await check(p, 'German fault');
    await p.click('#settings-btn');
    await p.selectOption('#lang', 'en');
    await p.locator('#state', { hasText: 'fault' }).waitFor();
    await p.click('#settings-close');
    await idle();
    await p.reload();
    await p.locator('#state', { hasText: 'idle' }).waitFor();   // the choice is kept
    await p.context().close();
  });

  test('a sound and a vibration on a fault and at program end, mutable', async () => {
    const p = await panel(TABLET1);
    const count = () => p.evaluate(() => [window.__beeps, window.__vibrations]);
    await startSession(TABLET1);
    await p.locator('#state', { hasText: 'running' }).waitFor();
    await daemon.api('POST', 'api/v1/estop');
    await waitFor(async () => (await count())[0] > 0, 5000, 'a beep on the fault');
    assert.ok((await count())[1] > 0, 'a vibration on the fault');
    await idle();
    // At the program's end.
    const atEnd = await count();
    const r = await daemon.api('POST', 'api/v1/session', { program: 'browser_short', profile: 'standard' });
    assert.equal(r.status, 201);
    await p.locator('#events', { hasText: 'program finished' }).waitFor({ timeout: 20000 });
    await waitFor(async () => (await count())[0] > atEnd[0], 3000, 'a beep at the program end');
    assert.ok((await count())[1] > atEnd[1], 'a vibration at the program end');
    // The program's end ramps down ("stopping"): the next start waits for it.
    await waitFor(async () => (await daemon.api('GET', 'api/v1/status')).doc.state === 'idle', 15000, 'the program end ramped down');
    await p.click('#settings-btn');
    await p.uncheck('#sound');
    await p.click('#settings-close');
    const before = await count();
    await startSession(TABLET1);
    await daemon.api('POST', 'api/v1/estop');
    await p.locator('#state', { hasText: 'fault' }).waitFor();
    await sleep(500);
    assert.deepEqual(await count(), before, 'muted');
    await idle();
    await p.context().close();
  });

  test('no layout shift when a banner appears; 44 px touch targets', async (t) => {
    const p = await panel(TABLET1);
    const top = () => p.evaluate(() => document.getElementById('main').getBoundingClientRect().top);
    const t0 = await top();
    await p.locator('#banner-title', { hasText: 'Table ready' }).waitFor();
    // A controller that goes away while idle: the warning banner.
    await sim.cmd('refuse 1 on');
    await sim.cmd('drop 1');
    await p.locator('#banner-title', { hasText: 'Controller not connected: legs' }).waitFor({ timeout: 10000 });
    assert.equal(await top(), t0);
    // A controller that does not answer shows no stale flags.
    await p.click('#tab-btn-ctls');
    const legs = p.locator('#ctls li', { hasText: 'legs' });
    await legs.locator('.hint', { hasText: 'NOT CONNECTED' }).waitFor();
    assert.equal(await legs.locator('.flag').count(), 0);
    await p.click('#tab-btn-zones');
    await sim.cmd('refuse 1 off');
    await idle();
    await startSession(TABLET1);
    await p.locator('#state', { hasText: 'running' }).waitFor();
    await daemon.api('POST', 'api/v1/estop');
    await p.locator('#state', { hasText: 'fault' }).waitFor();
    assert.equal(await top(), t0);
    await idle();
    const small = await p.evaluate(() => [...document.querySelectorAll('button, select, input, [role="tab"]')]
      .filter((n) => n.offsetParent !== null && n.id !== 'estop')
      .map((n) => [n.id || n.textContent.trim().slice(0, 20), n.getBoundingClientRect().height])
      .filter(([, hgt]) => hgt < 44));
    assert.deepEqual(small, [], 'targets under 44 px');
    // Keyboard: STOP first, then a few stops to the session's controls.
    await startSession(TABLET1);
    await p.locator('#state', { hasText: 'running' }).waitFor();
    await p.reload();
    await p.locator('#state', { hasText: 'running' }).waitFor();
    let tabs = 0;
    while ((await p.evaluate(() => document.activeElement && document.activeElement.id)) !== 'pause' && tabs < 40) {
      await p.keyboard.press('Tab');
      tabs++;
      if (tabs === 1) assert.equal(await p.evaluate(() => document.activeElement.id), 'estop', 'STOP is the first stop');
    }
    assert.ok(tabs <= 8, tabs + ' Tabs to Pause');
    t.diagnostic(tabs + ' Tabs to Pause');
    await idle();
    assert.equal(await p.locator('#map text.zlabel').count(), 26, 'a label on every zone of the map');
    const zoneRows = await p.locator('#zones button').evaluateAll((bs) => bs.map((b) => b.getBoundingClientRect().height));
    assert.equal(zoneRows.length, 26);
    assert.ok(zoneRows.every((x) => x >= 44), 'zone rows ' + zoneRows);
    await p.context().close();
  });
});
