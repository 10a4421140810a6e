//! Instant queries against a Prometheus-compatible HTTP API (Prometheus, Thanos, Mimir).

use std::collections::BTreeMap;

use base64::prelude::{BASE64_STANDARD, Engine as _};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
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

/// What a query parameter's value keeps unencoded: RFC 3986's unreserved characters.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// RFC 3986 percent-encoding of a query parameter (UTF-8, upper-case hex, space as `%20`).
pub fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// Standard base64 with padding (for HTTP basic auth).
pub fn base64(data: &[u8]) -> String {
    BASE64_STANDARD.encode(data)
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
    fn query_strings_are_percent_encoded_per_rfc_3986() {
        assert_eq!(percent_encode(r#"rate(x{job="etcd"}[5m])"#), "rate%28x%7Bjob%3D%22etcd%22%7D%5B5m%5D%29");
        // Spaces, `+`, `&`, `#`, `/` and `%` would change the URL's meaning: all encoded.
        assert_eq!(
            percent_encode("sum by (le) (a + b) / 2 & x#y%"),
            "sum%20by%20%28le%29%20%28a%20%2B%20b%29%20%2F%202%20%26%20x%23y%25"
        );
        assert_eq!(percent_encode("A-Z_a.z~09"), "A-Z_a.z~09");
        // Non-ASCII label values go as UTF-8 bytes.
        assert_eq!(percent_encode("zone=\"Zürich\""), "zone%3D%22Z%C3%BCrich%22");
        assert_eq!(percent_encode(""), "");
    }

    #[test]
    fn basic_auth_credentials_are_standard_padded_base64() {
        // RFC 4648 section 10 test vectors.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        // RFC 7617's example: `Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==`.
        assert_eq!(base64(b"Aladdin:open sesame"), "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        // The standard alphabet's `+` and `/`, not the URL-safe `-` and `_`.
        assert_eq!(base64(&[0xfb, 0xff, 0xbf]), "+/+/");
    }
}
