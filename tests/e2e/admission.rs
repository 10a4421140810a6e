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

/// `base` with the value at JSON `pointer` replaced (`Value::Null` removes it).
fn with(mut base: Value, changes: &[(&str, Value)]) -> Value {
    for (pointer, value) in changes {
        let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
        let Some(Value::Object(map)) = base.pointer_mut(parent) else {
            panic!("no object at {parent}");
        };
        if value.is_null() {
            map.remove(key);
        } else {
            map.insert(key.to_owned(), value.clone());
        }
    }
    base
}

struct Case {
    name: &'static str,
    object: Value,
    field: &'static str,
    message: &'static str,
}

fn case(
    name: &'static str,
    base: fn() -> Value,
    changes: &[(&str, Value)],
    field: &'static str,
    message: &'static str,
) -> Case {
    Case { name, object: with(base(), changes), field, message }
}

fn invalid_cases() -> Vec<Case> {
    let op = offload_policy;
    let eh = etcd_health;
    vec![
        case(
            "http scheme for a vAccel endpoint",
            op,
            &[("/spec/backends/local/endpoint", json!("http://pi:8192"))],
            "spec.backends.local.endpoint",
            "must be a vAccel RPC address",
        ),
        case(
            "vAccel endpoint without port",
            op,
            &[("/spec/backends/offload/endpoint", json!("tcp://jetson"))],
            "spec.backends.offload.endpoint",
            "must be a vAccel RPC address",
        ),
        case(
            "empty vAccel endpoint",
            op,
            &[("/spec/backends/offload/endpoint", json!(""))],
            "spec.backends.offload.endpoint",
            "at least 1 chars long",
        ),
        case(
            "ftp telemetry url",
            op,
            &[("/spec/telemetry/prometheus/url", json!("ftp://prom:9090"))],
            "spec.telemetry.prometheus.url",
            "must be an absolute http:// or https:// URL",
        ),
        case(
            "negative fps threshold",
            op,
            &[("/spec/offloadWhen/fpsBelow", json!(-5))],
            "spec.offloadWhen.fpsBelow",
            "must be greater than 0",
        ),
        case(
            "zero fps threshold",
            op,
            &[("/spec/offloadWhen/fpsBelow", json!(0))],
            "spec.offloadWhen.fpsBelow",
            "must be greater than 0",
        ),
        case(
            "sustain window over an hour",
            op,
            &[("/spec/offloadWhen/for", json!("2h"))],
            "spec.offloadWhen.for",
            "must be a duration between 0s and 1h",
        ),
        case(
            "sustain window that is no duration",
            op,
            &[("/spec/offloadWhen/for", json!("soon"))],
            "spec.offloadWhen.for",
            "must be a duration between 0s and 1h",
        ),
        case(
            "cooldown over a day",
            op,
            &[("/spec/cooldown", json!("48h"))],
            "spec.cooldown",
            "must be a duration between 0s and 24h",
        ),
        case(
            "zero evaluation interval",
            op,
            &[("/spec/telemetry/interval", json!("0s"))],
            "spec.telemetry.interval",
            "must be a duration between 1s and 10m",
        ),
        case(
            "two actuation modes",
            op,
            &[(
                "/spec/actuation/service",
                json!({"name": "vaccel-backend", "localSelector": {"a": "b"}, "offloadSelector": {"a": "c"}}),
            )],
            "spec.actuation",
            "set exactly one actuation mode",
        ),
        case(
            "no actuation mode",
            op,
            &[("/spec/actuation", json!({}))],
            "spec.actuation",
            "set exactly one actuation mode",
        ),
        case(
            "recovery fps line looser than offload line",
            op,
            &[("/spec/recoverWhen", json!({"fpsAbove": 8}))],
            "spec.recoverWhen.fpsAbove",
            "recoverWhen.fpsAbove must be at least offloadWhen.fpsBelow",
        ),
        case(
            "recovery latency line looser than offload line",
            op,
            &[("/spec/recoverWhen", json!({"latencyBelow": "200ms"}))],
            "spec.recoverWhen.latencyBelow",
            "recoverWhen.latencyBelow must be at most offloadWhen.latencyAbove",
        ),
        case(
            "two telemetry sources",
            op,
            &[("/spec/telemetry/scrape", json!({"url": "http://detector:9100/metrics"}))],
            "spec.telemetry",
            "set exactly one telemetry source",
        ),
        case(
            "offload rule without any threshold",
            op,
            &[("/spec/offloadWhen", json!({"for": "30s"}))],
            "spec.offloadWhen",
            "set at least one of fpsBelow and latencyAbove",
        ),
        case(
            "zero switch budget",
            op,
            &[("/spec/maxSwitchesPerHour", json!(0))],
            "spec.maxSwitchesPerHour",
            "must be between 1 and 20",
        ),
        case(
            "same endpoint for both backends",
            op,
            &[("/spec/backends/offload/endpoint", json!("tcp://pi-agent:8192"))],
            "spec.backends",
            "must differ",
        ),
        case(
            "StatefulSet target",
            op,
            &[("/spec/targetRef/kind", json!("StatefulSet"))],
            "spec.targetRef",
            "only apps/v1 Deployment targets are supported",
        ),
        case("unknown mode", op, &[("/spec/mode", json!("Sometimes"))], "spec.mode", "Unsupported value"),
        case("unknown onDelete", op, &[("/spec/onDelete", json!("Delete"))], "spec.onDelete", "Unsupported value"),
        case(
            "fps rule without an fps signal",
            op,
            &[("/spec/telemetry/fps", Value::Null)],
            "spec",
            "offloadWhen.fpsBelow needs telemetry.fps",
        ),
        case(
            "quantile on a PromQL signal",
            op,
            &[("/spec/telemetry/fps/quantile", json!(0.5))],
            "spec.telemetry.fps",
            "quantile applies to a scraped histogram or summary",
        ),
        case(
            "etcd health without a source",
            eh,
            &[("/spec/endpoints", json!([]))],
            "spec.endpoints",
            "set exactly one source",
        ),
        case(
            "negative fsync threshold",
            eh,
            &[("/spec/thresholds", json!({"walFsyncP99": "-5ms"}))],
            "spec.thresholds.walFsyncP99",
            "must be a duration between 1ms and 10s",
        ),
        case(
            "advisory level above the slow level",
            eh,
            &[("/spec/thresholds", json!({"advisoryWalFsyncP99": "200ms"}))],
            "spec.thresholds",
            "advisoryWalFsyncP99 < walFsyncP99 < critical",
        ),
        case(
            "window shorter than two scrapes",
            eh,
            &[("/spec/window", json!("20s")), ("/spec/interval", json!("15s"))],
            "spec.window",
            "window must be at least twice the interval",
        ),
        case(
            "duplicate member names",
            eh,
            &[(
                "/spec/endpoints",
                json!([{"name": "etcd-0", "metricsUrl": "http://a:2381/metrics"}, {"name": "etcd-0", "metricsUrl": "http://b:2381/metrics"}]),
            )],
            "spec.endpoints",
            "endpoint names must be unique",
        ),
        case(
            "metrics url without scheme",
            eh,
            &[("/spec/endpoints/0/metricsUrl", json!("etcd:2381/metrics"))],
            "spec.endpoints[0].metricsUrl",
            "must be an absolute http:// or https:// URL",
        ),
    ]
}

