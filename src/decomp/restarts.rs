//! The bookkeeping of this project's restarts, shared by APD and SPD:
//! several starts train one after another for the same share of the steps,
//! each is scored at its end, the best so far is kept whole (parameters and
//! optimiser) while the next trains, and after the last the best goes on.
//! What a start holds (`S`) and how it is scored (`K`, lower is better) is
//! the method's; so is when a start ends.

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
