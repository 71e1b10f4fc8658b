//! The story, step by step: each a `canary` command as a user would type
//! it, then a check of what the cluster shows.

use crate::DemoError;
use crate::cluster::{ChildError, DemoCluster, Request, SECRET_PATH, Traffic};
use crate::report::{AppState, Check, Report, StepReport, StepTraffic};
use std::io::Write;
use std::time::{Duration, Instant};

const APP: &str = "testapp";
const OLD: &str = "nginx:1.25";
const NEW: &str = "httpd:2.4";
const BROKEN: &str = "broken:1";
/// A canary that answers a fifth of its requests with 500 (dcos-sim's
/// `errors-N` image behaviour).
const FAILING: &str = "httpd:errors-20";
/// A good next version.
const NEXT: &str = "httpd:2.4.62";
/// Requests sampled through the frontend after a step that changes traffic
/// (1,000: the background requests share the round robin, so the split is
/// a random one: ±5 points is more than 3.5 standard deviations).
const SAMPLE: usize = 1000;

/// What a step expects of the cluster afterwards.
struct Expect<'a> {
    /// Its exit code.
    exit: i32,
    /// The group's apps.
    group: &'a [Wanted],
    /// The share of sampled responses each image must have (image, share),
    /// within 5 points; empty: no sample.
    shares: &'a [(&'a str, f64)],
    /// Whether the command runs with `--events json`, whose analysis the
    /// report draws (the lines are kept, not printed).
    events: bool,
}

/// An app of the group as an [`Expect`] names it: (id, instances,
/// healthy, image).
type Wanted = (&'static str, u64, u64, &'static str);

/// nginx alone, at 4.
const ONLY_OLD: &[Wanted] = &[("/testapp-blue", 4, 4, OLD)];
/// The canary: 3 of nginx, 1 of httpd.
const SPLIT: &[Wanted] = &[("/testapp-blue", 3, 3, OLD), ("/testapp-green", 1, 1, NEW)];
/// httpd alone, at 4.
const ONLY_NEW: &[Wanted] = &[("/testapp-green", 4, 4, NEW)];
/// The next httpd alone, at 4.
const ONLY_NEXT: &[Wanted] = &[("/testapp-blue", 4, 4, NEXT)];
/// The broken canary beside httpd at 4.
const BROKEN_BESIDE: &[Wanted] = &[
    ("/testapp-blue", 1, 0, BROKEN),
    ("/testapp-green", 4, 4, NEW),
];

impl<'a> Expect<'a> {
    /// Exit 0 and this group, no sample.
    fn ok(group: &'a [Wanted]) -> Self {
        Expect {
            exit: 0,
            group,
            shares: &[],
            events: false,
        }
    }

    /// Run with `--events json`, its analysis kept for the pictures.
    fn with_events(self) -> Self {
        Expect {
            events: true,
            ..self
        }
    }

    /// And the sampled responses split so.
    fn sampled(self, shares: &'a [(&'a str, f64)]) -> Self {
        Expect { shares, ..self }
    }

    /// With this exit code.
    fn exit(self, exit: i32) -> Self {
        Expect { exit, ..self }
    }
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration in the unit that shows it: µs below a millisecond.
fn latency(us: u64) -> String {
    if us < 1000 {
        format!("{us} µs")
    } else {
        format!("{:.1} ms", us as f64 / 1000.0)
    }
}

/// What the background requests did in `[from, to)`.
pub(crate) fn traffic_between(requests: &[Request], from: Duration, to: Duration) -> StepTraffic {
    let mut by_image: Vec<(String, u64, u64)> = Vec::new();
    let mut lost = 0;
    let mut took: Vec<u64> = Vec::new();
    for r in requests.iter().filter(|r| r.at >= from && r.at < to) {
        took.push(r.took.as_micros() as u64);
        let Some(image) = &r.image else {
            lost += 1;
            continue;
        };
        let errors = u64::from(r.status.is_some_and(|s| s >= 500));
        match by_image.iter_mut().find(|(i, _, _)| i == image) {
            Some((_, n, e)) => {
                *n += 1;
                *e += errors;
            }
            None => by_image.push((image.clone(), 1, errors)),
        }
    }
    took.sort_unstable();
    by_image.sort();
    StepTraffic {
        requests: took.len() as u64,
        lost,
        by_image,
        median_us: took.get(took.len() / 2).copied().unwrap_or(0),
    }
}

