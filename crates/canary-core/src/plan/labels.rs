//! The labels zdd.py and marathon-lb read and write (zdd.md §3, §9), and
//! the `HAPROXY_DEPLOYMENT_STARTED_AT` time format.
//!
//! canary writes them exactly as zdd.py does, so that marathon-lb drains for
//! it and a group zdd.py started can be finished by canary and the other way
//! round. One deliberate difference: `STARTED_AT` is written in UTC (zdd.py
//! writes local time without a zone, in the same format, which marathon-lb
//! parses as a date and zdd.py compares as a string).

use crate::clock::Timestamp;

/// Apps with the same value form one blue/green group (one HAProxy backend).
pub const GROUP: &str = "HAPROXY_DEPLOYMENT_GROUP";
/// The alternate service port the second colour takes.
pub const ALT_PORT: &str = "HAPROXY_DEPLOYMENT_ALT_PORT";
/// The public service port: the frontend marathon-lb binds, shared by both colours.
pub const PORT_0: &str = "HAPROXY_0_PORT";
/// The input definition's original id, before the colour suffix.
pub const APP_ID: &str = "HAPROXY_APP_ID";
/// `blue` or `green` (British spelling; there is no `…_COLOR`).
pub const COLOUR: &str = "HAPROXY_DEPLOYMENT_COLOUR";
/// The count the new app grows to; on a canary, the previous app's count
/// when the canary was created (what a rollback restores).
pub const TARGET_INSTANCES: &str = "HAPROXY_DEPLOYMENT_TARGET_INSTANCES";
/// The canary's instance count (`"0"` on a first deploy); its presence makes
/// marathon-lb's "most recently scaled app is new" rule apply.
pub const NEW_INSTANCES: &str = "HAPROXY_DEPLOYMENT_NEW_INSTANCES";
/// When the app was deployed: orders the group's apps (newest last).
pub const STARTED_AT: &str = "HAPROXY_DEPLOYMENT_STARTED_AT";
/// canary's own (zdd.py and marathon-lb ignore it): the traffic ladder the
/// canary climbs, in `--steps` form (`1,25%,50%`), written when a deploy
/// with steps creates it; `canary promote` and `status` read it.
pub const STEPS: &str = "CANARY_STEPS";

/// The label selector of Marathon's `GET /v2/apps?label=` that picks the
/// apps of deployment group `group` (`HAPROXY_DEPLOYMENT_GROUP==web`), so a
/// reading of the group costs the group's size, not the cluster's. Marathon
/// takes letters, digits, `-`, `_` and `.` as they are; every other
/// character is escaped with a backslash (its selector grammar). The text
/// still has to be percent-encoded into the URL.
pub fn group_selector(group: &str) -> String {
    let mut out = format!("{GROUP}==");
    for c in group.chars() {
        if !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `STARTED_AT` for `time`: `2026-12-01T09:30:05.123456`, UTC, microseconds,
/// no zone (the format marathon-lb parses and zdd.py writes).
pub fn started_at(time: Timestamp) -> String {
    let since = time.unix();
    let secs = since.as_secs();
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_micros()
    )
}

/// Reads a `STARTED_AT` (or Marathon `version`/`lastScalingAt`) text as a
/// moment: `YYYY-MM-DDTHH:MM:SS[.fraction][Z]`, taken as UTC. `None` when it
/// is not in that form.
pub fn parse_time(text: &str) -> Option<Timestamp> {
    let text = text.trim().trim_end_matches('Z');
    let (date, time) = text.split_once('T')?;
    let mut date = date.split('-');
    let (y, m, d) = (date.next()?, date.next()?, date.next()?);
    if date.next().is_some() {
        return None;
    }
    let (y, m, d): (i64, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let (hms, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut hms = hms.split(':');
    let (h, mi, s) = (hms.next()?, hms.next()?, hms.next()?);
    let (h, mi, s): (u64, u64, u64) = (h.parse().ok()?, mi.parse().ok()?, s.parse().ok()?);
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let micros = if fraction.is_empty() {
        0
    } else {
        if !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits: String = fraction.chars().chain("000000".chars()).take(6).collect();
        digits.parse::<u64>().ok()?
    };
    let days = days_from_civil(y, m, d);
    if days < 0 {
        return None;
    }
    let secs = days as u64 * 86_400 + h * 3600 + mi * 60 + s;
    Some(Timestamp::from_unix(
        std::time::Duration::from_secs(secs) + std::time::Duration::from_micros(micros),
    ))
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

/// (year, month, day) to days since 1970-01-01 (Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_group_selector_escapes_what_marathon_needs_escaped() {
        assert_eq!(group_selector("web"), "HAPROXY_DEPLOYMENT_GROUP==web");
        assert_eq!(
            group_selector("my-app.v2_x"),
            "HAPROXY_DEPLOYMENT_GROUP==my-app.v2_x"
        );
        assert_eq!(
            group_selector("prod/web a,b=(c)"),
            "HAPROXY_DEPLOYMENT_GROUP==prod\\/web\\ a\\,b\\=\\(c\\)"
        );
    }

    #[test]
    fn started_at_is_marathon_lbs_format_in_utc_and_reads_back() {
        let t = Timestamp::from_unix(Duration::from_micros(1_454_338_298_184_623));
        assert_eq!(started_at(t), "2016-02-01T14:51:38.184623");
        assert_eq!(parse_time(&started_at(t)), Some(t));
        // zdd.py's own labels and Marathon's timestamps read too.
        assert_eq!(
            parse_time("2016-02-01T14:13:42.499089"),
            Some(Timestamp::from_unix(Duration::from_micros(
                1_454_336_022_499_089
            )))
        );
        assert_eq!(
            parse_time("2015-09-29T15:59:51.164Z"),
            Some(Timestamp::from_unix(Duration::from_millis(
                1_443_542_391_164
            )))
        );
        assert_eq!(
            parse_time("2000-02-29T00:00:00"),
            Some(Timestamp::from_unix_secs(951_782_400))
        );
        for bad in [
            "",
            "0",
            "2016-02-01",
            "2016-13-01T00:00:00",
            "x-1-1T0:0:0",
            "2016-02-01T1:2",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-1, 0, 59, 60, 365, 10_957, 16_832, 20_788, 100_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }
}
