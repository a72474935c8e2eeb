// @ts-check
// The messages between the page and the worker (worker.js), and the data
// they carry, in one place: every message is an object with a `type`. The
// page is main.js, and grid.js, which runs workers of its own for the seeds
// grid. The other modules import these types with
// `/** @typedef {import('./protocol.js').Foo} Foo */`; `npx tsc --noEmit -p .`
// checks every module against them.
// Size: about 430 lines, because it is the one written form of the
// protocol and of the engine's JSON (JSDoc typedefs, with their comments):
// split, the two sides would again read different copies.
//
// Page -> worker (PageMessage)
//   preset {name, seq}             the configuration becomes the preset's; answered by `config`
//   method {value, seq}            decompose with `apd` or `spd` (the preset's settings for it);
//                                  answered by `config` (with `base`) or `field-error`
//   use-config {preset, config, seq?}  the configuration becomes `config` (JSON text; the seeds grid
//                                  gives its workers the page's); answered by `config` or `field-error`
//   paper {seq}                    the "as in the paper" variant of the configuration; answered by `config`
//   set {path, value, seq}         one setting, applied in arrival order; answered by `config` or `field-error`
//   start {run, preset, seed, backend, target?, paused, stepOnce?, remembered?}
//                                  a new run with the worker's configuration; `run` is the page's id for it;
//                                  `remembered`: the page's kept "auto" choices, by `backend-choice`'s key
//   pause {run} | continue {run} | step {run} | reset | speed {value} | curve {feature}
//   resume-checkpoint {run, report, backend}   a checkpoint kept across a reload, continued
//   export {kind: 'report'|'target'}           answered by `file`
//   export {kind: 'safetensors', name}         answered by `safetensors` {bytes, yaml, name}
//   import {text, seq}             answered by `report-views`, `imported-target` or `import-error`
//   import-binary {bytes, name, seq}  a .safetensors or PyTorch file: `imported-target` or `import-error`
//   views-of {report, seq}         a kept report's views; answered by `report-views`
//   describe-target {text, seq}    an imported target's feature norms and scale; answered by `target-note`
//   simulate-panic | simulate-gpu-loss {fresh} | slow-cpu-probe {ms}
//                                  test hooks (window.apdTestHooks): the engine panics; the next
//                                  WebGPU step fails as a lost device would (fresh: false, and no
//                                  fresh device is to be had); "auto" sees the CPU `ms` slower per step
//
// Worker -> page (WorkerMessage)
//   ready {presets, settings} | fatal {message}
//   config {config, preset?, base?, path?, seq?} | field-error {path?, message, seq?}
//   run messages, each with the `run` id they belong to; the page drops any
//   whose run is not its current one:
//     started {run, backend, plan, resumed?, startedOver?} | progress {run, batch} | snapshot {run, snap}
//     checkpoint {run, entry} | done {run, entry} | paused {run} | notice {run, message}
//     backend-choice {run, key, backend, cpu, webgpu, remembered}   what "auto" chose, and the ms per
//                                  warm step it measured on each backend (null: could not run there;
//                                  {over: ms}: not through warming up within that deadline)
//   failed {run?, kind, message, seq?}   a run's failure, or a request's (then with its seq)
//   file {kind, text} | report-views {report, snap, plan, seq} | imported-target {text, model, config, seq}
//   import-error {message, seq} | target-note {note, message?, seq}

/**
 * What went wrong (`failed`'s kind): the engine's kinds (`Error.name` of a
 * wasm error), `panic` (a Rust panic: the engine cannot be trusted again),
 * and `internal` (any other exception: a bug in the worker's or the page's
 * JavaScript, shown as the error it is, never taken for a lost GPU). The
 * page decides on this, never on text.
 */
export const KINDS = /** @type {const} */ (['invalid', 'diverged', 'device-lost', 'busy', 'panic', 'internal']);

