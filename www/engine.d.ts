// The wasm engine as the page's modules see it, for the type check
// (tsconfig.json) before the engine is built. Its two packages, www/pkg-cpu/
// and www/pkg/, are build outputs (scripts/build-web.sh): once built, each
// carries wasm-bindgen's own declarations (apd_playground.d.ts), which tsc
// then reads instead of these (the test command checks both ways). Written
// by hand from src/web.rs's #[wasm_bindgen] exports: keep them in step. Values cross as JSON text (the types in protocol.js);
// errors are JS Errors whose `name` is the failure's kind.

/** The CPU package: everything but WebGPU runs (built with the `cpu` feature). */
declare module '*/pkg-cpu/apd_playground.js' {
  /** Loads and starts the wasm module. */
  export default function init(): Promise<unknown>;
  /** The message of the last Rust panic, or ''. */
  export function panicMessage(): string;
  /** Panics on purpose (the `simulate-panic` test hook). */
  export function testPanic(): void;
  /** A no-op here (no WebGPU in this package): see the WebGPU package's. */
  export function forgetDevice(): void;
  /** The preset names: a JSON array of strings. */
  export function presetNames(): string;
  /** A preset's configuration (JSON). */
  export function presetConfig(name: string): string;
  /** What every setting means: a JSON array of protocol.js's SettingInfo. */
  export function settingsInfo(): string;
  /** The "as in the paper" variant of a configuration (JSON in, JSON out). */
  export function paperVariant(configJson: string): string;
  /** A preset's configuration decomposed by `method` ('apd' or 'spd'). */
  export function withMethod(configJson: string, preset: string, method: string): string;
  /** A configuration with one setting (dotted path) changed; throws `invalid` naming the field. */
  export function setField(configJson: string, path: string, value: string): string;
  /** A configuration validated and normalised. */
  export function validateConfig(configJson: string): string;
  /** An imported report validated and normalised. */
  export function parseReport(text: string): string;
  /** The step Plan of a configuration (JSON). */
  export function runPlan(configJson: string): string;
  /** An imported target's feature norms and scale under a configuration: a TargetNote (JSON). */
  export function describeTarget(targetJson: string, configJson: string): string;
  /** A target from .safetensors or PyTorch bytes: `{preset, text, summary}` (JSON), `text` a target file; throws `invalid` naming the problem. */
  export function importTarget(bytes: Uint8Array): string;
  /** A report's or target file's safetensors bytes (param-decomp's names) and the YAML config naming them `weights`. */
  export function exportSafetensors(json: string, weights: string): [Uint8Array<ArrayBuffer>, string];
  /** The view data (a Snapshot, JSON) of a saved report, on the CPU. */
  export function reportViews(reportJson: string, curveFeature: number): Promise<string>;

  /**
   * A run. Its methods that return Promises must be awaited one at a time:
   * a second call while one is in flight fails with a `busy` error.
   */
  export class WebRun {
    private constructor();
    /**
     * A run of `configJson` on `backend` ('cpu' or 'webgpu'); with `targetJson`
     * (a target file or a report) the target is not trained.
     */
    static create(preset: string, configJson: string, seed: number, backend: string, targetJson?: string | null): Promise<WebRun>;
    /** The decomposition saved in `reportJson` (a checkpoint) continued on `backend`. */
    static resume(reportJson: string, backend: string): Promise<WebRun>;
    /** Whether resume started the decomposition over (a checkpoint from before the restarts were compared). */
    readonly startedOver: boolean;
    /** 'cpu' or 'webgpu'. */
    readonly backend: string;
    /** The run's step Plan (JSON). */
    plan(): string;
    /** Up to `n` steps (stopping at a phase change): a Batch (JSON). */
    steps(n: number): Promise<string>;
    /** What the views draw: a Snapshot (JSON). */
    snapshot(curveFeature: number): Promise<string>;
    /** The report (JSON), once the decomposition has started; without the field's evaluation unless `evaluate` (a checkpoint). */
    report(evaluate: boolean): Promise<string>;
    /** The target file (JSON), once the target is trained. */
    targetJson(): string;
    /** Frees the wasm memory of the run. */
    free(): void;
  }
}

/** The WebGPU package: WebGPU runs only (built with the `webgpu` feature alone). */
declare module '*/pkg/apd_playground.js' {
  export default function init(): Promise<unknown>;
  export function panicMessage(): string;
  /** After a lost device: the next WebGPU run asks for a fresh device. */
  export function forgetDevice(): void;
  export const WebRun: typeof import('./pkg-cpu/apd_playground.js').WebRun;
  export type WebRun = import('./pkg-cpu/apd_playground.js').WebRun;
}
