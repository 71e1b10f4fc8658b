//! From an app definition and a request to the bundle of one canary: the new
//! app definition and its three jobs.

use crate::app::AppDefinition;
use crate::canary_app::{AppError, CanaryApp};
use crate::ids::AppName;
use crate::job::{
    ArtifactSpec, DockerSpec, EnvValue, JobSpec, Phase, RestartPolicy, RunSpec, SecretSource,
};
use crate::runner::{RunnerConfig, RunnerError, RunnerKind, SERVICE_ACCOUNT_SECRET_NAME};
use base64::Engine as _;
use serde::Serialize;
use std::collections::BTreeMap;

/// The environment variable that carries the app definition to the job,
/// base64-encoded compact JSON.
pub const APP_DEFINITION_ENV: &str = "CANARY_APP_DEFINITION_B64";

/// The environment variable zdd.py reads a service-account credential from.
pub const SERVICE_ACCOUNT_ENV: &str = "DCOS_SERVICE_ACCOUNT_CREDENTIAL";

/// Where the job writes the decoded app definition for the runner.
pub const SANDBOX_APP_FILE: &str = "$MESOS_SANDBOX/canary-app.json";

/// Label keys every canary job carries, so tools can find the jobs later.
pub mod labels {
    /// `deploy`, `rollout` or `rollback`.
    pub const PHASE: &str = "canary.phase";
    /// The app name given to canary.
    pub const APP: &str = "canary.app";
    /// The app's `HAPROXY_DEPLOYMENT_GROUP`.
    pub const DEPLOYMENT_GROUP: &str = "canary.deployment-group";
    /// The image being canaried.
    pub const IMAGE: &str = "canary.image";
}

/// What the user asks for: which app, which new image, how the jobs run.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryRequest {
    /// The app name (job ids and the template file name derive from it).
    pub app_name: AppName,
    /// The new image to canary.
    pub image: String,
    /// How many canary instances the deploy phase starts (zdd.py `--new-instances`).
    pub canary_instances: u32,
    /// How the jobs run zdd.py.
    pub runner: RunnerConfig,
}

impl CanaryRequest {
    /// Checks what can be checked without the app: the image syntax, a
    /// canary count of at least 1, and the runner settings. [`plan_bundle`] calls it
    /// too; callers may call it first to report bad settings before reading
    /// any template.
    pub fn validate(&self) -> Result<(), PlanError> {
        validate_canary(&self.image, self.canary_instances)?;
        self.runner.validate()?;
        Ok(())
    }

    /// A request with one canary instance and the default runner.
    pub fn new(app_name: AppName, image: impl Into<String>) -> Self {
        CanaryRequest {
            app_name,
            image: image.into(),
            canary_instances: 1,
            runner: RunnerConfig::default(),
        }
    }
}

/// The image's syntax and a canary count of at least 1.
fn validate_canary(image: &str, canary_instances: u32) -> Result<(), PlanError> {
    crate::image::validate_image(image).map_err(|reason| PlanError::Image {
        image: image.escape_debug().to_string(),
        reason,
    })?;
    if canary_instances < 1 {
        return Err(PlanError::CanaryInstances {
            requested: canary_instances,
            instances: None,
        });
    }
    Ok(())
}

/// Why no bundle could be planned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// The app definition cannot be canaried.
    #[error(transparent)]
    App(#[from] AppError),
    /// The requested image is malformed.
    #[error("image '{image}' {reason}")]
    Image {
        /// The image as given (escaped).
        image: String,
        /// What is wrong.
        reason: crate::ImageError,
    },
    /// The app definition does not run the requested image.
    #[error(
        "container.docker.image: the app definition runs '{found}' but the canary image is '{expected}'; \
         the template must insert the image ({{{{ image | json }}}} or the placeholder \"ThisIsAUniqueKey\")"
    )]
    ImageMismatch {
        /// The image in the definition.
        found: String,
        /// The image requested.
        expected: String,
    },
    /// The canary instance count does not fit the app.
    #[error("canary instances: {requested} is out of range; use 1 {}", match .instances {
        Some(n) => format!("to the app's instances ({n})"),
        None => "or more".to_owned(),
    })]
    CanaryInstances {
        /// The count asked for.
        requested: u32,
        /// The app's full count, when the app is known.
        instances: Option<u64>,
    },
    /// A runner setting cannot work.
    #[error(transparent)]
    Runner(#[from] RunnerError),
}

