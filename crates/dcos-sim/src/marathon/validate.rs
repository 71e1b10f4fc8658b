//! App ids, app definition checks and Marathon's defaults.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// One failed check: the JSON pointer it concerns and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer of the offending field, e.g. `/id`.
    pub path: String,
    /// The message, as Marathon words it.
    pub error: String,
}

/// Why an app definition was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// Well-formed JSON that does not fit the types (`"Invalid JSON"`, 422).
    Types(Vec<Violation>),
    /// Semantic validation failures (`"Object is not valid"`, 422).
    Semantics(Vec<Violation>),
}

impl Invalid {
    /// The 422 body: `{"message", "details":[{"path","errors":[…]}]}`.
    pub fn body(&self) -> Value {
        let (message, violations) = match self {
            Invalid::Types(v) => ("Invalid JSON", v),
            Invalid::Semantics(v) => ("Object is not valid", v),
        };
        let mut grouped: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for v in violations {
            grouped.entry(&v.path).or_default().push(&v.error);
        }
        let details: Vec<Value> = grouped
            .into_iter()
            .map(|(path, errors)| json!({"path": path, "errors": errors}))
            .collect();
        json!({"message": message, "details": details})
    }
}

fn violation(path: &str, error: &str) -> Violation {
    Violation {
        path: path.to_owned(),
        error: error.to_owned(),
    }
}

/// Whether one path segment fits Marathon's id rule: lowercase letters,
/// digits, `-` and `.`, with no dot-separated part starting or ending in `-`.
fn valid_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

/// The canonical absolute form of `raw` (resolved against `/`, `.` and `..`
/// applied, repeated and trailing slashes dropped). Does not validate.
pub fn canonical_id(raw: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for segment in raw.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The violations of `raw` as an app id (path `/id`), after canonicalisation.
pub fn id_violations(raw: &str) -> Vec<String> {
    let id = canonical_id(raw);
    if id == "/" {
        return vec!["must not be root".to_owned()];
    }
    let mut errors = Vec::new();
    if !id[1..].split('/').all(valid_segment) {
        errors.push(
            "must fully match regular expression \
             '^(([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])\\.)*([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])|(\\.|\\.\\.)$'"
                .to_owned(),
        );
    }
    let last = raw.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    if ["restart", "tasks", "versions", ".", ".."].contains(&last) {
        errors.push(
            "must not end with any of the following reserved keywords: restart, tasks, versions, ., .."
                .to_owned(),
        );
    }
    errors
}

/// Marathon's task-id prefix for an app: the id without its leading `/`,
/// with `/` replaced by `_`.
pub fn safe_app_id(id: &str) -> String {
    id.trim_start_matches('/').replace('/', "_")
}

/// The app id a task id names, for every task-id format Marathon accepts;
/// `None` when the format is not recognised.
pub fn app_id_of_task(task_id: &str) -> Option<String> {
    let safe = if let Some(i) = task_id.find(".instance-") {
        &task_id[..i]
    } else if let Some(i) = task_id.find(".marathon-") {
        &task_id[..i]
    } else {
        // Pre-1.5: `<safeAppId>.<uuid>` or `<safeAppId>_<uuid>`.
        let n = task_id.len();
        if n < 38 || !task_id.is_char_boundary(n - 37) {
            return None;
        }
        let (head, uuid) = task_id.split_at(n - 36);
        let uuid_like = uuid.bytes().enumerate().all(|(i, b)| {
            matches!(i, 8 | 13 | 18 | 23) == (b == b'-') && (b == b'-' || b.is_ascii_hexdigit())
        });
        if !uuid_like || !(head.ends_with('.') || head.ends_with('_')) {
            return None;
        }
        &head[..head.len() - 1]
    };
    (!safe.is_empty()).then(|| format!("/{}", safe.replace('_', "/")))
}

fn check_number(
    app: &Map<String, Value>,
    key: &str,
    integer: bool,
    min: f64,
    out: &mut Vec<Violation>,
) {
    let Some(value) = app.get(key) else { return };
    let path = format!("/{key}");
    match value.as_f64() {
        None => out.push(violation(&path, "error.expected.jsnumber")),
        Some(_) if integer && value.as_i64().is_none() && value.as_u64().is_none() => {
            out.push(violation(&path, "error.expected.jsnumber"))
        }
        Some(n) if n < min => out.push(violation(&path, "error.min")),
        Some(_) => {}
    }
}

/// Type checks (RAML level) of the fields canary and the CLI use.
fn type_violations(app: &Map<String, Value>) -> Vec<Violation> {
    let mut out = Vec::new();
    match app.get("id") {
        None => out.push(violation("/id", "error.path.missing")),
        Some(Value::String(_)) => {}
        Some(_) => out.push(violation("/id", "error.expected.jsstring")),
    }
    check_number(app, "instances", true, 0.0, &mut out);
    check_number(app, "cpus", false, 0.001, &mut out);
    check_number(app, "mem", false, 0.0, &mut out);
    check_number(app, "disk", false, 0.0, &mut out);
    check_number(app, "gpus", true, 0.0, &mut out);
    check_number(app, "backoffSeconds", true, 0.0, &mut out);
    check_number(app, "backoffFactor", false, 1.0, &mut out);
    check_number(app, "maxLaunchDelaySeconds", true, 0.0, &mut out);
    match app.get("cmd") {
        None => {}
        Some(Value::String(s)) if s.is_empty() => out.push(violation("/cmd", "error.minLength")),
        Some(Value::String(_)) => {}
        Some(_) => out.push(violation("/cmd", "error.expected.jsstring")),
    }
    match app.get("args") {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if !item.is_string() {
                    out.push(violation(&format!("/args({i})"), "error.expected.jsstring"));
                }
            }
        }
        Some(_) => out.push(violation("/args", "error.expected.jsarray")),
    }
    match app.get("labels") {
        None => {}
        Some(Value::Object(labels)) => {
            for (k, v) in labels {
                if !v.is_string() {
                    out.push(violation(
                        &format!("/labels/{k}"),
                        "error.expected.jsstring",
                    ));
                }
            }
        }
        Some(_) => out.push(violation("/labels", "error.expected.jsobject")),
    }
    match app.get("env") {
        None | Some(Value::Object(_)) => {}
        Some(_) => out.push(violation("/env", "error.expected.jsobject")),
    }
    for key in ["container", "upgradeStrategy"] {
        match app.get(key) {
            None | Some(Value::Object(_)) => {}
            Some(_) => out.push(violation(&format!("/{key}"), "error.expected.jsobject")),
        }
    }
    for key in ["healthChecks", "constraints", "portDefinitions"] {
        match app.get(key) {
            None | Some(Value::Array(_)) => {}
            Some(_) => out.push(violation(&format!("/{key}"), "error.expected.jsarray")),
        }
    }
    if let Some(kill) = app.get("killSelection")
        && !matches!(kill.as_str(), Some("YOUNGEST_FIRST" | "OLDEST_FIRST"))
    {
        out.push(violation("/killSelection", "error.unknown.enum.literal"));
    }
    out
}

