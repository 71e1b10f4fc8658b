//! One server's HAProxy counters, read from its `;csv` stats row, and the
//! arithmetic of a window over them.
//!
//! HAProxy keeps the counters in its worker process (marathon-lb-haproxy.md
//! §6): they only grow while that process lives, and a reload starts a new
//! worker at zero. So a counter lower at the end of a window than at its
//! start is the mark of a new process, never a negative rate: see
//! [`Counters::went_down_since`] and the reset rule in
//! [`super::snapshot::delta`].

use crate::plan::stats::StatsRow;
use serde::Serialize;

/// One server's counters at one moment (or, after [`Counters::since`],
/// what it gained over a window). Every field but [`Counters::rtime`] is a
/// cumulative counter of the worker process that served the stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Informational responses (`hrsp_1xx`).
    pub hrsp_1xx: u64,
    /// Successful responses (`hrsp_2xx`).
    pub hrsp_2xx: u64,
    /// Redirections (`hrsp_3xx`).
    pub hrsp_3xx: u64,
    /// Client errors (`hrsp_4xx`): the client's fault, not counted as the
    /// server's errors.
    pub hrsp_4xx: u64,
    /// Server errors (`hrsp_5xx`).
    pub hrsp_5xx: u64,
    /// Responses with a status outside 1xx..5xx (`hrsp_other`).
    pub hrsp_other: u64,
    /// Failed connection attempts to the server (`econ`): requests that got
    /// no response from it at all.
    pub econ: u64,
    /// Response errors (`eresp`): the server closed or timed out before or
    /// while answering. HAProxy also counts here the aborts of
    /// [`Counters::srv_abrt`].
    pub eresp: u64,
    /// Transfers the client aborted (`cli_abrt`): reported, never judged,
    /// since impatient clients say little about the server.
    pub cli_abrt: u64,
    /// Transfers the server aborted (`srv_abrt`): reported; they are
    /// already among the errors through [`Counters::eresp`].
    pub srv_abrt: u64,
    /// Sessions sent to the server (`stot`): not a metric here, but one
    /// more counter that shows a new process by going down.
    pub stot: u64,
    /// HAProxy's average response time in milliseconds over the server's
    /// last 1024 requests (`rtime`): a gauge, not a counter, so a window
    /// keeps its value at the end.
    pub rtime: u64,
}

impl Counters {
    /// The counters of one server row, by column name; an empty or absent
    /// column reads as 0, as HAProxy leaves unused columns empty (`mode
    /// tcp` has no `hrsp_*`, an old HAProxy no `rtime`).
    pub fn from_row(row: &StatsRow) -> Counters {
        Counters {
            hrsp_1xx: row.number("hrsp_1xx"),
            hrsp_2xx: row.number("hrsp_2xx"),
            hrsp_3xx: row.number("hrsp_3xx"),
            hrsp_4xx: row.number("hrsp_4xx"),
            hrsp_5xx: row.number("hrsp_5xx"),
            hrsp_other: row.number("hrsp_other"),
            econ: row.number("econ"),
            eresp: row.number("eresp"),
            cli_abrt: row.number("cli_abrt"),
            srv_abrt: row.number("srv_abrt"),
            stot: row.number("stot"),
            rtime: row.number("rtime"),
        }
    }

    /// The cumulative counters, in a fixed order (every field but `rtime`;
    /// the six response classes first).
    fn cumulative(&self) -> [u64; 11] {
        [
            self.hrsp_1xx,
            self.hrsp_2xx,
            self.hrsp_3xx,
            self.hrsp_4xx,
            self.hrsp_5xx,
            self.hrsp_other,
            self.econ,
            self.eresp,
            self.cli_abrt,
            self.srv_abrt,
            self.stot,
        ]
    }

    /// Responses the server sent, every class (`hrsp_1xx` to
    /// `hrsp_other`): what its response time averages over.
    pub fn responses(&self) -> u64 {
        // The response classes lead `cumulative`'s order.
        self.cumulative()[..6]
            .iter()
            .fold(0, |sum, n| sum.saturating_add(*n))
    }

    /// The requests the server failed: its 5xx responses, the connections
    /// to it that failed and its response errors.
    pub fn errors(&self) -> u64 {
        self.hrsp_5xx
            .saturating_add(self.econ)
            .saturating_add(self.eresp)
    }

    /// The requests sent to the server as far as its counters tell: every
    /// response, plus the failed connections and response errors, which
    /// got no response from it. Counting those keeps the error rate within
    /// 0..=1 and gives a canary that fails every request a rate of 1
    /// instead of no requests at all. (A response broken off after its
    /// headers is in its class and in `eresp`, so this is an upper bound.)
    pub fn requests(&self) -> u64 {
        self.responses()
            .saturating_add(self.econ)
            .saturating_add(self.eresp)
    }

