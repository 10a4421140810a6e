//! Parser of the Prometheus text exposition format (and the OpenMetrics text format it grew into).
//!
//! Zero-copy: names and label values borrow from the page unless they contain escapes.

use std::borrow::Cow;

/// One sample line: `name{label="value",...} value [timestamp]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample<'a> {
    pub name: &'a str,
    pub labels: Vec<(&'a str, Cow<'a, str>)>,
    pub value: f64,
    /// Milliseconds since the epoch, when the exporter gave one.
    pub timestamp_ms: Option<i64>,
}

impl Sample<'_> {
    /// Value of label `name`, if present.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_ref())
    }
}

/// Why a page could not be parsed, with the 1-based line number.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("metrics line {line}: {reason}")]
pub struct ParseError {
    pub line: usize,
    pub reason: &'static str,
}

/// Parses every sample of a page. Comments, `# HELP`/`# TYPE` lines, blank lines and
/// OpenMetrics exemplars are skipped.
pub fn parse(page: &str) -> Result<Vec<Sample<'_>>, ParseError> {
    parse_filtered(page, |_| true)
}

/// Parses only samples whose metric name satisfies `keep` (cheap: the name is checked before the
/// labels and value are parsed).
pub fn parse_filtered<'a>(page: &'a str, mut keep: impl FnMut(&str) -> bool) -> Result<Vec<Sample<'a>>, ParseError> {
    let mut out = Vec::new();
    for (i, raw) in page.lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |reason| ParseError { line: i + 1, reason };
        let name_end = line.find(['{', ' ', '\t']).ok_or(err("no value"))?;
        let name = &line[..name_end];
        if !valid_name(name) {
            return Err(err("invalid metric name"));
        }
        if !keep(name) {
            continue;
        }
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end + 1..]).map_err(err)?
        } else {
            (Vec::new(), &line[name_end..])
        };
        let (value, timestamp_ms) = parse_value(rest).map_err(err)?;
        out.push(Sample { name, labels, value, timestamp_ms });
    }
    Ok(out)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

type Labels<'a> = Vec<(&'a str, Cow<'a, str>)>;

/// Parses `k="v",...}` and returns the labels and what follows the closing brace.
fn parse_labels(mut s: &str) -> Result<(Labels<'_>, &str), &'static str> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start_matches([' ', ',']);
        if let Some(rest) = s.strip_prefix('}') {
            return Ok((labels, rest));
        }
        let eq = s.find('=').ok_or("label without '='")?;
        let key = s[..eq].trim();
        if !valid_name(key) {
            return Err("invalid label name");
        }
        let after = s[eq + 1..].trim_start().strip_prefix('"').ok_or("label value not quoted")?;
        let (value, rest) = parse_quoted(after)?;
        labels.push((key, value));
        s = rest;
    }
}

/// Reads a quoted label value up to the closing quote, undoing `\\`, `\"` and `\n`.
fn parse_quoted(s: &str) -> Result<(Cow<'_, str>, &str), &'static str> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut owned: Option<String> = None;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let value = owned.map_or(Cow::Borrowed(&s[..i]), Cow::Owned);
                return Ok((value, &s[i + 1..]));
            }
            b'\\' => {
                let buf = owned.get_or_insert_with(|| s[..i].to_owned());
                match bytes.get(i + 1) {
                    Some(b'n') => buf.push('\n'),
                    Some(b'\\') => buf.push('\\'),
                    Some(b'"') => buf.push('"'),
                    _ => return Err("bad escape in label value"),
                }
                i += 2;
            }
            _ => {
                let ch_len = s[i..].chars().next().map_or(1, char::len_utf8);
                if let Some(buf) = owned.as_mut() {
                    buf.push_str(&s[i..i + ch_len]);
                }
                i += ch_len;
            }
        }
    }
    Err("unterminated label value")
}

