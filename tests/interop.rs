//! Other tools' files: the targets in tests/fixtures/interop, written by
//! PyTorch and the Python safetensors package (scripts/interop-fixtures.py),
//! read as they were written; exports read back bit for bit; hostile files
//! refused with a message naming the problem, and the fuzz of both binary
//! readers (truncations, byte flips, spliced lengths: never a panic).
#![cfg(not(target_arch = "wasm32"))]

use apd_playground::config::ModelConfig;
use apd_playground::interop::export::{config_yaml, report_tensors, target_tensors};
use apd_playground::interop::safetensors::{self, f16_to_f32};
use apd_playground::interop::{import_target, read_tensors, FileKind, NamedTensors, Tensor32};
use apd_playground::rng::Rng;
use std::panic::{catch_unwind, AssertUnwindSafe};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/interop/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn refused(bytes: &[u8], needle: &str) {
    match import_target(bytes) {
        Ok(_) => panic!("accepted, where a message with {needle:?} was expected"),
        Err(e) => assert!(e.to_string().contains(needle), "{e} (expected {needle:?})"),
    }
}

#[test]
fn half_precision_converts_exactly() {
    // Hand-computed: 1.0, -2.0, 65504 (largest), 2^-14 (smallest normal),
    // 2^-24 (smallest subnormal), 0.333 rounded to f16 (0x3555 = 1365/4096).
    for (h, f) in [
        (0x3c00u16, 1.0f32),
        (0xc000, -2.0),
        (0x7bff, 65504.0),
        (0x0400, 2f32.powi(-14)),
        (0x0001, 2f32.powi(-24)),
        (0x3555, 1365.0 / 4096.0),
    ] {
        assert_eq!(f16_to_f32(h), f, "0x{h:04x}");
    }
    assert!(f16_to_f32(0x7c00).is_infinite() && f16_to_f32(0x7e00).is_nan());
}

#[test]
fn pytorch_and_safetensors_files_of_one_model_read_the_same() {
    let pth = import_target(&fixture("tms-5-2.pth")).unwrap();
    let st = import_target(&fixture("tms-5-2.f32.safetensors")).unwrap();
    assert_eq!((pth.kind, st.kind), (FileKind::Pytorch, FileKind::Safetensors));
    assert_eq!(pth.preset, "tms-5-2");
    assert_eq!(pth.target, st.target, "the same weights, bit for bit");
    assert_eq!(pth.target.model, apd_playground::config::preset("tms-5-2").unwrap().model);
    // linear1.weight is hidden x features: W is its transpose.
    let (_, raw) = read_tensors(&fixture("tms-5-2.pth")).unwrap();
    let l1 = &raw["linear1.weight"];
    assert_eq!(l1.shape, vec![2, 5]);
    assert_eq!(pth.target.layers[0].row(3), &[l1.values[3], l1.values[5 + 3]]);
    // linear2.weight, stored as linear1's storage transposed, reads as W itself.
    assert_eq!(raw["linear2.weight"].values, pth.target.layers[0].values);
    // A target the reference recipe trained: every feature reproduced alone.
    assert_eq!(pth.target.reproduced_count(), (5, 5));
    assert!(pth.summary.contains("5 features, hidden size 2, 0 hidden layers"), "{}", pth.summary);

    let half = import_target(&fixture("tms-5-2.f16.safetensors")).unwrap();
    for (a, b) in half.target.layers[0].values.iter().zip(&pth.target.layers[0].values) {
        assert!((a - b).abs() <= 1e-3 * b.abs().max(1.0), "f16 {a} against f32 {b}");
    }
}

#[test]
fn residual_mlps_read_from_every_dtype() {
    let pth = import_target(&fixture("resid-mlp.pth")).unwrap();
    assert_eq!(pth.preset, "resid-mlp-custom");
    let ModelConfig::ResidMlp(m) = &pth.target.model else { panic!("not a residual MLP") };
    assert_eq!((m.n_features, m.d_resid, m.d_mlp, m.n_layers), (6, 8, 4, 2));
    assert_eq!(pth.target.layers.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["W_in1", "W_out1", "W_in2", "W_out2"]);
    let f64s = import_target(&fixture("resid-mlp.f64.safetensors")).unwrap();
    assert_eq!(f64s.target, pth.target, "f32 through f64 and back is exact");
    let bf16 = import_target(&fixture("resid-mlp.bf16.safetensors")).unwrap();
    for (a, b) in bf16.target.layers.iter().flat_map(|l| &l.values).zip(pth.target.layers.iter().flat_map(|l| &l.values)) {
        assert!((a - b).abs() <= 8e-3 * b.abs().max(0.1), "bf16 {a} against {b}");
    }
}

#[test]
fn exports_read_back_bit_for_bit() {
    for name in ["tms-5-2.pth", "resid-mlp.pth"] {
        let t = import_target(&fixture(name)).unwrap().target;
        let bytes = safetensors::write(&target_tensors(&t), &[("format", "pt".into())]);
        assert_eq!(import_target(&bytes).unwrap().target, t, "{name}");
    }
}

