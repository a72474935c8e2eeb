// The pictures in docs/plots/ are what scripts/plots.mjs draws from the data
// committed beside them, and that data says what the docs' tables say.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { plots } from '../../scripts/plots.mjs';

const ROOT = path.resolve(import.meta.dirname, '../..');

test('docs/plots are drawn from the committed data (node scripts/plots.mjs)', () => {
  for (const [name, text] of Object.entries(plots())) {
    assert.equal(fs.readFileSync(path.join(ROOT, 'docs/plots', name), 'utf8'), text, `${name} is out of date: run node scripts/plots.mjs`);
  }
});

test('the sweep data are the docs tables\' figures', () => {
  const sweeps = JSON.parse(fs.readFileSync(path.join(ROOT, 'docs/data/sweeps.json')));
  for (const chart of Object.values(sweeps)) {
    const doc = fs.readFileSync(path.join(ROOT, chart.source), 'utf8').split('\n');
    for (const row of chart.rows) {
      const line = doc.find((l) => l.startsWith('|') && l.includes(row.label));
      assert.ok(line, `${chart.source} has a table row for "${row.label}"`);
      const cells = line.split('|').slice(2, 2 + 10).filter((c) => /of 10|not run/.test(c));
      row.values.forEach((v, k) => {
        assert.match(cells[k], v == null ? /not run/ : new RegExp(`\\b${v} of 10`), `${row.label}, ${chart.groups[k]}`);
      });
    }
  }
});
