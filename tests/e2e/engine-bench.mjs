// The page's CPU engine (www/pkg-cpu) run by node, not a browser: ms per
// step of one phase, for comparing builds of the engine one after the other
// (not a test). Without --target it times the target's training steps;
// with --target FILE (a target file from `apd train`), the decomposition's.
// Run after scripts/build-web.sh, pinned to a core:
//   taskset -c 0 node tests/e2e/engine-bench.mjs MODEL apd|spd|vpd [--target FILE] [--steps N]
//     [--paper] [--set key=value]... [--pkg DIR]
// (--paper and --set as the CLI's: the method as published, then each setting.)
import fs from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const option = (name, fallback) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : fallback; };
const [model, method] = args;
if (!model || !method) throw new Error('usage: engine-bench.mjs MODEL apd|spd|vpd [--target FILE] [--steps N] [--paper] [--set key=value]... [--pkg DIR]');
const pkg = path.resolve(option('--pkg', path.join(import.meta.dirname, '../../www/pkg-cpu')));
const steps = Number(option('--steps', '200'));
const targetFile = option('--target', null);

const apd = await import(path.join(pkg, 'apd_playground.js'));
apd.initSync({ module: fs.readFileSync(path.join(pkg, 'apd_playground_bg.wasm')) });
let config = apd.withMethod(apd.presetConfig(model), model, method);
if (args.includes('--paper')) config = apd.paperVariant(config);
args.forEach((a, i) => {
  if (a !== '--set') return;
  const [key, ...value] = args[i + 1].split('=');
  config = apd.setField(config, key, value.join('='));
});
const run = await apd.WebRun.create(model, config, 23, 'cpu', targetFile ? fs.readFileSync(targetFile, 'utf8') : undefined);
const phase = targetFile ? 'decompose' : 'target';
// A tenth of the steps (at least 10) to warm up, then the rest timed.
const warm = Math.max(10, Math.round(steps / 10));
for (let done = 0; done < warm; done += 10) await run.steps(10);
const t0 = performance.now();
let timed = 0;
while (timed < steps) {
  const batch = JSON.parse(await run.steps(10));
  if (batch.phase !== phase) throw new Error(`the ${phase} phase ended after ${timed} timed steps; ask for fewer`);
  timed += 10;
}
console.log(`${model} ${method}, ${phase} steps: ${((performance.now() - t0) / timed).toFixed(2)} ms per step (${timed} after ${warm} to warm up; ${path.relative(process.cwd(), pkg) || pkg})`);
run.free();