#[test]
fn the_valid_base_objects_are_accepted() -> kit::Result<()> {
    let ns = namespace("admission-ok");
    for object in [offload_policy(), etcd_health()] {
        let out = kubectl().run_stdin(&["create", "-n", &ns, "-f", "-"], &object.to_string())?;
        assert!(out.ok, "valid object rejected: {}", out.stderr);
    }
    Ok(())
}

#[test]
fn invalid_specs_are_rejected_with_a_message_naming_the_field() -> kit::Result<()> {
    let ns = namespace("admission");
    let cases = invalid_cases();
    assert!(cases.len() >= 15);
    let mut failures = Vec::new();
    for case in &cases {
        // The message as a user sees it: kubectl's rendering of the API server's answer.
        let out = kubectl().run_stdin(&["create", "-n", &ns, "-f", "-"], &case.object.to_string())?;
        let err = out.stderr;
        let field_named = err.contains(&format!("{}:", case.field)) || err.contains(&format!("{}: ", case.field));
        if out.ok || !field_named || !err.contains(case.message) {
            failures.push(format!(
                "{}: exit {:?}, expected `{}` and `{}` in:\n{err}",
                case.name, out.code, case.field, case.message
            ));
        }
    }
    eprintln!("{} invalid specs checked against the real API server", cases.len());
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    Ok(())
}
