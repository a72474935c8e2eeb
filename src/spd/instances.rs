//! A batch of SPD instances split into decompositions of their own, each
//! as if it had run alone so far: what the probes, views and reports of
//! one seed take.

use super::SpdTrainer;

impl SpdTrainer {
    /// The instances as N decompositions of their own, each as if it had
    /// run alone so far (parameters, optimiser, data and mask streams,
    /// restarts), to be looked at or continued one by one.
    pub fn into_instances(self) -> Vec<SpdTrainer> {
        let mut restarts = self.restarts.split().into_iter();
        (0..self.seeds.len())
            .map(|i| SpdTrainer {
                config: self.config.clone(),
                spd: self.spd.clone(),
                network: self.network.instance(i),
                single: self.network.single(i),
                rescales: vec![self.rescales[i].clone()],
                matrices: self.matrices.clone(),
                model: self.model.instance(i),
                optim: self.optim.instance(i),
                rngs: vec![self.rngs[i].clone()],
                noises: vec![self.noises[i].clone()],
                device: self.device.clone(),
                step: self.step,
                last_active: vec![self.last_active[i].clone()],
                warmed_up: self.warmed_up,
                seeds: vec![self.seeds[i]],
                shapes: self.shapes.clone(),
                restarts: restarts.next().expect("one per instance"),
            })
            .collect()
    }
}