/** @typedef {typeof KINDS[number]} Kind */
/** @typedef {'apd' | 'spd' | 'vpd'} Method */
/** @typedef {'cpu' | 'webgpu'} Backend  a backend a run is on */
/** @typedef {Backend | 'auto'} BackendPref  the page's choice */
/** @typedef {'target' | 'decompose' | 'done'} Phase  the part of the run the next step belongs to */

// ---- data (the engine's JSON, as src/ serialises it) ----

/**
 * A configuration (src/config/mod.rs's ExperimentConfig); it crosses as JSON text.
 * @typedef {object} Config
 * @property {{ kind: 'tms' | 'resid_mlp', n_features: number } & Record<string, any>} model
 * @property {Record<string, any>} target
 * @property {{ steps: number } & Record<string, any>} apd
 * @property {Record<string, any>} [scale]
 * @property {Method} [method]  absent: APD
 * @property {Record<string, any>} [spd]
 * @property {Record<string, any>} [vpd]
 */

/**
 * One setting explained (src/config/settings.rs's Setting), for the fields.
 * @typedef {object} SettingInfo
 * @property {string} path  dotted, as `set` takes it
 * @property {string} label
 * @property {string} description
 * @property {string} symbol  its symbol in the papers, or ''
 * @property {'model' | 'target' | 'paper' | 'addition' | 'spd' | 'spd_later' | 'vpd'} group
 * @property {string} range  in words
 * @property {boolean} main  shown at once; the others behind its group's "More settings"
 */

/**
 * How a run is laid out in steps (src/gallery.rs's Plan).
 * @typedef {object} Plan
 * @property {number} target_steps
 * @property {number} apd_steps  decomposition steps, every start counted (SPD's too)
 * @property {Array<[number, string]>} marks  [step, label] where the loss chart marks a restart
 */

/**
 * One decomposition step of any method (src/decomp/mod.rs's StepRecord):
 * what every method has, and its own loss terms by name (APD's
 * faithfulness, minimality, simplicity and, for residual MLPs, activation;
 * SPD's faithfulness, stochastic, layerwise, importance).
 * @typedef {{ step: number, lr: number, total: number, mean_active: number } & Record<string, number>} StepRecord
 */

/**
 * A method's record in a report (src/report.rs's MethodRecord).
 * @typedef {object} MethodRecord
 * @property {Method} method
 * @property {StepRecord[]} history
 * @property {StepRecord} [losses]  the last step's
 * @property {Record<string, any>} [state]  the method's own (SPD: its gates and one-hot importances)
 */

/**
 * What a call for steps did (src/web.rs's Batch): the `progress` message's.
 * @typedef {object} Batch
 * @property {Phase} phase  after these steps
 * @property {number} target_step
 * @property {number} apd_step
 * @property {[number, number] | null} apd_start  while restarts are compared: which start (from 0) of how many
 * @property {number[]} target_losses
 * @property {StepRecord[]} steps  the decomposition's, whatever the method
 * @property {number} ms_per_step  0 when no step ran
 */

/**
 * The restarts' comparison (src/report.rs's Starts).
 * @typedef {object} Starts
 * @property {number[]} scores  one per start
 * @property {number} [kept]  the start that went on, once they were compared
 */

/**
 * The scale a decomposition works at (src/decomp/scale.rs's ScaleSummary).
 * @typedef {object} ScaleSummary
 * @property {number} feature_norm  TMS; 0 for the residual MLP
 * @property {number} working_norm
 * @property {boolean} rescaled
 */

/**
 * An imported target in words (src/decomp/scale.rs's TargetScaleNote).
 * @typedef {object} TargetNote
 * @property {number[]} feature_norms
 * @property {ScaleSummary} scale
 * @property {string | null} warning
 */

/**
 * A feature's best-matching component (src/metrics.rs's FeatureMatch).
 * @typedef {object} FeatureMatch
 * @property {number} component
 * @property {number} cos
 * @property {number} l2_ratio
 * @property {boolean} represented
 */

