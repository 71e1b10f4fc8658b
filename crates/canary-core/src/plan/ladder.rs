//! The traffic ladder: the steps a canary climbs before its rollout.
//!
//! `1,25%,50%` is three steps: one instance, then a quarter of the target,
//! then half of it. Each step is an instance count or a share of the target
//! (the count the previous app had when the canary was created, its
//! `TARGET_INSTANCES`), a share rounded up so that every step serves. The
//! ladder is written on the canary app (the `CANARY_STEPS` label) when the
//! deploy creates it, so the step the group stands at is always derived from
//! the cluster: the highest step the canary's healthy instances have
//! reached. Nothing is kept anywhere else; any command resumes.

use std::fmt;

/// One rung: a count, or a share of the target in percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rung {
    /// This many instances.
    Count(u32),
    /// This share of the target, 1 to 100 percent, rounded up.
    Percent(u32),
}

/// The ladder a deploy climbs, as given (`--steps`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ladder {
    rungs: Vec<Rung>,
}

/// Why a `--steps` text is not a ladder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LadderError {
    /// Empty, or an empty item between commas.
    #[error("a step is empty: give counts or percentages separated by commas, e.g. 1,25%,50%")]
    Empty,
    /// Not a count or a percentage.
    #[error("step '{0}' is not a count (1, 2, …) or a percentage (1% to 100%)")]
    Step(String),
    /// More steps than a rollout needs.
    #[error("{0} steps are too many: at most 10")]
    TooMany(usize),
}

/// The most rungs a ladder may have.
pub const MAX_RUNGS: usize = 10;

impl Ladder {
    /// Parses `1,25%,50%`: up to [`MAX_RUNGS`] counts (≥ 1) or
    /// percentages (1 to 100), comma-separated, spaces allowed.
    pub fn parse(text: &str) -> Result<Ladder, LadderError> {
        let mut rungs = Vec::new();
        for item in text.split(',') {
            let item = item.trim();
            if item.is_empty() {
                return Err(LadderError::Empty);
            }
            let bad = || LadderError::Step(item.escape_debug().to_string());
            let rung = match item.strip_suffix('%') {
                Some(p) => {
                    let p: u32 = p.trim().parse().map_err(|_| bad())?;
                    if !(1..=100).contains(&p) {
                        return Err(bad());
                    }
                    Rung::Percent(p)
                }
                None => Rung::Count(item.parse().ok().filter(|n| *n >= 1).ok_or_else(bad)?),
            };
            rungs.push(rung);
        }
        if rungs.len() > MAX_RUNGS {
            return Err(LadderError::TooMany(rungs.len()));
        }
        Ok(Ladder { rungs })
    }

    /// The instance counts of the steps for `target`: each at least 1 and
    /// at most `target`, strictly increasing (a step that would not grow
    /// the canary is dropped).
    pub fn counts(&self, target: u32) -> Vec<u32> {
        self.steps(target).into_iter().map(|(_, n)| n).collect()
    }

    /// [`Ladder::counts`] with the rung each count comes from (`25%`, `1`).
    pub fn steps(&self, target: u32) -> Vec<(Rung, u32)> {
        let mut steps: Vec<(Rung, u32)> = Vec::new();
        for rung in &self.rungs {
            let n = match *rung {
                Rung::Count(n) => n,
                Rung::Percent(p) => (u64::from(target) * u64::from(p)).div_ceil(100) as u32,
            }
            .clamp(1, target.max(1));
            if steps.last().is_none_or(|(_, last)| n > *last) {
                steps.push((*rung, n));
            }
        }
        steps
    }

    /// Where a canary of `healthy` healthy instances stands: the index of
    /// the highest step it has reached (`None`: not even the first).
    pub fn reached(&self, target: u32, healthy: u32) -> Option<usize> {
        self.counts(target).iter().rposition(|n| healthy >= *n)
    }

    /// The count of the step after the one a canary of `healthy` reached
    /// (the first, when none): `None` past the last step.
    pub fn next(&self, target: u32, healthy: u32) -> Option<u32> {
        let counts = self.counts(target);
        let at = self.reached(target, healthy);
        counts.get(at.map_or(0, |i| i + 1)).copied()
    }
}

impl fmt::Display for Rung {
    /// `3` or `25%`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rung::Count(n) => write!(f, "{n}"),
            Rung::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl fmt::Display for Ladder {
    /// The `--steps` form, `1,25%,50%`: what the `CANARY_STEPS` label holds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self.rungs.iter().map(Rung::to_string).collect();
        f.write_str(&items.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_name_the_rung_each_count_comes_from() {
        let ladder = Ladder::parse("1,10%,50%").unwrap();
        assert_eq!(
            ladder.steps(4),
            [(Rung::Count(1), 1), (Rung::Percent(50), 2)],
            "10% of 4 is 1: dropped"
        );
        assert_eq!(Rung::Percent(25).to_string(), "25%");
    }

    #[test]
    fn steps_are_counts_or_shares_of_the_target_rounded_up_and_increasing() {
        let ladder = Ladder::parse("1, 25%,50%").unwrap();
        assert_eq!(ladder.to_string(), "1,25%,50%");
        assert_eq!(ladder.counts(4), [1, 2]); // 25% of 4 is 1: dropped
        assert_eq!(ladder.counts(20), [1, 5, 10]);
        assert_eq!(ladder.counts(3), [1, 2]);
        assert_eq!(Ladder::parse("3,2,100%").unwrap().counts(10), [3, 10]);
        assert_eq!(
            Ladder::parse("50").unwrap().counts(4),
            [4],
            "capped at the target"
        );
        assert_eq!(Ladder::parse("1%").unwrap().counts(0), [1]);
    }

    #[test]
    fn the_step_reached_and_the_next_come_from_the_healthy_canary() {
        let ladder = Ladder::parse("1,25%,50%").unwrap();
        assert_eq!(ladder.reached(20, 0), None);
        assert_eq!(ladder.next(20, 0), Some(1));
        assert_eq!(ladder.reached(20, 1), Some(0));
        assert_eq!(ladder.next(20, 1), Some(5));
        assert_eq!(
            ladder.reached(20, 7),
            Some(1),
            "between steps: the lower one"
        );
        assert_eq!(ladder.next(20, 7), Some(10));
        assert_eq!(ladder.reached(20, 10), Some(2));
        assert_eq!(ladder.next(20, 10), None, "past the last step: the rollout");
    }

    #[test]
    fn bad_ladders_say_why() {
        for (text, error) in [
            ("", LadderError::Empty),
            ("1,,2", LadderError::Empty),
            ("0", LadderError::Step("0".into())),
            ("101%", LadderError::Step("101%".into())),
            ("x", LadderError::Step("x".into())),
            ("-1", LadderError::Step("-1".into())),
        ] {
            assert_eq!(Ladder::parse(text), Err(error), "{text:?}");
        }
        assert_eq!(
            Ladder::parse("1,2,3,4,5,6,7,8,9,10,11"),
            Err(LadderError::TooMany(11))
        );
    }
}