fn parse_value(rest: &str) -> Result<(f64, Option<i64>), &'static str> {
    // OpenMetrics exemplar: `value [timestamp] # {labels} value [timestamp]`.
    let rest = rest.split_once(" # ").map_or(rest, |(head, _)| head);
    let mut fields = rest.split_ascii_whitespace();
    let value = parse_float(fields.next().ok_or("no value")?)?;
    let timestamp_ms = match fields.next() {
        None => None,
        Some(ts) => Some(parse_timestamp(ts)?),
    };
    if fields.next().is_some() {
        return Err("trailing fields after the timestamp");
    }
    Ok((value, timestamp_ms))
}

/// Prometheus text gives integer milliseconds; OpenMetrics gives (fractional) seconds.
fn parse_timestamp(ts: &str) -> Result<i64, &'static str> {
    if let Ok(ms) = ts.parse::<i64>() {
        return Ok(ms);
    }
    let secs: f64 = ts.parse().map_err(|_| "bad timestamp")?;
    Ok((secs * 1000.0).round() as i64)
}

fn parse_float(s: &str) -> Result<f64, &'static str> {
    match s {
        "+Inf" | "Inf" | "inf" | "+inf" => Ok(f64::INFINITY),
        "-Inf" | "-inf" => Ok(f64::NEG_INFINITY),
        "NaN" | "nan" => Ok(f64::NAN),
        _ => s.parse().map_err(|_| "bad number"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labels_values_timestamps_and_special_floats() {
        let page = "# HELP x help\n# TYPE x gauge\nx 1\ny{a=\"1\",b=\"two words\"} 2.5e3 1700000000000\nz{le=\"+Inf\"} +Inf\nn NaN\nm -Inf\n";
        let s = parse(page).unwrap_or_default();
        assert_eq!(s.len(), 5);
        assert_eq!((s[0].name, s[0].value), ("x", 1.0));
        assert_eq!(s[1].label("b"), Some("two words"));
        assert_eq!((s[1].value, s[1].timestamp_ms), (2500.0, Some(1_700_000_000_000)));
        assert_eq!(s[2].label("le"), Some("+Inf"));
        assert!(s[2].value.is_infinite() && s[3].value.is_nan() && s[4].value == f64::NEG_INFINITY);
    }

    #[test]
    fn unescapes_label_values_and_keeps_utf8() {
        let s = parse("x{path=\"C:\\\\dir\",msg=\"say \\\"hi\\\"\\nnow\",u=\"grüße\"} 1\n").unwrap_or_default();
        assert_eq!(s[0].label("path"), Some("C:\\dir"));
        assert_eq!(s[0].label("msg"), Some("say \"hi\"\nnow"));
        assert_eq!(s[0].label("u"), Some("grüße"));
    }

    #[test]
    fn openmetrics_exemplars_eof_and_second_timestamps_are_handled() {
        let s = parse("a_total 5 1700000000.5 # {trace_id=\"x\"} 1 1700000000\n# EOF\n").unwrap_or_default();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].timestamp_ms, Some(1_700_000_000_500));
    }

    #[test]
    fn malformed_lines_are_reported_with_their_line_number() {
        for (page, line, reason) in [
            ("ok 1\nbad{a=1} 2\n", 2, "label value not quoted"),
            ("x{a=\"1\" 2\n", 1, "label without '='"),
            ("x\n", 1, "no value"),
            ("x abc\n", 1, "bad number"),
            ("9x 1\n", 1, "invalid metric name"),
            ("x{a=\"unterminated} 1\n", 1, "unterminated label value"),
            ("x 1 2 3\n", 1, "trailing fields after the timestamp"),
        ] {
            assert_eq!(parse(page), Err(ParseError { line, reason }), "{page:?}");
        }
    }

    #[test]
    fn filtered_parse_skips_unwanted_names_without_parsing_them() {
        let s = parse_filtered("keep 1\nskip{broken\nkeep 2\n", |n| n == "keep").unwrap_or_default();
        assert_eq!(s.iter().map(|s| s.value).collect::<Vec<_>>(), [1.0, 2.0]);
    }
}