/// One canary: the app definition zdd.py deploys and the three jobs that run
/// it. Plain data; serialises deterministically (keys sorted, jobs in
/// [`Phase::ALL`] order).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CanaryBundle {
    /// The new app definition (the input zdd.py gets).
    pub app: AppDefinition,
    /// The deploy, rollout and rollback jobs, in that order.
    pub jobs: Vec<JobSpec>,
}

impl CanaryBundle {
    /// The job of one phase.
    pub fn job(&self, phase: Phase) -> &JobSpec {
        let index = Phase::ALL.iter().position(|p| *p == phase).unwrap_or(0);
        &self.jobs[index]
    }

    /// The bundle as a JSON value with sorted keys.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a bundle always serialises")
    }
}

/// The app a canary deploys, checked as every bundle's is: an app
/// definition canary can canary ([`CanaryApp::new`]), running `image` (a
/// valid reference), with room for `canary_instances` (1 to its count).
/// The first half of [`plan_bundle`], for a caller that needs the app
/// alone (`canary deploy`): no runner is involved.
pub fn plan_app(
    app: AppDefinition,
    image: &str,
    canary_instances: u32,
) -> Result<CanaryApp, PlanError> {
    validate_canary(image, canary_instances)?;
    let app = CanaryApp::new(app)?;
    if app.image() != image {
        return Err(PlanError::ImageMismatch {
            found: app.image().to_owned(),
            expected: image.to_owned(),
        });
    }
    let instances = app.instances();
    if u64::from(canary_instances) > instances {
        return Err(PlanError::CanaryInstances {
            requested: canary_instances,
            instances: Some(instances),
        });
    }
    Ok(app)
}

/// Plans the canary of `app` as `request` asks: validates everything and
/// builds the three jobs.
///
/// ```
/// use canary_core::{plan_bundle, AppDefinition, AppName, CanaryRequest, Phase};
/// let app = AppDefinition::from_value(serde_json::json!({
///     "id": "/web", "instances": 4,
///     "container": {"docker": {"image": "nginx:1.21", "network": "BRIDGE",
///                   "portMappings": [{"containerPort": 80, "servicePort": 10000}]}},
///     "labels": {"HAPROXY_DEPLOYMENT_GROUP": "web", "HAPROXY_DEPLOYMENT_ALT_PORT": "10001"}
/// })).unwrap();
/// let request = CanaryRequest::new(AppName::new("web").unwrap(), "nginx:1.21");
/// let bundle = plan_bundle(app, &request).unwrap();
/// assert_eq!(bundle.job(Phase::Rollout).id, "rollout-web-canary");
/// assert!(bundle.job(Phase::Deploy).run.cmd.contains("--new-instances 1"));
/// ```
pub fn plan_bundle(app: AppDefinition, request: &CanaryRequest) -> Result<CanaryBundle, PlanError> {
    request.validate()?;
    let app = plan_app(app, &request.image, request.canary_instances)?;
    if request.runner.kind == crate::runner::RunnerKind::Zdd {
        crate::canary_app::check_group_for_zdd(app.deployment_group())?;
    }

    // Encoded once: the same bytes travel in all three jobs.
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(app.definition().to_compact_json());
    let jobs = Phase::ALL
        .iter()
        .map(|&phase| job_spec(phase, &app, request, &encoded))
        .collect();
    Ok(CanaryBundle {
        app: app.into_definition(),
        jobs,
    })
}