struct Story<'a> {
    cluster: &'a DemoCluster,
    out: &'a mut dyn Write,
    report: Report,
    /// The demo's timeline starts here.
    epoch: Instant,
    /// The same moment as Unix time in ms (the events' clock).
    epoch_unix_ms: u64,
    /// Requests through the frontends, from the first deploy on.
    traffic: Option<Traffic>,
}

impl Story<'_> {
    fn say(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// The flags every command against the demo cluster takes.
    fn cluster_flags(&self) -> Vec<String> {
        vec!["--dcos-url".into(), self.cluster.sim.dcos_url().to_owned()]
    }

    fn lb_flags(&self) -> Vec<String> {
        self.cluster
            .sim
            .lb_urls()
            .iter()
            .flat_map(|u| ["--marathon-lb".to_owned(), u.clone()])
            .collect()
    }

    /// The flags that render the native jobs for `image`: run in the sim
    /// with this binary first on PATH, reaching the sim's Admin Router and
    /// marathon-lb, logged in with the service account from the secret
    /// store, a canary that never gets healthy kept for the rollback job.
    fn job_flags(&self, image: &str) -> Vec<String> {
        let mut flags: Vec<String> = [
            "--app",
            APP,
            "--image",
            image,
            "--runner",
            "native",
            "--runner-image",
            "registry.example.com/canary:demo",
            "--service-account-secret",
            SECRET_PATH,
            "--runner-dcos-url",
            self.cluster.sim.dcos_url(),
            "--runner-health-timeout",
            "10s",
            "--runner-keep-failed-canary",
        ]
        .map(str::to_owned)
        .to_vec();
        flags.extend(self.lb_flags());
        flags
    }

    /// Plays one step: prints the command, what it does, its output as it
    /// came, then what was checked on the cluster.
    fn step(
        &mut self,
        title: &str,
        args: Vec<String>,
        expect: Expect<'_>,
    ) -> Result<(), DemoError> {
        let number = self.report.steps.len() + 1;
        if self.cluster.stopping() {
            return Err(self.interrupted(number, title));
        }
        let mut args = args;
        if expect.events {
            args.extend(["--events".to_owned(), "json".to_owned()]);
        }
        let command = format!("canary {}", args.join(" "));
        self.say(&format!("\n── step {number}"));
        self.say(&format!("$ {command}"));
        self.say(&format!("  what it does: {title}"));
        let started = self.now();
        let output = match self.cluster.canary(&args) {
            Ok(output) => output,
            Err(ChildError::Stopped) => return Err(self.interrupted(number, title)),
            Err(ChildError::Failed(reason)) => {
                return Err(self.failed_to_run(number, title, &command, started, reason));
            }
        };
        let mut events = String::new();
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let is_event = expect.events
                && line.starts_with('{')
                && serde_json::from_str::<serde_json::Value>(line)
                    .is_ok_and(|v| v["event"].is_string());
            if is_event {
                events.push_str(line);
                events.push('\n');
            } else {
                self.say(&format!("  │ {line}"));
            }
        }
        let ended = self.now();
        let group = self.cluster.group(APP).unwrap_or_default();
        let responses = if expect.shares.is_empty() {
            Vec::new()
        } else {
            self.cluster.responses(SAMPLE)
        };
        let traffic = self
            .traffic
            .as_ref()
            .map(|t| traffic_between(&t.requests(), started, ended));
        let checks = checks(
            &expect,
            output.status.code(),
            &group,
            &responses,
            traffic.as_ref(),
        );
        let ok = checks.iter().all(|c| c.ok);
        let line: Vec<String> = checks
            .iter()
            .map(|c| format!("{} {}", if c.ok { "✓" } else { "✗" }, c.what))
            .collect();
        self.say(&format!("  checked on the cluster: {}", line.join(" · ")));
        self.record_events(number, &events);
        // The command in a few words: `run deploy`, `deploy httpd:2.4`.
        let mut short: Vec<&str> = args
            .iter()
            .take(2)
            .map(String::as_str)
            .filter(|a| !a.starts_with("--"))
            .collect();
        if let Some(i) = args.iter().position(|a| a == "--image") {
            short.extend(args.get(i + 1).map(String::as_str));
        }
        self.report.run.markers.push(canary_report::Marker {
            at_ms: started.as_millis() as u64,
            label: format!("step {number}: canary {}", short.join(" ")),
            ok: Some(ok),
        });
        self.report.steps.push(crate::StepReport {
            number,
            title: title.to_owned(),
            command,
            exit_code: output.status.code(),
            group,
            responses,
            traffic,
            checks: checks.clone(),
            ok,
            started_ms: started.as_millis() as u64,
            ended_ms: ended.as_millis() as u64,
        });
        if ok {
            return Ok(());
        }
        let reason = checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.what.clone())
            .collect::<Vec<_>>()
            .join("; ");
        self.conclude();
        Err(DemoError::Step {
            number,
            title: title.to_owned(),
            reason,
            report: Box::new(self.report.clone()),
        })
    }

    /// The analysis and ladder of a step's `--events json` lines, placed on
    /// the demo's timeline.
    fn record_events(&mut self, number: usize, events: &str) {
        let Some(first) = events
            .lines()
            .next()
            .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .and_then(|v| v["time_ms"].as_u64())
        else {
            return;
        };
        let Ok(run) = canary_report::from_events(events) else {
            return;
        };
        let shift = first.saturating_sub(self.epoch_unix_ms);
        for mut point in run.analysis {
            point.at_ms += shift;
            point.label = format!("step {number}, {}", point.label);
            self.report.run.analysis.push(point);
        }
        for marker in run.markers {
            if marker.label.starts_with("step ") || marker.label.starts_with("analysis: ") {
                self.report.run.markers.push(canary_report::Marker {
                    at_ms: marker.at_ms + shift,
                    label: format!("step {number}: {}", marker.label),
                    ok: marker.ok,
                });
            }
        }
    }

    /// Stops the traffic and writes the timeline and the claims.
    fn conclude(&mut self) {
        let Some(traffic) = self.traffic.take() else {
            return;
        };
        let requests = traffic.finish();
        let end = self.now();
        let all = traffic_between(&requests, Duration::ZERO, end);
        let mut buckets: std::collections::BTreeMap<u64, std::collections::BTreeMap<String, u64>> =
            std::collections::BTreeMap::new();
        for r in &requests {
            let second = r.at.as_secs();
            let version = r.image.clone().unwrap_or_else(|| "(lost)".into());
            *buckets
                .entry(second)
                .or_default()
                .entry(version)
                .or_default() += 1;
        }
        self.report.run.traffic = buckets
            .into_iter()
            .map(|(second, by_version)| canary_report::TrafficBucket {
                at_ms: second * 1000,
                width_ms: 1000,
                by_version,
            })
            .collect();
        self.report.run.duration_ms = end.as_millis() as u64;
        self.report.run.markers.sort_by_key(|m| m.at_ms);
        self.report.run.title = "canary demo: the story on a simulated DC/OS".into();
        let errors: u64 = all.by_image.iter().map(|(_, _, e)| e).sum();
        let claim = format!(
            "{} requests through marathon-lb during the demo, {} lost (answered by no version of the app); {} answered 5xx by a failing canary itself; median answer {}",
            thousands(all.requests),
            thousands(all.lost),
            thousands(errors),
            latency(all.median_us)
        );
        self.report.claims.insert(0, claim.clone());
        self.report.run.claims = self.report.claims.clone();
        self.say(&format!("\n{claim}."));
    }

    fn interrupted(&mut self, number: usize, title: &str) -> DemoError {
        if let Some(traffic) = self.traffic.take() {
            traffic.finish();
        }
        DemoError::Interrupted {
            number,
            title: title.to_owned(),
        }
    }

    fn failed_to_run(
        &mut self,
        number: usize,
        title: &str,
        command: &str,
        started: Duration,
        reason: String,
    ) -> DemoError {
        self.report.steps.push(StepReport {
            number,
            title: title.to_owned(),
            command: command.to_owned(),
            exit_code: None,
            group: Vec::new(),
            responses: Vec::new(),
            traffic: None,
            checks: vec![Check {
                what: format!("it could not run: {reason}"),
                ok: false,
            }],
            ok: false,
            started_ms: started.as_millis() as u64,
            ended_ms: self.now().as_millis() as u64,
        });
        self.conclude();
        DemoError::Step {
            number,
            title: title.to_owned(),
            reason,
            report: Box::new(self.report.clone()),
        }
    }

    fn with(&self, mut args: Vec<String>, more: Vec<String>) -> Vec<String> {
        args.extend(more);
        args
    }

    /// The closing table: every step, its exit code and checks.
    fn table(&mut self) {
        self.say("\n step  exit  checks  what it did");
        let rows: Vec<String> = self
            .report
            .steps
            .iter()
            .map(|s| {
                let passed = s.checks.iter().filter(|c| c.ok).count();
                format!(
                    " {:>4}  {:>4}  {} {}/{}  {}",
                    s.number,
                    s.exit_code.map_or("-".into(), |c| c.to_string()),
                    if s.ok { "✓" } else { "✗" },
                    passed,
                    s.checks.len(),
                    s.title
                )
            })
            .collect();
        for row in rows {
            self.say(&row);
        }
    }
}

