//! The cluster clock: simulated milliseconds since the Unix epoch.
//!
//! A scaled clock runs `scale` simulated seconds per real second, so a test
//! can let minutes of cluster time pass in milliseconds. A manual clock
//! (scale 0) moves only when told ([`SimClock::advance`]), for tests that
//! must not depend on real time at all.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The cluster clock. Cheap to query; shared by all handlers.
#[derive(Debug)]
pub struct SimClock {
    inner: Mutex<ClockState>,
}

#[derive(Debug)]
struct ClockState {
    origin_real: Instant,
    origin_sim_ms: u64,
    scale: f64,
}

impl SimClock {
    /// A clock starting at `start_ms` (simulated epoch milliseconds) running
    /// `scale` times real time; `scale == 0.0` makes it manual.
    pub fn new(start_ms: u64, scale: f64) -> Self {
        SimClock {
            inner: Mutex::new(ClockState {
                origin_real: Instant::now(),
                origin_sim_ms: start_ms,
                scale: scale.max(0.0),
            }),
        }
    }

    /// The real wall-clock time in epoch milliseconds, the default start.
    pub fn real_now_ms() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    /// Simulated epoch milliseconds now.
    pub fn now_ms(&self) -> u64 {
        let state = self.inner.lock().expect("clock lock");
        let real = state.origin_real.elapsed().as_secs_f64() * 1000.0;
        state.origin_sim_ms + (real * state.scale) as u64
    }

    /// Moves simulated time forward by `by`, whatever the scale.
    pub fn advance(&self, by: Duration) {
        let mut state = self.inner.lock().expect("clock lock");
        state.origin_sim_ms += by.as_millis() as u64;
    }

    /// Simulated seconds per real second.
    pub fn scale(&self) -> f64 {
        self.inner.lock().expect("clock lock").scale
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn parts(ms: u64) -> (i64, u32, u32, u64, u64, u64, u64) {
    let secs = ms / 1000;
    let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    (y, mo, d, rem / 3600, rem % 3600 / 60, rem % 60, ms % 1000)
}

/// Marathon's timestamp format: `2015-09-29T15:59:51.164Z`.
pub fn marathon_timestamp(ms: u64) -> String {
    let (y, mo, d, h, mi, s, milli) = parts(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// Metronome's timestamp format: `2016-07-15T13:02:59.735+0000`.
pub fn metronome_timestamp(ms: u64) -> String {
    let (y, mo, d, h, mi, s, milli) = parts(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}+0000")
}

/// Metronome's run-id prefix format: `yyyyMMddHHmmss`.
pub fn compact_timestamp(ms: u64) -> String {
    let (y, mo, d, h, mi, s, _) = parts(ms);
    format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_the_services() {
        // 2016-07-15T13:02:59.735Z, the Metronome RAML example's createdAt.
        let ms = 1_468_587_779_735;
        assert_eq!(marathon_timestamp(ms), "2016-07-15T13:02:59.735Z");
        assert_eq!(metronome_timestamp(ms), "2016-07-15T13:02:59.735+0000");
        assert_eq!(compact_timestamp(ms), "20160715130259");
        assert_eq!(marathon_timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            marathon_timestamp(951_782_400_000),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = SimClock::new(1_000, 0.0);
        assert_eq!(clock.now_ms(), 1_000);
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now_ms(), 91_000);
    }

    #[test]
    fn scaled_clock_runs_faster_than_real_time() {
        let clock = SimClock::new(0, 1000.0);
        assert_eq!(clock.scale(), 1000.0);
        let before = clock.now_ms();
        clock.advance(Duration::from_secs(5));
        assert!(clock.now_ms() >= before + 5_000);
    }
}
