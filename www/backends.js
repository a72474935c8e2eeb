// Which backend a run in the worker uses (worker.js asks): the CPU, WebGPU,
// or for "auto" the faster of the two on this model, measured in this
// browser. `engines` holds the wasm module for the CPU (`cpu`) and a
// function that loads the one with WebGPU (`gpu`: only called where the
// browser offers an adapter), `config` is the run's configuration (JSON).

// "auto" times this many warm steps at most, for at most PROBE_MS per
// backend, after the target step and PROBE_WARM steps of compiling and
// warming up (not timed).
const PROBE_WARM = 3, PROBE_MS = 400, PROBE_STEPS = 50;
// WebGPU must be through compiling, warming up and timing within the larger
// of PROBE_DEADLINE_MS and PROBE_DEADLINE_STEPS CPU steps, or it is the slower.
const PROBE_DEADLINE_MS = 1500, PROBE_DEADLINE_STEPS = 10;
const LATE = Symbol('late');

/**
 * Milliseconds per warm decomposition step of `probeConfig` (the run's
 * settings, its target cut to one step) on `backend` in engine `apd` ({ms}),
 * {late: true} if it was not through compiling, warming
 * up and timing within `deadlineMs` (it cannot win then, and a software
 * adapter would keep the visitor waiting for many seconds), or null where
 * it cannot run. A call still in flight at the deadline is left to finish,
 * and its run freed then.
 */
async function probe(apd, probeConfig, msg, backend, deadlineMs = Infinity) {
  const t0 = performance.now();
  let pending = null;
  // One call into the engine; throws LATE past the deadline, leaving it in flight as `pending`.
  const call = async (fn) => {
    pending = fn();
    const left = deadlineMs - (performance.now() - t0);
    if (!Number.isFinite(left)) return pending;
    let timer;
    const late = new Promise((resolve) => { timer = setTimeout(() => resolve(LATE), Math.max(0, left)); });
    const v = await Promise.race([pending, late]).finally(() => clearTimeout(timer));
    if (v === LATE) throw LATE;
    return v;
  };
  let r = null;
  try {
    r = await call(() => apd.WebRun.create(msg.preset, probeConfig, msg.seed, backend, msg.target ?? undefined));
    // The target's one step, the first decomposition step (it compiles), then warm-up.
    for (let i = 0; i < 1 + PROBE_WARM; i++) await call(() => r.steps(1));
    let n = 0; const t1 = performance.now();
    while (n < PROBE_STEPS && performance.now() - t1 < PROBE_MS) { await call(() => r.steps(1)); n++; }
    return { ms: (performance.now() - t1) / n };
  } catch (e) {
    if (e !== LATE) return null;
    // Free the run once the call in flight returns (it is the run itself if creating it was late).
    const run = r;
    pending.then((v) => (run ?? v).free(), () => run?.free()).catch(() => {});
    r = null;
    return { late: true };
  } finally {
    r?.free();
  }
}

/** What "auto" choices are remembered under: the method and the model's sizes. */
function choiceKey(config) {
  const c = JSON.parse(config);
  return JSON.stringify([c.method ?? 'apd', c.model]);
}

/**
 * The backend of a run. "auto" is decided by measurement where the browser
 * offers WebGPU: a tiny model can be slower there than on the CPU (launch
 * and readback latency), and only this browser on this machine can tell.
 * The choice is remembered per method and model size (`remembered`, kept by
 * the page); `choice` says what was measured, for the page to show and keep.
 */
export async function chooseBackend(engines, config, pref, msg = null) {
  if (pref === 'cpu') return { backend: 'cpu', note: '' };
  let adapter = null;
  try { adapter = self.navigator.gpu ? await self.navigator.gpu.requestAdapter() : null; } catch { adapter = null; }
  if (!adapter) {
    return { backend: 'cpu', note: pref === 'webgpu' ? 'WebGPU is not available here: running on the CPU instead.' : '' };
  }
  // WebGPU needs the full engine, loaded only where a run may use it.
  let gpuApd = null, loadError = '';
  const gpuReady = async () => {
    try { gpuApd = await engines.gpu(); } catch (e) { loadError = `The WebGPU engine could not be loaded (${e?.message || e}): running on the CPU instead.`; }
    return gpuApd !== null;
  };
  const webgpu = async (extra = {}) => ((await gpuReady()) ? { backend: 'webgpu', note: '', ...extra } : { backend: 'cpu', note: loadError });
  if (pref !== 'auto') return webgpu();
  if (!msg) {
    // Resuming a checkpoint: no model to time; a software adapter is never faster.
    const fallback = adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false;
    return fallback ? { backend: 'cpu', note: '' } : webgpu();
  }
  const key = choiceKey(config);
  const kept = msg.remembered?.[key];
  if (kept?.backend === 'cpu') return { backend: 'cpu', note: '', choice: { ...kept, key, remembered: true } };
  if (kept?.backend === 'webgpu') return webgpu({ choice: { ...kept, key, remembered: true } });
  // Settings are edited by the CPU engine only (the WebGPU one has no such functions).
  const probeConfig = msg.target ? config : engines.cpu.setField(config, 'target.steps', '1');
  // The CPU first: its figure bounds how long WebGPU may take to show it is faster.
  const cpu = await probe(engines.cpu, probeConfig, msg, 'cpu');
  const deadline = cpu ? Math.max(PROBE_DEADLINE_MS, PROBE_DEADLINE_STEPS * cpu.ms) : Infinity;
  if (!(await gpuReady())) return { backend: 'cpu', note: loadError };
  const gpu = await probe(gpuApd, probeConfig, msg, 'webgpu', deadline);
  const backend = gpu?.ms !== undefined && (!cpu || gpu.ms < cpu.ms) ? 'webgpu' : 'cpu';
  const figure = (p) => (p === null ? null : p.late ? { over: deadline } : p.ms);
  return { backend, note: '', choice: { key, backend, cpu: figure(cpu), webgpu: figure(gpu), remembered: false } };
}
