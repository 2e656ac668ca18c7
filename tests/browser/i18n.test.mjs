// i18n.test.mjs: the panel's message catalogues. Every key of the English
// catalogue in every other one (and no key it does not know), every key
// the panel uses in English (panel/*.js), every placeholder kept. The keys
// of the stop causes come from the daemon: tests/integration/test_causes.py.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { REPO } from './harness.mjs';

const DIR = path.join(REPO, 'panel', 'i18n');
const load = (f) => JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8'));
const en = load('en.json');
const others = fs.readdirSync(DIR).filter((f) => f.endsWith('.json') && f !== 'en.json' && f !== 'index.json');
const holes = (s) => (s.match(/\{\w+\}/g) || []).sort().join(' ');

test('there is more than English', () => {
  assert.ok(others.includes('de.json'), 'de.json');
});

for (const f of others) {
  test(f + ' is complete: every English key, the same placeholders, nothing else', () => {
    const cat = load(f);
    assert.deepEqual(Object.keys(en).filter((k) => !(k in cat)), [], 'missing in ' + f);
    assert.deepEqual(Object.keys(cat).filter((k) => !(k in en)), [], 'unknown in ' + f);
    for (const k of Object.keys(en)) {
      assert.equal(typeof cat[k], 'string', k);
      assert.ok(cat[k].length > 0, f + ': ' + k + ' is empty');
      assert.equal(holes(cat[k]), holes(en[k]), f + ': placeholders of ' + k);
    }
    assert.notEqual(cat['language.name'], en['language.name']);
  });
}

test('every key the panel uses is in the English catalogue', () => {
  const html = fs.readFileSync(path.join(REPO, 'panel', 'index.html'), 'utf8');
  const js = fs.readdirSync(path.join(REPO, 'panel')).filter((f) => f.endsWith('.js'))
    .map((f) => fs.readFileSync(path.join(REPO, 'panel', f), 'utf8')).join('\n');
  const used = new Set();
  for (const m of html.matchAll(/data-i18n(?:-aria)?="([^"]+)"/g)) used.add(m[1]);
  for (const m of js.matchAll(/\bt\('([a-z_.]*[a-z_])'\s*[,)]/g)) used.add(m[1]);
  for (const m of js.matchAll(/plural\('([a-z_.]+)'/g)) { used.add(m[1] + '.one'); used.add(m[1] + '.other'); }
  assert.ok(used.size > 80, 'found ' + used.size + ' keys');
  assert.deepEqual([...used].filter((k) => !(k in en)), []);
});
