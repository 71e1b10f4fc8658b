//! What a command set out to change, and whether the group is still that:
//! the operator's intent, bound to the apps by identity.
//!
//! A command that runs for minutes (a phase waiting on health and drains,
//! a ladder pausing between steps, an analysis) must not act on what it
//! saw at its start once someone else has moved the group: rolled the
//! canary back or out, promoted it, deployed another image. So a phase
//! binds itself, at its first look, to the apps it keeps ([`bind`]): a
//! rollout its canary, a rollback the previous app, a deploy the previous
//! app and its own canary (once it exists). Before every change the driver
//! checks the group against the binding ([`Binding::check`]); an app gone,
//! reconfigured (Marathon's `versionInfo.lastConfigChangeAt`, which a
//! scale or a kill leaves as it is) or another app that appeared is
//! [`Moved`], and the command stops changing anything. A ladder checks, in
//! addition, that between its steps the canary stands where it left it
//! ([`Standing`]); an analysis, that the canary it judges is the one it
//! started with.
//!
//! Operators who want the same thing still converge: a rollout that finds
//! the previous app already removed goes on (that is its goal), two
//! deploys of one image share the canary either creates.

use crate::job::Phase;
use crate::marathon::MarathonApp;
use crate::plan::PhaseRequest;
use crate::plan::predict::by_started_at;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;

/// An app as a command found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppIdentity {
    /// Its id.
    pub id: String,
    /// When its configuration last changed (`versionInfo.lastConfigChangeAt`;
    /// a scale or a kill leaves it).
    pub config: Option<String>,
    /// Its image.
    pub image: Option<String>,
}

impl AppIdentity {
    /// `app`'s identity now.
    pub fn of(app: &MarathonApp) -> Self {
        AppIdentity {
            id: app.id.clone(),
            config: app.last_config_change_at.clone(),
            image: app.image.clone(),
        }
    }

    /// Whether `app` is this app, as it was configured.
    pub fn is(&self, app: &MarathonApp) -> bool {
        app.id == self.id && app.last_config_change_at == self.config && app.image == self.image
    }
}

impl fmt::Display for AppIdentity {
    /// `/web-green (httpd:2.4)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({})",
            self.id,
            self.image.as_deref().unwrap_or("no image")
        )
    }
}

/// What someone else did to the group, as found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Moved {
    /// An app this command keeps is gone.
    #[error("{app} is gone")]
    Gone {
        /// The app as it was found.
        app: AppIdentity,
    },
    /// An app this command keeps was redeployed (another configuration or
    /// image).
    #[error("{was} was changed (now {now}, configured at {})", now.config.as_deref().unwrap_or("an unknown time"))]
    Changed {
        /// As it was found.
        was: AppIdentity,
        /// As it is now (boxed: a `Moved` travels in every phase's error).
        now: Box<AppIdentity>,
    },
    /// An app appeared that this command did not create.
    #[error("{app} appeared")]
    Appeared {
        /// The app.
        app: AppIdentity,
    },
    /// The canary was scaled (promoted, or rolled back part way) since this
    /// command left it.
    #[error(
        "the canary {app} runs {found} instance(s), not the {expected} this command left it at"
    )]
    Scaled {
        /// The canary.
        app: AppIdentity,
        /// Where this command left it.
        expected: u32,
        /// What it is asked to run now.
        found: u32,
    },
}

/// The apps a command keeps: each must be found as it was, before every
/// change the command makes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Binding {
    kept: Vec<AppIdentity>,
    /// Every app id the command knows of (found at its first look, or
    /// created by it): another one is someone else's.
    known: BTreeSet<String>,
}

impl Binding {
    /// Keeps `app` as it is now.
    pub fn keep(&mut self, app: &MarathonApp) {
        self.kept.retain(|k| k.id != app.id);
        self.kept.push(AppIdentity::of(app));
        self.known.insert(app.id.clone());
    }

    /// Knows of `app_id` (an app this command creates) without keeping it
    /// yet.
    pub fn know(&mut self, app_id: &str) {
        self.known.insert(app_id.to_owned());
    }

    /// Adopts every app of the group it does not know of that runs
    /// `image`: a deploy of the same image by another operator shares its
    /// canary (they want the same thing).
    pub fn adopt(&mut self, apps: &[MarathonApp], image: &str) {
        for app in apps {
            if !self.known.contains(&app.id) && app.image.as_deref() == Some(image) {
                self.keep(app);
            }
        }
    }

    /// Lets `app_id` go: this command removes it.
    pub fn release(&mut self, app_id: &str) {
        self.kept.retain(|k| k.id != app_id);
    }

    /// The apps kept.
    pub fn kept(&self) -> &[AppIdentity] {
        &self.kept
    }

