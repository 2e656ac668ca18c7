// store.test.mjs: the panel's notice while the spa's shared store is out
// of reach (docs/store.md). A table whose store is on a port nothing
// listens on (no PostgreSQL needed): the link fails, the status says
// reachable false with an error, and the panel says since when the client
// list is offline, in English and German, light and dark, without covering
// STOP or a control, with zero axe violations, and without rewriting
// itself (a live region heard again) at every status. A table without a
// store shows no notice.
//
// A client's profile changed while a session with it runs (PUT with
// If-Match, as another table of the spa would through the store): the
// running session's view says so under the client's name, in English and
// German, light and dark, without covering STOP or a control and without
// rewriting itself; no notice before the change nor once the session ends,
// and the next session starts from the new revision without one.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import { BUILD, CHROMIUM, TOKEN, axeViolations, launchBrowser, sleep, startTable, stopOnTop, stopTable, tempDir, waitFor } from './harness.mjs';

const have = fs.existsSync(path.join(BUILD, 'massaged')) && fs.existsSync(CHROMIUM);
const CLOSED_STORE = 'postgresql://table1@127.0.0.1:1/spa';   // port 1: refused
const EN_MSG = "Sessions run from this table's copy; changes to clients wait until it is back.";
const DE_MSG = 'Sitzungen laufen mit der Kopie dieses Tisches; Änderungen an Kunden warten, bis sie wieder da ist.';

/* Spaces as one plain space: ICU puts a narrow no-break one before AM. */
const plain = (s) => s.replace(/\s+/g, ' ').trim();

