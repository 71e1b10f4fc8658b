//! The command line of a native phase job: canary-core's typed
//! [`NativeInvocation`] in this binary's own words (its subcommands and
//! flags), which canary-core quotes into the job's shell command. A test
//! parses every invocation's words back with this binary's parser.

use canary_core::Phase;
use canary_core::native::{NativeArgv, NativeInvocation, Word};

/// The words of `invocation`: `deploy --app A --image I --app-definition
/// FILE --canary-instances N` (or `rollout|rollback --app A --group G
/// --image I`), the limits given, `--dcos-url`, every `--marathon-lb`,
/// and `--ca-cert` where the sandbox's CA bundle is to be trusted.
fn words(invocation: &NativeInvocation<'_>) -> Vec<Word> {
    let bare = |s: &str| Word::Bare(s.to_owned());
    let value = |s: &str| Word::Value(s.to_owned());
    let mut words = vec![bare(invocation.phase.as_str())];
    words.extend([bare("--app"), value(invocation.app)]);
    match invocation.phase {
        Phase::Deploy => words.extend([
            bare("--image"),
            value(invocation.image),
            bare("--app-definition"),
            Word::Sandbox(invocation.app_definition),
            bare("--canary-instances"),
            bare(&invocation.canary_instances.to_string()),
        ]),
        Phase::Rollout | Phase::Rollback => words.extend([
            bare("--group"),
            value(invocation.group),
            bare("--image"),
            value(invocation.image),
        ]),
    }
    let options = &invocation.options;
    for (flag, limit) in [
        ("--timeout", options.timeout),
        ("--health-timeout", options.health_timeout),
        ("--drain-timeout", options.drain_timeout),
    ] {
        if let Some(limit) = limit {
            words.extend([bare(flag), bare(&format!("{}s", limit.as_secs()))]);
        }
    }
    if options.keep_failed_canary && invocation.phase == Phase::Deploy {
        words.push(bare("--keep-failed-canary"));
    }
    words.extend([bare("--dcos-url"), value(invocation.dcos_url)]);
    for url in invocation.marathon_lb {
        words.extend([bare("--marathon-lb"), value(url)]);
    }
    if let Some(ca) = invocation.ca_cert {
        words.extend([bare("--ca-cert"), Word::Sandbox(ca)]);
    }
    words
}

/// This binary's command line, for the runner of native jobs.
pub const NATIVE_ARGV: NativeArgv = NativeArgv(words);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::{Cli, Command};
    use canary_core::NativeOptions;
    use clap::Parser;
    use std::time::Duration;

    /// The argv a shell makes of the words (sandbox paths expanded).
    fn argv(words: &[Word]) -> Vec<String> {
        let sandbox = "/mnt/sandbox";
        std::iter::once("canary".to_owned())
            .chain(words.iter().map(|w| match w {
                Word::Bare(s) | Word::Value(s) => s.clone(),
                Word::Sandbox(p) => p.replace("$MESOS_SANDBOX", sandbox),
            }))
            .collect()
    }

    fn invocation(phase: Phase, options: NativeOptions) -> NativeInvocation<'static> {
        static LBS: [String; 0] = [];
        NativeInvocation {
            phase,
            app: "web",
            image: "registry.example.com/web:1.4.2",
            group: "web",
            app_definition: canary_core::SANDBOX_APP_FILE,
            canary_instances: 2,
            options,
            dcos_url: "https://leader.mesos",
            marathon_lb: &LBS,
            ca_cert: Some(canary_core::DEFAULT_LOGIN_CA_CERT),
        }
    }

    /// Every invocation parses back, with this binary's parser, into the
    /// command and values it describes.
    #[test]
    fn every_invocation_is_a_command_line_this_binary_takes() {
        let limits = NativeOptions {
            timeout: Some(Duration::from_secs(600)),
            health_timeout: Some(Duration::from_secs(120)),
            drain_timeout: Some(Duration::from_secs(60)),
            keep_failed_canary: true,
        };
        let lbs = [
            "http://10.0.0.2:9090".to_owned(),
            "http://10.0.0.3:9090".to_owned(),
        ];
        for phase in Phase::ALL {
            for options in [NativeOptions::default(), limits] {
                let mut call = invocation(phase, options);
                call.marathon_lb = &lbs;
                let cli = Cli::try_parse_from(argv(&words(&call)))
                    .unwrap_or_else(|e| panic!("{phase}: {e}"));
                let (cluster, engine, marathon_lb) = match &cli.command {
                    Command::Deploy(args) => {
                        assert_eq!(args.bundle.app, "web");
                        assert_eq!(args.bundle.image, call.image);
                        assert_eq!(args.bundle.canary_instances, 2);
                        assert_eq!(
                            args.app_definition.as_deref(),
                            Some(std::path::Path::new("/mnt/sandbox/canary-app.json"))
                        );
                        assert_eq!(args.keep_failed_canary, options.keep_failed_canary);
                        (&args.cluster, &args.engine, &args.bundle.marathon_lb)
                    }
                    Command::Rollout(args) | Command::Rollback(args) => {
                        assert_eq!(cli.command.name(), phase.as_str());
                        assert_eq!(args.app, "web");
                        assert_eq!(args.group.as_deref(), Some("web"));
                        assert_eq!(args.image.as_deref(), Some(call.image));
                        (&args.cluster, &args.engine, &args.marathon_lb)
                    }
                    other => panic!("{phase}: {other:?}"),
                };
                assert_eq!(cluster.dcos_url.as_deref(), Some("https://leader.mesos"));
                assert_eq!(
                    cluster.tls.ca_cert.as_deref(),
                    Some(std::path::Path::new("/mnt/sandbox/.ssl/ca-bundle.crt"))
                );
                assert_eq!(marathon_lb, &lbs);
                if options.timeout.is_some() {
                    assert_eq!(engine.timeout, Duration::from_secs(600));
                    assert_eq!(engine.health_timeout, Duration::from_secs(120));
                    assert_eq!(engine.drain_timeout, Duration::from_secs(60));
                }
            }
        }
    }
}
