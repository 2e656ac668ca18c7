// harness.mjs: the real simulator and the real daemon for the browser tests,
// each in its own temp directory on kernel-chosen ports, stopped by PID.
// The test table is the demo table (config/massaged.ini) pointed at the
// simulator; profiles and rules are the shipped ones.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BUILD = path.resolve(REPO, process.env.MASSAGED_BUILD || 'build');
export const TOKEN = 'browser-test-token-0123456789';

export const TEST_PROGRAMS = {
  browser_test: `[program]
name = Browser test: Swedish on the glutes
description = A short Swedish program for the panel tests.

[step knead]
routine = swedish
duration_s = 60
zones = gluteus_maximus_*, gluteus_medius_*, piriformis_*
stroke = kneading
pressure_kpa = 16
contact_kpa = 6
`,
  browser_short: `[program]
name = Browser test: a short one
description = Two seconds of Swedish, for the end of a program.

[step knead]
routine = swedish
duration_s = 2
zones = gluteus_maximus_*
pressure_kpa = 8
`,
  browser_deep: `[program]
name = Browser test: deep tissue
description = Deep tissue work: refused for clients on blood thinners.

[step deep]
routine = deep_tissue
duration_s = 60
zones = gluteus_maximus_*
pressure_kpa = 20
warmup_s = 10
`,
};

export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

export async function waitFor(pred, timeoutMs = 10000, what = 'condition', intervalMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await sleep(intervalMs);
  }
}

/* A minimal INI reader for the demo table: [section] and key = value. */
function readIni(file) {
  const sections = [];
  let cur = null;
  for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith(';') || line.startsWith('#')) continue;
    const m = line.match(/^\[(.+)\]$/);
    if (m) { cur = { name: m[1], kv: {} }; sections.push(cur); continue; }
    const i = line.indexOf('=');
    if (cur && i > 0) cur.kv[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return sections;
}

export function demoTable() {
  const secs = readIni(path.join(REPO, 'config', 'massaged.ini'));
  const ctls = secs.filter((s) => s.name.startsWith('controller '));
  const zones = secs.filter((s) => s.name.startsWith('zone '));
  return { ctls, zones };
}

function stopChild(child, timeoutMs = 10000) {
  return new Promise((resolve) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      resolve(child ? child.exitCode : null);
      return;
    }
    const t = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL'); } catch (e) { /* gone */ } }, timeoutMs);
    child.once('exit', (code) => { clearTimeout(t); resolve(code); });
    try { process.kill(child.pid, 'SIGTERM'); } catch (e) { clearTimeout(t); resolve(null); }
  });
}

export class Sim {
  constructor(dir) {
    this.dir = dir;
    this.ports = [];
    this.child = null;
  }

  async start() {
    const { ctls, zones } = demoTable();
    const argv = ['--control', '127.0.0.1:0'];
    for (const c of ctls) {
      const name = c.name.slice(11);
      const used = zones.filter((z) => z.kv.controller === name).map((z) => Number(z.kv.channel));
      argv.push('--channels', String(Math.max(...used) + 1), '--max-kpa', '40', '--tcp', '127.0.0.1:0');
    }
    const log = fs.openSync(path.join(this.dir, 'sim.log'), 'a');
    this.child = spawn(path.join(BUILD, 'massaged-sim'), argv, { stdio: ['ignore', 'pipe', log] });
    fs.closeSync(log);
    let buf = '';
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('simulator not ready')), 15000);
      this.child.once('exit', (code) => { clearTimeout(t); reject(new Error('simulator exited ' + code)); });
      this.child.stdout.on('data', (d) => {
        buf += d.toString();
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const words = buf.slice(0, i).trim().split(/\s+/);
          buf = buf.slice(i + 1);
          if (words[0] === 'controller' && words.length === 4) this.ports.push(Number(words[3].split(':').pop()));
          else if (words[0] === 'control' && words.length === 2) this.control = Number(words[1].split(':').pop());
          else if (words[0] === 'ready') { clearTimeout(t); resolve(); }
        }
      });
    });
    this.child.stdout.resume();
  }

  /* One control command; the answer line. */
  cmd(line) {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(this.control, '127.0.0.1');
      let buf = '';
      s.setTimeout(5000, () => { s.destroy(); reject(new Error('simulator control timeout')); });
      s.on('connect', () => s.write(line + '\n'));
      s.on('data', (d) => {
        buf += d.toString();
        const i = buf.indexOf('\n');
        if (i >= 0) { s.end(); resolve(buf.slice(0, i)); }
      });
      s.on('error', reject);
    });
  }

  async get(c) {
    const ans = await this.cmd('get ' + c);
    if (!ans.startsWith('ok ')) throw new Error('simulator: ' + ans);
    return JSON.parse(ans.slice(3));
  }

  stop() { return stopChild(this.child); }
}

