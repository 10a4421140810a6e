//! CEL rule builders shared by both resources.
//!
//! The API server prefixes every failure with the JSON path of the field, so messages here
//! say what is expected; the path says where.

use kube::core::{Message, Rule};

/// Go duration syntax accepted by `duration()` in CEL, restricted to units that make sense here.
const DURATION_RE: &str = "^([0-9]+([.][0-9]+)?(ms|s|m|h))+$";

/// A duration between `min` and `max` (both inclusive), written like `30s` or `2m`.
pub(crate) fn duration_between(min: &str, max: &str) -> Rule {
    Rule::new(format!(
        "self.matches('{DURATION_RE}') && duration(self) >= duration('{min}') && duration(self) <= duration('{max}')"
    ))
    .message(Message::Message(format!("must be a duration between {min} and {max}, written like 30s, 1m30s or 500ms")))
}

/// A vAccel RPC address: `tcp://host:port`, `unix:///path` or `vsock://cid:port`.
pub(crate) fn vaccel_endpoint() -> Rule {
    Rule::new(
        r"self.matches('^tcp://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?:[0-9]{1,5}$') || self.matches('^tcp://\\[[0-9A-Fa-f:.]+\\]:[0-9]{1,5}$') || self.matches('^unix:///[^\\s]+$') || self.matches('^vsock://[0-9]+:[0-9]{1,5}$')",
    )
    .message(
        "must be a vAccel RPC address: tcp://host:port, unix:///path/to/socket or vsock://cid:port",
    )
}

/// An absolute http(s) URL.
pub(crate) fn http_url() -> Rule {
    Rule::new("isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''")
        .message("must be an absolute http:// or https:// URL, for example http://prometheus.monitoring:9090")
}

/// A DNS-1123 subdomain name of a Kubernetes object.
pub(crate) fn object_name() -> Rule {
    Rule::new("self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')")
        .message("must be a Kubernetes object name: lower-case letters, digits, '-' and '.'")
}

/// A DNS-1123 label, as Kubernetes requires for container and Service names.
pub(crate) fn dns_label() -> Rule {
    Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')")
        .message("must be a DNS label: lower-case letters, digits and '-', at most 63 characters")
}
