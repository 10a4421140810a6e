//! The telemetry URL allow-list: which URLs a namespace user may make the operator contact.
//!
//! Patterns are matched by parts, not as strings, so `http://*.svc/*` cannot be satisfied by
//! `http://evil.example/x.svc/`: the scheme must be equal, `*` in the host matches within the host
//! name only, the port must be equal (`:*` for any; none means the scheme's default), and `*` in
//! the path matches any characters. URLs carrying user info (`http://a@b/`) are never allowed.

use http::Uri;

/// A parsed allow-list. Empty: every URL is allowed.
#[derive(Debug, Default)]
pub struct AllowList {
    patterns: Vec<Pattern>,
}

#[derive(Debug)]
struct Pattern {
    text: String,
    scheme: String,
    host: String,
    /// None: any port.
    port: Option<u16>,
    path: String,
}

struct Parts {
    scheme: String,
    host: String,
    port: Option<u16>,
    path: String,
}

/// Why a URL or pattern cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("{0:?} has no scheme://")]
    NoScheme(String),
    #[error("{0:?}: only http and https are supported")]
    Scheme(String),
    #[error("{0:?}: user info (user@host) is not allowed")]
    UserInfo(String),
    #[error("{text:?}: port {port:?} is not a number or *")]
    Port { text: String, port: String },
    #[error("{0:?} has no host")]
    NoHost(String),
    #[error("{url:?} is not a URL: {source}")]
    NotAUrl {
        url: String,
        #[source]
        source: http::uri::InvalidUri,
    },
}

/// A URL the operator may not contact; the text is a sentence for a condition.
#[derive(Debug, thiserror::Error)]
pub enum NotAllowed {
    #[error("URL not allowed: {0}")]
    Unreadable(#[source] UrlError),
    #[error(
        "URL {url} is not in the operator's allow-list ({}); ask the operator's administrator to add it (Helm value telemetry.allowedUrls)",
        list.join(", ")
    )]
    NotListed { url: String, list: Vec<String> },
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// Splits `scheme://authority/path` by hand (patterns contain `*`, which `Uri` refuses in hosts).
fn split(text: &str) -> Result<(String, String, String), UrlError> {
    let (scheme, rest) = text.split_once("://").ok_or_else(|| UrlError::NoScheme(text.to_owned()))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(UrlError::Scheme(text.to_owned()));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(UrlError::UserInfo(text.to_owned()));
    }
    Ok((scheme, authority.to_ascii_lowercase(), path.to_owned()))
}

impl Pattern {
    fn parse(text: &str) -> Result<Self, UrlError> {
        let (scheme, authority, path) = split(text)?;
        let (host, port_text) = match authority.find(']') {
            Some(end) => (&authority[..=end], authority[end + 1..].strip_prefix(':')),
            None => match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority.as_str(), None),
            },
        };
        let port = match port_text {
            Some("*") => None,
            Some(p) => {
                Some(p.parse::<u16>().map_err(|_| UrlError::Port { text: text.to_owned(), port: p.to_owned() })?)
            }
            None => default_port(&scheme),
        };
        let host = host.to_owned();
        if host.is_empty() {
            return Err(UrlError::NoHost(text.to_owned()));
        }
        let path = if path.is_empty() { "/*".to_owned() } else { path };
        Ok(Self { text: text.to_owned(), scheme, host, port, path })
    }

    fn matches(&self, url: &Parts) -> bool {
        self.scheme == url.scheme
            && glob(&self.host, &url.host)
            && self.port.is_none_or(|p| Some(p) == url.port)
            && glob(&self.path, &url.path)
    }
}

fn parse_url(url: &str) -> Result<Parts, UrlError> {
    split(url)?;
    let uri: Uri = url.parse().map_err(|source| UrlError::NotAUrl { url: url.to_owned(), source })?;
    let scheme = uri.scheme_str().unwrap_or_default().to_ascii_lowercase();
    let host = uri.host().ok_or_else(|| UrlError::NoHost(url.to_owned()))?.to_ascii_lowercase();
    let port = uri.port_u16().or_else(|| default_port(&scheme));
    let path = uri.path().to_owned();
    Ok(Parts { scheme, host, port, path })
}

