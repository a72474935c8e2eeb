//! The bookkeeping of this project's restarts, shared by APD, SPD and VPD:
//! several starts train one after another for the same share of the steps,
//! each is scored at its end, the best so far is kept whole (parameters and
//! optimiser) while the next trains, and after the last the best goes on.
//! What a start holds (`S`) and how it is scored (`K`, lower is better) is
//! the method's; so is when a start ends. [`InstanceStarts`] runs the
//! starts of N instances in step, each instance keeping its own best.

/// Where the restarts stand.
pub struct Restarts<S, K> {
    /// Which start is training; stays at the last one once they have been compared.
    pub start: usize,
    /// Sum and count of a per-step figure over the last quarter of this start.
    tail: (f64, usize),
    /// The best start so far (its index, key and state), until the comparison.
    best: Option<(usize, K, S)>,
    /// Whether the start that just ended beat the best, until it is set aside.
    pending: Option<K>,
    /// Each finished start's score, as shown.
    pub scores: Vec<f64>,
    /// The start that won the comparison.
    pub chosen: Option<usize>,
}

impl<S, K> Default for Restarts<S, K> {
    fn default() -> Self {
        Restarts { start: 0, tail: (0.0, 0), best: None, pending: None, scores: Vec::new(), chosen: None }
    }
}

/// What trains after a start has ended ([`Restarts::finish`]).
pub enum Next<S> {
    /// The last start won: it goes on as it is.
    Keep,
    /// An earlier start won: the caller makes it current again.
    Restore(S),
    /// Start `.0` is next: the caller makes a fresh one current and hands
    /// the one it replaces to [`Restarts::set_aside`].
    Fresh(usize),
}

impl<S, K: PartialOrd> Restarts<S, K> {
    /// Adds one step's `value` to the current start's tail, at step `s` of
    /// its `len` (only the last quarter counts); returns whether the start
    /// has ended.
    pub fn record(&mut self, s: usize, len: usize, value: f64) -> bool {
        if s > len - (len / 4).max(1) {
            self.tail.0 += value;
            self.tail.1 += 1;
        }
        s >= len
    }

    /// The mean of the ended start's tail; the next start's begins empty.
    pub fn take_tail_mean(&mut self) -> f64 {
        let mean = self.tail.0 / self.tail.1.max(1) as f64;
        self.tail = (0.0, 0);
        mean
    }

    /// The current start has ended with `key` (shown as `score`); `last` is
    /// the index of the last start. Ties go to the earlier start, so the
    /// choice is deterministic.
    pub fn finish(&mut self, key: K, score: f64, last: usize) -> Next<S> {
        self.scores.push(score);
        let better = self.best.as_ref().is_none_or(|b| key < b.1);
        if self.start == last {
            let best = self.best.take();
            self.chosen = Some(match &best {
                Some((index, _, _)) if !better => *index,
                _ => self.start,
            });
            return match best {
                Some((_, _, state)) if !better => Next::Restore(state),
                _ => Next::Keep,
            };
        }
        self.pending = better.then_some(key);
        self.start += 1;
        Next::Fresh(self.start)
    }

    /// What is kept of the best start so far, until the comparison.
    pub fn best(&self) -> Option<&S> {
        self.best.as_ref().map(|(_, _, s)| s)
    }

    /// Keeps `finished`, the start that [`Next::Fresh`] replaced, if it is
    /// the best so far.
    pub fn set_aside(&mut self, finished: S) {
        if let Some(key) = self.pending.take() {
            self.best = Some((self.start - 1, key, finished));
        }
    }
}

/// A method's state for N instances side by side that can be cut into
/// single instances and put back together (a start, to go on from per
/// instance).
pub trait PerInstance: Sized {
    /// Instance `i`'s part alone.
    fn instance(&self, i: usize) -> Self;
    /// Single instances' parts side by side, in order.
    fn join(parts: Vec<Self>) -> Self;
}

/// The starts of N instances run in step, each instance comparing its own:
/// start s is a fresh initialisation of every instance, and after the last
/// each instance goes on from its own best, sliced out of the start that
/// held it.
pub struct InstanceStarts<S, K> {
    /// Each instance's comparison; every one is at the same start.
    pub each: Vec<Restarts<usize, K>>,
    /// The starts finished so far, by index, until they have been compared;
    /// only those that are some instance's best so far are kept.
    saved: Vec<Option<S>>,
}

impl<S: PerInstance, K: PartialOrd> InstanceStarts<S, K> {
    /// Nothing compared yet, for `n` instances.
    pub fn new(n: usize) -> Self {
        InstanceStarts { each: (0..n).map(|_| Restarts::default()).collect(), saved: Vec::new() }
    }

    /// Instance `i`'s comparison alone (taken out: the batch is being split).
    pub fn split(self) -> Vec<InstanceStarts<S, K>> {
        let saved = self.saved;
        self.each
            .into_iter()
            .enumerate()
            .map(|(i, r)| InstanceStarts { each: vec![r], saved: saved.iter().map(|s| s.as_ref().map(|s| s.instance(i))).collect() })
            .collect()
    }

    /// Adds each instance's `values[i]` at step `s` of a start of `len`
    /// ([`Restarts::record`]); returns whether the start has ended.
    pub fn record(&mut self, s: usize, len: usize, values: &[f64]) -> bool {
        let mut ended = false;
        for (r, &v) in self.each.iter_mut().zip(values) {
            // The instances are in step: the start ends for all at once.
            ended = r.record(s, len, v);
        }
        ended
    }

