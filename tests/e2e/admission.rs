//! The real API server rejects nonsense at admission, with a message that names the field.

use continuum_e2e::{fixtures, kubectl, namespace};
use continuum_testenv::kit;
use serde_json::{Value, json};

fn offload_policy() -> Value {
    fixtures().load("offloadpolicy.yaml").unwrap_or_else(|e| panic!("{e}"))
}

fn etcd_health() -> Value {
    fixtures().load("etcdhealth.yaml").unwrap_or_else(|e| panic!("{e}"))
}

/// The fixture on the scrape source: every signal is a metric of the detector's own endpoint.
fn scraped_policy() -> Value {
    let signals = json!([
        {"name": "fps", "metric": "detector_fps", "labels": {"app": "detector"}, "unit": "PerSecond"},
        {"name": "latency", "metric": "inference_latency_seconds", "quantile": 0.95, "unit": "Seconds"},
        {"name": "pi_temp", "metric": "node_hwmon_temp_celsius", "unit": "Celsius"},
    ]);
    let telemetry = json!({"scrape": {"url": "http://detector.vision:9100/metrics", "timeout": "2s"}});
    let recover = json!({"any": [{"signal": "pi_temp", "below": 60}], "for": "2m"});
    with(
        offload_policy(),
        &[("/spec/telemetry", telemetry), ("/spec/signals", signals), ("/spec/recoverWhen", recover)],
    )
}

/// `base` with the value at each JSON `pointer` replaced (`Value::Null` removes it).
fn with(mut base: Value, changes: &[(&str, Value)]) -> Value {
    for (pointer, value) in changes {
        let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
        let replaced = match (base.pointer_mut(parent), key.parse::<usize>()) {
            (Some(Value::Object(map)), _) if value.is_null() => map.remove(key),
            (Some(Value::Object(map)), _) => map.insert(key.to_owned(), value.clone()),
            (Some(Value::Array(list)), Ok(i)) if i < list.len() => Some(std::mem::replace(&mut list[i], value.clone())),
            _ => panic!("no object or list item at {pointer}"),
        };
        assert!(replaced.is_some() || !value.is_null(), "nothing to remove at {pointer}");
    }
    base
}

/// One invalid object, the field the API server must name, and what it must say about it.
struct Case {
    name: &'static str,
    object: Value,
    field: &'static str,
    message: &'static str,
}

impl Case {
    /// The OffloadPolicy fixture, changed by [`Case::set`].
    fn op(name: &'static str, field: &'static str, message: &'static str) -> Self {
        Case { name, object: offload_policy(), field, message }
    }
    fn scraped(name: &'static str, field: &'static str, message: &'static str) -> Self {
        Case { name, object: scraped_policy(), field, message }
    }
    fn eh(name: &'static str, field: &'static str, message: &'static str) -> Self {
        Case { name, object: etcd_health(), field, message }
    }
    fn set(mut self, pointer: &str, value: Value) -> Self {
        self.object = with(self.object, &[(pointer, value)]);
        self
    }
    /// Whether one line of kubectl's error names the field and says the message.
    fn answered_by(&self, stderr: &str) -> bool {
        let prefix = format!("{}: ", self.field);
        stderr
            .lines()
            .any(|l| (l.starts_with(&prefix) || l.contains(&format!(" {prefix}"))) && l.contains(self.message))
    }
}

/// Offload backend `i`, for lists of them.
fn backend(i: usize) -> Value {
    json!({"name": format!("gpu-{i}"), "endpoint": format!("tcp://gpu-{i}:8192")})
}

