//! Learning-rate schedules (the papers' appendices, as the reference code
//! runs them), shared by target training and every decomposition method.

use super::{check_count, check_range, err, ConfigError};
use serde::{Deserialize, Serialize};

/// How the learning rate evolves after warmup.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    /// Constant after warmup.
    Constant,
    /// The reference's quarter cosine: `lr * cos(pi/2 * t / (T - 1))`.
    Cosine,
    /// Linear decay to zero.
    Linear,
}

/// Learning rate at `step` (0-based) of `total`: linear warmup from 0 over
/// `floor(warmup_pct * total)` steps, then the schedule over the rest.
pub fn lr_at(step: usize, total: usize, lr: f64, warmup_pct: f64, schedule: LrSchedule) -> f64 {
    let warmup = (warmup_pct * total as f64) as usize;
    if step < warmup {
        return lr * step as f64 / warmup as f64;
    }
    let t = (step - warmup) as f64;
    let span = (total - warmup) as f64;
    match schedule {
        LrSchedule::Constant => lr,
        LrSchedule::Cosine if span > 1.0 => lr * (0.5 * std::f64::consts::PI * t / (span - 1.0)).cos(),
        LrSchedule::Cosine => lr,
        LrSchedule::Linear => lr * (1.0 - t / span),
    }
}

/// Checks the fields every schedule has, under `prefix` (`target`, `apd`).
pub(super) fn validate_schedule(prefix: &str, lr: f64, warmup: f64, batch: usize, steps: usize) -> Result<(), ConfigError> {
    check_range(&format!("{prefix}.lr"), lr, 0.0, 1e6, true)?;
    if !(0.0..1.0).contains(&warmup) {
        return err(&format!("{prefix}.lr_warmup_pct"), format!("must be in [0, 1) (got {warmup})"));
    }
    check_count(&format!("{prefix}.batch_size"), batch, 1, 1 << 16)?;
    check_count(&format!("{prefix}.steps"), steps, 1, 10_000_000)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lr_schedule_matches_hand_values() {
        // 100 steps, 5 warmup steps: 0, 0.2, 0.4, ... then constant.
        assert_eq!(lr_at(0, 100, 1.0, 0.05, LrSchedule::Constant), 0.0);
        assert!((lr_at(2, 100, 1.0, 0.05, LrSchedule::Constant) - 0.4).abs() < 1e-12);
        assert_eq!(lr_at(50, 100, 1.0, 0.05, LrSchedule::Constant), 1.0);
        // Cosine over the 95 remaining steps reaches 0 on the last one.
        assert!((lr_at(5, 100, 1.0, 0.05, LrSchedule::Cosine) - 1.0).abs() < 1e-12);
        assert!(lr_at(99, 100, 1.0, 0.05, LrSchedule::Cosine).abs() < 1e-12);
        let mid = lr_at(5 + 47, 100, 1.0, 0.05, LrSchedule::Cosine);
        assert!((mid - (std::f64::consts::PI / 4.0).cos()).abs() < 1e-12);
        assert!((lr_at(50, 100, 2.0, 0.0, LrSchedule::Linear) - 1.0).abs() < 1e-12);
    }
}

/// Where the starts of a decomposition with restarts fall (APD's and SPD's
/// alike): `restarts + 1` starts of `pct` of `steps` each, then the best
/// goes on through the rest of its schedule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StartPlan {
    /// The schedule's steps.
    pub steps: usize,
    /// Extra starts.
    pub restarts: usize,
    /// Each start's share of `steps`.
    pub pct: f64,
}

impl StartPlan {
    /// Steps of each start when `restarts` > 0.
    pub fn restart_len(&self) -> usize {
        ((self.pct * self.steps as f64).round() as usize).clamp(1, self.steps)
    }

    /// Steps of the whole decomposition: the starts that lose, then the
    /// full schedule for the one that wins.
    pub fn total_steps(&self) -> usize {
        self.steps + self.restarts * self.restart_len()
    }

    /// The step (counted over the whole decomposition) after which the
    /// starts have been compared; 0 without restarts.
    pub fn selection_step(&self) -> usize {
        if self.restarts == 0 {
            0
        } else {
            (self.restarts + 1) * self.restart_len()
        }
    }

    /// Where a loss chart marks the restarts: each new start, and the step
    /// from which the best one goes on (empty without restarts).
    pub fn restart_marks(&self) -> Vec<(usize, String)> {
        if self.restarts == 0 {
            return Vec::new();
        }
        let len = self.restart_len();
        let mut marks: Vec<(usize, String)> = (1..=self.restarts).map(|t| (t * len, format!("start {}", t + 1))).collect();
        marks.push((self.selection_step(), "best goes on".into()));
        marks
    }
}