/**
 * The residual MLP's figures (src/metrics.rs's ResidMetrics).
 * @typedef {object} ResidMetrics
 * @property {number} n_components
 * @property {number[]} attributions  n x C, row-major
 * @property {number[]} dedicated  per feature, its component
 * @property {number[]} shares
 * @property {number} n_dedicated
 * @property {number} mean_share
 * @property {number} topk_loss
 * @property {number} target_loss
 * @property {number[][]} layer_mass
 */

/**
 * The recovery figures (src/metrics.rs's Metrics).
 * @typedef {object} Metrics
 * @property {number} mmcs
 * @property {number} ml2r
 * @property {number} mean_active
 * @property {FeatureMatch[]} features  TMS
 * @property {ResidMetrics} [resid]
 * @property {[number, number]} [by_max_cos]
 */

/**
 * An input to look at alone (src/decomp/probes.rs's Sample).
 * @typedef {object} Sample
 * @property {Array<[number, number]>} input  [feature, value] of the features on
 * @property {number[]} importances  per component
 * @property {number[]} kept  the components kept for it
 * @property {number[]} target  the target's output, per feature
 * @property {number[]} sparse  the output with the kept components only
 */

/**
 * The residual MLP's own views (src/views.rs's ResidView and Curve).
 * @typedef {object} ResidView
 * @property {number} n
 * @property {number} neurons
 * @property {number[]} neurons_target
 * @property {number[]} neurons_component
 * @property {{ feature: number, xs: number[], target: number[], topk: number[], labels: number[], dedicated: number[] }} curve
 */

/**
 * The field's evaluation of a decomposition (src/decomp/evaluation.rs's Evaluation).
 * @typedef {object} Evaluation
 * @property {number[]} l0  per matrix (APD: one)
 * @property {number} true_l0
 * @property {{ ci: number, unmasked: number, rounded: number, stochastic: number, zero: number, random: number, pgd: number }} recon
 * @property {{ off_diagonal: number, diagonal: number }} [identity_ci_error]  TMS
 * @property {number[]} mean_ci  the first matrix's, largest first
 */

/**
 * The views of a method with causal importances, SPD's or VPD's (src/decomp/importance.rs's CiView).
 * @typedef {object} SpdView
 * @property {string[]} names  per decomposed matrix
 * @property {number[][]} ci_lower  per matrix, n x C
 * @property {number[][]} ci_upper
 * @property {number[][]} order  per matrix, the columns in drawing order
 * @property {number[]} alive
 * @property {number[]} own
 * @property {number} [own_in_some_w_in]
 * @property {number[][]} histogram
 * @property {{ x: number[], ci: number[][], mask: number[][] }} sample
 * @property {AdversaryView} [adversary]  VPD's only
 */

/**
 * VPD's adversary at work (src/vpd/trace.rs's AdversaryView).
 * @typedef {object} AdversaryView
 * @property {{ step: number[], ci: number[], adversarial: number[], stochastic: number[] }} trace
 * @property {{ site: string, ascents: number, inputs: Array<{ x: number[], ci: number[], mask: number[], recon_ci: number, recon_worst: number }> }} worst
 */

/**
 * What the views draw (src/run/mod.rs's Snapshot, src/views.rs's Views
 * flattened into it): `snapshot`'s `snap`, `report-views`' and a shipped
 * entry's `views`. While the target trains the view data are empty.
 * @typedef {object} Snapshot
 * @property {Phase} phase
 * @property {Starts} [starts]
 * @property {Array<[string, number, number, number[]]>} target  (name, rows, columns, row-major values) per matrix
 * @property {number[][][]} components  per matrix, per component, row-major (empty: not shipped)
 * @property {number[]} attributions  n x C
 * @property {Metrics | null} metrics
 * @property {number[]} active_histogram
 * @property {ResidView | null} resid
 * @property {ScaleSummary | null} scale
 * @property {number[]} cos_matrix  TMS, n x C
 * @property {number[][]} residual  TMS, per matrix
 * @property {number[][][]} singular  TMS, per matrix and component
 * @property {Sample[]} samples
 * @property {number[]} ablation  C x n
 * @property {SpdView} [spd]
 * @property {SpdView} [vpd]
 * @property {Evaluation | null} [evaluation]
 */