fn general_cases() -> Vec<Case> {
    let two_modes = json!({"name": "vaccel-backend"});
    vec![
        Case::op("http scheme for a vAccel endpoint", "spec.backends.local.endpoint", "must be a vAccel RPC address")
            .set("/spec/backends/local/endpoint", json!("http://pi:8192")),
        Case::op("ftp telemetry url", "spec.telemetry.prometheus.url", "must be an absolute http:// or https:// URL")
            .set("/spec/telemetry/prometheus/url", json!("ftp://prom:9090")),
        Case::op("cooldown over a day", "spec.cooldown", "must be a duration between 0s and 24h")
            .set("/spec/cooldown", json!("48h")),
        Case::op("zero evaluation interval", "spec.telemetry.interval", "must be a duration between 1s and 10m")
            .set("/spec/telemetry/interval", json!("0s")),
        Case::op("two actuation modes", "spec.actuation", "set exactly one actuation mode")
            .set("/spec/actuation/service", two_modes),
        Case::op("no actuation mode", "spec.actuation", "set exactly one actuation mode")
            .set("/spec/actuation", json!({})),
        Case::op("two telemetry sources", "spec.telemetry", "set exactly one telemetry source")
            .set("/spec/telemetry/scrape", json!({"url": "http://detector:9100/metrics"})),
        Case::op("zero switch budget", "spec.maxSwitchesPerHour", "must be between 1 and 20")
            .set("/spec/maxSwitchesPerHour", json!(0)),
        Case::op("StatefulSet target", "spec.targetRef", "only apps/v1 Deployment targets are supported")
            .set("/spec/targetRef/kind", json!("StatefulSet")),
        Case::op("unknown mode", "spec.mode", "Unsupported value").set("/spec/mode", json!("Sometimes")),
        Case::op("unknown onDelete", "spec.onDelete", "Unsupported value").set("/spec/onDelete", json!("Delete")),
        Case::op("unknown pin", "spec.pin", "Unsupported value").set("/spec/pin", json!("Jetson")),
    ]
}

fn signal_cases() -> Vec<Case> {
    let metric_only = json!({"name": "fps", "metric": "detector_fps"});
    vec![
        Case::op("duplicate signal names", "spec.signals", "signal names must be unique")
            .set("/spec/signals/2/name", json!("fps")),
        Case::op("upper-case signal name", "spec.signals[0].name", "must be lower-case letters, digits and '_'")
            .set("/spec/signals/0/name", json!("FPS")),
        Case::op("no signals", "spec.signals", "should have at least 1 items").set("/spec/signals", json!([])),
        Case::op(
            "metric-only signal on the prometheus source",
            "spec.signals",
            "with telemetry.prometheus every signal",
        )
        .set("/spec/signals/0", metric_only),
        Case::op(
            "query signals on the scrape source",
            "spec.signals",
            "with telemetry.scrape every signal needs a metric",
        )
        .set("/spec/telemetry", json!({"scrape": {"url": "http://detector:9100/metrics"}})),
        Case::op("signal with both query and metric", "spec.signals[1]", "set exactly one of query")
            .set("/spec/signals/1/metric", json!("inference_latency_seconds")),
        Case::op("quantile on a query signal", "spec.signals[0]", "quantile applies to a scraped histogram or summary")
            .set("/spec/signals/0/quantile", json!(0.5)),
        Case::op("labels on a query signal", "spec.signals[0]", "labels select a scraped metric's series")
            .set("/spec/signals/0/labels", json!({"app": "detector"})),
        Case::scraped("freshness on a metric signal", "spec.signals[0]", "freshness is a PromQL query")
            .set("/spec/signals/0/freshness", json!("max(timestamp(detector_fps))")),
        Case::scraped("quantile of 1", "spec.signals[1].quantile", "must be between 0 and 1")
            .set("/spec/signals/1/quantile", json!(1.0)),
        Case::op("unknown unit", "spec.signals[1].unit", "Unsupported value")
            .set("/spec/signals/1/unit", json!("Millis")),
    ]
}

