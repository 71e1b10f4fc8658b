//! The story, step by step: each a `canary` command as a user would type
//! it, then a check of what the cluster shows.

use crate::DemoError;
use crate::cluster::{DemoCluster, SECRET_PATH};
use crate::report::{AppState, Report, StepReport};
use std::io::Write;

const APP: &str = "testapp";
const OLD: &str = "nginx:1.25";
const NEW: &str = "httpd:2.4";
const BROKEN: &str = "broken:1";
/// A canary that answers a fifth of its requests with 500 (dcos-sim's
/// `errors-N` image behaviour).
const FAILING: &str = "httpd:errors-20";
/// A good next version.
const NEXT: &str = "httpd:2.4.62";
/// Requests sampled through the frontend after a step that changes traffic.
const SAMPLE: usize = 200;

/// What a step expects of the cluster afterwards.
struct Expect<'a> {
    /// Its exit code.
    exit: i32,
    /// The group's apps.
    group: &'a [Wanted],
    /// The share of sampled responses each image must have (image, share),
    /// within 5 points; empty: no sample.
    shares: &'a [(&'a str, f64)],
    /// Whether requests run through the frontends while the command runs
    /// (a canary analysis judges traffic); their answers are the step's
    /// responses.
    traffic: bool,
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
            traffic: false,
        }
    }

    /// With requests running through the frontends during the command.
    fn under_traffic(self) -> Self {
        Expect {
            traffic: true,
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

/// The group's apps as the tuples an [`Expect`] names.
fn tuples(group: &[AppState]) -> Vec<(String, u64, u64, String)> {
    group
        .iter()
        .map(|a| (a.id.clone(), a.instances, a.healthy, a.image.clone()))
        .collect()
}

struct Story<'a> {
    cluster: &'a DemoCluster,
    out: &'a mut dyn Write,
    report: Report,
}

impl Story<'_> {
    fn say(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
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

    /// Plays one step: prints it, runs `canary ARGS`, checks `expect`.
    fn step(
        &mut self,
        title: &str,
        args: Vec<String>,
        expect: Expect<'_>,
    ) -> Result<(), DemoError> {
        let number = self.report.steps.len() + 1;
        self.say(&format!("\n── {number}. {title}"));
        let command = format!("canary {}", args.join(" "));
        self.say(&format!("$ {command}"));
        let traffic = match expect.traffic {
            true => Some(
                self.cluster
                    .traffic()
                    .map_err(|reason| self.fail(number, title, &command, reason))?,
            ),
            false => None,
        };
        let output = self.cluster.canary(&args);
        let during = traffic.map(|t| t.finish()).unwrap_or_default();
        let output = output.map_err(|reason| self.fail(number, title, &command, reason))?;
        for line in String::from_utf8_lossy(&output.stdout)
            .lines()
            .chain(String::from_utf8_lossy(&output.stderr).lines())
        {
            self.say(&format!("  {line}"));
        }
        let group = self
            .cluster
            .group(APP)
            .map_err(|reason| self.fail(number, title, &command, reason))?;
        let responses = if !expect.shares.is_empty() {
            self.cluster.responses(SAMPLE)
        } else {
            during
        };
        let mut wrong = Vec::new();
        if output.status.code() != Some(expect.exit) {
            wrong.push(format!(
                "it exited {:?}, not {}",
                output.status.code(),
                expect.exit
            ));
        }
        let want: Vec<(String, u64, u64, String)> = expect
            .group
            .iter()
            .map(|(id, n, h, image)| ((*id).to_owned(), *n, *h, (*image).to_owned()))
            .collect();
        if tuples(&group) != want {
            wrong.push(format!("the group is {:?}, not {want:?}", tuples(&group)));
        }
        let total: u64 = responses.iter().map(|(_, n)| n).sum();
        for (image, share) in expect.shares {
            let got: u64 = responses
                .iter()
                .filter(|(k, _)| k.starts_with(image))
                .map(|(_, n)| n)
                .sum();
            let seen = got as f64 / total.max(1) as f64;
            if (seen - share).abs() > 0.05 {
                wrong.push(format!(
                    "{image} served {:.0}% of {total} responses, not {:.0}%",
                    seen * 100.0,
                    share * 100.0
                ));
            }
        }
        if !responses.is_empty() {
            let shown: Vec<String> = responses
                .iter()
                .map(|(k, n)| format!("{n} from {k}"))
                .collect();
            let when = if expect.traffic { "meanwhile, " } else { "" };
            self.say(&format!(
                "  ({when}through the marathon-lb frontends, {total} requests: {})",
                shown.join(", ")
            ));
        }
        let ok = wrong.is_empty();
        let verdict = if ok {
            format!("checked: exit {}, group {:?}", expect.exit, tuples(&group))
        } else {
            wrong.join("; ")
        };
        self.report.steps.push(crate::StepReport {
            number,
            title: title.to_owned(),
            command,
            exit_code: output.status.code(),
            group,
            responses,
            ok,
            verdict: verdict.clone(),
        });
        if ok {
            Ok(())
        } else {
            self.say(&format!("  ✗ {verdict}"));
            Err(DemoError::Step {
                number,
                title: title.to_owned(),
                reason: verdict,
                report: Box::new(self.report.clone()),
            })
        }
    }

    fn fail(&self, number: usize, title: &str, command: &str, reason: String) -> DemoError {
        let mut report = self.report.clone();
        report.steps.push(StepReport {
            number,
            title: title.to_owned(),
            command: command.to_owned(),
            exit_code: None,
            group: Vec::new(),
            responses: Vec::new(),
            ok: false,
            verdict: reason.clone(),
        });
        DemoError::Step {
            number,
            title: title.to_owned(),
            reason,
            report: Box::new(report),
        }
    }

    fn with(&self, mut args: Vec<String>, more: Vec<String>) -> Vec<String> {
        args.extend(more);
        args
    }
}

fn words(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// Plays the whole story on `cluster`.
pub(crate) fn play(cluster: &DemoCluster, out: &mut dyn Write) -> Result<Report, DemoError> {
    let mut story = Story {
        cluster,
        out,
        report: Report {
            load_balancer: cluster.load_balancer.clone(),
            steps: Vec::new(),
        },
    };
    story.say(&format!(
        "canary demo: a simulated DC/OS at {} (auth on, time x{}), marathon-lb at {} served by {}.\n\
         Every step is the command you would type on a real cluster; each is checked on the cluster afterwards.",
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
        "add testapp: nginx, 4 instances (a first deploy creates the whole app)",
        args,
        Expect::ok(ONLY_OLD).sampled(&[(OLD, 1.0)]),
    )?;

    let mut args = words(&["render"]);
    args.extend(story.job_flags(NEW));
    args.extend(["--out".to_owned(), out_dir.display().to_string()]);
    story.step(
        "render the three jobs for httpd (native runner: the jobs run canary itself)",
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
    story.step("apply them", args, Expect::ok(ONLY_OLD))?;

    let run = |phase: &str| {
        let mut args = words(&["run", phase, "--app", APP, "--wait", "--timeout", "3m"]);
        args.extend(c.clone());
        args
    };
    story.step(
        "run the deploy job: 1 instance of httpd beside 3 of nginx",
        run("deploy"),
        Expect::ok(SPLIT).sampled(&[(NEW, 0.25), (OLD, 0.75)]),
    )?;

    let status = story.with(
        words(&["status", "--app", APP, "--sample", "400"]),
        [lbs.clone(), c.clone()].concat(),
    );
    story.step(
        "the status, and the split marathon-lb counted: about 1 in 4 responses \"It works!\"",
        status.clone(),
        Expect::ok(SPLIT),
    )?;

    story.step(
        "run the rollout job: 4 of 4 on httpd",
        run("rollout"),
        Expect::ok(ONLY_NEW).sampled(&[(NEW, 1.0)]),
    )?;

    let mut args = words(&["apply"]);
    args.extend(story.job_flags(BROKEN));
    args.extend(c.clone());
    story.step(
        "a second canary, of an image that never gets healthy: apply its jobs",
        args,
        Expect::ok(ONLY_NEW),
    )?;

    story.step(
        "run its deploy job: the canary never gets healthy, the job fails saying why (the live app keeps serving)",
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
        "run the rollback job: the broken canary goes, httpd serves alone",
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
                "--count",
                "2",
                "--min-requests",
                "20",
            ]),
            lbs.clone(),
            c.clone(),
        ]
        .concat()
    };
    story.step(
        "a canary that answers one request in five with a 500, up the ladder 1,50% with analysis under traffic: \
         it fails its first two windows and is rolled back",
        ladder(FAILING),
        Expect::ok(ONLY_NEW).under_traffic().exit(10),
    )?;
    story.step(
        "a good canary up the same ladder: every window passes, it climbs to 2 of 4 and is rolled out",
        ladder(NEXT),
        Expect::ok(ONLY_NEXT).under_traffic(),
    )?;
    story.step("the status at the end", status, Expect::ok(ONLY_NEXT))?;
    story.say(&format!(
        "\nEvery step did what it should ({} steps).",
        story.report.steps.len()
    ));
    Ok(story.report)
}