#[test]
fn a_decomposition_exports_with_its_target_factors_and_state() {
    use apd_playground::run::{Progress, Run};
    let mut cfg = apd_playground::config::preset("tms-5-2-id").unwrap();
    cfg = apd_playground::config::with_method(&cfg, "tms-5-2-id", apd_playground::config::Method::Spd).unwrap();
    cfg.set("target.steps", "20").unwrap();
    cfg.set("spd.steps", "5").unwrap();
    let mut run = Run::new("tms-5-2-id", cfg.clone(), 3, &burn::tensor::Device::flex(), None).unwrap();
    while pollster::block_on(run.step()).unwrap() != Progress::Done {}
    let report = pollster::block_on(run.report(0.0, "cpu")).unwrap().unwrap();
    let tensors = report_tensors(&report).unwrap();
    let c = report.components.n_components * report.components.rank;
    assert_eq!(tensors["_components.linear1.V"].shape, vec![5, c]);
    assert_eq!(tensors["_components.linear1.U"].shape, vec![c, 2]);
    assert_eq!(tensors["_components.hidden_layers-0.V"].shape, vec![2, c]);
    // The decoder's factors are the encoder's transposed: V2 @ U2 = (V @ U)^T.
    assert_eq!(tensors["_components.linear2.V"].values[1], tensors["_components.linear1.U"].values[2]);
    assert!(tensors.keys().any(|k| k.starts_with("state.gates.0.")), "the importance functions' weights: {:?}", tensors.keys());
    let bytes = safetensors::write(&tensors, &[]);
    assert_eq!(import_target(&bytes).unwrap().target, report.target().unwrap());
    let yaml = config_yaml(&report.config, report.seed, "run.safetensors");
    for line in [
        "  seed: 3",
        "  - module_pattern: linear2",
        "  - module_pattern: hidden_layers.0",
        "    n_hidden_layers: 1",
        "  feature_probability: 0.05",
    ] {
        assert!(yaml.lines().any(|l| l == line), "{line:?} missing from\n{yaml}");
    }
}

#[test]
fn not_a_state_dict_is_refused_without_running_it() {
    refused(&fixture("whole-model.pth"), "reference_targets.Tms");
    // A pickle that would call os.system: refused when it names it.
    let mut evil = fixture("tms-5-2.pth");
    let at = find(&evil, b"collections\nOrderedDict\n").unwrap();
    evil[at..at + 24].copy_from_slice(b"posix\nsystem\nOrderedDict");
    refused(&evil, "only a plain state dict of tensors is read");
    refused(b"\x80\x02}q\x00.", "before 1.6");
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn st(entries: &[(&str, &str, &[usize], f32)]) -> Vec<u8> {
    let mut t = NamedTensors::new();
    for (name, _, shape, v) in entries {
        t.insert(name.to_string(), Tensor32 { shape: shape.to_vec(), values: vec![*v; shape.iter().product()] });
    }
    safetensors::write(&t, &[])
}

/// A safetensors file with `header` as its JSON and `data` after it.
fn raw_st(header: &str, data: &[u8]) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    b
}

