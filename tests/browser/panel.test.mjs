// panel.test.mjs: the control panel in a real browser (Debian's Chromium
// driven by playwright-core) against the real daemon and simulator.
//
//   cd tests/browser && npm ci && MASSAGED_BUILD=../../build node --test
//
// UPDATE_SCREENSHOTS=1 also saves the panel's main states to
// docs/screenshots/*.png (1024x600 and a phone).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import { BUILD, CHROMIUM, REPO, TOKEN, launchBrowser, sleep, startTable, tempDir, waitFor } from './harness.mjs';

const SHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? path.join(REPO, 'docs', 'screenshots') : null;
const IDLE_FILL = 'rgb(238,242,246)';
const have = fs.existsSync(path.join(BUILD, 'massaged')) && fs.existsSync(CHROMIUM);

async function shot(page, name, fullPage = false) {
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage });
}

describe('control panel', { skip: !have && 'massaged or chromium not found' }, () => {
  let dir, sim, daemon, browser, context, page;

  before(async () => {
    dir = tempDir('massaged-panel-');
    ({ sim, daemon } = await startTable(dir));
    browser = await launchBrowser(chromium);
    context = await browser.newContext({ viewport: { width: 1024, height: 600 } });
    page = await context.newPage();
  });

  after(async () => {
    if (browser) await browser.close();
    const report = daemon ? daemon.sanitizerReport() : '';
    if (daemon) await daemon.stop();
    if (sim) await sim.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    assert.equal(report, '', 'sanitizer findings in the daemon log');
  });

  const stateText = () => page.locator('#state').textContent();
  const zoneFill = (name) => page.locator(`#map rect[data-zone="${name}"]`).getAttribute('fill');

  test('asks for the token once, then goes live', async () => {
    await page.goto(daemon.url);
    await page.locator('#login').waitFor({ state: 'visible' });
    // A wrong token is refused and the login stays.
    await page.fill('#token', 'not-the-right-token-at-all');
    await page.click('#login-btn');
    await page.locator('#login-error').filter({ hasText: 'not accepted' }).waitFor();
    await page.fill('#token', TOKEN);
    await page.click('#login-btn');
    await page.locator('#login').waitFor({ state: 'hidden' });
    await page.locator('#conn-text', { hasText: 'Live' }).waitFor();
    assert.equal(await stateText(), 'idle');
    // The token is kept: a reload goes straight to live.
    await page.reload();
    await page.locator('#conn-text', { hasText: 'Live' }).waitFor();
    assert.equal(await page.locator('#login').isHidden(), true);
    // Every zone of the table is on the map, vented.
    assert.equal(await page.locator('#map rect[data-zone]').count(), 26);
    assert.equal(await zoneFill('piriformis_left'), IDLE_FILL);
    await page.selectOption('#profile', 'standard');
    await page.selectOption('#program', 'browser_test');
    await shot(page, 'idle');
  });

  test('shows a contraindication refusal with its reason before starting', async () => {
    await page.selectOption('#profile', 'refused_dvt');
    await page.selectOption('#program', 'browser_test');
    const refusal = page.locator('#refusal');
    await refusal.waitFor({ state: 'visible' });
    assert.match(await refusal.textContent(), /Deep vein thrombosis/);
    assert.equal(await page.locator('#start').isDisabled(), true);
    // A rule that forbids a routine refuses only the programs that use it.
    await page.selectOption('#profile', 'anticoagulated');
    await page.selectOption('#program', 'browser_deep');
    await refusal.waitFor({ state: 'visible' });
    assert.match(await refusal.textContent(), /Blood thinners/);
    await shot(page, 'refusal');
    await page.selectOption('#program', 'browser_test');
    await refusal.waitFor({ state: 'hidden' });
    assert.equal(await page.locator('#start').isDisabled(), false);
    // Before a start the map previews the profile: excluded zones hatched.
    const calf = page.locator('#map rect[data-zone="calf_left"]');
    assert.doesNotMatch(await calf.getAttribute('class'), /excluded/);
    await page.selectOption('#profile', 'varicose');
    await waitFor(async () => /excluded/.test(await calf.getAttribute('class')), 3000, 'calf_left hatched');
    assert.doesNotMatch(await page.locator('#map rect[data-zone="gluteus_maximus_left"]').getAttribute('class'), /excluded/);
  });

  test('searches clients by name through the API, one page at a time', async () => {
    await page.selectOption('#profile', 'standard');
    const asked = [];
    const seen = (req) => { if (req.url().includes('/api/v1/profiles?')) asked.push(req.url()); };
    page.on('request', seen);
    await page.fill('#profile-search', 'ANTICOAG');
    const ids = () => page.locator('#profile option').evaluateAll((os) => os.map((o) => o.value));
    await waitFor(async () => (await ids()).includes('anticoagulated') && !(await ids()).includes('refused_dvt'), 5000, 'search results');
    assert.deepEqual(await ids(), ['standard', 'anticoagulated']);   // the chosen one stays
    assert.equal(await page.inputValue('#profile'), 'standard');
    assert.ok(asked.some((u) => /limit=50&q=ANTICOAG$/.test(u)), asked.join(' '));
    await page.fill('#profile-search', '');
    await waitFor(async () => (await ids()).includes('refused_dvt'), 5000, 'every client again');
    page.off('request', seen);
    assert.equal(await page.locator('#profile-more').isHidden(), true);   // one page holds them all
  });

  test('starts a program and the body map follows the pressure', async () => {
    await page.selectOption('#profile', 'standard');
    await page.selectOption('#program', 'browser_test');
    await page.click('#start');
    await page.locator('#state', { hasText: 'running' }).waitFor();
    assert.match(await page.locator('#s-program').textContent(), /Browser test/);
    // Pressure rises on the program's zones: their fill leaves the idle
    // colour and the simulator really has pressure there.
    await waitFor(async () => {
      const p = Number(await page.locator('#map rect[data-zone="gluteus_maximus_left"]').getAttribute('data-pressure'));
      return p > 4 && (await zoneFill('gluteus_maximus_left')) !== IDLE_FILL;
    }, 20000, 'gluteus_maximus_left to fill');
    const simState = await sim.get(0);
    assert.ok(Math.max(...simState.pressures) > 3, 'the simulator has pressure');
    // A zone the program does not use stays vented.
    assert.equal(await zoneFill('calf_left'), IDLE_FILL);
    await page.click('#map rect[data-zone="gluteus_maximus_left"]');
    assert.match(await page.locator('#zone-detail').textContent(), /Gluteus maximus \(L\).*kPa/);
    await sleep(1500);
    await shot(page, 'running');
  });

  test('the red STOP vents every zone with one touch and shows the fault', async () => {
    const box = await page.locator('#estop').boundingBox();
    assert.ok(box && box.width >= 120 && box.height >= 48, 'a big STOP');
    await page.locator('#estop').tap().catch(() => page.click('#estop'));
    await page.locator('#state', { hasText: 'fault' }).waitFor({ timeout: 3000 });
    await waitFor(async () => {
      const all = [await sim.get(0), await sim.get(1)];
      return all.every((c) => c.control === 0 && c.pressures.every((p) => p < 0.5));
    }, 3000, 'every zone of the simulator below 0.5 kPa');
    const banner = page.locator('#banner');
    await banner.waitFor({ state: 'visible' });
    assert.match(await banner.textContent(), /STOP was pressed by admin\./);
    assert.match(await banner.textContent(), /Check the client\. When it is safe, press Reset\./);
    await waitFor(async () => (await page.locator('#map rect[data-zone]').evaluateAll(
      (rects) => rects.every((r) => r.getAttribute('fill') === 'rgb(238,242,246)'))), 3000, 'the map to show every zone vented');
    await shot(page, 'fault');
    await page.click('#reset');
    await page.locator('#state', { hasText: 'idle' }).waitFor();
    await page.locator('#banner-title', { hasText: 'Table ready' }).waitFor();
  });

  test('survives a daemon restart: UNKNOWN, then live again and says so', async () => {
    await daemon.stop();
    await page.locator('#unknown').waitFor({ state: 'visible', timeout: 6000 });
    assert.equal(await stateText(), 'UNKNOWN');
    await daemon.start();
    await page.locator('#conn-text', { hasText: 'Live' }).waitFor({ timeout: 15000 });
    await page.locator('#unknown').waitFor({ state: 'hidden' });
    assert.equal(await stateText(), 'idle');
    assert.match(await page.locator('#events').textContent(), /The daemon restarted/);
  });

  test('works on a phone: one column, STOP always on screen', async () => {
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
    });
    await phone.addInitScript((t) => localStorage.setItem('massaged.token', t), TOKEN);
    const p = await phone.newPage();
    await p.goto(daemon.url);
    await p.locator('#conn-text', { hasText: 'Live' }).waitFor();
    const box = await p.locator('#estop').boundingBox();
    assert.ok(box.y + box.height <= 844 && box.y >= 844 - 120, 'STOP fixed at the bottom');
    assert.ok(box.width > 300, 'STOP across the screen');
    await p.mouse.wheel(0, 600);
    await sleep(200);
    const box2 = await p.locator('#estop').boundingBox();
    assert.equal(Math.round(box2.y), Math.round(box.y), 'STOP stays put when scrolling');
    // No horizontal scrolling.
    const wide = await p.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 390, 'page is ' + wide + ' px wide');
    await p.mouse.wheel(0, -600);
    await p.selectOption('#profile', 'standard');
    await shot(p, 'phone');
    await phone.close();
  });
});
