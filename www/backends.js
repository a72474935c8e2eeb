// @ts-check
// Which backend a run in the worker uses (worker.js asks): the CPU, WebGPU,
// or for "auto" the faster of the two on this model, measured in this
// browser. `engines` holds the wasm module for the CPU (`cpu`) and a
// function that loads the one with WebGPU (`gpu`: only called where the
// browser offers an adapter), `config` is the run's configuration (JSON).

// "auto" times this many warm steps at most, for at most PROBE_MS per
// backend, after the target step and PROBE_WARM steps of compiling and
// warming up (not timed).
/** @typedef {import('./protocol.js').Backend} Backend */
/** @typedef {import('./protocol.js').BackendPref} BackendPref */
/** @typedef {import('./protocol.js').BackendChoice} BackendChoice */
/** @typedef {import('./protocol.js').StartMessage} StartMessage */
/** @typedef {typeof import('./pkg-cpu/apd_playground.js')} CpuEngine */
/** @typedef {typeof import('./pkg/apd_playground.js')} GpuEngine */
/** @typedef {import('./pkg-cpu/apd_playground.js').WebRun} WebRun */
/** @typedef {{ ms: number, late?: false } | { late: true, ms?: undefined } | null} Probed */
/** @typedef {{ backend: Backend, note: string, choice?: BackendChoice }} Chosen */
/** @typedef {{ info?: { isFallbackAdapter?: boolean }, isFallbackAdapter?: boolean }} GpuAdapter  what is used of a WebGPU adapter */
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
 * @param {CpuEngine | GpuEngine} apd
 * @param {string} probeConfig
 * @param {StartMessage} msg
 * @param {Backend} backend
 * @param {number} [deadlineMs]
 * @returns {Promise<Probed>}
 */
async function probe(apd, probeConfig, msg, backend, deadlineMs = Infinity) {
  const t0 = performance.now();
  /** @type {Promise<unknown> | null} */
  let pending = null;
  /**
   * One call into the engine; throws LATE past the deadline, leaving it in flight as `pending`.
   * @template T
   * @param {() => Promise<T>} fn
   * @returns {Promise<T>}
   */
  const call = async (fn) => {
    const p = fn();
    pending = p;
    const left = deadlineMs - (performance.now() - t0);
    if (!Number.isFinite(left)) return p;
    let timer;
    /** @type {Promise<typeof LATE>} */
    const late = new Promise((resolve) => { timer = setTimeout(() => resolve(LATE), Math.max(0, left)); });
    const v = await Promise.race([p, late]).finally(() => clearTimeout(timer));
    if (v === LATE) throw LATE;
    return /** @type {T} */ (v);
  };
  /** @type {WebRun | null} */
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
    pending.then((v) => (run ?? /** @type {WebRun} */ (v)).free(), () => run?.free()).catch(() => {});
    r = null;
    return { late: true };
  } finally {
    r?.free();
  }
}

/**
 * What "auto" choices are remembered under: the method and the model's sizes.
 * @param {string} config
 */
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
 * `msg` is the run's start message (null: resuming a checkpoint).
 * @param {{ cpu: CpuEngine, gpu: () => Promise<GpuEngine> }} engines
 * @param {string} config
 * @param {BackendPref} pref
 * @param {StartMessage | null} [msg]
 * @param {number} [slowCpuMs]  a test hook: each timed CPU step counts this much longer, as on a
 *   machine whose GPU wins (the software adapter here never does)
 * @returns {Promise<Chosen>}
 */
export async function chooseBackend(engines, config, pref, msg = null, slowCpuMs = 0) {
  if (pref === 'cpu') return { backend: 'cpu', note: '' };
  // WebGPU's types are not in TypeScript's DOM lib: what is used of them, here.
  const nav = /** @type {Navigator & { gpu?: { requestAdapter(): Promise<GpuAdapter | null> } }} */ (self.navigator);
  /** @type {GpuAdapter | null} */
  let adapter = null;
  try { adapter = nav.gpu ? await nav.gpu.requestAdapter() : null; } catch { adapter = null; }
  if (!adapter) {
    return { backend: 'cpu', note: pref === 'webgpu' ? 'WebGPU is not available here: running on the CPU instead.' : '' };
  }
  // WebGPU needs the full engine, loaded only where a run may use it.
  /** @type {GpuEngine | null} */
  let gpuApd = null, loadError = '';
  const gpuReady = async () => {
    try { gpuApd = await engines.gpu(); } catch (e) { loadError = `The WebGPU engine could not be loaded (${e?.message || e}): running on the CPU instead.`; }
    return gpuApd !== null;
  };
  /**
   * @param {{ choice?: BackendChoice }} [extra]
   * @returns {Promise<Chosen>}
   */
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
  const measured = await probe(engines.cpu, probeConfig, msg, 'cpu');
  const cpu = measured?.ms !== undefined ? { ms: measured.ms + slowCpuMs } : measured;
  const deadline = cpu ? Math.max(PROBE_DEADLINE_MS, PROBE_DEADLINE_STEPS * cpu.ms) : Infinity;
  if (!(await gpuReady())) return { backend: 'cpu', note: loadError };
  const gpu = await probe(gpuApd, probeConfig, msg, 'webgpu', deadline);
  const backend = gpu?.ms !== undefined && (!cpu || gpu.ms < cpu.ms) ? 'webgpu' : 'cpu';
  /** @param {Probed} p */
  const figure = (p) => (p === null ? null : p.late ? { over: deadline } : p.ms);
  return { backend, note: '', choice: { key, backend, cpu: figure(cpu), webgpu: figure(gpu), remembered: false } };
}