fn description(phase: Phase, app: &CanaryApp, request: &CanaryRequest) -> String {
    let name = request.app_name.as_str();
    let image = &request.image;
    let n = request.canary_instances;
    let total = app.instances();
    let native = request.runner.kind == RunnerKind::Native;
    let how = |zdd: &str, canary: &str| {
        if native {
            format!("canary {canary}")
        } else {
            format!("zdd.py {zdd}")
        }
    };
    match phase {
        Phase::Deploy => format!(
            "canary deploy of {name}: start {n} instance(s) of {image} as the other blue/green colour \
             beside the live app and drain {n} live instance(s) through marathon-lb, so {n} of {total} \
             instances serve the canary ({})",
            how(
                &format!("--new-instances {n}"),
                &format!("deploy --canary-instances {n}")
            )
        ),
        Phase::Rollout => format!(
            "canary rollout of {name}: grow the canary ({image}) to the full count while the old version \
             drains through marathon-lb and is removed ({})",
            how("--complete-cur", "rollout")
        ),
        Phase::Rollback => format!(
            "canary rollback of {name}: restore the previous version to its full count and remove the \
             canary ({image}) once marathon-lb has drained it ({})",
            how("--complete-prev", "rollback")
        ),
    }
}

fn job_spec(phase: Phase, app: &CanaryApp, request: &CanaryRequest, encoded_app: &str) -> JobSpec {
    let runner = &request.runner;
    let mut env = BTreeMap::from([(
        APP_DEFINITION_ENV.to_owned(),
        EnvValue::Plain(encoded_app.to_owned()),
    )]);
    let mut secrets = BTreeMap::new();
    if let Some(path) = &runner.service_account_secret {
        env.insert(
            SERVICE_ACCOUNT_ENV.to_owned(),
            EnvValue::Secret {
                secret: SERVICE_ACCOUNT_SECRET_NAME.to_owned(),
            },
        );
        secrets.insert(
            SERVICE_ACCOUNT_SECRET_NAME.to_owned(),
            SecretSource {
                source: path.clone(),
            },
        );
    }
    let labels = BTreeMap::from([
        (labels::PHASE.to_owned(), phase.as_str().to_owned()),
        (labels::APP.to_owned(), request.app_name.as_str().to_owned()),
        (
            labels::DEPLOYMENT_GROUP.to_owned(),
            app.deployment_group().to_owned(),
        ),
        (labels::IMAGE.to_owned(), request.image.clone()),
    ]);
    JobSpec {
        id: request.app_name.job_id(phase),
        description: description(phase, app, request),
        labels,
        run: RunSpec {
            cmd: crate::command::job_command(phase, app, request),
            cpus: runner.cpus,
            mem: runner.mem,
            disk: runner.disk,
            docker: DockerSpec {
                image: runner.image.clone(),
                force_pull_image: false,
            },
            env,
            secrets,
            artifacts: runner
                .artifact
                .iter()
                .filter(|_| runner.kind == RunnerKind::Native)
                .map(|a| ArtifactSpec {
                    uri: a.url.clone(),
                    executable: true,
                    extract: false,
                    cache: false,
                })
                .collect(),
            restart: RestartPolicy {
                policy: "NEVER".to_owned(),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// zdd.py cannot drain a group with `/` (zdd.md §12.8): the zdd jobs
    /// refuse it; canary's own engine names its backend as marathon-lb does.
    #[test]
    fn a_nested_group_is_refused_for_zdd_only() {
        let app = || {
            AppDefinition::from_value(serde_json::json!({
                "id": "/prod/web", "instances": 2,
                "container": {"docker": {"image": "nginx:1.21"},
                              "portMappings": [{"containerPort": 80, "servicePort": 10000}]},
                "labels": {"HAPROXY_DEPLOYMENT_GROUP": "prod/web", "HAPROXY_DEPLOYMENT_ALT_PORT": "10001"}
            }))
            .unwrap()
        };
        let mut request = CanaryRequest::new(AppName::new("web").unwrap(), "nginx:1.21");
        let err = plan_bundle(app(), &request).unwrap_err().to_string();
        assert!(
            err.starts_with("labels.HAPROXY_DEPLOYMENT_GROUP: 'prod/web' contains '/'"),
            "{err}"
        );
        request.runner.kind = crate::runner::RunnerKind::Native;
        request.runner.image = "registry.example.com/canary:0.1.0".into();
        assert_eq!(
            plan_bundle(app(), &request).unwrap_err(),
            PlanError::Runner(RunnerError::NativeArgv),
            "canary-core does not name the binary's flags"
        );
        request.runner.native_argv = Some(crate::native::NativeArgv(words));
        let bundle = plan_bundle(app(), &request).unwrap();
        // The binary's words, quoted by kind, after `exec canary`.
        assert!(
            bundle.jobs[2].run.cmd.ends_with(
                "exec canary rollback 'prod/web' \"$MESOS_SANDBOX/canary-app.json\" 'http://leader.mesos'"
            ),
            "{}",
            bundle.jobs[2].run.cmd
        );
    }

    /// A stand-in for the binary's command line: the phase, the group, the
    /// definition's path and the DC/OS URL.
    fn words(invocation: &crate::native::NativeInvocation<'_>) -> Vec<crate::native::Word> {
        use crate::native::Word;
        vec![
            Word::Bare(invocation.phase.to_string()),
            Word::Value(invocation.group.to_owned()),
            Word::Sandbox(invocation.app_definition),
            Word::Value(invocation.dcos_url.to_owned()),
        ]
    }
    use serde_json::{Value, json};

    fn app() -> AppDefinition {
        AppDefinition::from_value(json!({
            "id": "/testapp", "instances": 4,
            "container": {"type": "DOCKER", "docker": {"image": "httpd:2.4", "network": "BRIDGE",
                "portMappings": [{"containerPort": 80, "servicePort": 10102}]}},
            "labels": {"HAPROXY_DEPLOYMENT_GROUP": "testapp", "HAPROXY_DEPLOYMENT_ALT_PORT": "10129",
                       "HAPROXY_0_VHOST": "a \"quoted\"\nvhost {{ x }}"}
        }))
        .unwrap()
    }

    fn request() -> CanaryRequest {
        CanaryRequest::new(AppName::new("testapp").unwrap(), "httpd:2.4")
    }

    #[test]
    fn jobs_have_derived_ids_labels_and_phase_flags() {
        let bundle = plan_bundle(app(), &request()).unwrap();
        let ids: Vec<&str> = bundle.jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "deploy-testapp-canary",
                "rollout-testapp-canary",
                "rollback-testapp-canary"
            ]
        );
        for (job, phase) in bundle.jobs.iter().zip(Phase::ALL) {
            assert_eq!(job.labels[labels::PHASE], phase.as_str());
            assert_eq!(job.labels[labels::APP], "testapp");
            assert_eq!(job.labels[labels::DEPLOYMENT_GROUP], "testapp");
            assert_eq!(job.labels[labels::IMAGE], "httpd:2.4");
            assert!(job.run.cmd.contains("--force --max-wait 300"));
            assert!(
                job.run
                    .cmd
                    .contains("--marathon 'http://marathon.mesos:8080'")
            );
            assert!(
                job.run
                    .cmd
                    .contains("--marathon-lb 'http://marathon-lb.marathon.mesos:9090'")
            );
            assert!(job.run.cmd.contains("--syslog-socket /dev/null"));
            assert!(
                !job.run.cmd.contains("curl"),
                "nothing is downloaded at run time"
            );
            assert_eq!(job.run.docker.image, "mesosphere/marathon-lb:v1.14.2");
            assert!(job.run.secrets.is_empty());
            assert!(!job.run.env.contains_key(SERVICE_ACCOUNT_ENV));
        }
        assert!(bundle.jobs[0].run.cmd.ends_with("--new-instances 1"));
        assert!(bundle.jobs[1].run.cmd.ends_with("--complete-cur"));
        assert!(bundle.jobs[2].run.cmd.ends_with("--complete-prev"));
    }

    #[test]
    fn the_app_travels_base64_in_env_and_decodes_to_the_definition() {
        let bundle = plan_bundle(app(), &request()).unwrap();
        let EnvValue::Plain(encoded) = &bundle.jobs[0].run.env[APP_DEFINITION_ENV] else {
            panic!("app definition must be a plain env value");
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        let value: Value = serde_json::from_slice(&decoded).unwrap();
        assert_eq!(value, app().into_value());
        assert!(!bundle.jobs[0].run.cmd.contains(encoded.as_str()));
    }

    #[test]
    fn service_account_secret_adds_env_secret_and_verified_login() {
        let mut req = request();
        req.runner.service_account_secret = Some("canary/sa".into());
        let bundle = plan_bundle(app(), &req).unwrap();
        let run = &bundle.jobs[1].run;
        assert_eq!(
            run.env[SERVICE_ACCOUNT_ENV],
            EnvValue::Secret {
                secret: SERVICE_ACCOUNT_SECRET_NAME.into()
            }
        );
        assert_eq!(run.secrets[SERVICE_ACCOUNT_SECRET_NAME].source, "canary/sa");
        assert!(
            run.cmd
                .contains("--marathon-ca-cert \"$MESOS_SANDBOX/.ssl/ca-bundle.crt\"")
        );
    }

    #[test]
    fn canary_instances_must_fit_the_app() {
        let mut req = request();
        req.canary_instances = 2;
        assert!(
            plan_bundle(app(), &req).unwrap().jobs[0]
                .run
                .cmd
                .ends_with("--new-instances 2")
        );
        req.canary_instances = 5;
        let err = plan_bundle(app(), &req).unwrap_err();
        assert_eq!(
            err,
            PlanError::CanaryInstances {
                requested: 5,
                instances: Some(4)
            }
        );
        assert!(
            err.to_string()
                .ends_with("use 1 to the app's instances (4)")
        );
        req.canary_instances = 0;
        let err = req.validate().unwrap_err();
        assert_eq!(
            err,
            PlanError::CanaryInstances {
                requested: 0,
                instances: None
            }
        );
        assert!(err.to_string().ends_with("use 1 or more"));
    }

    #[test]
    fn the_definition_must_run_the_requested_image() {
        let mut req = request();
        req.image = "httpd:2.5".into();
        let err = plan_bundle(app(), &req).unwrap_err().to_string();
        assert!(
            err.starts_with("container.docker.image: the app definition runs 'httpd:2.4'"),
            "{err}"
        );
        req.image = "httpd 2".into();
        let err = plan_bundle(app(), &req).unwrap_err().to_string();
        assert!(err.starts_with("image 'httpd 2' contains a space"), "{err}");
    }

    #[test]
    fn bundle_json_is_deterministic_with_sorted_keys() {
        let a = serde_json::to_string(&plan_bundle(app(), &request()).unwrap().to_value()).unwrap();
        let b = serde_json::to_string(&plan_bundle(app(), &request()).unwrap().to_value()).unwrap();
        assert_eq!(a, b);
        fn sorted(v: &Value) -> bool {
            match v {
                Value::Object(m) => {
                    let keys: Vec<&String> = m.keys().collect();
                    keys.windows(2).all(|w| w[0] < w[1]) && m.values().all(sorted)
                }
                Value::Array(items) => items.iter().all(sorted),
                _ => true,
            }
        }
        let parsed: Value = serde_json::from_str(&a).unwrap();
        assert!(sorted(&parsed), "keys must come out sorted: {a}");
    }
}