    /// Whether the group (`apps`) is still what the command bound itself
    /// to: every kept app there as it was, and no app it does not know of.
    pub fn check(&self, apps: &[MarathonApp]) -> Result<(), Moved> {
        for kept in &self.kept {
            match apps.iter().find(|a| a.id == kept.id) {
                None => return Err(Moved::Gone { app: kept.clone() }),
                Some(app) if !kept.is(app) => {
                    return Err(Moved::Changed {
                        was: kept.clone(),
                        now: Box::new(AppIdentity::of(app)),
                    });
                }
                Some(_) => {}
            }
        }
        match apps.iter().find(|a| !self.known.contains(&a.id)) {
            Some(app) => Err(Moved::Appeared {
                app: AppIdentity::of(app),
            }),
            None => Ok(()),
        }
    }
}

/// The newest app of a pair (zdd.py's order), if the group is a pair.
fn pair(apps: &[MarathonApp]) -> Option<(&MarathonApp, &MarathonApp)> {
    match apps {
        [a, b] if by_started_at(a, b).is_gt() => Some((b, a)),
        [a, b] => Some((a, b)),
        _ => None,
    }
}

/// What a phase keeps, from its first look at the group (`apps`): a
/// rollout its canary, a rollback the previous app, a deploy the previous
/// app and a canary of its own image. Every app found is known.
pub fn bind(request: &PhaseRequest, apps: &[MarathonApp]) -> Binding {
    let mut binding = Binding::default();
    for app in apps {
        binding.know(&app.id);
    }
    let is_canary = |app: &MarathonApp| match (&request.canary.app_id, &request.canary.image) {
        (Some(id), _) => *id == app.id,
        (None, Some(image)) => app.image.as_deref() == Some(image),
        (None, None) => false,
    };
    let canary_image = request
        .deploy
        .as_ref()
        .map(|d| d.app.image().to_owned())
        .or_else(|| request.canary.image.clone());
    match (request.phase, apps) {
        (_, []) => {}
        (Phase::Deploy, [live]) => {
            if canary_image.as_deref() != live.image.as_deref() {
                binding.keep(live);
            }
        }
        (phase, _) => {
            let Some((old, new)) = pair(apps) else {
                return binding;
            };
            let (canary, previous) = if is_canary(old) && !is_canary(new) {
                (old, new)
            } else {
                (new, old)
            };
            match phase {
                Phase::Rollout => binding.keep(canary),
                Phase::Rollback => binding.keep(previous),
                Phase::Deploy => {
                    binding.keep(previous);
                    if canary.image.as_deref() == canary_image.as_deref() {
                        binding.keep(canary);
                    }
                }
            }
        }
    }
    binding
}

/// Where a ladder left the group after a step: the canary and the count it
/// grew it to, beside the previous app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Standing {
    /// The canary.
    pub canary: AppIdentity,
    /// The instances it was left at.
    pub instances: u32,
    /// The previous app.
    pub previous: AppIdentity,
}

impl Standing {
    /// Where `apps` (a canary beside its previous app) stand now; `None`
    /// for any other group.
    pub fn of(apps: &[MarathonApp]) -> Option<Standing> {
        let (previous, canary) = pair(apps)?;
        Some(Standing {
            canary: AppIdentity::of(canary),
            instances: canary.instances,
            previous: AppIdentity::of(previous),
        })
    }