/// Semantic checks (Marathon's validators) of a normalised definition.
fn semantic_violations(app: &Map<String, Value>) -> Vec<Violation> {
    let mut out = Vec::new();
    if let Some(id) = app.get("id").and_then(Value::as_str) {
        for error in id_violations(id) {
            out.push(violation("/id", &error));
        }
    }
    let has_cmd = app.get("cmd").is_some_and(|v| !v.is_null());
    let has_args = app.get("args").is_some_and(|v| !v.is_null());
    let has_container = app.get("container").is_some_and(|v| !v.is_null());
    if (has_cmd && has_args) || (!has_cmd && !has_args && !has_container) {
        out.push(violation(
            "/",
            "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.",
        ));
    }
    if let Some(Value::Object(strategy)) = app.get("upgradeStrategy") {
        for key in ["minimumHealthCapacity", "maximumOverCapacity"] {
            let path = format!("/upgradeStrategy/{key}");
            match strategy.get(key).map(Value::as_f64) {
                None => {}
                Some(None) => out.push(violation(&path, "error.expected.jsnumber")),
                Some(Some(n)) if n > 1.0 => out.push(violation(&path, "is greater than 1")),
                Some(Some(n)) if n < 0.0 => out.push(violation(&path, "is less than 0")),
                Some(Some(_)) => {}
            }
        }
    }
    if let Some(Value::Array(checks)) = app.get("healthChecks") {
        let ports = port_count(app);
        for (i, check) in checks.iter().enumerate() {
            if let Some(index) = check.get("portIndex").and_then(Value::as_u64)
                && index as usize >= ports
            {
                out.push(violation(
                    &format!("/healthChecks({i})"),
                    "Health check port indices must address an element of the ports array or container port mappings.",
                ));
            }
        }
    }
    out
}

