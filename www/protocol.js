// The messages between the page (main.js) and the worker (worker.js), in
// one place. Every message is an object with a `type`.
//
// Page -> worker
//   preset {name, seq}            the worker's configuration becomes the preset's; answered by `config`
//   use-config {preset, config, seq}  the worker's configuration becomes `config` (JSON text; the seeds grid
//                                 gives its workers the page's); answered by `config` or `field-error`
//   set {path, value, seq}        one setting, applied in arrival order to the worker's configuration;
//                                 answered by `config` or `field-error`
//   start {run, preset, seed, backend, target, paused, stepOnce, remembered}
//                                 a new run with the worker's configuration; `run` is the page's id for it;
//                                 `remembered`: the page's kept "auto" choices, by `backend-choice`'s key
//   pause | continue | step | reset | speed {value} | curve {feature}
//   resume-checkpoint {run, report, backend}
//   export {kind: 'report'|'target'} | import {text, seq} | views-of {report, seq}
//   describe-target {text, seq}   an imported target's feature norms and scale; answered by `target-note`
//
// Worker -> page
//   ready {presets} | fatal {message}
//   config {config, preset?, seq} | field-error {path, message, seq}
//   run messages, each with the `run` id they belong to; the page drops any
//   whose run is not its current one:
//     started {run, backend, plan, resumed, startedOver} | progress {run, batch} | snapshot {run, snap}
//     checkpoint {run, entry} | done {run, entry} | paused {run} | notice {run, message}
//     failed {run, kind, message}
//     backend-choice {run, key, backend, cpu, webgpu, remembered}   what "auto" chose, and the ms per
//                                 warm step it measured on each backend (null: could not run there;
//                                 {over: ms}: not through warming up within that deadline)
//   file {kind, text} | report-views {report, snap, plan, seq} | imported-target {text, model, config, seq}
//   import-error {message, seq} | target-note {note, message, seq}

/** What went wrong, as the engine names it (`Error.name` of a wasm error); the page decides on this, never on text. */
export const KINDS = ['invalid', 'diverged', 'device-lost', 'busy', 'panic'];