/* How the panel writes a time of day in lang (hour and minute). */
const hhmm = (lang, s) => plain(new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' }).format(new Date(1000 * s)));

async function panel(browser, url, opts = {}) {
  const ctx = await browser.newContext(Object.assign({ viewport: { width: 1280, height: 800 }, locale: 'en-GB', colorScheme: 'light', bypassCSP: true }, opts));
  await ctx.addInitScript((tk) => localStorage.setItem('massaged.token', tk), TOKEN);
  const p = await ctx.newPage();
  await p.goto(url);
  await p.locator('#conn-text', { hasText: 'Live' }).waitFor();
  return p;
}

/* The notice's two lines, as shown. */
async function notice(p) {
  await p.locator('#store-notice').waitFor({ state: 'visible' });
  return [plain(await p.locator('#store-notice-title').textContent()), plain(await p.locator('#store-notice-msg').textContent())];
}

/* The notice (id) overlaps no visible control (a button, a select, an
 * input). */
async function coversNothing(p, what, id = 'store-notice') {
  const hit = await p.evaluate((nid) => {
    const n = document.getElementById(nid).getBoundingClientRect();
    const out = [];
    for (const c of document.querySelectorAll('button, select, input, a[href]')) {
      const r = c.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      if (r.left < n.right && n.left < r.right && r.top < n.bottom && n.top < r.bottom) out.push(c.id || c.className);
    }
    return out;
  }, id);
  assert.deepEqual(hit, [], what + ': the notice covers a control');
}

/* Changes to the notice (id) while it shows the same thing, over ms. */
function mutations(p, ms, id = 'store-notice') {
  return p.evaluate(([wait, nid]) => new Promise((resolve) => {
    let n = 0;
    const mo = new MutationObserver((list) => { n += list.length; });
    mo.observe(document.getElementById(nid), { subtree: true, childList: true, characterData: true, attributes: true });
    setTimeout(() => { mo.disconnect(); resolve(n); }, wait);
  }), [ms, id]);
}

describe('the store out of reach, on the panel', { skip: !have && 'massaged or chromium not found' }, () => {
  let rig = null;
  let store = null;

  before(async () => {
    rig = { dir: tempDir('massaged-store-') };
    Object.assign(rig, await startTable(rig.dir, { daemon: { store: CLOSED_STORE } }));
    rig.browser = await launchBrowser(chromium);
    store = await waitFor(async () => {
      const s = (await rig.daemon.api('GET', 'api/v1/status')).doc.store;
      return s.configured && s.reachable === false && s.error && s.since > 0 ? s : null;
    }, 20000, 'the store unreachable, with an error');
  });

  after(async () => {
    const report = rig ? await stopTable(rig) : '';
    assert.equal(report, '', 'sanitizer findings in the daemon log');
  });

  test('the status says why; the notice says since when, in English, light and dark', async () => {
    assert.match(store.error, /127\.0\.0\.1|refused|connect/i);
    const p = await panel(rig.browser, rig.daemon.url);
    assert.deepEqual(await notice(p), ['Client list offline since ' + hhmm('en', store.since), EN_MSG]);
    assert.match((await notice(p))[0], /since \d\d:\d\d [AP]M$/);
    // above the client picker, in the new session's card
    const [n, pick] = await Promise.all(['#store-notice', '#profile'].map((s) => p.locator(s).boundingBox()));
    assert.ok(n.y + n.height <= pick.y, 'the notice above the client picker');
    assert.equal(await p.locator('#store-notice').getAttribute('role'), 'status');
    for (const [w, h] of [[1280, 800], [1024, 600], [390, 844]]) {
      await p.setViewportSize({ width: w, height: h });
      await stopOnTop(p, 'store notice at ' + w + 'x' + h);
      await coversNothing(p, 'store notice at ' + w + 'x' + h);
    }
    await p.setViewportSize({ width: 1280, height: 800 });
    assert.deepEqual(await axeViolations(p), [], 'light: axe violations');
    // ten statuses a second, the same words: nothing rewritten, nothing
    // for a screen reader to hear again
    assert.equal(await mutations(p, 2000), 0, 'the notice changed while saying the same');
    await p.context().close();

    const dark = await panel(rig.browser, rig.daemon.url, { colorScheme: 'dark' });
    assert.equal(await dark.evaluate(() => document.documentElement.dataset.theme), 'dark');
    await notice(dark);
    assert.deepEqual(await axeViolations(dark), [], 'dark: axe violations');
    await dark.context().close();
  });

  test('in German, from the browser and switched to in Settings', async () => {
    const p = await panel(rig.browser, rig.daemon.url, { locale: 'de-DE' });
    assert.deepEqual(await notice(p), ['Kundenliste offline seit ' + hhmm('de', store.since), DE_MSG]);
    assert.match((await notice(p))[0], /seit \d\d:\d\d$/);
    assert.deepEqual(await axeViolations(p), [], 'German: axe violations');
    await p.click('#settings-btn');
    await p.selectOption('#lang', 'en');
    await p.click('#settings-close');
    await waitFor(async () => (await notice(p))[1] === EN_MSG, 5000, 'the notice in English');
    assert.equal((await notice(p))[0], 'Client list offline since ' + hhmm('en', store.since));
    await p.context().close();
  });

  test('down since another day: the date too', async () => {
    const ctx = await rig.browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-GB' });
    await ctx.addInitScript((tk) => localStorage.setItem('massaged.token', tk), TOKEN);
    const p = await ctx.newPage();
    await p.clock.setFixedTime(new Date(1000 * store.since + 2 * 86400 * 1000));
    await p.goto(rig.daemon.url);
    const [title] = await notice(p);
    const d = new Date(1000 * store.since);
    const day = plain(new Intl.DateTimeFormat('en', { dateStyle: 'short' }).format(d));
    assert.ok(title.startsWith('Client list offline since ' + day), title);
    assert.ok(title.includes(plain(new Intl.DateTimeFormat('en', { timeStyle: 'short' }).format(d))), title);
    await ctx.close();
  });

  test('a table without a store shows no notice', async () => {
    const dir = tempDir('massaged-nostore-');
    const plainTable = await startTable(dir);
    try {
      const st = (await plainTable.daemon.api('GET', 'api/v1/status')).doc;
      assert.deepEqual(st.store, { configured: false });
      const p = await panel(rig.browser, plainTable.daemon.url);
      await p.locator('#profile option').first().waitFor({ state: 'attached' });
      await sleep(1500);   // three turns of the notice's render
      assert.equal(await p.locator('#store-notice').isHidden(), true);
      assert.equal(await p.locator('#store-notice-title').textContent(), '');
      await p.context().close();
    } finally {
      assert.equal(await stopTable(Object.assign({ dir }, plainTable)), '', 'sanitizer findings (no store)');
    }
  });
});

/* A new client through the intake: healthy, medium pressure. */
const CLIENT = { name: 'Browser Newer', conditions: [], pressure: 'medium', ramp: 'normal', zones: { cap: [], avoid: [] }, note: '' };
const NEWER_EN = (rev) => "This client's profile was changed (revision " + rev + '); this session keeps the limits it started with. The next session uses the new one.';
const NEWER_DE = (rev) => 'Das Profil dieses Kunden wurde geändert (Revision ' + rev + '); diese Sitzung behält die Grenzen, mit denen sie begonnen hat. Die nächste Sitzung verwendet das neue.';

/* The newer-profile notice's words once shown. */
async function newerText(p) {
  await p.locator('#newer-notice').waitFor({ state: 'visible' });
  return plain(await p.locator('#newer-notice').textContent());
}

/* The notice hidden by store.js itself, not only with the session's view. */
const newerHidden = (p) => p.evaluate(() => document.getElementById('newer-notice').hidden);

const idle = (d) => waitFor(async () => (await d.api('GET', 'api/v1/status')).doc.state === 'idle', 20000, 'idle');

describe("a running client's profile changed, on the panel", { skip: !have && 'massaged or chromium not found' }, () => {
  let rig = null;
  let id = null;

  before(async () => {
    rig = { dir: tempDir('massaged-newer-') };
    Object.assign(rig, await startTable(rig.dir));
    rig.browser = await launchBrowser(chromium);
    const r = await rig.daemon.api('POST', 'api/v1/profiles', CLIENT);
    assert.equal(r.status, 201, JSON.stringify(r.doc));
    assert.equal(r.doc.revision, 1);
    id = r.doc.id;
  });

  after(async () => {
    const report = rig ? await stopTable(rig) : '';
    assert.equal(report, '', 'sanitizer findings in the daemon log');
  });

  test('the notice comes with the new revision and goes with the session', async () => {
    const d = rig.daemon;
    const p = await panel(rig.browser, d.url);
    let r = await d.api('POST', 'api/v1/session', { program: 'browser_test', profile: id });
    assert.equal(r.status, 201, JSON.stringify(r.doc));
    assert.equal(r.doc.profile_revision, 1);
    assert.equal(r.doc.profile_newer_revision, null);
    const limits = r.doc.zones.map((z) => z.limit_kpa);
    await p.locator('#s-profile', { hasText: CLIENT.name }).waitFor();
    await sleep(1500);   // three turns of the notice's render
    assert.equal(await newerHidden(p), true, 'a notice before any change');

    const res = await fetch(d.url + 'api/v1/profiles/' + id, {
      method: 'PUT', body: JSON.stringify(Object.assign({}, CLIENT, { pressure: 'light' })),
      headers: { Authorization: 'Bearer ' + TOKEN, 'Content-Type': 'application/json', 'If-Match': '"1"' },
    });
    assert.equal(res.status, 200, await res.text());
    const st = await waitFor(async () => {
      const s = (await d.api('GET', 'api/v1/status')).doc;
      return s.profile_newer_revision === 2 ? s : null;
    }, 10000, 'the newer revision in the status');
    assert.equal(st.state, 'running');
    assert.equal(st.profile_revision, 1);
    assert.deepEqual(st.zones.map((z) => z.limit_kpa), limits, 'the running session kept its limits');

    assert.equal(await newerText(p), NEWER_EN(2));
    assert.equal(await p.locator('#newer-notice').getAttribute('role'), 'status');
    // right under the client's name, in the running session's view
    const [n, who] = await Promise.all(['#newer-notice', '#s-profile'].map((s) => p.locator(s).boundingBox()));
    assert.ok(n.y >= who.y + who.height && n.y - (who.y + who.height) < 24, 'the notice right under the client');
    for (const [w, h] of [[1280, 800], [1024, 600], [390, 844]]) {
      await p.setViewportSize({ width: w, height: h });
      await p.locator('#newer-notice').scrollIntoViewIfNeeded();
      await stopOnTop(p, 'newer notice at ' + w + 'x' + h);
      await coversNothing(p, 'newer notice at ' + w + 'x' + h, 'newer-notice');
    }
    await p.setViewportSize({ width: 1280, height: 800 });
    assert.deepEqual(await axeViolations(p), [], 'light: axe violations');
    // ten statuses a second, the same words: nothing heard again
    assert.equal(await mutations(p, 2000, 'newer-notice'), 0, 'the notice changed while saying the same');

    const dark = await panel(rig.browser, d.url, { colorScheme: 'dark' });
    assert.equal(await dark.evaluate(() => document.documentElement.dataset.theme), 'dark');
    assert.equal(await newerText(dark), NEWER_EN(2));
    assert.deepEqual(await axeViolations(dark), [], 'dark: axe violations');
    await dark.context().close();

    // German, switched to in Settings
    await p.click('#settings-btn');
    await p.selectOption('#lang', 'de');
    await p.click('#settings-close');
    await waitFor(async () => (await newerText(p)) === NEWER_DE(2), 5000, 'the notice in German');
    await stopOnTop(p, 'newer notice in German');
    await coversNothing(p, 'newer notice in German', 'newer-notice');
    assert.deepEqual(await axeViolations(p), [], 'German: axe violations');

    r = await d.api('POST', 'api/v1/session/stop');
    assert.equal(r.status, 200, JSON.stringify(r.doc));
    await idle(d);
    await waitFor(() => newerHidden(p), 5000, 'the notice gone with the session');

    // the next session starts from the new revision: no notice
    r = await d.api('POST', 'api/v1/session', { program: 'browser_test', profile: id });
    assert.equal(r.status, 201, JSON.stringify(r.doc));
    assert.equal(r.doc.profile_revision, 2);
    assert.equal(r.doc.profile_newer_revision, null);
    await p.locator('#session').waitFor({ state: 'visible' });
    await sleep(1500);
    assert.equal(await newerHidden(p), true, 'a notice in a session of the newest revision');
    await d.api('POST', 'api/v1/session/stop');
    await idle(d);
    await p.context().close();
  });
});