/**
 * A decomposition report (src/report.rs's Report), the CLI's JSON; the
 * factors, the target and SPD's gates are left loose.
 * @typedef {object} Report
 * @property {string} model  preset name
 * @property {Config} config
 * @property {number} seed
 * @property {Metrics} metrics
 * @property {MethodRecord} record
 * @property {{ n_components: number, rank: number, layers: Array<Record<string, any>> }} components
 * @property {Record<string, any>} target
 * @property {{ steps_per_sec: number, wall_s: number, backend: string }} timing
 * @property {ScaleSummary} [scale]
 * @property {Starts} [starts]
 */

/**
 * What the page keeps of a run across reloads (a checkpoint, or the last
 * result), made by the worker: the report and the figures the saved-results
 * panel shows.
 * @typedef {object} SavedEntry
 * @property {string} report  Report JSON
 * @property {string} model
 * @property {number} seed
 * @property {number} step  steps done
 * @property {number} totalSteps
 * @property {number} savedAt  ms since the epoch
 */

/**
 * A result opened in the views: a shipped one (www/gallery/, src/gallery.rs's
 * Entry, with its title and note) or a seed the grid ran here (`live`).
 * @typedef {object} ShippedEntry
 * @property {string} model
 * @property {Method} method
 * @property {number} seed
 * @property {number} wall_s
 * @property {Plan} plan
 * @property {Snapshot} views
 * @property {Report} report
 * @property {boolean} [trimmed]
 * @property {string} [title]
 * @property {string} [note]
 * @property {boolean} [live]  run in this page by the seeds grid
 */

/**
 * "auto"'s figure for one backend: ms per warm step, `{over: ms}` when it was
 * not through warming up within that deadline, null when it could not run.
 * @typedef {number | { over: number } | null} Measured
 */

/**
 * What "auto" chose, as the page keeps it (by `BackendChoice`'s key).
 * @typedef {object} KeptChoice
 * @property {Backend} backend
 * @property {Measured} cpu
 * @property {Measured} webgpu
 */

/**
 * What "auto" chose and by which figures; `key` names the method and model
 * sizes it holds for, `remembered`: taken from the page's kept choices.
 * @typedef {KeptChoice & { key: string, remembered: boolean }} BackendChoice
 */

// ---- page -> worker ----

/**
 * @typedef {{ type: 'preset', name: string, seq: number }} PresetRequest
 * @typedef {{ type: 'method', value: Method, seq: number }} MethodRequest
 * @typedef {{ type: 'use-config', preset: string, config: string, seq?: number }} UseConfigRequest
 * @typedef {{ type: 'paper', seq: number }} PaperRequest
 * @typedef {{ type: 'set', path: string, value: string, seq: number }} SetRequest
 * @typedef {{ type: 'describe-target', text: string, seq: number }} DescribeTargetRequest
 */

/**
 * The messages the page sends and waits for an answer to (by `seq`).
 * @typedef {PresetRequest | MethodRequest | UseConfigRequest | PaperRequest | SetRequest | DescribeTargetRequest} PageRequest
 */

/**
 * A new run with the worker's configuration.
 * @typedef {object} StartMessage
 * @property {'start'} type
 * @property {number} run  the page's id of the run
 * @property {string} preset
 * @property {number} seed
 * @property {BackendPref} backend
 * @property {string | null} [target]  an imported target (JSON text): no target training
 * @property {boolean} paused
 * @property {boolean} [stepOnce]  with `paused`: one step, then paused
 * @property {Record<string, KeptChoice>} [remembered]  the page's kept "auto" choices
 */