fn rule_cases() -> Vec<Case> {
    let rule = |signal: &str, side: &str, v: f64| json!({"signal": signal, side: v});
    vec![
        Case::op(
            "unknown signal in an offload rule",
            "spec.offloadWhen",
            "offloadWhen names a signal that spec.signals",
        )
        .set("/spec/offloadWhen/any/1/signal", json!("gpu_load")),
        Case::op(
            "unknown signal in a recovery rule",
            "spec.recoverWhen",
            "recoverWhen names a signal that spec.signals",
        )
        .set("/spec/recoverWhen/all/0/signal", json!("pi_temp")),
        Case::op("empty any list", "spec.offloadWhen.any", "should have at least 1 items")
            .set("/spec/offloadWhen/any", json!([])),
        Case::op("offload rules in both any and all", "spec.offloadWhen", "set exactly one of any and all")
            .set("/spec/offloadWhen/all", json!([rule("pi_cpu", "above", 0.9)])),
        Case::op("offload rules in neither any nor all", "spec.offloadWhen", "set exactly one of any and all")
            .set("/spec/offloadWhen", json!({"for": "30s"})),
        Case::op("recovery rules in both any and all", "spec.recoverWhen", "set at most one of any and all")
            .set("/spec/recoverWhen/any", json!([rule("pi_cpu", "below", 0.5)])),
        Case::op("threshold with below and above", "spec.offloadWhen.any[0]", "set exactly one of below and above")
            .set("/spec/offloadWhen/any/0/above", json!(60)),
        Case::op("threshold with neither below nor above", "spec.recoverWhen.all[0]", "set exactly one of below and")
            .set("/spec/recoverWhen/all/0", json!({"signal": "pi_cpu"})),
        Case::op(
            "recovery fps line looser than the offload line",
            "spec.recoverWhen",
            "must be stricter than the offloadWhen",
        )
        .set("/spec/recoverWhen/all/0", rule("fps", "above", 8.0)),
        Case::op("recovery latency line looser than the offload line", "spec.recoverWhen", "must be stricter than")
            .set("/spec/recoverWhen/all/0", rule("latency", "below", 0.2)),
        Case::op("sustain window over an hour", "spec.offloadWhen.for", "must be a duration between 0s and 1h")
            .set("/spec/offloadWhen/for", json!("2h")),
        Case::op("sustain window that is no duration", "spec.offloadWhen.for", "must be a duration between 0s and 1h")
            .set("/spec/offloadWhen/for", json!("soon")),
        Case::op("backoff initial above max", "spec.recoverWhen.verify.backoff.initial", "must be at most backoff.max")
            .set("/spec/recoverWhen/verify/backoff", json!({"initial": "2h", "max": "1h"})),
        Case::op("verify window over an hour", "spec.recoverWhen.verify.for", "must be a duration between 0s and 1h")
            .set("/spec/recoverWhen/verify/for", json!("90m")),
    ]
}

fn backend_cases() -> Vec<Case> {
    let selectors = json!({"service": {
        "name": "vaccel", "localSelector": {"node": "pi"}, "offloadSelector": {"node": "jetson"},
    }});
    vec![
        Case::op("offload endpoint without port", "spec.backends.offload[1].endpoint", "must be a vAccel RPC address")
            .set("/spec/backends/offload/1/endpoint", json!("tcp://cloud-gpu-agent.example")),
        Case::op("empty offload endpoint", "spec.backends.offload[0].endpoint", "at least 1 chars long")
            .set("/spec/backends/offload/0/endpoint", json!("")),
        Case::op("offload endpoint equal to the local one", "spec.backends", "different from the local backend's")
            .set("/spec/backends/offload/1/endpoint", json!("tcp://pi-agent:8192")),
        Case::op("offload name equal to the local one", "spec.backends", "different from the local backend's")
            .set("/spec/backends/offload/0/name", json!("pi")),
        Case::op(
            "duplicate offload backend names",
            "spec.backends.offload",
            "offload backend names and endpoints must be unique",
        )
        .set("/spec/backends/offload/1/name", json!("jetson")),
        Case::op(
            "duplicate offload endpoints",
            "spec.backends.offload",
            "offload backend names and endpoints must be unique",
        )
        .set("/spec/backends/offload/1/endpoint", json!("tcp://jetson-agent:8192")),
        Case::op("no offload backend", "spec.backends.offload", "should have at least 1 items")
            .set("/spec/backends/offload", json!([])),
        Case::op("five offload backends", "spec.backends.offload", "must have at most 4 items")
            .set("/spec/backends/offload", (0..5).map(backend).collect()),
        Case::op("service selectors with two offload backends", "spec.backends.offload", "exactly one offload backend")
            .set("/spec/actuation", selectors),
        Case::op("upper-case backend name", "spec.backends.offload[0].name", "must be a DNS label")
            .set("/spec/backends/offload/0/name", json!("Jetson")),
    ]
}

fn etcd_cases() -> Vec<Case> {
    let twins = json!([
        {"name": "etcd-0", "metricsUrl": "http://a:2381/metrics"},
        {"name": "etcd-0", "metricsUrl": "http://b:2381/metrics"},
    ]);
    vec![
        Case::eh("129 endpoints", "spec.endpoints", "must have at most 128 items").set("/spec/endpoints", members(129)),
        Case::eh("etcd health without a source", "spec.endpoints", "set exactly one source")
            .set("/spec/endpoints", json!([])),
        Case::eh("negative fsync threshold", "spec.thresholds.walFsyncP99", "must be a duration between 1ms and 10s")
            .set("/spec/thresholds", json!({"walFsyncP99": "-5ms"})),
        Case::eh(
            "advisory level above the slow level",
            "spec.thresholds",
            "advisoryWalFsyncP99 < walFsyncP99 < critical",
        )
        .set("/spec/thresholds", json!({"advisoryWalFsyncP99": "200ms"})),
        Case::eh("window shorter than two scrapes", "spec.window", "window must be at least twice the interval")
            .set("/spec/window", json!("20s"))
            .set("/spec/interval", json!("15s")),
        Case::eh("duplicate member names", "spec.endpoints", "endpoint names must be unique")
            .set("/spec/endpoints", twins),
        Case::eh(
            "metrics url without scheme",
            "spec.endpoints[0].metricsUrl",
            "must be an absolute http:// or https:// URL",
        )
        .set("/spec/endpoints/0/metricsUrl", json!("etcd:2381/metrics")),
    ]
}

