//! The delta component's forward pass, which the step keeps private.

use super::*;
use crate::config::{preset, with_method, Method};
use crate::models::Matrix;

fn tms_5_2() -> (ExperimentConfig, Target) {
    let mut cfg = with_method(&preset("tms-5-2").unwrap(), "tms-5-2", Method::Spd).unwrap();
    cfg.set("scale.rescale", "false").unwrap();
    cfg.set("spd.n_components", "3").unwrap();
    let mut rng = Rng::new(7);
    let values: Vec<f32> = (0..10).map(|_| rng.uniform_range(-1.0, 1.0)).collect();
    let layers = vec![Matrix { name: "W".into(), d_in: 5, d_out: 2, values }];
    let target = Target { model: cfg.model.clone(), layers, bias: vec![-0.1, 0.05, -0.2, 0.0, 0.1], embed: Vec::new() };
    (cfg, target)
}

fn read(t: Tensor<3>) -> Vec<f32> {
    pollster::block_on(read_vec(t)).unwrap()
}

#[test]
fn subcomponents_plus_the_delta_component_are_the_target() {
    let (cfg, target) = tms_5_2();
    let spd = SpdTrainer::new(&cfg, &target, 0, &Device::flex()).unwrap();
    let device = spd.network.device().clone();
    let x: Tensor<3> = matrix((0..20).map(|i| ((i * 7) % 5) as f32 / 5.0).collect(), 4, 5, &device).unsqueeze();
    let (v, u) = spd.model.factors();
    let d = SpdTrainer::deltas(&spd.target_weights(false), &v, &u);
    let ones = |k: usize| -> Vec<Tensor<3>> { (0..2).map(|_| Tensor::ones([1, 4, k], &device)).collect() };
    let zeros = |k: usize| -> Vec<Tensor<3>> { (0..2).map(|_| Tensor::zeros([1, 4, k], &device)).collect() };
    let want = read(spd.network.target_forward(x.clone()).out);
    // Every subcomponent on and the delta at full strength: V U + (W - V U) = W.
    let full = read(spd.masked_forward(x.clone(), &v, &u, &ones(3), Some((&d, &ones(1))), None, false));
    for (g, w) in full.iter().zip(&want) {
        assert!((g - w).abs() < 1e-5, "{g} vs {w}");
    }
    // The delta at strength 0 is no delta at all.
    let masks = vec![
        matrix(vec![1.0, 0.0, 0.5, 0.2, 1.0, 0.0, 0.0, 0.3, 1.0, 1.0, 1.0, 1.0], 4, 3, &device).unsqueeze(),
        Tensor::ones([1, 4, 3], &device),
    ];
    let off = read(spd.masked_forward(x.clone(), &v, &u, &masks, Some((&d, &zeros(1))), None, false));
    let plain = read(spd.masked_forward(x, &v, &u, &masks, None, None, false));
    assert_eq!(off, plain);
}

/// `check_fits` reads the matrices' shapes from the settings, without a
/// device: they must be those of the network SPD decomposes, for every
/// preset (the residual MLPs' embedding and the TMS decoder included).
#[test]
fn matrix_shapes_from_the_settings_are_the_networks() {
    use crate::config::PRESET_NAMES;
    for name in PRESET_NAMES {
        let cfg = preset(name).unwrap();
        let layers = cfg
            .model
            .layer_shapes()
            .into_iter()
            .map(|(name, d_in, d_out)| Matrix { name, d_in, d_out, values: vec![0.0; d_in * d_out] })
            .collect();
        let (bias, embed) = match &cfg.model {
            crate::config::ModelConfig::Tms(t) => (vec![0.0; t.n_features], Vec::new()),
            crate::config::ModelConfig::ResidMlp(r) => (Vec::new(), vec![0.0; r.n_features * r.d_resid]),
        };
        let target = Target { model: cfg.model.clone(), layers, bias, embed };
        let network = Network::new(&target, &Device::flex());
        let want: Vec<(usize, usize)> = spd_matrices(&network)
            .into_iter()
            .map(|l| {
                let d = chain_weight(&network.weights, l).dims();
                (d[d.len() - 2], d[d.len() - 1])
            })
            .collect();
        assert_eq!(crate::decomp::subcomponents::matrix_shapes(&cfg.model), want, "{name}");
    }
}
