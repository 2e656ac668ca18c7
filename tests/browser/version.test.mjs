// version.test.mjs: the daemon's version at the foot of Settings, the
// version of the top entry of debian/changelog (the package's, massaged -V,
// /metrics and the status: tests/integration/test_version.py), in English
// and German; axe-core with Settings open finds nothing.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import { BUILD, CHROMIUM, REPO, TOKEN, axeViolations, launchBrowser, startTable, stopTable, tempDir } from './harness.mjs';

const have = fs.existsSync(path.join(BUILD, 'massaged')) && fs.existsSync(CHROMIUM);

/* "massaged (0.1.0) unstable; urgency=medium": 0.1.0. */
function changelogVersion() {
  const first = fs.readFileSync(path.join(REPO, 'debian', 'changelog'), 'utf8').split('\n')[0];
  const m = first.match(/^\S+ \(([^)]+)\)/);
  assert.ok(m, 'debian/changelog: ' + first);
  return m[1];
}

describe('the version in Settings', { skip: !have && 'massaged or chromium not found' }, () => {
  const rig = {};

  before(async () => {
    rig.dir = tempDir('massaged-version-');
    Object.assign(rig, await startTable(rig.dir));
    rig.browser = await launchBrowser(chromium);
  });

  after(async () => {
    assert.equal(await stopTable(rig), '', 'sanitizer findings in the daemon log');
  });

  test('Settings shows the version of debian/changelog, as the status says it', async () => {
    const want = changelogVersion();
    const st = await rig.daemon.api('GET', 'api/v1/status');
    assert.equal(st.doc.version, want, 'the status');
    const ctx = await rig.browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-GB', colorScheme: 'light', bypassCSP: true });
    await ctx.addInitScript((tk) => localStorage.setItem('massaged.token', tk), TOKEN);
    const p = await ctx.newPage();
    await p.goto(rig.daemon.url);
    await p.locator('#conn-text', { hasText: 'Live' }).waitFor();
    const line = p.locator('#about-version');
    await p.click('#settings-btn');
    await p.locator('#settings').waitFor({ state: 'visible' });
    await line.waitFor({ state: 'visible' });
    assert.equal((await line.textContent()).trim(), 'massaged ' + want);
    assert.deepEqual(await axeViolations(p), [], 'axe, Settings open');
    // German: the same line, the catalogue's.
    await p.selectOption('#lang', 'de');
    await p.locator('#settings-title', { hasText: 'Einstellungen' }).waitFor();
    assert.equal((await line.textContent()).trim(), 'massaged ' + want);
    await ctx.close();
  });
});
