//! A batch of APD instances split into decompositions of their own, each
//! as if it had run alone so far: what the probes, views and reports of
//! one seed take.

use super::ApdTrainer;

impl ApdTrainer {
    /// The instances as N decompositions of their own, each as if it had
    /// run alone so far (components, optimiser, data stream, restarts), to
    /// be looked at or continued one by one.
    pub fn into_instances(self) -> Vec<ApdTrainer> {
        let mut restarts = self.restarts.split().into_iter();
        (0..self.seeds.len())
            .map(|i| ApdTrainer {
                config: self.config.clone(),
                network: self.network.instance(i),
                single: self.network.single(i),
                rescales: vec![self.rescales[i].clone()],
                model: self.model.instance(i),
                optim: self.optim.instance(i),
                rngs: vec![self.rngs[i].clone()],
                device: self.device.clone(),
                step: self.step,
                last_active: vec![self.last_active[i].clone()],
                n_now: self.n_now,
                usage: vec![self.usage[i].clone()],
                restarts: restarts.next().expect("one per instance"),
                seeds: vec![self.seeds[i]],
                // Read again from its own network when needed.
                host_target: None,
            })
            .collect()
    }
}