export class Daemon {
  /* tokens: the lines of the token file (default: the bare TOKEN, the
   * admin); daemon: more [daemon] keys ({ store: 'postgresql://...' }). */
  constructor(dir, sim, { listen = '127.0.0.1:0', tokens = [TOKEN], daemon = {} } = {}) {
    this.dir = dir;
    this.sim = sim;
    this.listen = listen;
    this.tokens = tokens;
    this.daemonKeys = daemon;
    this.child = null;
    this.port = null;
    this.logPath = path.join(dir, 'massaged.log');
    this.writeConfig();
  }

  writeConfig() {
    const d = this.dir;
    const progDir = path.join(d, 'programs');
    fs.mkdirSync(progDir, { recursive: true });
    const shipped = path.join(REPO, 'config', 'programs');
    if (fs.existsSync(shipped)) {
      for (const f of fs.readdirSync(shipped)) if (f.endsWith('.ini')) fs.copyFileSync(path.join(shipped, f), path.join(progDir, f));
    }
    for (const [id, text] of Object.entries(TEST_PROGRAMS)) fs.writeFileSync(path.join(progDir, id + '.ini'), text);
    const tokenPath = path.join(d, 'tokens');
    fs.writeFileSync(tokenPath, this.tokens.join('\n') + '\n', { mode: 0o600 });
    fs.chmodSync(tokenPath, 0o600);
    fs.mkdirSync(path.join(d, 'state'), { recursive: true });
    const { ctls, zones } = demoTable();
    const out = ['[daemon]', 'tick_hz = 50', 'listen = ' + this.listen,
      'profile_dir = ' + path.join(REPO, 'config', 'profiles'),
      'program_dir = ' + progDir,
      'rules = ' + path.join(REPO, 'config', 'contraindications.ini'),
      'intake = ' + path.join(REPO, 'config', 'intake.ini'),
      'state_dir = ' + path.join(d, 'state'),
      'token_file = ' + tokenPath,
      'plugin_dir = ' + path.join(BUILD, 'plugins'),
      'panel_dir = ' + path.join(REPO, 'panel')];
    for (const [k, v] of Object.entries(this.daemonKeys)) out.push(k + ' = ' + v);
    ctls.forEach((c, i) => {
      out.push('', '[' + c.name + ']');
      // One missed response timeout stops a session: these tests are
      // about the panel, and Chromium shares two cores with the daemon
      // and the simulator, so the simulator gets three times the demo's
      // 50 ms (the most a 500 ms watchdog allows).
      for (const [k, v] of Object.entries(c.kv)) {
        if (k !== 'address') out.push(k + ' = ' + (k === 'response_timeout_ms' ? 150 : v));
      }
      out.push('address = 127.0.0.1:' + this.sim.ports[i]);
    });
    for (const z of zones) {
      out.push('', '[' + z.name + ']');
      for (const [k, v] of Object.entries(z.kv)) out.push(k + ' = ' + v);
    }
    this.configPath = path.join(d, 'massaged.ini');
    fs.writeFileSync(this.configPath, out.join('\n') + '\n');
  }

  log() { try { return fs.readFileSync(this.logPath, 'utf8'); } catch (e) { return ''; } }