/// What a step verified: its exit code, each app of the group (count,
/// health, image), the sampled split, and no request lost meanwhile.
fn checks(
    expect: &Expect<'_>,
    exit: Option<i32>,
    group: &[AppState],
    responses: &[(String, u64)],
    traffic: Option<&StepTraffic>,
) -> Vec<Check> {
    let mut checks = vec![Check {
        what: match exit {
            Some(code) if code == expect.exit => format!("exit {code}"),
            other => format!("exit {other:?}, wanted {}", expect.exit),
        },
        ok: exit == Some(expect.exit),
    }];
    for (id, instances, healthy, image) in expect.group {
        let seen = group.iter().find(|a| a.id == *id);
        checks.push(Check {
            what: match seen {
                Some(a) => format!(
                    "{id}: {} of {} healthy, {}",
                    a.healthy, a.instances, a.image
                ),
                None => format!("{id}: missing"),
            },
            ok: seen.is_some_and(|a| {
                (a.instances, a.healthy, a.image.as_str()) == (*instances, *healthy, *image)
            }),
        });
    }
    for extra in group
        .iter()
        .filter(|a| !expect.group.iter().any(|(id, ..)| *id == a.id))
    {
        checks.push(Check {
            what: format!("{}: should not be there", extra.id),
            ok: false,
        });
    }
    let total: u64 = responses.iter().map(|(_, n)| n).sum();
    for (image, share) in expect.shares {
        let got: u64 = responses
            .iter()
            .filter(|(k, _)| k.starts_with(image))
            .map(|(_, n)| n)
            .sum();
        let seen = got as f64 / total.max(1) as f64;
        checks.push(Check {
            what: format!(
                "{image} answered {:.0}% of {total} sampled requests (wanted {:.0}% ± 5)",
                seen * 100.0,
                share * 100.0
            ),
            ok: (seen - share).abs() <= 0.05,
        });
    }
    if let Some(t) = traffic {
        checks.push(traffic_check(t));
    }
    checks
}

