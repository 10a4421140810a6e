//! Which PromQL queries have a freshness query that can be derived: a plain selector, or one
//! aggregation of one. A recogniser, not a parser: anything it does not accept is "other", and
//! the signal's freshness is then reported as unchecked rather than guessed.

/// The shape of a value query, as far as freshness is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shape<'a> {
    /// `metric{...}`: the query itself.
    Selector(&'a str),
    /// `avg|min|max|sum|count` of one selector (with `by`/`without` before or after).
    Aggregation(&'a str),
    Other,
}

const AGGREGATIONS: [&str; 5] = ["avg", "min", "max", "sum", "count"];

/// Why a query gets no derived freshness query.
pub const UNCHECKED: &str = "the query is neither a plain selector nor one avg/min/max/sum/count of one, so the age of its samples is unknown: set signals[].freshness";

/// The query returning the Unix time (seconds) of the newest sample behind `query`.
pub fn derived_freshness(query: &str) -> Option<String> {
    match shape(query) {
        Shape::Selector(s) => Some(format!("timestamp({s})")),
        Shape::Aggregation(s) => Some(format!("max(timestamp({s}))")),
        Shape::Other => None,
    }
}

pub fn shape(query: &str) -> Shape<'_> {
    let q = query.trim();
    if selector_len(q) == Some(q.len()) {
        return Shape::Selector(q);
    }
    aggregation(q).map_or(Shape::Other, Shape::Aggregation)
}

/// `agg [by|without (labels)] (selector) [by|without (labels)]`: the selector.
fn aggregation(q: &str) -> Option<&str> {
    let name_len = identifier_len(q);
    let agg = &q[..name_len];
    if !AGGREGATIONS.iter().any(|a| a.eq_ignore_ascii_case(agg)) {
        return None;
    }
    let mut rest = q[name_len..].trim_start();
    let grouped_before = grouping_len(rest);
    rest = rest[grouped_before.unwrap_or(0)..].trim_start();
    let inner = rest.strip_prefix('(')?.trim_start();
    let len = selector_len(inner)?;
    let (selector, after) = inner.split_at(len);
    let after = after.trim_start().strip_prefix(')')?.trim();
    match (grouped_before, after.is_empty()) {
        (_, true) => Some(selector),
        (None, false) if grouping_len(after) == Some(after.len()) => Some(selector),
        _ => None,
    }
}

/// Length of a leading `by (a, b)` or `without (a)` clause.
fn grouping_len(s: &str) -> Option<usize> {
    let word_len = identifier_len(s);
    let word = &s[..word_len];
    if !(word.eq_ignore_ascii_case("by") || word.eq_ignore_ascii_case("without")) {
        return None;
    }
    let after_word = &s[word_len..];
    let open = after_word.len() - after_word.trim_start().len();
    let list = after_word.trim_start().strip_prefix('(')?;
    let close = list.find(')')?;
    let labels_ok = list[..close].split(',').map(str::trim).all(|l| l.is_empty() || identifier_len(l) == l.len());
    labels_ok.then_some(word_len + open + 1 + close + 1)
}

/// Length of a leading selector `name`, `name{matchers}` or `{matchers}`; `None` if there is none.
fn selector_len(s: &str) -> Option<usize> {
    let name = identifier_len(s);
    let rest = &s[name..];
    let Some(braces) = rest.strip_prefix('{') else { return (name > 0).then_some(name) };
    let body = matchers_len(braces)?;
    // `{}` selects nothing: PromQL rejects it, so it is no selector.
    (name > 0 || body > 1).then_some(name + 1 + body)
}

/// Length of `matcher, ... }` (including the closing brace).
fn matchers_len(s: &str) -> Option<usize> {
    let mut i = 0;
    loop {
        i += ws(&s[i..]);
        if s[i..].starts_with('}') {
            return Some(i + 1);
        }
        let label = match s[i..].chars().next()? {
            '"' | '\'' | '`' => quoted_len(&s[i..])?,
            _ => identifier_len(&s[i..]),
        };
        if label == 0 {
            return None;
        }
        i += label;
        i += ws(&s[i..]);
        i += ["=~", "!~", "!=", "="].iter().find(|op| s[i..].starts_with(**op))?.len();
        i += ws(&s[i..]);
        i += quoted_len(&s[i..])?;
        i += ws(&s[i..]);
        if s[i..].starts_with(',') {
            i += 1;
        } else if !s[i..].starts_with('}') {
            return None;
        }
    }
}

/// Length of a quoted string literal (`"..."`, `'...'` with escapes, or a raw `` `...` ``).
fn quoted_len(s: &str) -> Option<usize> {
    let quote = s.chars().next().filter(|c| matches!(c, '"' | '\'' | '`'))?;
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' if quote != '`' => escaped = true,
            c if c == quote => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// Length of a leading metric or label name (`[a-zA-Z_:][a-zA-Z0-9_:]*`), 0 if none.
fn identifier_len(s: &str) -> usize {
    let first_ok = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if !first_ok {
        return 0;
    }
    s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(s.len())
}

fn ws(s: &str) -> usize {
    s.len() - s.trim_start().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_recognition_table() {
        use Shape::*;
        let sel = r#"detector_fps{namespace="vision", pod=~"det-.*"}"#;
        for (query, want) in [
            ("detector_fps", Selector("detector_fps")),
            ("  up  ", Selector("up")),
            (sel, Selector(sel)),
            (r#"{__name__="detector_fps"}"#, Selector(r#"{__name__="detector_fps"}"#)),
            (r#"x{a="}", b!='q\'r', c!~`raw\`}"#, Selector(r#"x{a="}", b!='q\'r', c!~`raw\`}"#)),
            (r#"x{a="1",}"#, Selector(r#"x{a="1",}"#)),
            ("avg(detector_fps)", Aggregation("detector_fps")),
            (&format!("max ( {sel} )"), Aggregation(sel)),
            ("sum by (pod) (x)", Aggregation("x")),
            ("SUM WITHOUT(instance, job)(x)", Aggregation("x")),
            ("count(x) by (pod)", Aggregation("x")),
            ("min(x{a=\"b\"}) without ()", Aggregation("x{a=\"b\"}")),
            ("rate(x[1m])", Other),
            ("x[5m]", Other),
            ("x offset 5m", Other),
            ("x @ 1700000000", Other),
            ("avg(rate(x[1m]))", Other),
            ("max(detector_fps) + 1", Other),
            ("a / b", Other),
            ("histogram_quantile(0.99, sum by (le) (rate(x_bucket[1m])))", Other),
            ("sum by (pod) (x) by (pod)", Other),
            ("quantile(0.9, x)", Other),
            ("topk(1, x)", Other),
            ("avg(x, y)", Other),
            ("{}", Other),
            ("x{a=1}", Other),
            ("x{a=\"unterminated}", Other),
            ("", Other),
            ("42", Other),
        ] {
            assert_eq!(shape(query), want, "{query:?}");
        }
    }

    #[test]
    fn derived_freshness_queries_ask_for_the_newest_sample_time() {
        assert_eq!(derived_freshness(r#"x{a="b"}"#).as_deref(), Some(r#"timestamp(x{a="b"})"#));
        assert_eq!(derived_freshness("avg by (pod) (x)").as_deref(), Some("max(timestamp(x))"));
        assert_eq!(derived_freshness("avg(rate(x[1m]))"), None);
    }
}