/// `*` matches any run of characters (including none); everything else literally.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((star, at)) = backtrack {
            pi = star + 1;
            ti = at + 1;
            backtrack = Some((star, at + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

impl AllowList {
    /// Parses the patterns; an invalid one is a start-up error naming it.
    pub fn new(patterns: &[String]) -> Result<Self, UrlError> {
        let patterns = patterns
            .iter()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .map(Pattern::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { patterns })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Ok when the operator may contact `url`; else a sentence for a condition.
    pub fn check(&self, url: &str) -> Result<(), NotAllowed> {
        if self.patterns.is_empty() {
            return Ok(());
        }
        let parts = parse_url(url).map_err(NotAllowed::Unreadable)?;
        if self.patterns.iter().any(|p| p.matches(&parts)) {
            return Ok(());
        }
        let list = self.patterns.iter().map(|p| p.text.clone()).collect();
        Err(NotAllowed::NotListed { url: url.to_owned(), list })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(p: &[&str]) -> AllowList {
        AllowList::new(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn empty_list_allows_everything() {
        assert!(list(&[]).check("http://10.0.0.1:1234/x").is_ok());
    }

    #[test]
    fn host_wildcards_stay_inside_the_host() {
        let l = list(&["http://*.karmada-system.svc:2381/metrics"]);
        assert!(l.check("http://etcd-0.karmada-system.svc:2381/metrics").is_ok());
        assert!(l.check("http://etcd-0.karmada-system.svc:2382/metrics").is_err(), "other port");
        assert!(l.check("http://etcd-0.karmada-system.svc:2381/metrics/x").is_err(), "other path");
        assert!(l.check("https://etcd-0.karmada-system.svc:2381/metrics").is_err(), "other scheme");
        assert!(l.check("http://evil.example/x.karmada-system.svc:2381/metrics").is_err());
        assert!(l.check("http://x.karmada-system.svc:2381@evil.example:2381/metrics").is_err(), "user info");
        assert!(l.check("http://x.karmada-system.svc.evil.example:2381/metrics").is_err());
    }

    #[test]
    fn ports_default_by_scheme_and_paths_glob() {
        let l = list(&["https://prometheus.monitoring.svc/*", "http://127.0.0.1:*"]);
        assert!(l.check("https://prometheus.monitoring.svc/api/v1/query").is_ok());
        assert!(l.check("https://prometheus.monitoring.svc:443/").is_ok());
        assert!(l.check("https://prometheus.monitoring.svc:9090/").is_err());
        assert!(l.check("http://127.0.0.1:39211/metrics").is_ok());
        assert!(l.check("http://127.0.0.2:39211/metrics").is_err());
        assert!(l.check("HTTP://PROMETHEUS.monitoring.svc/x").is_err(), "http is not https");
        let e = l.check("http://10.1.2.3/").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("http://10.1.2.3/") && e.contains("allow-list"), "{e}");
    }

    #[test]
    fn bad_patterns_are_named() {
        let e = AllowList::new(&["ftp://x/*".to_string()]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("ftp://x/*"), "{e}");
        assert!(matches!(AllowList::new(&["http://x:port/".to_string()]), Err(UrlError::Port { .. })));
        assert!(AllowList::new(&["no-scheme".to_string()]).is_err());
        let v6 = list(&["http://[::1]:*/metrics"]);
        assert!(v6.check("http://[::1]:2381/metrics").is_ok());
    }

    #[test]
    fn glob_backtracks() {
        assert!(glob("*a*b", "xxaxxab"));
        assert!(!glob("*a*b", "xxaxxa"));
        assert!(glob("a*", "a"));
        assert!(!glob("a", "ab"));
    }
}
