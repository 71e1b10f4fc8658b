//! One command's link to one cluster: the executor (Marathon and
//! Metronome), every marathon-lb, the clock, the stop signal and where
//! events go, built once per process and handed to every use case.

use crate::events::{EngineEvent, EventSink};
use canary_core::clock::{Clock, Timestamp};
use canary_core::executor::Executor;
use canary_core::plan::LbSource;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often a wait looks at the stop signal: a stop is seen within this.
pub const STOP_POLL: Duration = Duration::from_millis(100);

/// Asked to stop (a signal) during a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stopped on request")]
pub struct Stopped;

/// What every use case drives a cluster with. The executor and the
/// marathon-lb reader are built once, whatever the command does with them
/// (so credentials are read, and a password asked for, once).
pub struct Session<'a> {
    pub(crate) executor: Box<dyn Executor + 'a>,
    pub(crate) lbs: Box<dyn LbSource + 'a>,
    clock: Arc<dyn Clock>,
    stop: Arc<AtomicBool>,
    events: Box<dyn EventSink + 'a>,
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("stop", &self.stop)
            .finish_non_exhaustive()
    }
}

impl<'a> Session<'a> {
    /// A session over `executor` and `lbs`, timed on `clock`, stopping when
    /// `stop` is set (by a signal handler), telling `events` what happens.
    pub fn new(
        executor: Box<dyn Executor + 'a>,
        lbs: Box<dyn LbSource + 'a>,
        clock: Arc<dyn Clock>,
        stop: Arc<AtomicBool>,
        events: Box<dyn EventSink + 'a>,
    ) -> Session<'a> {
        Session {
            executor,
            lbs,
            clock,
            stop,
            events,
        }
    }

    /// Marathon and Metronome.
    pub fn executor(&mut self) -> &mut dyn Executor {
        self.executor.as_mut()
    }

    /// Every marathon-lb.
    pub fn lbs(&mut self) -> &mut dyn LbSource {
        self.lbs.as_mut()
    }

    /// The clock everything is timed on.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// The clock, shared (a use case that holds it while it borrows the
    /// executor).
    pub(crate) fn clock_arc(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// Now, by [`Session::clock`].
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Whether a stop was asked for.
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// The stop flag itself, for what polls it while the session is
    /// borrowed (a running hook).
    pub(crate) fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Waits `duration` on the clock, in slices of [`STOP_POLL`], or until
    /// a stop is asked for: the one stoppable sleep of every use case.
    pub fn sleep(&self, duration: Duration) -> Result<(), Stopped> {
        let mut left = duration;
        loop {
            if self.stop_requested() {
                return Err(Stopped);
            }
            if left.is_zero() {
                return Ok(());
            }
            let slice = left.min(STOP_POLL);
            self.clock.sleep(slice);
            left -= slice;
        }
    }

    /// Tells the event sink.
    pub fn emit(&mut self, event: &EngineEvent<'_>) {
        self.events.event(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::NoEvents;
    use canary_core::clock::ManualClock;
    use canary_core::executor::RecordingExecutor;
    use canary_core::plan::{LbQuery, LbView};

    struct NoLbs;
    impl LbSource for NoLbs {
        fn observe(&mut self, _: &LbQuery) -> Vec<LbView> {
            Vec::new()
        }
    }

    #[test]
    fn the_sleep_is_sliced_and_stops_on_request() {
        let clock = Arc::new(ManualClock::starting_at(Timestamp::from_unix_secs(1)));
        let stop = Arc::new(AtomicBool::new(false));
        let session = Session::new(
            Box::new(RecordingExecutor::new()),
            Box::new(NoLbs),
            clock.clone(),
            stop.clone(),
            Box::new(NoEvents),
        );
        assert_eq!(session.sleep(Duration::from_millis(250)), Ok(()));
        assert_eq!(
            clock.sleeps(),
            [
                Duration::from_millis(100),
                Duration::from_millis(100),
                Duration::from_millis(50)
            ]
        );
        stop.store(true, Ordering::SeqCst);
        assert_eq!(session.sleep(Duration::from_secs(3600)), Err(Stopped));
        assert_eq!(clock.slept(), Duration::from_millis(250), "no more slept");
    }
}
