// Other tools' files in the page: a PyTorch state dict dropped anywhere on
// it becomes the next run's target (the model switched to the file's, and
// what was inferred said before the run); the run's "Export safetensors"
// holds that target bit for bit and its components, with the YAML beside;
// a half-precision safetensors file imports from the file picker; a pickled
// model is refused, naming the class it would have run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { SHOTS, start, openPage } from './helpers.mjs';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/interop');
let env;
before(async () => { env = await start(); });
after(async () => { await env?.close(); });

/** The tensors of a safetensors file: name -> {dtype, shape, data}. */
function readSafetensors(buf) {
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const data = buf.subarray(8 + n);
  return Object.fromEntries(Object.entries(header).filter(([k]) => k !== '__metadata__')
    .map(([k, v]) => [k, { ...v, data: data.subarray(v.data_offsets[0], v.data_offsets[1]) }]));
}

test('a PyTorch state dict dropped on the page is decomposed and exported as safetensors; a pickled model is refused', { timeout: 180_000 }, async () => {
  const { page, problems, foreign } = await openPage(env, '#model=tms-40-10');
  const pth = fs.readFileSync(path.join(FIXTURES, 'tms-5-2.pth'));
  // A drop of a file, as the browser delivers one dragged from the desktop.
  await page.evaluate(async (b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], 'tms-5-2.pth'));
    document.body.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, pth.toString('base64'));
  const note = page.locator('#import-status');
  await note.filter({ hasText: /next run decomposes it/ }).waitFor({ timeout: 20_000 });
  assert.match(await note.textContent(), /From a PyTorch state dict: a toy model of superposition with 5 features, hidden size 2, 0 hidden layers; feature norms 1\.13, 1\.14, 1\.13, 1\.12, 1\.14\. Decomposed as tms-5-2/);
  assert.equal(await page.locator('#model').inputValue(), 'tms-5-2');
  await page.screenshot({ path: path.join(SHOTS, 'import-pth.png') });

  // A short run on it, then its safetensors.
  const steps = page.locator('[data-setting="apd.steps"]');
  await steps.fill('40');
  await steps.dispatchEvent('change');
  await page.getByTestId('run').click();
  await page.getByTestId('status').filter({ hasText: /^(done|error.*)$/ }).waitFor({ timeout: 120_000 });
  const downloads = [];
  page.on('download', (d) => downloads.push(d));
  await page.locator('#export-safetensors').click();
  for (let i = 0; i < 50 && downloads.length < 2; i++) await page.waitForTimeout(100);
  const names = downloads.map((d) => d.suggestedFilename()).sort();
  assert.deepEqual(names, ['tms-5-2-seed0.safetensors', 'tms-5-2-seed0.yaml']);
  const saved = path.join(SHOTS, 'export.safetensors');
  await downloads.find((d) => d.suggestedFilename().endsWith('.safetensors')).saveAs(saved);
  const got = readSafetensors(fs.readFileSync(saved));
  assert.deepEqual(got['_components.linear1.V'].shape.length, 2);
  // The target as it came in: linear1.weight's bytes are those the Python safetensors package wrote.
  const orig = readSafetensors(fs.readFileSync(path.join(FIXTURES, 'tms-5-2.f32.safetensors')));
  assert.ok(got['linear1.weight'].data.equals(orig['linear1.weight'].data), 'the exported target is the imported one, bit for bit');
  const yaml = fs.readFileSync(await downloads.find((d) => d.suggestedFilename().endsWith('.yaml')).path(), 'utf8');
  assert.match(yaml, /module_pattern: linear1\n/);
  assert.match(yaml, /path: tms-5-2-seed0\.safetensors/);

  // From the file picker: a half-precision safetensors file, then a whole pickled model.
  await page.locator('#import').setInputFiles(path.join(FIXTURES, 'tms-5-2.f16.safetensors'));
  await note.filter({ hasText: /From a safetensors file/ }).waitFor({ timeout: 20_000 });
  await page.locator('#import').setInputFiles(path.join(FIXTURES, 'whole-model.pth'));
  await note.filter({ hasText: /import refused/ }).waitFor({ timeout: 20_000 });
  assert.match(await note.textContent(), /whole-model\.pth: .*the pickle names `reference_targets\.Tms`.*no code is run/);
  assert.deepEqual(problems, []);
  assert.deepEqual(foreign, []);
  await page.close();
});
