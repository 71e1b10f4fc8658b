//! What a task of an image does: the one definition both the scheduler's
//! health model and the task's real HTTP server read, so what Marathon
//! reports and what the task answers cannot disagree.
//!
//! Conventions, read from the image reference (`container.docker.image`):
//! * contains `httpd`: the body is Apache's default page (`It works!`);
//!   contains `nginx`: nginx's welcome page (`Welcome to nginx!`); any other
//!   image: the image reference itself;
//! * contains `broken`: every answer is a 500, health checks included, so
//!   its tasks never become healthy;
//! * contains `errors-N` (e.g. `httpd:errors-20`): N % of the answers to
//!   traffic are 500, spread evenly (a seeded offset per task); health checks
//!   pass;
//! * contains `slow-Nms` (e.g. `httpd:slow-200ms`): every answer to traffic
//!   comes N ms late; health checks answer at once.
//!
//! A health check is a request carrying [`CHECK_HEADER`]: the checks
//! dcos-sim has HAProxy send carry it (Marathon's own checks are modelled in
//! cluster time, from [`Behaviour::healthy`]). Without it a request is
//! traffic, whatever its path.

/// The header that marks a request as a health check.
pub const CHECK_HEADER: &str = "x-dcos-sim-check";

/// The longest a task waits before answering (`/slow?ms=N` plus a
/// `slow-Nms` image): 30 s.
pub const MAX_DELAY_MS: u64 = 30_000;

/// The page of an image containing `httpd` (Apache's default page).
pub const HTTPD_BODY: &str = "<html><body><h1>It works!</h1></body></html>\n";

/// The page of an image containing `nginx` (the gist of nginx's default
/// welcome page).
pub const NGINX_BODY: &str = "<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n</head>\n<body>\n<h1>Welcome to nginx!</h1>\n<p>If you see this page, the nginx web server is successfully installed and\nworking. Further configuration is required.</p>\n</body>\n</html>\n";

/// Which page an image serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// Apache's `It works!`.
    Httpd,
    /// nginx's welcome page.
    Nginx,
    /// The image reference, as text.
    Name(String),
}

/// What the tasks of one image do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behaviour {
    /// The image reference as given (empty without a docker image).
    pub image: String,
    /// The page it serves.
    pub page: Page,
    /// Every answer is a 500 and health checks fail.
    pub broken: bool,
    /// Percentage (0–100) of traffic answered with 500.
    pub error_percent: u8,
    /// Delay of every answer to traffic, in ms (at most [`MAX_DELAY_MS`]).
    pub slow_ms: u64,
}

/// What a task answers to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// How long to wait before answering, ms.
    pub delay_ms: u64,
}

/// The number in `text` right after `prefix` (e.g. `errors-` in
/// `httpd:errors-20`), if any, with what follows it.
fn number_after<'a>(text: &'a str, prefix: &str) -> Option<(u64, &'a str)> {
    let start = text.find(prefix)? + prefix.len();
    let rest = &text[start..];
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    let value = rest[..digits].parse().ok()?;
    Some((value, &rest[digits..]))
}

impl Behaviour {
    /// The behaviour of `image` (see the module's conventions).
    pub fn of(image: &str) -> Behaviour {
        let page = if image.contains("httpd") {
            Page::Httpd
        } else if image.contains("nginx") {
            Page::Nginx
        } else {
            Page::Name(image.to_owned())
        };
        let error_percent = number_after(image, "errors-").map_or(0, |(n, _)| n.min(100) as u8);
        let slow_ms = number_after(image, "slow-")
            .filter(|(_, rest)| rest.starts_with("ms"))
            .map_or(0, |(n, _)| n.min(MAX_DELAY_MS));
        Behaviour {
            image: image.to_owned(),
            page,
            broken: image.contains("broken"),
            error_percent,
            slow_ms,
        }
    }

    /// Whether its health checks pass: what Marathon's health results and
    /// HAProxy's checks both follow.
    pub fn healthy(&self) -> bool {
        self.check_status() == 200
    }