/// The port mappings of an app's container (the 1.5+ place or the
/// deprecated `container.docker.portMappings`).
pub fn port_mappings(app: &Map<String, Value>) -> Option<&Vec<Value>> {
    let container = app.get("container")?;
    container
        .get("portMappings")
        .and_then(Value::as_array)
        .or_else(|| {
            container
                .get("docker")
                .and_then(|d| d.get("portMappings"))
                .and_then(Value::as_array)
        })
}

/// How many host ports each task of the app gets.
pub fn port_count(app: &Map<String, Value>) -> usize {
    if let Some(mappings) = port_mappings(app) {
        return mappings.len();
    }
    app.get("portDefinitions")
        .and_then(Value::as_array)
        .map(Vec::len)
        .or_else(|| app.get("ports").and_then(Value::as_array).map(Vec::len))
        .unwrap_or(0)
}

/// The networking mode an app asks for: `host`, `container/bridge` or
/// `container`.
fn network_mode(app: &Map<String, Value>) -> &'static str {
    if let Some(Value::Array(networks)) = app.get("networks")
        && let Some(mode) = networks.first().and_then(|n| n.get("mode"))
    {
        return match mode.as_str() {
            Some("container/bridge") => "container/bridge",
            Some("container") => "container",
            _ => "host",
        };
    }
    match app
        .get("container")
        .and_then(|c| c.get("docker"))
        .and_then(|d| d.get("network"))
        .and_then(Value::as_str)
    {
        Some("BRIDGE") => "container/bridge",
        Some("USER") => "container",
        _ => "host",
    }
}

fn default(app: &mut Map<String, Value>, key: &str, value: Value) {
    if app.get(key).is_none_or(Value::is_null) {
        app.insert(key.to_owned(), value);
    }
}