  async start() {
    const before = this.log().length;
    const log = fs.openSync(this.logPath, 'a');
    this.child = spawn(path.join(BUILD, 'massaged'), ['-f', this.configPath, '-v'], { stdio: ['ignore', log, log], cwd: this.dir });
    fs.closeSync(log);
    const child = this.child;
    const m = await waitFor(() => {
      if (child.exitCode !== null) throw new Error('massaged exited ' + child.exitCode + ':\n' + this.log().slice(before));
      return this.log().slice(before).match(/api: listening on http:\/\/127\.0\.0\.1:(\d+)\//);
    }, 30000, 'the daemon to listen');
    this.port = Number(m[1]);
    this.url = 'http://127.0.0.1:' + this.port + '/';
    // From now on the same port, for restarts.
    this.listen = '127.0.0.1:' + this.port;
    this.writeConfig();
    return this;
  }

  async api(method, p, body, token = TOKEN) {
    const res = await fetch(this.url + p.replace(/^\//, ''), {
      method,
      headers: Object.assign({ Authorization: 'Bearer ' + token }, body ? { 'Content-Type': 'application/json' } : {}),
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, doc: await res.json().catch(() => null) };
  }

  async waitReady() {
    return waitFor(async () => {
      const r = await this.api('GET', 'api/v1/status').catch(() => null);
      return r && r.status === 200 && r.doc.controllers.every((c) => c.connected && !c.status.fault) ? r.doc : null;
    }, 20000, 'every controller connected');
  }

  stop() { return stopChild(this.child); }

  /* Freezes (SIGSTOP) or thaws (SIGCONT) the daemon: it answers nothing. */
  freeze() { process.kill(this.child.pid, 'SIGSTOP'); }
  thaw() { process.kill(this.child.pid, 'SIGCONT'); }

  /* Kills the daemon outright (SIGKILL): no vent, no goodbye. */
  kill() {
    const child = this.child;
    return new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) { resolve(); return; }
      child.once('exit', () => resolve());
      process.kill(child.pid, 'SIGKILL');
    });
  }

  sanitizerReport() {
    const log = this.log();
    for (const marker of ['ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:']) {
      const i = log.indexOf(marker);
      if (i >= 0) return log.slice(Math.max(0, i - 200), i + 3000);
    }
    return '';
  }
}

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/* The simulator, then the daemon on it (opts: Daemon's), ready. */
export async function startTable(dir, opts) {
  const sim = new Sim(dir);
  await sim.start();
  const daemon = new Daemon(dir, sim, opts);
  await daemon.start();
  await daemon.waitReady();
  return { sim, daemon };
}

/* Debian's Chromium, headless; launch() gives every run a fresh
 * temporary --user-data-dir. */
export function launchBrowser(chromium, extraArgs = []) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', ...extraArgs],
  });
}

export function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/*
 * The simulator, the daemon (every controller connected) and a headless
 * Chromium, for a test file's before(); stopRig() in its after() stops
 * them by PID and returns the daemon's sanitizer findings ('' if none).
 */
export async function startRig(prefix) {
  const { chromium } = await import('playwright-core');
  const rig = { dir: tempDir(prefix) };
  Object.assign(rig, await startTable(rig.dir));
  rig.browser = await launchBrowser(chromium);
  return rig;
}

export function stopRig(rig) {
  return stopTable(rig);
}

/* STOP is the topmost element at its own centre, enabled, on screen. */
export async function stopOnTop(page, what) {
  const r = await page.evaluate(() => {
    const b = document.getElementById('estop');
    const rc = b.getBoundingClientRect();
    const x = rc.left + rc.width / 2, y = rc.top + rc.height / 2;
    const top = document.elementFromPoint(x, y);
    return {
      ok: !!top && b.contains(top), disabled: b.disabled, top: top ? top.id || top.className : null,
      inView: rc.top >= 0 && rc.bottom <= window.innerHeight && rc.left >= 0 && rc.right <= window.innerWidth,
    };
  });
  assert.ok(r.ok, what + ': STOP is covered by ' + r.top);
  assert.equal(r.disabled, false, what + ': STOP disabled');
  assert.ok(r.inView, what + ': STOP off screen');
}

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/* axe-core (WCAG 2.1 A and AA and best practices): the violations, as
 * lines (none is an empty list). */
export async function axeViolations(page) {
  if (!(await page.evaluate(() => !!window.axe))) await page.addScriptTag({ path: AXE });
  const res = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
  }));
  return res.violations.map((x) => x.id + ': ' + x.nodes.slice(0, 3).map((n) => n.target.join(' ') + ' ' + (n.failureSummary || '').split('\n').slice(0, 2).join(' ')).join(' | '));
}

/* Closes the browser, stops the daemon and the simulator, removes dir;
 * returns the daemon's sanitizer findings ('' for none). */
export async function stopTable({ browser, daemon, sim, dir }) {
  if (browser) await browser.close();
  const report = daemon ? daemon.sanitizerReport() : '';
  if (daemon) await daemon.stop();
  if (sim) await sim.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  return report;
}
