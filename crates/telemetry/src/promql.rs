//! Instant queries against a Prometheus-compatible HTTP API (Prometheus, Thanos, Mimir).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::fetch::{FetchError, Fetcher};

/// One series of an instant-query result.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    /// Sample time, seconds since the epoch (as Prometheus gives it).
    pub timestamp: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("query `{query}` failed: {source}")]
    Fetch { query: String, source: FetchError },
    #[error("query `{query}`: Prometheus answered {error_type}: {error}")]
    Prometheus { query: String, error_type: String, error: String },
    #[error("query `{query}`: unexpected answer: {reason}")]
    Malformed { query: String, reason: String },
}

impl QueryError {
    /// Bounded label for metrics.
    pub fn category(&self) -> &'static str {
        match self {
            QueryError::Fetch { source, .. } => source.category(),
            QueryError::Prometheus { .. } => "prometheus_error",
            QueryError::Malformed { .. } => "malformed_answer",
        }
    }
}

/// A client for one API base URL, with extra headers (auth, `X-Scope-OrgID`, ...).
#[derive(Clone, Debug)]
pub struct PromClient {
    fetcher: Fetcher,
    base: String,
    headers: Vec<(String, String)>,
}

impl PromClient {
    pub fn new(fetcher: Fetcher, base: &str, headers: Vec<(String, String)>) -> Self {
        Self { fetcher, base: base.trim_end_matches('/').to_owned(), headers }
    }

    /// Runs an instant query (at `time`, seconds since the epoch, or now).
    pub async fn query(&self, query: &str, time: Option<f64>) -> Result<Vec<Series>, QueryError> {
        let mut url = format!("{}/api/v1/query?query={}", self.base, percent_encode(query));
        if let Some(t) = time {
            url.push_str(&format!("&time={t:.3}"));
        }
        let body = match self.fetcher.get(&url, &self.headers).await {
            Ok(body) => body,
            // Prometheus puts its error into a JSON body with a 4xx/5xx status.
            Err(FetchError::Status { body, .. }) if body.trim_start().starts_with('{') => body,
            Err(source) => return Err(QueryError::Fetch { query: query.to_owned(), source }),
        };
        parse_answer(query, &body)
    }
}

/// Parses a `/api/v1/query` answer: vector and scalar results; NaN and ±Inf values kept as such.
pub fn parse_answer(query: &str, body: &str) -> Result<Vec<Series>, QueryError> {
    let malformed = |reason: &str| QueryError::Malformed { query: query.to_owned(), reason: reason.to_owned() };
    let v: Value = serde_json::from_str(body).map_err(|e| malformed(&format!("not JSON ({e})")))?;
    if v["status"] != "success" {
        return Err(QueryError::Prometheus {
            query: query.to_owned(),
            error_type: v["errorType"].as_str().unwrap_or("error").to_owned(),
            error: v["error"].as_str().unwrap_or("no error text").to_owned(),
        });
    }
    let data = &v["data"];
    match data["resultType"].as_str() {
        Some("vector") => data["result"]
            .as_array()
            .ok_or_else(|| malformed("vector without result"))?
            .iter()
            .map(|s| {
                let labels = s["metric"]
                    .as_object()
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
                    .unwrap_or_default();
                let (timestamp, value) = sample(&s["value"]).ok_or_else(|| malformed("bad sample"))?;
                Ok(Series { labels, value, timestamp })
            })
            .collect(),
        Some("scalar") => {
            let (timestamp, value) = sample(&data["result"]).ok_or_else(|| malformed("bad scalar"))?;
            Ok(vec![Series { labels: BTreeMap::new(), value, timestamp }])
        }
        other => Err(malformed(&format!("result type {other:?} (an instant query must return a vector or scalar)"))),
    }
}

fn sample(v: &Value) -> Option<(f64, f64)> {
    let ts = v.get(0)?.as_f64()?;
    let value = match v.get(1)?.as_str()? {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        s => s.parse().ok()?,
    };
    Some((ts, value))
}

/// RFC 3986 percent-encoding of a query parameter.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Standard base64 (for HTTP basic auth).
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            out.push(if i <= chunk.len() { T[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_scalars_nan_and_inf_are_read() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"instance":"a:2381"},"value":[1700000000.5,"0.255"]},
            {"metric":{"instance":"b:2381"},"value":[1700000000.5,"NaN"]},
            {"metric":{},"value":[1700000000.5,"+Inf"]}]}}"#;
        let s = parse_answer("q", body).unwrap_or_default();
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].labels["instance"].as_str(), s[0].value, s[0].timestamp), ("a:2381", 0.255, 1_700_000_000.5));
        assert!(s[1].value.is_nan() && s[2].value.is_infinite());
        let scalar = parse_answer("q", r#"{"status":"success","data":{"resultType":"scalar","result":[1.0,"4"]}}"#);
        assert_eq!(scalar.map(|s| s[0].value).ok(), Some(4.0));
        let empty = parse_answer("q", r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#);
        assert_eq!(empty.map(|s| s.len()).ok(), Some(0));
    }

    #[test]
    fn prometheus_errors_and_garbage_are_explained() {
        let err =
            parse_answer("rate(x[", r#"{"status":"error","errorType":"bad_data","error":"parse error: unclosed"}"#);
        assert!(matches!(&err, Err(QueryError::Prometheus { error_type, .. }) if error_type == "bad_data"), "{err:?}");
        assert_eq!(err.map_err(|e| e.category()).err(), Some("prometheus_error"));
        let err = parse_answer("q", "<html>proxy error</html>");
        assert!(matches!(err, Err(QueryError::Malformed { .. })));
        let err = parse_answer("q", r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#);
        assert!(matches!(err, Err(QueryError::Malformed { .. })));
    }

    #[test]
    fn encoding_helpers() {
        assert_eq!(percent_encode(r#"rate(x{job="etcd"}[5m])"#), "rate%28x%7Bjob%3D%22etcd%22%7D%5B5m%5D%29");
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"a"), "YQ==");
    }
}
