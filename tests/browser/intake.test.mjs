// intake.test.mjs: the client intake in a real browser (panel/intake.js)
// against the real daemon and simulator: the answers' effects shown before
// saving (varicose veins hatch the hamstrings and calves, DVT refuses every
// program with its reason), saving, editing with a conflict, the history
// and erasure, and axe-core with zero violations on the intake.
//
// UPDATE_SCREENSHOTS=1 also saves docs/screenshots/intake*.png.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import { BUILD, CHROMIUM, REPO, TOKEN, axeViolations, launchBrowser, sleep, startTable, stopTable, tempDir, waitFor } from './harness.mjs';

const SHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? path.join(REPO, 'docs', 'screenshots') : null;
const have = fs.existsSync(path.join(BUILD, 'massaged')) && fs.existsSync(CHROMIUM);
const VIEWER = 'hall-viewer-token-0123456789';
const LEGS = ['hamstring_upper_left', 'hamstring_upper_right', 'hamstring_mid_left', 'hamstring_mid_right',
  'hamstring_lower_left', 'hamstring_lower_right', 'calf_left', 'calf_right'];

async function shot(page, name) {
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name + '.png') });
}

async function axe(page, what) {
  assert.deepEqual(await axeViolations(page), [], what + ': axe violations');
}

describe('client intake', { skip: !have && 'massaged or chromium not found' }, () => {
  let dir, sim, daemon, browser, page;

  async function panel(token, opts = {}) {
    const ctx = await browser.newContext(Object.assign({ viewport: { width: 1280, height: 800 }, locale: 'en-GB', colorScheme: 'light', bypassCSP: true }, opts));
    await ctx.addInitScript((tk) => localStorage.setItem('massaged.token', tk), token);
    const p = await ctx.newPage();
    await p.goto(daemon.url);
    await p.locator('#conn-text', { hasText: 'Live' }).waitFor();
    return p;
  }

  const q = (condition) => page.locator(`#intake fieldset.intake-q[data-condition="${condition}"] legend`).textContent();

  async function answer(condition, yes = true) {
    await page.check(`#intake input[name="c-${condition}"][value="${yes ? 'yes' : 'no'}"]`);
  }

  before(async () => {
    dir = tempDir('massaged-intake-');
    ({ sim, daemon } = await startTable(dir, { tokens: [TOKEN, 'hall ' + VIEWER + ' viewer'] }));
    browser = await launchBrowser(chromium);
    page = await panel(TOKEN);
  });

  after(async () => {
    assert.equal(await stopTable({ browser, daemon, sim, dir }), '', 'sanitizer findings in the daemon log');
  });

  test('varicose veins: the hamstrings and calves are hatched before saving', async () => {
    await page.click('#intake-new');
    await page.locator('#intake').waitFor({ state: 'visible' });
    // The questions are the clinic's rules, each with its reason.
    const q = page.locator('#intake fieldset.intake-q[data-condition="varicose_veins"]');
    assert.match(await q.textContent(), /Varicose veins: pressure on the swollen veins/);
    await page.fill('#intake-name', 'Vera Varicosa');
    await answer('varicose_veins');
    await waitFor(() => page.locator('#intake-map rect[data-zone="calf_left"].excluded').count(), 10000, 'the calves hatched');
    for (const z of LEGS) {
      const r = page.locator(`#intake-map rect[data-zone="${z}"]`);
      assert.match(await r.getAttribute('class'), /\bexcluded\b/, z);
      assert.equal(await r.getAttribute('fill'), 'url(#intake-hatch)', z);
      assert.match(await page.locator(`#intake-preview tr[data-zone="${z}"]`).textContent(), /excluded/, z);
    }
    // Other zones are not hatched; the glutes get the medium cap.
    assert.doesNotMatch(await page.locator('#intake-map rect[data-zone="gluteus_maximus_left"]').getAttribute('class'), /excluded/);
    assert.match(await page.locator('#intake-preview tr[data-zone="gluteus_maximus_left"]').textContent(), /25 kPa/);
    assert.match(await page.locator('#intake-excluded, #intake-preview .intake-excluded').first().textContent(), /calf/i);
    // A sensitive zone from the map: tap once capped, twice avoided.
    await page.click('#intake-zones button[data-zone="piriformis_left"]');
    await waitFor(async () => /12 kPa/.test(await page.locator('#intake-preview tr[data-zone="piriformis_left"]').textContent()), 10000, 'the cap');
    await page.click('#intake-zones button[data-zone="lumbar_left"]');
    await page.click('#intake-zones button[data-zone="lumbar_left"]');
    await waitFor(async () => (await page.locator('#intake-map rect[data-zone="lumbar_left"]').getAttribute('class')).includes('excluded'), 10000, 'lumbar avoided');
    await page.check('#intake input[name="pressure"][value="medium"]');
    await page.fill('#intake-note', 'Likes the room warm');
    await axe(page, 'intake form');
    await page.locator('#intake-map').scrollIntoViewIfNeeded();
    await page.locator('.intake-zonebox').evaluate((n) => n.scrollIntoView({ block: 'start' }));
    await shot(page, 'intake');
    // Nothing is saved until Save.
    let r = await daemon.api('GET', 'api/v1/profiles');
    assert.ok(!r.doc.profiles.some((p) => p.name === 'Vera Varicosa'));
    await page.click('#intake-save');
    await page.locator('#intake').waitFor({ state: 'hidden' });
    r = await daemon.api('GET', 'api/v1/profiles');
    const p = r.doc.profiles.find((x) => x.name === 'Vera Varicosa');
    assert.ok(p, 'saved');
    assert.equal(p.writable, true);
    await waitFor(async () => (await page.locator('#profile').inputValue()) === p.id, 10000, 'the new client selected');
    // The main map shows the saved limits at once: the legs hatched.
    await waitFor(() => page.locator('#map rect[data-zone="calf_right"].excluded').count(), 10000, 'the main map');
    const g = await daemon.api('GET', 'api/v1/profiles/' + p.id);
    assert.equal(g.doc.note, 'Likes the room warm');
    assert.deepEqual(g.doc.zone_caps, [{ zones: 'lumbar_left', cap_kpa: 0 }, { zones: 'piriformis_left', cap_kpa: 12 }]);
  });

  test('DVT: every program refused, each with the reason', async () => {
    await page.click('#intake-new');
    await page.locator('#intake').waitFor({ state: 'visible' });
    await page.fill('#intake-name', 'Dora Thrombosis');
    await answer('dvt');
    const programs = (await daemon.api('GET', 'api/v1/programs')).doc.programs;
    assert.ok(programs.length >= 4);
    await waitFor(async () => (await page.locator('#intake-refusals li').count()) === programs.length, 10000, 'every program refused');
    const items = await page.locator('#intake-refusals li').allTextContents();
    for (const pr of programs) {
      const li = items.find((x) => x.startsWith(pr.id + ':'));
      assert.ok(li, pr.id);
      assert.match(li, /contraindicated: dvt: Deep vein thrombosis/);
    }
    await axe(page, 'intake with refusals');
    assert.match(await q('dvt'), /Deep vein thrombosis \(a blood clot in a deep vein\)\?/);
    await page.locator('.intake-preview-head').evaluate((n) => n.scrollIntoView({ block: 'start' }));
    await shot(page, 'intake-dvt');
    await page.click('#intake-cancel');
    await page.locator('#intake').waitFor({ state: 'hidden' });
    const r = await daemon.api('GET', 'api/v1/profiles');
    assert.ok(!r.doc.profiles.some((p) => p.name === 'Dora Thrombosis'), 'cancel saves nothing');
  });

  test('edit: a second panel\'s save in between is a conflict, not lost', async () => {
    const id = await page.locator('#profile').inputValue();
    await page.click('#intake-edit');
    await page.locator('#intake').waitFor({ state: 'visible' });
    assert.equal(await page.inputValue('#intake-name'), 'Vera Varicosa');
    assert.equal(await page.isChecked('#intake input[name="c-varicose_veins"][value="yes"]'), true);
    assert.equal(await page.inputValue('#intake-note'), 'Likes the room warm');
    // Another panel saves first.
    const other = await daemon.api('GET', 'api/v1/profiles/' + id);
    const res = await fetch(daemon.url + 'api/v1/profiles/' + id, {
      method: 'PUT',
      headers: { Authorization: 'Bearer ' + TOKEN, 'Content-Type': 'application/json', 'If-Match': '"' + other.doc.revision + '"' },
      body: JSON.stringify({ name: 'Vera Varicosa', conditions: ['varicose_veins'], pressure: 'light', ramp: 'gentle' }),
    });
    assert.equal(res.status, 200);
    await page.check('#intake input[name="pressure"][value="firm"]');
    await page.click('#intake-save');
    await page.locator('#intake-error', { hasText: 'revision 2' }).waitFor();
    assert.equal((await daemon.api('GET', 'api/v1/profiles/' + id)).doc.pressure, 'light');
    await page.click('#intake-cancel');
    // Opened again, the edit goes through as revision 3.
    await page.click('#intake-edit');
    await page.locator('#intake').waitFor({ state: 'visible' });
    await page.check('#intake input[name="pressure"][value="firm"]');
    await page.click('#intake-save');
    await page.locator('#intake').waitFor({ state: 'hidden' });
    const g = (await daemon.api('GET', 'api/v1/profiles/' + id)).doc;
    assert.equal(g.revision, 3);
    assert.equal(g.cap_kpa, 32);
  });

  test('history shows the client\'s sessions; erasure removes the client', async () => {
    const id = await page.locator('#profile').inputValue();
    let r = await daemon.api('POST', 'api/v1/session', { program: 'browser_test', profile: id });
    assert.equal(r.status, 201, JSON.stringify(r.doc));
    await sleep(1500);
    r = await daemon.api('POST', 'api/v1/session/stop');
    await waitFor(async () => (await daemon.api('GET', 'api/v1/status')).doc.state === 'idle', 60000, 'idle');
    await page.click('#intake-history');
    await page.locator('#intake').waitFor({ state: 'visible' });
    const items = page.locator('#intake-history-list li');
    assert.equal(await items.count(), 1);
    const txt = await items.first().textContent();
    assert.match(txt, /browser_test/);
    assert.match(txt, /ended: operator/);
    assert.match(txt, /kPa/);
    await axe(page, 'client history');
    await shot(page, 'intake-history');
    await page.click('#intake button:has-text("Close")');
    await page.click('#intake-edit');
    await page.locator('#intake').waitFor({ state: 'visible' });
    await page.click('#intake-erase');
    await page.click('#intake-erase-yes');
    await page.locator('#intake').waitFor({ state: 'hidden' });
    r = await daemon.api('GET', 'api/v1/profiles/' + id);
    assert.equal(r.status, 404);
    const recs = fs.readFileSync(path.join(dir, 'state', 'sessions.jsonl'), 'utf8');
    assert.ok(!recs.includes('Vera Varicosa') && !recs.includes('varicose_veins'));
  });

  test('dark and German: the intake speaks the panel\'s language, axe clean', async () => {
    const d = await panel(TOKEN, { colorScheme: 'dark', locale: 'de-DE' });
    await d.click('#intake-new');
    await d.locator('#intake').waitFor({ state: 'visible' });
    assert.equal(await d.locator('#intake-title').textContent(), 'Neuer Kunde: Gesundheitsfragen');
    await d.fill('#intake-name', 'Nora Neuropathie');
    await d.check('#intake input[name="c-varicose_veins"][value="yes"]');
    await waitFor(() => d.locator('#intake-map rect[data-zone="calf_left"].excluded').count(), 10000, 'the calves hatched');
    assert.match(await d.locator('#intake-zones button[data-zone="calf_left"]').textContent(), /ausgeschlossen/);
    assert.deepEqual(await axeViolations(d), [], 'dark German intake: axe violations');
    await d.context().close();
  });

  test('a viewer gets no intake buttons', async () => {
    const v = await panel(VIEWER);
    await sleep(700);
    assert.equal(await v.locator('#intake-actions').isHidden(), true);
    await v.context().close();
  });
});