/// `n` etcd members with distinct names.
fn members(n: usize) -> Value {
    (0..n)
        .map(|i| json!({"name": format!("etcd-{i}"), "metricsUrl": format!("http://etcd-{i}:2381/metrics")}))
        .collect()
}

/// Valid objects beyond the fixtures: each uses a part of the API the fixture does not.
fn valid_variants() -> Vec<(&'static str, Value)> {
    let all = json!({"all": [{"signal": "fps", "below": 10}, {"signal": "pi_cpu", "above": 0.9}], "for": "0s"});
    let selectors = json!({"service": {
        "name": "vaccel", "port": 8192, "localSelector": {"node": "pi"}, "offloadSelector": {"node": "jetson"},
    }});
    let mirrored = json!({"for": "2m", "verify": {"for": "0s"}});
    let hysteresis = json!({"any": [{"signal": "fps", "above": 12}, {"signal": "latency", "below": 0.1}]});
    let endpoints = json!([
        {"name": "vsock", "endpoint": "vsock://3:8192"},
        {"name": "socket", "endpoint": "unix:///run/vaccel.sock"},
    ]);
    let op = offload_policy;
    vec![
        ("the OffloadPolicy fixture", op()),
        ("the EtcdHealth fixture", etcd_health()),
        ("an EtcdHealth over 128 members", with(etcd_health(), &[("/spec/endpoints", members(128))])),
        ("signals scraped from a metrics endpoint", scraped_policy()),
        ("offload when all rules hold", with(op(), &[("/spec/offloadWhen", all)])),
        ("recovery rules mirrored from the offload rules", with(op(), &[("/spec/recoverWhen", mirrored)])),
        ("no recoverWhen at all", with(op(), &[("/spec/recoverWhen", Value::Null)])),
        ("recovery lines stricter than the offload lines", with(op(), &[("/spec/recoverWhen", hysteresis)])),
        ("four offload backends", with(op(), &[("/spec/backends/offload", (0..4).map(backend).collect())])),
        ("vsock and unix endpoints", with(op(), &[("/spec/backends/offload", endpoints)])),
        (
            "service selectors with one offload backend",
            with(op(), &[("/spec/actuation", selectors), ("/spec/backends/offload", json!([backend(0)]))]),
        ),
        ("pinned and dry-run", with(op(), &[("/spec/pin", json!("Offload")), ("/spec/mode", json!("DryRun"))])),
    ]
}

#[test]
fn valid_objects_using_every_part_of_the_api_are_accepted() -> kit::Result<()> {
    let ns = namespace("admission-ok");
    let mut rejected = Vec::new();
    for (i, (name, mut object)) in valid_variants().into_iter().enumerate() {
        object["metadata"]["name"] = json!(format!("valid-{i}"));
        let out = kubectl().run_stdin(&["create", "-n", &ns, "-f", "-"], &object.to_string())?;
        if !out.ok {
            rejected.push(format!("{name}: {}", out.stderr));
        }
    }
    assert!(rejected.is_empty(), "valid objects rejected:\n{}", rejected.join("\n"));
    Ok(())
}

#[test]
fn invalid_specs_are_rejected_with_a_message_naming_the_field() -> kit::Result<()> {
    let ns = namespace("admission");
    let cases: Vec<Case> =
        [general_cases(), signal_cases(), rule_cases(), backend_cases(), etcd_cases()].into_iter().flatten().collect();
    assert!(cases.len() >= 45, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        // The message as a user sees it: kubectl's rendering of the API server's answer.
        let out = kubectl().run_stdin(&["create", "-n", &ns, "-f", "-"], &case.object.to_string())?;
        if out.ok || !case.answered_by(&out.stderr) {
            failures.push(format!(
                "{}: exit {:?}, expected `{}: ` with `{}` on one line of:\n{}",
                case.name, out.code, case.field, case.message, out.stderr
            ));
        }
    }
    eprintln!("{} invalid specs checked against the real API server", cases.len());
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    Ok(())
}