/// Applies Marathon's defaults to a definition that passed the type checks.
fn apply_defaults(app: &mut Map<String, Value>) {
    default(app, "instances", json!(1));
    default(app, "cpus", json!(1));
    default(app, "mem", json!(128));
    default(app, "disk", json!(0));
    default(app, "gpus", json!(0));
    default(app, "backoffSeconds", json!(1));
    default(app, "backoffFactor", json!(1.15));
    default(app, "maxLaunchDelaySeconds", json!(300));
    default(app, "labels", json!({}));
    default(app, "env", json!({}));
    default(app, "constraints", json!([]));
    default(app, "healthChecks", json!([]));
    default(app, "readinessChecks", json!([]));
    default(app, "fetch", json!([]));
    default(app, "dependencies", json!([]));
    default(app, "executor", json!(""));
    default(app, "requirePorts", json!(false));
    default(app, "killSelection", json!("YOUNGEST_FIRST"));
    default(
        app,
        "unreachableStrategy",
        json!({"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0}),
    );
    let mode = network_mode(app);
    default(app, "networks", json!([{"mode": mode}]));
    if mode == "host" && port_mappings(app).is_none() && app.get("ports").is_none() {
        default(
            app,
            "portDefinitions",
            json!([{"port": 0, "protocol": "tcp", "name": "default"}]),
        );
    }
    // Ports: `protocol` defaults to tcp; bridge mappings get `hostPort: 0`.
    let bridge = mode == "container/bridge";
    if let Some(Value::Array(defs)) = app.get_mut("portDefinitions") {
        for d in defs.iter_mut().filter_map(Value::as_object_mut) {
            default(d, "protocol", json!("tcp"));
        }
    }
    if let Some(container) = app.get_mut("container").and_then(Value::as_object_mut) {
        let docker = container
            .get_mut("docker")
            .and_then(Value::as_object_mut)
            .and_then(|d| d.get_mut("portMappings"))
            .and_then(Value::as_array_mut)
            .map(std::mem::take);
        let fix = |mappings: &mut Vec<Value>| {
            for m in mappings.iter_mut().filter_map(Value::as_object_mut) {
                default(m, "protocol", json!("tcp"));
                if bridge {
                    default(m, "hostPort", json!(0));
                }
            }
        };
        if let Some(Value::Array(mappings)) = container.get_mut("portMappings") {
            fix(mappings);
        }
        if let Some(mut mappings) = docker {
            fix(&mut mappings);
            if let Some(d) = container.get_mut("docker").and_then(Value::as_object_mut) {
                d.insert("portMappings".into(), Value::Array(mappings));
            }
        }
    }
    let mut strategy = app
        .get("upgradeStrategy")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    default(&mut strategy, "minimumHealthCapacity", json!(1));
    default(&mut strategy, "maximumOverCapacity", json!(1));
    app.insert("upgradeStrategy".into(), Value::Object(strategy));
    let has_ports = port_count(app) > 0;
    if let Some(Value::Array(checks)) = app.get_mut("healthChecks") {
        for check in checks.iter_mut().filter_map(Value::as_object_mut) {
            default(check, "protocol", json!("HTTP"));
            default(check, "gracePeriodSeconds", json!(300));
            default(check, "intervalSeconds", json!(60));
            default(check, "timeoutSeconds", json!(20));
            default(check, "maxConsecutiveFailures", json!(3));
            default(check, "delaySeconds", json!(15));
            let protocol = check
                .get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            if matches!(protocol.as_str(), "HTTP" | "HTTPS") {
                default(check, "path", json!("/"));
                default(check, "ignoreHttp1xx", json!(false));
            }
            if has_ports && check.get("port").is_none() && protocol != "COMMAND" {
                default(check, "portIndex", json!(0));
            }
        }
    }
}

/// Checks a full app definition (fields of an update already merged in),
/// canonicalises its id and applies the defaults. Read-only fields a client
/// may echo back (counts, tasks, deployments, …) and top-level `null`s (an
/// absent optional field) are dropped; unknown fields are kept as given.
pub fn normalise(mut app: Map<String, Value>) -> Result<Map<String, Value>, Invalid> {
    app.retain(|_, v| !v.is_null());
    for key in [
        "version",
        "versionInfo",
        "tasksStaged",
        "tasksRunning",
        "tasksHealthy",
        "tasksUnhealthy",
        "deployments",
        "tasks",
        "lastTaskFailure",
        "readinessCheckResults",
        "tasksStats",
    ] {
        app.remove(key);
    }
    let types = type_violations(&app);
    if !types.is_empty() {
        return Err(Invalid::Types(types));
    }
    let semantics = semantic_violations(&app);
    if !semantics.is_empty() {
        return Err(Invalid::Semantics(semantics));
    }
    let id = canonical_id(app.get("id").and_then(Value::as_str).unwrap_or_default());
    app.insert("id".into(), Value::String(id));
    apply_defaults(&mut app);
    Ok(app)
}

/// Parses Marathon's timestamp format (`2015-09-29T15:59:51.164Z`, with or
/// without milliseconds) to epoch milliseconds.
pub fn parse_timestamp(text: &str) -> Option<u64> {
    let text = text.strip_suffix('Z').unwrap_or(text);
    let (date, time) = text.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, millis) = match time.split_once('.') {
        Some((hms, frac)) => {
            let frac: String = frac.chars().take(3).collect();
            let scale = 10u64.pow(3 - frac.len() as u32);
            (hms, frac.parse::<u64>().ok()? * scale)
        }
        None => (time, 0),
    };
    let mut t = hms.split(':').map(|p| p.parse::<u64>().ok());
    let (h, mi, s) = (t.next()??, t.next()??, t.next()??);
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days).ok()? * 86_400 + h * 3600 + mi * 60 + s;
    Some(secs * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_canonicalise_and_validate() {
        assert_eq!(canonical_id("foo"), "/foo");
        assert_eq!(canonical_id("/a/./b/../c/"), "/a/c");
        assert!(id_violations("/prod/web-1.v2").is_empty());
        assert_eq!(id_violations("/"), ["must not be root"]);
        assert_eq!(id_violations("/Foo").len(), 1);
        assert_eq!(id_violations("/a_b").len(), 1);
        assert_eq!(id_violations("/-a").len(), 1);
        assert_eq!(id_violations("/a/tasks").len(), 1);
    }

    #[test]
    fn task_ids_name_their_app() {
        let uuid = "564bd685-4c30-11e5-98c1-be5b2935a987";
        assert_eq!(
            app_id_of_task(&format!("prod_web.instance-{uuid}._app.1")).as_deref(),
            Some("/prod/web")
        );
        assert_eq!(
            app_id_of_task(&format!("nginx-green.{uuid}")).as_deref(),
            Some("/nginx-green")
        );
        assert_eq!(app_id_of_task("garbage"), None);
    }

    #[test]
    fn timestamps_round_trip() {
        let ms = 1_468_587_779_735;
        let text = crate::clock::marathon_timestamp(ms);
        assert_eq!(parse_timestamp(&text), Some(ms));
        assert_eq!(parse_timestamp("1970-01-01T00:00:01Z"), Some(1000));
    }
}