/// The claim of a traffic step: no request through marathon-lb went
/// unanswered by the app meanwhile.
pub(crate) fn traffic_check(t: &StepTraffic) -> Check {
    let errors: u64 = t.by_image.iter().map(|(_, _, e)| e).sum();
    let served: Vec<String> = t
        .by_image
        .iter()
        .map(|(image, n, _)| format!("{} {image}", thousands(*n)))
        .collect();
    Check {
        what: format!(
            "meanwhile {} requests through marathon-lb, {} lost ({}{}; median {})",
            thousands(t.requests),
            thousands(t.lost),
            served.join(", "),
            if errors > 0 {
                format!("; {} of them 5xx from the app itself", thousands(errors))
            } else {
                String::new()
            },
            latency(t.median_us)
        ),
        ok: t.lost == 0,
    }
}

fn words(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// Plays the whole story on `cluster`.
pub(crate) fn play(cluster: &DemoCluster, out: &mut dyn Write) -> Result<Report, DemoError> {
    let epoch_unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut story = Story {
        cluster,
        out,
        report: Report {
            load_balancer: cluster.load_balancer.clone(),
            ..Report::default()
        },
        epoch: Instant::now(),
        epoch_unix_ms,
        traffic: None,
    };
    story.say(&format!(
        "canary demo: a simulated DC/OS at {} (auth on, time x{}), marathon-lb at {} served by {}.\n\
         Every step is the command you would type on a real cluster, what it does, its output, and what was \
         checked on the cluster afterwards (✓ or ✗). From the second step on, requests flow through both \
         marathon-lb frontends the whole time: the claim is that none is lost.",
        cluster.sim.dcos_url(),
        cluster.speed,
        cluster.sim.lb_urls().join(" and "),
        cluster.load_balancer
    ));
    let out_dir = cluster.dir().join("jobs");
    let c = story.cluster_flags();
    let lbs = story.lb_flags();

    let args = story.with(
        words(&["deploy", "--app", APP, "--image", OLD]),
        [lbs.clone(), c.clone()].concat(),
    );
    story.step(
        "deploys testapp for the first time: nginx, 4 instances behind marathon-lb (into an empty group, the whole app at once)",
        args,
        Expect::ok(ONLY_OLD).sampled(&[(OLD, 1.0)]),
    )?;
    // From now on, requests run through both frontends until the end.
    let epoch = story.epoch;
    match cluster.traffic(epoch) {
        Ok(traffic) => story.traffic = Some(traffic),
        Err(reason) => story.say(&format!("  (no background requests: {reason})")),
    }

    let mut args = words(&["render"]);
    args.extend(story.job_flags(NEW));
    args.extend(["--out".to_owned(), out_dir.display().to_string()]);
    story.step(
        "writes the three Metronome jobs for httpd into a directory, for review (native runner: each job runs canary itself); nothing on the cluster changes",
        args,
        Expect::ok(ONLY_OLD),
    )?;
    for file in [
        "deploy-testapp-canary.json",
        "rollout-testapp-canary.json",
        "rollback-testapp-canary.json",
    ] {
        let text = std::fs::read_to_string(out_dir.join(file)).unwrap_or_default();
        let job: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        story.say(&format!(
            "  {file}: {}",
            job["run"]["cmd"]
                .as_str()
                .unwrap_or("(unreadable)")
                .rsplit("; ")
                .next()
                .unwrap_or("")
        ));
    }

    let mut args = words(&["apply"]);
    args.extend(story.job_flags(NEW));
    args.extend(c.clone());
    story.step(
        "puts the three jobs on the cluster (Metronome); the app is not touched yet",
        args,
        Expect::ok(ONLY_OLD),
    )?;

    let run = |phase: &str| {
        let mut args = words(&["run", phase, "--app", APP, "--wait", "--timeout", "3m"]);
        args.extend(c.clone());
        args
    };
    story.step(
        "runs the deploy job: it starts 1 instance of httpd and removes 1 of nginx once marathon-lb drained it, so about 1 request in 4 goes to the canary",
        run("deploy"),
        Expect::ok(SPLIT).sampled(&[(NEW, 0.25), (OLD, 0.75)]),
    )?;

    let status = story.with(
        words(&["status", "--app", APP, "--sample", "400"]),
        [lbs.clone(), c.clone()].concat(),
    );
    story.step(
        "shows the group: both versions, the instance split, and the split marathon-lb's own counters saw over 400 requests (about 1 in 4 \"It works!\", httpd's page)",
        status.clone(),
        Expect::ok(SPLIT),
    )?;

    story.step(
        "runs the rollout job: httpd grows to 4, nginx is drained and removed",
        run("rollout"),
        Expect::ok(ONLY_NEW).sampled(&[(NEW, 1.0)]),
    )?;

    let mut args = words(&["apply"]);
    args.extend(story.job_flags(BROKEN));
    args.extend(c.clone());
    story.step(
        "puts the jobs of a second canary on the cluster, of an image that never gets healthy",
        args,
        Expect::ok(ONLY_NEW),
    )?;

    story.step(
        "runs its deploy job: the canary never gets healthy, so the job fails saying why (exit 7) while httpd keeps serving every request",
        run("deploy"),
        Expect::ok(BROKEN_BESIDE).sampled(&[(NEW, 1.0)]).exit(7),
    )?;
    match cluster.last_run_log("deploy-testapp-canary") {
        Some(log) => {
            story.say("  the deploy job's log (its task's stderr, as `dcos task log --completed` shows it):");
            for line in log
                .lines()
                .rev()
                .take(3)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
            {
                story.say(&format!("    {line}"));
            }
        }
        None => story.say("  (the deploy job's log could not be read)"),
    }

    story.step(
        "runs the rollback job: the broken canary is removed, httpd serves alone at 4",
        run("rollback"),
        Expect::ok(ONLY_NEW).sampled(&[(NEW, 1.0)]),
    )?;

    // Progressive delivery: a ladder with automated analysis, judged from
    // marathon-lb's own counters while requests flow.
    let ladder = |image: &str| {
        [
            words(&[
                "deploy",
                "--app",
                APP,
                "--image",
                image,
                "--steps",
                "1,50%",
                "--analyze",
                "--interval",
                "1s",
                "--min-duration",
                "3s",
                "--max-duration",
                "2m",
                "--min-requests",
                "20",
            ]),
            lbs.clone(),
            c.clone(),
        ]
        .concat()
    };
    story.step(
        "deploys a canary that answers one request in five with a 500 up the ladder 1,50% with the sequential analysis: \
         marathon-lb's counters show it failing at its first read, and it is rolled back automatically (exit 10)",
        ladder(FAILING),
        Expect::ok(ONLY_NEW).with_events().exit(10),
    )?;
    story.step(
        "deploys a good canary up the same ladder: it passes its analysis at 1 of 4 and at 2 of 4, then it is rolled out",
        ladder(NEXT),
        Expect::ok(ONLY_NEXT).with_events(),
    )?;
    story.step(
        "shows the group at the end: only httpd:2.4.62 at 4 (the ladder ran without jobs, so the jobs are still the broken canary's, as the status notes)",
        status,
        Expect::ok(ONLY_NEXT),
    )?;
    story.conclude();
    story.table();
    let done = format!(
        "Every step did what it should ({} steps).",
        story.report.steps.len()
    );
    story.report.claims.push(done.clone());
    story.report.run.claims = story.report.claims.clone();
    story.say(&format!("\n{done}"));
    Ok(story.report)
}
