// guide.test.mjs: docs/guide/first-session.md, step by step, in a real
// browser against the real daemon and simulator: what the guide tells the
// operator to do works, and the panel shows what the guide says it shows.
//
//   cd tests/browser && npm ci && MASSAGED_BUILD=../../build node --test guide.test.mjs
//
// UPDATE_SCREENSHOTS=1 also saves the guide's screenshots to
// docs/guide/img/session-*.png (1024x600, the panel's size on a table's
// touch screen).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { BUILD, CHROMIUM, REPO, TOKEN, sleep, startRig, stopOnTop, stopRig, waitFor } from './harness.mjs';

const SHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? path.join(REPO, 'docs', 'guide', 'img') : null;
const have = fs.existsSync(path.join(BUILD, 'massaged')) && fs.existsSync(CHROMIUM);
const GUIDE = fs.readFileSync(path.join(REPO, 'docs', 'guide', 'first-session.md'), 'utf8');

async function shot(page, name) {
  // Every screenshot the test takes is one the guide shows.
  assert.ok(GUIDE.includes('img/' + name + '.png'), 'first-session.md shows ' + name);
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name + '.png') });
}

describe('guide: your first session', { skip: !have && 'massaged or chromium not found' }, () => {
  let rig, sim, daemon, page;

  before(async () => {
    rig = await startRig('massaged-guide-');
    ({ sim, daemon } = rig);
    const context = await rig.browser.newContext({ viewport: { width: 1024, height: 600 }, locale: 'en-GB' });
    page = await context.newPage();
  });

  after(async () => {
    assert.equal(await stopRig(rig || {}), '', 'sanitizer findings in the daemon log');
  });

  const state = () => page.locator('#state').textContent();
  const textOf = (sel) => page.locator(sel).textContent();
  const mainTop = () => page.evaluate(() => document.getElementById('main').getBoundingClientRect().top);
  const simPeak = async () => Math.max(...(await sim.get(0)).pressures, ...(await sim.get(1)).pressures);

  test('1. open the panel and give it the token', async () => {
    await page.goto(daemon.url);
    await page.locator('#login').waitFor({ state: 'visible' });
    await stopOnTop(page, 'login');
    await page.fill('#token', TOKEN);
    await shot(page, 'session-login');
    await page.click('#login-btn');
    await page.locator('#conn-text', { hasText: 'Live' }).waitFor();
    assert.equal(await state(), 'idle');
    await page.locator('#banner-title', { hasText: 'Table ready' }).waitFor();
    assert.match(await textOf('#banner-msg'), /Every controller answers\./);
    await stopOnTop(page, 'idle');
    // The token carries a name: Settings says which (the demo's is admin).
    await page.click('#settings-btn');
    assert.match(await textOf('#who'), /This panel: admin \(admin\)/);
    await page.click('#settings-close');
    // Kept on this screen: a reload goes straight to the table.
    await page.reload();
    await page.locator('#conn-text', { hasText: 'Live' }).waitFor();
    assert.equal(await page.locator('#login').isHidden(), true);
  });

  test('2. choose the client profile and the program; a refusal says why', async () => {
    await page.selectOption('#profile', 'refused_dvt');
    await page.selectOption('#program', 'relaxation');
    await page.locator('#refusal').waitFor({ state: 'visible' });
    assert.match(await textOf('#refusal'), /Refused for this client/);
    assert.match(await textOf('#refusal-text'), /Deep vein thrombosis.*No massage until a doctor confirms/);
    assert.match(await page.locator('#program option[value="relaxation"]').textContent(), /General relaxation — refused/);
    assert.match(await textOf('#conditions'), /dvt/);
    assert.equal(await page.locator('#start').isDisabled(), true);
    await page.locator('#refusal').scrollIntoViewIfNeeded();
    await shot(page, 'session-refused');
    await page.selectOption('#profile', 'standard');
    await page.locator('#refusal').waitFor({ state: 'hidden' });
    assert.match(await textOf('#conditions'), /No conditions/);
    assert.match(await textOf('#program-info'), /27:00 · 5 steps/);
    assert.match(await textOf('#program-info'), /Gentle Swedish massage of the lower back/);
    assert.match(await textOf('#program-info'), /warmup · Swedish massage/);
    assert.equal(await page.locator('#start').isDisabled(), false);
    // The body map previews the profile: a client with varicose veins has
    // the legs hatched, never pressed.
    const calf = page.locator('#map rect[data-zone="calf_left"]');
    await page.selectOption('#profile', 'varicose');
    await waitFor(async () => /excluded/.test(await calf.getAttribute('class')), 3000, 'calf hatched');
    await page.selectOption('#profile', 'standard');
    await waitFor(async () => !/excluded/.test(await calf.getAttribute('class')), 3000, 'calf not hatched');
    assert.equal(await textOf('#intake-new'), 'New client…');
    await page.locator('#start').scrollIntoViewIfNeeded();
    await shot(page, 'session-choose');
  });

  test('3. start, then adjust the intensity', async () => {
    await page.click('#start');
    await page.locator('#state', { hasText: 'running' }).waitFor();
    assert.equal(await textOf('#s-program'), 'General relaxation');
    assert.match(await textOf('#s-profile'), /for Example: healthy adult/);
    assert.match(await textOf('#s-by'), /Started by admin/);
    assert.match(await textOf('#s-step'), /Step 1 of 5: warmup/);
    assert.match(await textOf('#s-step-left'), /left in this step/);
    assert.match(await textOf('#s-remaining'), /^2[67]:\d\d$/);
    assert.match(await textOf('#s-finish'), /\d:\d\d/);
    assert.equal(await textOf('#s-intensity'), '75 %', 'the standard profile starts at 75 %');
    // In steps of ten: + from 75 % gives 80 %, - gives 70 %.
    const intensity = async (button, want) => {
      await page.click(button);
      await page.locator('#s-intensity', { hasText: want }).waitFor({ timeout: 5000 });
    };
    await intensity('#int-up', '80 %');
    await intensity('#int-down', '70 %');
    await intensity('#int-up', '80 %');
    // Pressure really rises on the table, and the map follows it.
    await waitFor(async () => (await simPeak()) > 2, 20000, 'pressure on the table');
    await waitFor(async () => Number(await page.locator('#map rect[data-zone="gluteus_maximus_left"]').getAttribute('data-pressure')) > 1,
      20000, 'the map to show the pressure');
    // Touch a zone: its pressure and its limit.
    await page.click('#map rect[data-zone="gluteus_maximus_left"]');
    assert.match(await textOf('#zone-detail'), /Gluteus maximus \(L\) · [\d.]+ kPa \(set [\d.]+\) of 30.0 kPa · limit: profile cap/);
    assert.match(await textOf('#zones'), /Gluteus maximus \(L\)\s*[\d.]+ \/ 30 kPa/);
    await sleep(1000);
    await page.locator('#session-card').evaluate((n) => n.scrollTo(0, 0));
    await stopOnTop(page, 'running');
    await shot(page, 'session-running');
  });

  test('4. pause and resume', async () => {
    await page.click('#pause');
    await page.locator('#state', { hasText: 'paused' }).waitFor();
    assert.equal(await textOf('#pause'), 'Resume');
    // A light hold: no zone above the table's pause pressure (2 kPa).
    await waitFor(async () => (await simPeak()) <= 2.3, 10000, 'every zone at a light hold');
    await page.click('#pause');
    await page.locator('#state', { hasText: 'running' }).waitFor();
    assert.equal(await textOf('#pause'), 'Pause');
  });

  test('5. end the session: the pressure ramps down, then idle', async () => {
    const top = await mainTop();
    await page.click('#end');
    // STOPPING under a blue banner (both read at once: it lasts a second).
    await waitFor(() => page.evaluate(() => document.getElementById('state').textContent === 'stopping' &&
      document.getElementById('banner-title').textContent === 'Ending the session' &&
      document.getElementById('banner').classList.contains('banner-info')), 5000, 'STOPPING, Ending the session', 10);
    await page.locator('#state', { hasText: 'idle' }).waitFor({ timeout: 30000 });
    assert.equal(await textOf('#last-stop'), 'Last stop: ended by the operator by admin');
    await page.locator('#banner-title', { hasText: 'Table ready' }).waitFor();
    assert.equal(await mainTop(), top, 'nothing moved');
    await waitFor(async () => (await simPeak()) < 0.5, 10000, 'every zone vented');
  });

  test('6. STOP vents at once; Reset when the client is safe', async () => {
    const top = await mainTop();
    // The panel kept the profile and the program.
    assert.equal(await page.locator('#profile').inputValue(), 'standard');
    assert.equal(await page.locator('#program').inputValue(), 'relaxation');
    await page.click('#start');
    await page.locator('#state', { hasText: 'running' }).waitFor();
    await waitFor(async () => (await simPeak()) > 2, 20000, 'pressure on the table');
    await page.click('#estop');
    await page.locator('#state', { hasText: 'fault' }).waitFor({ timeout: 3000 });
    await waitFor(async () => {
      const all = [await sim.get(0), await sim.get(1)];
      return all.every((c) => c.control === 0 && c.pressures.every((p) => p < 0.5));
    }, 3000, 'every zone vented');
    assert.equal(await textOf('#banner-title'), 'FAULT: every zone vented');
    assert.equal(await textOf('#banner-msg'), 'STOP was pressed by admin.');
    assert.equal(await textOf('#banner-help'), 'Check the client. When it is safe, press Reset.');
    await page.locator('#reset').waitFor({ state: 'visible' });
    assert.equal(await textOf('#start'), 'Reset the fault first');
    assert.equal(await page.locator('#start').isDisabled(), true);
    assert.equal(await mainTop(), top, 'the banner holds its place: nothing moved');
    await page.locator('#events', { hasText: 'FAULT: STOP was pressed by admin.' }).waitFor();
    await stopOnTop(page, 'fault');
    await page.locator('#toast').waitFor({ state: 'hidden', timeout: 6000 });
    await shot(page, 'session-stopped');
    await page.click('#reset');
    await page.locator('#state', { hasText: 'idle' }).waitFor();
    await page.locator('#banner-title', { hasText: 'Table ready' }).waitFor();
    assert.equal(await page.locator('#reset').isHidden(), true);
    assert.equal(await textOf('#last-stop'), 'Last stop: STOP by admin');
    assert.equal(await page.locator('#start').isDisabled(), false);
  });

  test('7. the session records: History, and the client\'s history', async () => {
    await page.click('#tab-btn-sessions');
    const rows = page.locator('#sessions li');
    await waitFor(async () => (await rows.count()) === 2, 5000, 'two sessions in History');
    assert.match(await rows.nth(0).textContent(), /relaxation.*standard · started by admin · STOP by admin/);
    assert.match(await rows.nth(1).textContent(), /relaxation.*standard · started by admin · ended by the operator by admin/);
    await shot(page, 'session-history');
    await page.click('#tab-btn-zones');
    await page.click('#intake-history');
    const list = page.locator('#intake-history-list li');
    await waitFor(async () => (await list.count()) === 2, 5000, 'two sessions in the client\'s history');
    assert.match(await textOf('#intake-title'), /Past sessions: Example: healthy adult/);
    assert.match(await list.nth(1).textContent(), /intensity 80% → 70% → 80%/);
    await page.keyboard.press('Escape');
    await page.locator('#intake').waitFor({ state: 'hidden' });
  });
});
