//! Prometheus signals against a tiny HTTP stub of `/api/v1/query`: sample times from freshness
//! queries, per-signal errors, and a cache that never mixes credentials.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use continuum_telemetry::promql::percent_encode;
use serde_json::json;

use super::tests::{cache, fetcher, ok, signal, telemetry};
use super::*;

/// Serves instant-query answers: `answers` maps a query to a function of the request's
/// `authorization` and `x-scope-orgid` headers giving the value (`None`: no series). Returns the
/// base URL and the queries received, in order.
fn stub(answers: HashMap<&'static str, fn(&str) -> Option<String>>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = ok(TcpListener::bind("127.0.0.1:0"));
    let base = format!("http://{}", ok(listener.local_addr()));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let by_path: HashMap<String, fn(&str) -> Option<String>> =
        answers.into_iter().map(|(q, f)| (format!("/api/v1/query?query={}", percent_encode(q)), f)).collect();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut buf = vec![0u8; 8192];
            let n = stream.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
            let path = head.split_whitespace().nth(1).unwrap_or_default().to_owned();
            let header = |name: &str| head.lines().find_map(|l| l.strip_prefix(name)).unwrap_or("").trim().to_owned();
            let who = format!("{}|{}", header("authorization:"), header("x-scope-orgid:"));
            let key = by_path.keys().find(|k| k.to_ascii_lowercase() == path).cloned().unwrap_or_default();
            if let Ok(mut log) = log.lock() {
                log.push(key.clone());
            }
            let result = match by_path.get(&key).and_then(|f| f(&who)) {
                Some(v) => format!(r#"[{{"metric":{{}},"value":[1700000100,"{v}"]}}]"#),
                None => "[]".to_owned(),
            };
            let body = format!(r#"{{"status":"success","data":{{"resultType":"vector","result":{result}}}}}"#);
            let _ =
                write!(stream, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        }
    });
    (base, seen)
}

fn prometheus(base: &str) -> continuum_api::offload::Telemetry {
    telemetry(json!({"prometheus": {"url": base}, "interval": "15s"}))
}

#[tokio::test]
async fn sample_times_come_from_freshness_queries_not_the_evaluation_time() {
    let mut answers: HashMap<&'static str, fn(&str) -> Option<String>> = HashMap::new();
    answers.insert("fps", |_| Some("24".into()));
    answers.insert("timestamp(fps)", |_| Some("1700000000.5".into()));
    answers.insert("avg by (pod) (lat)", |_| Some("0.2".into()));
    answers.insert("max(timestamp(lat))", |_| Some("1700000090".into()));
    answers.insert("rate(frames[1m])", |_| Some("25".into()));
    answers.insert("cpu_busy", |_| Some("0.5".into()));
    answers.insert("max(timestamp(node_cpu))", |_| Some("1700000042".into()));
    answers.insert("missing", |_| None);
    let (base, _) = stub(answers);
    let signals = [
        signal(json!({"name": "fps", "query": "fps"})),
        signal(json!({"name": "lat", "query": "avg by (pod) (lat)"})),
        signal(json!({"name": "rate", "query": "rate(frames[1m])"})),
        signal(json!({"name": "cpu", "query": "cpu_busy", "freshness": "max(timestamp(node_cpu))"})),
        signal(json!({"name": "gone", "query": "missing"})),
    ];
    let seen = read(&cache(), "p", &prometheus(&base), &signals, &fetcher(), Vec::new(), 0).await;
    let o = &seen.observation;
    assert_eq!(o.error, None);
    let got: Vec<(Option<f64>, Option<i64>)> = o.signals.iter().map(|r| (r.value, r.sample_time_ms)).collect();
    assert_eq!(
        got,
        [
            (Some(24.0), Some(1_700_000_000_500)),
            (Some(0.2), Some(1_700_000_090_000)),
            (Some(25.0), None),
            (Some(0.5), Some(1_700_000_042_000)),
            (None, None),
        ]
    );
    assert!(matches!(&seen.freshness[2], Freshness::Unchecked(why) if why.contains("signals[].freshness")));
    assert!(seen.freshness.iter().enumerate().all(|(i, f)| i == 2 || *f == Freshness::Checked));
    assert!(o.signals[4].error.as_deref().is_some_and(|e| e.contains("`missing` returned no series")));
    assert!(o.signals[..4].iter().all(|r| r.error.is_none()));
    assert_eq!(seen.errors.len(), 1);
}

#[tokio::test]
async fn different_tokens_or_org_ids_never_share_a_cached_result() {
    let mut answers: HashMap<&'static str, fn(&str) -> Option<String>> = HashMap::new();
    answers.insert("rate(x[1m])", |who| {
        Some(match who {
            "bearer a|" => "1".into(),
            "bearer b|" => "2".into(),
            "bearer a|tenant-2" => "3".into(),
            _ => "0".into(),
        })
    });
    let (base, log) = stub(answers);
    let (cache, t) = (cache(), prometheus(&base));
    let signals = [signal(json!({"name": "x", "query": "rate(x[1m])"}))];
    let h = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<Vec<_>>();
    let value = async |headers: Vec<(String, String)>| {
        read(&cache, "p", &t, &signals, &fetcher(), headers, 0).await.observation.signals[0].value
    };
    assert_eq!(value(h(&[("Authorization", "Bearer a")])).await, Some(1.0));
    assert_eq!(value(h(&[("Authorization", "Bearer b")])).await, Some(2.0));
    assert_eq!(value(h(&[("Authorization", "Bearer a"), ("X-Scope-OrgID", "tenant-2")])).await, Some(3.0));
    assert_eq!(value(Vec::new()).await, Some(0.0));
    assert_eq!(log.lock().map(|l| l.len()).unwrap_or(0), 4, "four identities, four queries");
    // The same identity (header names without case, in any order) is answered from the cache.
    let same = h(&[("x-scope-orgid", "tenant-2"), ("authorization", "Bearer a")]);
    assert_eq!(value(same).await, Some(3.0));
    assert_eq!(log.lock().map(|l| l.len()).unwrap_or(0), 4);
    assert_eq!(cache.issued.get(), 4);
}

#[tokio::test]
async fn a_source_that_cannot_be_reached_fails_every_prometheus_signal() {
    let signals = [signal(json!({"name": "a", "query": "a"})), signal(json!({"name": "b", "query": "b"}))];
    let seen = read(&cache(), "p", &prometheus("http://127.0.0.1:9"), &signals, &fetcher(), Vec::new(), 0).await;
    assert!(seen.observation.error.as_deref().is_some_and(|e| e.contains("failed")), "{seen:?}");
    assert!(seen.observation.signals.iter().all(|r| r.value.is_none()));
    assert_eq!(seen.errors.iter().map(|e| e.category()).collect::<Vec<_>>(), ["unavailable"; 2]);
}