#[test]
fn hostile_safetensors_files_are_refused_with_a_message() {
    refused(&raw_st("{}", &[])[..5], "not a file this playground reads");
    let mut long = raw_st(r#"{"W":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]}}"#, &[0; 4]);
    long[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    refused(&long, "only");
    refused(&raw_st(r#"{"W":{"dtype":"F32","shape":[5,2],"data_offsets":[0,4000]}}"#, &[0; 40]), "lie outside");
    refused(&raw_st(r#"{"W":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,40]}}"#, &[0; 40]), "does not fill");
    refused(&raw_st(r#"{"W":{"dtype":"I64","shape":[5],"data_offsets":[0,40]}}"#, &[0; 40]), "only F32, F16, BF16 and F64");
    refused(&raw_st(r#"{"W":{"dtype":"F32","shape":[5,2],"data_offsets":[0,40]}}"#, &[0xff; 40]), "not a finite f32");
    refused(&raw_st("{\"W\": [", &[]), "not a JSON object");
    // Shapes that do not fit the model, names it does not have, names missing.
    refused(&st(&[("W", "", &[5, 2], 0.5), ("b", "", &[4], 0.0)]), "4 entries for 5 features");
    refused(&st(&[("W", "", &[5, 2], 0.5), ("b", "", &[5], 0.0), ("H1", "", &[3, 2], 1.0)]), "`H1` is 3 x 2");
    refused(&st(&[("W", "", &[5, 2], 0.5), ("b", "", &[5], 0.0), ("encoder.weight", "", &[2, 2], 1.0)]), "unknown tensor `encoder.weight`");
    refused(&st(&[("linear1.weight", "", &[2, 5], 0.5)]), "output bias");
    refused(&st(&[("b", "", &[5], 0.0)]), "neither `W` nor `linear1.weight`");
    refused(&st(&[("W", "", &[5, 2], 0.5), ("linear1.weight", "", &[2, 5], 0.5), ("b", "", &[5], 0.0)]), "given twice");
    refused(&st(&[("W", "", &[5, 2, 1], 0.5), ("b", "", &[5], 0.0)]), "a matrix was expected");
    refused(&st(&[("W", "", &[5000, 2], 0.5), ("b", "", &[5000], 0.0)]), "n_features");
    // Untied decoders, unembeddings and biases this project's models do not have.
    refused(&st(&[("W", "", &[5, 2], 0.5), ("b", "", &[5], 0.0), ("linear2.weight", "", &[5, 2], 0.4)]), "ties its decoder");
    refused(
        &st(&[("W_E", "", &[6, 8], 0.5), ("W_in1", "", &[8, 4], 0.1), ("W_out1", "", &[4, 8], 0.1), ("W_U", "", &[8, 6], 0.3)]),
        "W_E transposed",
    );
    refused(
        &st(&[
            ("W_E", "", &[6, 8], 0.5),
            ("W_in1", "", &[8, 4], 0.1),
            ("W_out1", "", &[4, 8], 0.1),
            ("layers.0.mlp_in.bias", "", &[4], 0.3),
        ]),
        "no biases",
    );
    refused(&st(&[("W_E", "", &[6, 8], 0.5), ("W_in1", "", &[8, 4], 0.1)]), "`W_out1` is missing");
}

#[test]
fn hostile_pytorch_files_are_refused_with_a_message() {
    let good = fixture("tms-5-2.pth");
    refused(&good[..good.len() / 2], "zip archive is truncated");
    // A storage that holds fewer bytes than the tensor reaches: the size
    // claimed in the pickle (numel 10) edited to 200.
    let mut big = good.clone();
    let at = find(&big, b"K\x0at").expect("the storage's numel, 10, in the pickle");
    big[at + 1] = 200;
    refused(&big, "not the 200 elements it claims");
    // A compressed entry.
    let mut squeezed = good.clone();
    let cd = find(&squeezed, b"PK\x01\x02").unwrap();
    squeezed[cd + 10] = 8;
    refused(&squeezed, "compressed");
    // A pre-1.6 bare pickle.
    refused(b"\x80\x02\x8a\x0alb\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", "before 1.6");
    refused(&fixture("tms-5-2.pth")[..30], "truncated");
}

/// Bytes a reader must survive: truncations, flipped bytes, runs of 0xff
/// and 0x00 (lengths and offsets become huge or zero), a spliced copy.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = seed.to_vec();
    let at = |rng: &mut Rng, n: usize| (rng.next_u64() % n.max(1) as u64) as usize;
    match rng.next_u64() % 5 {
        0 => b.truncate(at(rng, seed.len())),
        1 => {
            for _ in 0..1 + rng.next_u64() % 4 {
                let i = at(rng, b.len());
                b[i] = rng.next_u64() as u8;
            }
        }
        2 | 3 => {
            let i = at(rng, b.len());
            let fill = if rng.next_u64().is_multiple_of(2) { 0xff } else { 0x00 };
            let end = (i + 1 + at(rng, 8)).min(b.len());
            b[i..end].iter_mut().for_each(|x| *x = fill);
        }
        _ => {
            let (i, j) = (at(rng, b.len()), at(rng, b.len()));
            let (i, j) = (i.min(j), i.max(j));
            let piece = b[i..j].to_vec();
            let k = at(rng, b.len());
            b.splice(k..k, piece);
        }
    }
    b
}

#[test]
fn mutated_binary_files_never_panic_and_what_is_read_round_trips() {
    let mut rng = Rng::new(33);
    let (mut accepted, mut total) = (0, 0);
    for name in ["tms-5-2.pth", "tms-5-2.f32.safetensors", "tms-5-2.f16.safetensors", "resid-mlp.pth", "resid-mlp.bf16.safetensors"] {
        let seed = fixture(name);
        for _ in 0..400 {
            let bytes = mutate(&seed, &mut rng);
            total += 1;
            let got =
                catch_unwind(AssertUnwindSafe(|| import_target(&bytes))).unwrap_or_else(|_| panic!("{name}: a mutated file panicked"));
            if let Ok(i) = got {
                accepted += 1;
                assert!(i.target.layers.iter().flat_map(|l| &l.values).all(|v| v.is_finite()));
                let again = import_target(&safetensors::write(&target_tensors(&i.target), &[])).unwrap();
                assert_eq!(again.target, i.target, "{name}: an accepted file round-trips");
            }
        }
    }
    // Most mutations must be caught; some (a flipped weight bit) are a valid file still.
    assert!(accepted < total / 2, "{accepted} of {total} mutated files accepted");
}