/**
 * Everything the page (main.js, grid.js) sends the worker.
 * @typedef {PageRequest
 *   | StartMessage
 *   | { type: 'pause', run: number | null }
 *   | { type: 'continue', run: number }
 *   | { type: 'step', run: number }
 *   | { type: 'reset' }
 *   | { type: 'speed', value: number }
 *   | { type: 'curve', feature: number }
 *   | { type: 'resume-checkpoint', run: number, report: string, backend: BackendPref }
 *   | { type: 'export', kind: 'report' | 'target' } | { type: 'export', kind: 'safetensors', name: string }
 *   | { type: 'import', text: string, seq: number }
 *   | { type: 'import-binary', bytes: Uint8Array, name: string, seq: number }
 *   | { type: 'views-of', report: string, seq: number }
 *   | { type: 'simulate-panic' }
 *   | { type: 'simulate-gpu-loss', fresh: boolean }
 *   | { type: 'slow-cpu-probe', ms: number }
 * } PageMessage
 */

// ---- worker -> page ----

/**
 * The configuration (JSON text) after a request. `preset`: the preset it
 * now is of; `base`: after `method`, the preset's configuration for that
 * method (what the link lists differences from); `path`: after `set`.
 * @typedef {{ type: 'config', config: string, preset?: string | null, base?: string, path?: string, seq?: number }} ConfigMessage
 */
/**
 * A request refused. The page also answers its own waiting requests with one
 * (without `path`) when the engine panics.
 * @typedef {{ type: 'field-error', path?: string, message: string, seq?: number }} FieldErrorMessage
 */
/**
 * A failure: of run `run`, or of a request (then with its `seq`).
 * @typedef {{ type: 'failed', run?: number | null, kind: Kind, message: string, seq?: number }} FailedMessage
 */
/** @typedef {{ type: 'target-note', note: TargetNote | null, message?: string, seq: number }} TargetNoteMessage */
/** @typedef {{ type: 'report-views', report: string, snap: Snapshot, plan: Plan, seq: number }} ReportViewsMessage */

/**
 * The answer to each PageRequest, by its type: what the worker answers, or
 * `failed` where handling the request threw, or the page's own
 * `field-error` stand-in after a panic.
 * @typedef {{
 *   'preset': ConfigReply, 'method': ConfigReply, 'use-config': ConfigReply, 'paper': ConfigReply, 'set': ConfigReply,
 *   'describe-target': TargetNoteMessage | FieldErrorMessage | FailedMessage,
 * }} Replies
 */
/** @typedef {ConfigMessage | FieldErrorMessage | FailedMessage} ConfigReply  the answer to a request that changes the configuration */
/** @typedef {Replies[keyof Replies]} Reply  the answer to any PageRequest */

/**
 * The messages that belong to a run (`run` is the page's id of it), but `failed`.
 * @typedef {{ type: 'started', run: number, backend: Backend, plan: Plan, resumed?: boolean, startedOver?: boolean }
 *   | { type: 'progress', run: number, batch: Batch }
 *   | { type: 'snapshot', run: number, snap: Snapshot }
 *   | { type: 'checkpoint', run: number, entry: SavedEntry }
 *   | { type: 'done', run: number, entry: SavedEntry }
 *   | { type: 'paused', run: number }
 *   | { type: 'notice', run: number, message: string }
 *   | BackendChoice & { type: 'backend-choice', run: number }
 * } RunMessage
 */

/**
 * Everything the worker sends the page.
 * @typedef {{ type: 'ready', presets: string[], settings: SettingInfo[] }
 *   | { type: 'fatal', message: string }
 *   | ConfigMessage
 *   | FieldErrorMessage
 *   | FailedMessage
 *   | RunMessage
 *   | { type: 'file', kind: 'report' | 'target', text: string }
 *   | { type: 'safetensors', bytes: Uint8Array<ArrayBuffer>, yaml: string, name: string }
 *   | ReportViewsMessage
 *   | { type: 'imported-target', text: string, model: string, config: string, summary?: string, seq: number }
 *   | { type: 'import-error', message: string, seq: number }
 *   | TargetNoteMessage
 * } WorkerMessage
 */

/**
 * A report's loss history, whichever method made it. A report kept by this
 * page before reports had one record per method has none here (the engine
 * reads it all the same): its chart starts empty.
 * @param {Report} report
 * @returns {StepRecord[]}
 */
export const historyOf = (report) => report.record?.history ?? [];