    /// Whether `apps` still stand here: both apps as they were, no other,
    /// and the canary at the same count.
    pub fn check(&self, apps: &[MarathonApp]) -> Result<(), Moved> {
        let mut binding = Binding::default();
        for kept in [&self.canary, &self.previous] {
            binding.kept.push(kept.clone());
            binding.known.insert(kept.id.clone());
        }
        binding.check(apps)?;
        let canary = apps
            .iter()
            .find(|a| a.id == self.canary.id)
            .expect("checked above");
        if canary.instances != self.instances {
            return Err(Moved::Scaled {
                app: self.canary.clone(),
                expected: self.instances,
                found: canary.instances,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{DeployInput, KnownCanary, Limits};
    use serde_json::json;

    fn app(id: &str, image: &str, started: &str, config: &str, instances: u32) -> MarathonApp {
        MarathonApp::from_marathon(&json!({
            "id": id, "instances": instances,
            "container": {"docker": {"image": image}},
            "labels": {"HAPROXY_DEPLOYMENT_GROUP": "web", "HAPROXY_DEPLOYMENT_STARTED_AT": started},
            "versionInfo": {"lastConfigChangeAt": config, "lastScalingAt": config},
            "tasks": []
        }))
        .unwrap()
    }

    fn request(phase: Phase) -> PhaseRequest {
        PhaseRequest {
            phase,
            group: "web".into(),
            deploy: None,
            canary: KnownCanary::default(),
            goal: None,
            limits: Limits::default(),
        }
    }

    fn pair_of_apps() -> Vec<MarathonApp> {
        vec![
            app("/web-blue", "nginx:1", "1", "2026-01-01T00:00:00.000Z", 3),
            app("/web-green", "httpd:2", "2", "2026-01-02T00:00:00.000Z", 1),
        ]
    }

    #[test]
    fn a_rollout_keeps_its_canary_and_a_rollback_the_previous_app() {
        let apps = pair_of_apps();
        let rollout = bind(&request(Phase::Rollout), &apps);
        assert_eq!(rollout.kept()[0].id, "/web-green");
        let rollback = bind(&request(Phase::Rollback), &apps);
        assert_eq!(rollback.kept()[0].id, "/web-blue");
        // Scaling and killing leave the configuration: still the same.
        let mut scaled = apps.clone();
        scaled[1].instances = 4;
        scaled[0].instances = 0;
        assert_eq!(rollout.check(&scaled), Ok(()));
        // The previous app removed: a rollout's goal, not a move.
        assert_eq!(rollout.check(&scaled[1..]), Ok(()));
        // The canary removed: someone rolled it back.
        assert!(matches!(
            rollout.check(&apps[..1]),
            Err(Moved::Gone { app }) if app.id == "/web-green"
        ));
        // The previous app removed under a rollback: someone rolled out.
        assert!(matches!(
            rollback.check(&apps[1..]),
            Err(Moved::Gone { .. })
        ));
    }

    #[test]
    fn a_redeployed_app_or_a_new_one_is_a_move() {
        let apps = pair_of_apps();
        let binding = bind(&request(Phase::Rollout), &apps);
        let mut redeployed = apps.clone();
        redeployed[1] = app("/web-green", "httpd:3", "2", "2026-01-03T00:00:00.000Z", 1);
        let moved = binding.check(&redeployed).unwrap_err();
        assert!(
            matches!(&moved, Moved::Changed { now, .. } if now.image.as_deref() == Some("httpd:3"))
        );
        assert!(
            moved
                .to_string()
                .starts_with("/web-green (httpd:2) was changed (now /web-green (httpd:3)"),
            "{moved}"
        );
        let third = [apps.clone(), vec![app("/web-red", "x:1", "3", "c", 1)]].concat();
        assert!(
            matches!(binding.check(&third), Err(Moved::Appeared { app }) if app.id == "/web-red")
        );
    }

    #[test]
    fn a_deploy_keeps_the_live_app_and_the_canary_it_creates_or_resumes() {
        let apps = pair_of_apps();
        let canary = crate::CanaryApp::new(
            crate::AppDefinition::from_value(json!({
                "id": "/web", "instances": 4,
                "container": {"docker": {"image": "httpd:2", "portMappings": [{"containerPort": 80, "servicePort": 10000}]}},
                "labels": {"HAPROXY_DEPLOYMENT_GROUP": "web", "HAPROXY_DEPLOYMENT_ALT_PORT": "10001"}
            }))
            .unwrap(),
        )
        .unwrap();
        let mut deploy = request(Phase::Deploy);
        deploy.deploy = Some(DeployInput {
            app: canary,
            canary_instances: 1,
            steps: None,
        });
        let resumed = bind(&deploy, &apps);
        assert_eq!(resumed.kept().len(), 2, "the live app and its own canary");
        let mut fresh = bind(&deploy, &apps[..1]);
        assert_eq!(fresh.kept().len(), 1);
        // Its own canary, once created, is known and kept.
        assert!(matches!(fresh.check(&apps), Err(Moved::Appeared { .. })));
        fresh.know("/web-green");
        fresh.keep(&apps[1]);
        assert_eq!(fresh.check(&apps), Ok(()));
        // Its own removal of an app is no move.
        fresh.release("/web-green");
        assert_eq!(fresh.check(&apps[..1]), Ok(()));
    }

    #[test]
    fn a_ladder_step_stands_until_someone_scales_or_removes_the_canary() {
        let apps = pair_of_apps();
        let standing = Standing::of(&apps).unwrap();
        assert_eq!(standing.check(&apps), Ok(()));
        let mut promoted = apps.clone();
        promoted[1].instances = 2;
        assert!(matches!(
            standing.check(&promoted),
            Err(Moved::Scaled {
                expected: 1,
                found: 2,
                ..
            })
        ));
        assert!(matches!(
            standing.check(&apps[..1]),
            Err(Moved::Gone { .. })
        ));
        assert_eq!(
            serde_json::to_value(standing.check(&apps[..1]).unwrap_err()).unwrap()["kind"],
            "gone"
        );
    }
}