    /// Whether any cumulative counter is lower than in `earlier`: the
    /// stats come from a newer HAProxy process than `earlier`'s.
    pub fn went_down_since(&self, earlier: &Counters) -> bool {
        self.cumulative()
            .iter()
            .zip(earlier.cumulative())
            .any(|(now, then)| *now < then)
    }

    /// What the server gained since `earlier` (of the same process): every
    /// cumulative counter's difference, never below zero, and this
    /// moment's `rtime`.
    pub fn since(&self, earlier: &Counters) -> Counters {
        Counters {
            hrsp_1xx: self.hrsp_1xx.saturating_sub(earlier.hrsp_1xx),
            hrsp_2xx: self.hrsp_2xx.saturating_sub(earlier.hrsp_2xx),
            hrsp_3xx: self.hrsp_3xx.saturating_sub(earlier.hrsp_3xx),
            hrsp_4xx: self.hrsp_4xx.saturating_sub(earlier.hrsp_4xx),
            hrsp_5xx: self.hrsp_5xx.saturating_sub(earlier.hrsp_5xx),
            hrsp_other: self.hrsp_other.saturating_sub(earlier.hrsp_other),
            econ: self.econ.saturating_sub(earlier.econ),
            eresp: self.eresp.saturating_sub(earlier.eresp),
            cli_abrt: self.cli_abrt.saturating_sub(earlier.cli_abrt),
            srv_abrt: self.srv_abrt.saturating_sub(earlier.srv_abrt),
            stot: self.stot.saturating_sub(earlier.stot),
            rtime: self.rtime,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::stats::parse_stats_csv;

    #[test]
    fn a_row_reads_by_column_name_and_empty_columns_are_zero() {
        let csv = "# pxname,svname,status,scur,qcur,stot,econ,eresp,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,cli_abrt,srv_abrt,rtime\n\
                   web_10000,10_0_0_1_31000,UP,0,0,120,2,3,1,90,4,5,6,7,8,9,12\n\
                   web_10000,10_0_0_1_31001,UP,0,0,,,,,,,,,,,,\n";
        let rows = parse_stats_csv(csv).unwrap();
        let c = Counters::from_row(&rows[0]);
        assert_eq!(
            c,
            Counters {
                hrsp_1xx: 1,
                hrsp_2xx: 90,
                hrsp_3xx: 4,
                hrsp_4xx: 5,
                hrsp_5xx: 6,
                hrsp_other: 7,
                econ: 2,
                eresp: 3,
                cli_abrt: 8,
                srv_abrt: 9,
                stot: 120,
                rtime: 12,
            }
        );
        assert_eq!(c.responses(), 1 + 90 + 4 + 5 + 6 + 7);
        assert_eq!(c.errors(), 6 + 2 + 3, "5xx, econ and eresp; 4xx is not");
        assert_eq!(c.requests(), 113 + 2 + 3);
        assert_eq!(Counters::from_row(&rows[1]), Counters::default());
    }

    #[test]
    fn a_lower_counter_marks_a_new_process_and_since_never_goes_negative() {
        let then = Counters {
            hrsp_2xx: 100,
            hrsp_5xx: 3,
            stot: 103,
            rtime: 40,
            ..Counters::default()
        };
        let grown = Counters {
            hrsp_2xx: 150,
            hrsp_5xx: 3,
            stot: 153,
            rtime: 10,
            ..Counters::default()
        };
        assert!(!grown.went_down_since(&then));
        let gained = grown.since(&then);
        assert_eq!(
            (gained.hrsp_2xx, gained.hrsp_5xx, gained.stot, gained.rtime),
            (50, 0, 50, 10),
            "the gauge keeps its value at the end"
        );
        // Only the sessions went down: still a new process.
        let fresh = Counters { stot: 2, ..grown };
        assert!(fresh.went_down_since(&then));
        assert_eq!(fresh.since(&then).stot, 0);
        // A gauge going down is no reset.
        let faster = Counters { rtime: 1, ..then };
        assert!(!faster.went_down_since(&then));
    }

    #[test]
    fn sums_saturate_instead_of_overflowing() {
        let huge = Counters {
            hrsp_2xx: u64::MAX,
            hrsp_5xx: u64::MAX,
            econ: 1,
            ..Counters::default()
        };
        assert_eq!(huge.responses(), u64::MAX);
        assert_eq!(huge.errors(), u64::MAX);
        assert_eq!(huge.requests(), u64::MAX);
    }
}