    /// The status a health check gets.
    pub fn check_status(&self) -> u16 {
        if self.broken { 500 } else { 200 }
    }

    /// The answer to the `seq`-th traffic request (0-based) of a task whose
    /// error spread starts at `offset`, asking for `extra_ms` of delay
    /// (`/slow?ms=N`).
    pub fn answer(&self, seq: u64, offset: u64, extra_ms: u64) -> Answer {
        let delay_ms = (self.slow_ms + extra_ms).min(MAX_DELAY_MS);
        let status = if self.broken || self.is_error(seq.wrapping_add(offset)) {
            500
        } else {
            200
        };
        Answer { status, delay_ms }
    }

    /// Whether request `n` of the evenly spread sequence is an error: exactly
    /// `error_percent` of every 100 consecutive requests are.
    fn is_error(&self, n: u64) -> bool {
        let p = u64::from(self.error_percent);
        let n = n % 100;
        (n + 1) * p / 100 > n * p / 100
    }

    /// The body of an answer with `status`.
    pub fn body(&self, status: u16) -> String {
        if status != 200 {
            return format!("{status} simulated failure ({})\n", self.image);
        }
        match &self.page {
            Page::Httpd => HTTPD_BODY.to_owned(),
            Page::Nginx => NGINX_BODY.to_owned(),
            Page::Name(name) => format!("{name}\n"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_the_image() {
        assert_eq!(Behaviour::of("httpd:2.4").page, Page::Httpd);
        assert_eq!(Behaviour::of("library/nginx:1.25").page, Page::Nginx);
        assert_eq!(
            Behaviour::of("registry.example.com/web:1.4.2").body(200),
            "registry.example.com/web:1.4.2\n"
        );
        assert!(Behaviour::of("httpd").body(200).contains("It works!"));
        assert!(
            Behaviour::of("nginx")
                .body(200)
                .contains("Welcome to nginx!")
        );
    }

    #[test]
    fn broken_fails_everything_and_is_never_healthy() {
        let b = Behaviour::of("httpd:broken");
        assert!(!b.healthy());
        assert_eq!(b.check_status(), 500);
        assert!((0..50).all(|i| b.answer(i, 0, 0).status == 500));
    }

    #[test]
    fn errors_are_exactly_n_percent_spread_evenly_and_stay_healthy() {
        let b = Behaviour::of("httpd:errors-20");
        assert_eq!(b.error_percent, 20);
        assert!(b.healthy());
        for offset in [0, 7, 93] {
            let statuses: Vec<u16> = (0..1000).map(|i| b.answer(i, offset, 0).status).collect();
            assert_eq!(statuses.iter().filter(|s| **s == 500).count(), 200);
            // Evenly: never two errors in a row at 20 %.
            assert!(statuses.windows(2).all(|w| w != [500, 500]));
        }
        assert!((0..100).all(|i| Behaviour::of("x:errors-0").answer(i, 3, 0).status == 200));
        assert!((0..100).all(|i| Behaviour::of("x:errors-100").answer(i, 3, 0).status == 500));
        assert_eq!(Behaviour::of("x:errors-250").error_percent, 100);
    }

    #[test]
    fn slow_images_and_slow_requests_delay_traffic_within_the_bound() {
        let b = Behaviour::of("httpd:slow-200ms");
        assert_eq!(b.answer(0, 0, 0).delay_ms, 200);
        assert_eq!(b.answer(0, 0, 50).delay_ms, 250);
        assert_eq!(b.answer(0, 0, 10_000_000).delay_ms, MAX_DELAY_MS);
        assert!(b.healthy());
        // `slow-` without `ms` is not a delay.
        assert_eq!(Behaviour::of("httpd:slow-200").slow_ms, 0);
        assert_eq!(Behaviour::of("httpd:2.4").answer(5, 0, 0).delay_ms, 0);
    }
}