    /// The start that just ended has been scored: `scored(i, tail_mean)`
    /// gives instance i's key and shown score; `last` is the last start's
    /// index and `current` the state training now. Returns what trains
    /// next: [`Next::Fresh`] (the caller makes that start current and hands
    /// the one it replaces to [`InstanceStarts::set_aside`]), or after the
    /// last start [`Next::Keep`] when every instance keeps the current
    /// start, else [`Next::Restore`] with each instance's best joined.
    pub fn finish(&mut self, last: usize, current: &S, mut scored: impl FnMut(usize, f64) -> (K, f64)) -> Next<S> {
        let next: Vec<Next<usize>> = self
            .each
            .iter_mut()
            .enumerate()
            .map(|(i, r)| {
                let (key, score) = scored(i, r.take_tail_mean());
                r.finish(key, score, last)
            })
            .collect();
        if let Next::Fresh(start) = next[0] {
            return Next::Fresh(start);
        }
        let saved = std::mem::take(&mut self.saved);
        if !next.iter().any(|n| matches!(n, Next::Restore(_))) {
            return Next::Keep;
        }
        let parts = next
            .iter()
            .enumerate()
            .map(|(i, n)| match n {
                Next::Restore(best) => saved[*best].as_ref().expect("an instance's best start is kept").instance(i),
                _ => current.instance(i),
            })
            .collect();
        Next::Restore(S::join(parts))
    }

    /// Keeps `finished`, the start before `start`, where it is some
    /// instance's best so far.
    pub fn set_aside(&mut self, finished: S, start: usize) {
        for r in &mut self.each {
            r.set_aside(start - 1);
        }
        self.saved.push(Some(finished));
        let best: Vec<usize> = self.each.iter().filter_map(|r| r.best().copied()).collect();
        for (k, s) in self.saved.iter_mut().enumerate() {
            if !best.contains(&k) {
                *s = None;
            }
        }
    }
}

/// SPD's and VPD's starts, scored alike: by the count of features without
/// a subcomponent of their own in the first matrix, then by the mean loss
/// over the start's last quarter. What a start holds is the method's.
pub(crate) trait ScoredStarts {
    type Saved: PerInstance;
    fn starts(&mut self) -> &mut InstanceStarts<Self::Saved, (usize, f64)>;
    /// The state training now, kept whole.
    fn save(&self) -> Self::Saved;
    /// Makes a fresh `start` current and returns the state it replaces.
    fn begin(&mut self, start: usize) -> Self::Saved;
    /// Makes a kept state current again.
    fn restore(&mut self, saved: Self::Saved);
}

/// Ends the current start: scores each instance by `ci[i]` (the first
/// matrix's importances of each feature alone, `n x c`) and goes on to the
/// next start or, after the last (`last`), to each instance's best.
pub(crate) fn end_start<T: ScoredStarts>(t: &mut T, ci: &[Vec<f32>], c: usize, last: usize) {
    let current = t.save();
    let next = t.starts().finish(last, &current, |i, mean_loss| {
        let missing = super::importance::features_without_own(&ci[i], c);
        ((missing, mean_loss), missing as f64)
    });
    match next {
        Next::Fresh(start) => {
            // Before the fresh start is made: only one start's state at a time.
            drop(current);
            let old = t.begin(start);
            t.starts().set_aside(old, start);
        }
        Next::Restore(best) => t.restore(best),
        Next::Keep => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three starts scored 2, 1, 3: the second is kept aside and restored.
    #[test]
    fn the_best_start_goes_on() {
        let mut r: Restarts<&str, f64> = Restarts::default();
        let states = ["first", "second", "third"];
        let mut current = states[0];
        for (i, key) in [2.0, 1.0, 3.0].into_iter().enumerate() {
            assert!(!r.record(3, 4, 5.0), "the start goes on before its end");
            assert!(r.record(4, 4, 7.0), "and ends at its length");
            assert_eq!(r.take_tail_mean(), 7.0, "the mean over the last quarter (step 3 of 4 is not in it)");
            match r.finish(key, key, 2) {
                Next::Fresh(next) => {
                    assert_eq!(next, i + 1);
                    r.set_aside(std::mem::replace(&mut current, states[next]));
                }
                Next::Restore(s) => current = s,
                Next::Keep => {}
            }
        }
        assert_eq!(current, "second");
        assert_eq!(r.chosen, Some(1));
        assert_eq!(r.scores, vec![2.0, 1.0, 3.0]);
    }

    /// A tie goes to the earlier start; a last start that beats them all stays.
    #[test]
    fn ties_go_to_the_earlier_start() {
        for (keys, chosen) in [([1.0, 1.0], 0), ([1.0, 0.5], 1)] {
            let mut r: Restarts<usize, f64> = Restarts::default();
            let mut current = 0;
            for key in keys {
                match r.finish(key, key, 1) {
                    Next::Fresh(next) => r.set_aside(std::mem::replace(&mut current, next)),
                    Next::Restore(s) => current = s,
                    Next::Keep => {}
                }
            }
            assert_eq!((current, r.chosen), (chosen, Some(chosen)), "{keys:?}");
        }
    }
}
