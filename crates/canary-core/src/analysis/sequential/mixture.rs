//! The normal-mixture confidence sequence for a difference of two error
//! rates, and its e-value (a mixture sequential probability ratio test).
//!
//! With `diff` the observed difference of the canary's error rate and the
//! baseline's and `v` its variance, a normal mixture over the true
//! difference (mean `θ₀`, variance `τ²`) gives the likelihood ratio
//!
//! ```text
//! Λ(θ₀) = sqrt(v / (v + τ²)) · exp(τ² (diff − θ₀)² / (2 v (v + τ²)))
//! ```
//!
//! (Robbins 1970; Johari, Pekelis and Walsh, "Always valid inference",
//! 2017, eq. 11). For a Gaussian `diff` with known `v` it is a martingale
//! in the information `1/v` under `θ = θ₀`, so by Ville's inequality
//! `P(∃ t: Λₜ ≥ 1/α) ≤ α`: it may be looked at after every read. The set
//! of `θ₀` with `Λ(θ₀) < 1/α` is the confidence sequence
//! `diff ± half_width(v, τ², α)`, which covers the true difference at
//! every read at once with probability at least `1 − α`.

/// The mixing variance `τ²`: the mixture is most powerful for differences
/// of about `τ` (one percentage point), the size of a canary's regression
/// worth a rollback.
pub const MIXING_VARIANCE: f64 = 0.01 * 0.01;

/// The likelihood ratio `Λ(θ₀)` of the mixture at the observed `diff`
/// with variance `v` (`v > 0`): the evidence that the true difference is
/// not `θ₀`. Infinite when it overflows.
pub fn e_value(diff: f64, theta0: f64, v: f64, tau2: f64) -> f64 {
    let exponent = tau2 * (diff - theta0).powi(2) / (2.0 * v * (v + tau2));
    (v / (v + tau2)).sqrt() * exponent.exp()
}

/// The half width of the `1 − α` confidence sequence at variance `v`:
/// `θ₀` is outside it exactly when `Λ(θ₀) ≥ 1/α`.
pub fn half_width(v: f64, tau2: f64, alpha: f64) -> f64 {
    let log = ((v + tau2) / v).sqrt().ln() - alpha.ln();
    (2.0 * v * (v + tau2) / tau2 * log).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values computed by hand from the formula (and with Python's
    /// `math`): `v = τ² = 1`, `diff − θ₀ = 2` gives `√½ · e¹`.
    #[test]
    fn the_e_value_is_the_mixture_likelihood_ratio() {
        let e = e_value(2.0, 0.0, 1.0, 1.0);
        assert!((e - 0.5f64.sqrt() * 1f64.exp()).abs() < 1e-12, "{e}");
        // Johari et al.'s form at v = 0.0004, τ² = 0.0001, diff − θ₀ =
        // 0.05: sqrt(0.8) · exp(0.0001 · 0.0025 / (2 · 0.0004 · 0.0005)).
        let e = e_value(0.06, 0.01, 0.0004, 0.0001);
        let expected = 0.8f64.sqrt() * (0.000_000_25f64 / 0.000_000_4).exp();
        assert!((e - expected).abs() < 1e-9, "{e} {expected}");
        // No evidence at θ₀ itself: below 1.
        assert!(e_value(0.01, 0.01, 0.0004, 0.0001) < 1.0);
    }

    #[test]
    fn the_confidence_sequence_is_where_the_e_value_stays_below_one_over_alpha() {
        for (v, alpha) in [(1e-6, 0.05), (1e-4, 0.01), (2.5e-3, 0.2)] {
            let w = half_width(v, MIXING_VARIANCE, alpha);
            let at = |d: f64| e_value(d, 0.0, v, MIXING_VARIANCE);
            assert!((at(w) - 1.0 / alpha).abs() < 1e-6 / alpha, "{v} {alpha}");
            assert!(at(w * 0.999) < 1.0 / alpha && at(w * 1.001) > 1.0 / alpha);
        }
    }

    #[test]
    fn more_information_narrows_the_sequence() {
        let mut last = f64::INFINITY;
        for n in [100.0, 1_000.0, 10_000.0, 100_000.0] {
            let w = half_width(0.01 / n, MIXING_VARIANCE, 0.05);
            assert!(w < last, "{n}: {w} >= {last}");
            last = w;
        }
    }
}
