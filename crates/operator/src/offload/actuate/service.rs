//! `service`: the workload talks to a stable Service (e.g. `tcp://vaccel-backend:8192`) and the
//! operator repoints it, so no pod of the workload restarts:
//! - with `localSelector`/`offloadSelector`, the Service's selector is switched between the agent
//!   pods of the two backends (the operator owns only `spec.selector`);
//! - without them (agents outside the cluster), the Service must have no selector and the
//!   operator owns its EndpointSlice `<service>-vaccel`, whose one endpoint is the active
//!   backend's `tcp://host:port`.

use std::collections::BTreeMap;

use continuum_api::offload::ServiceActuation;
use continuum_policy::offload::Backend;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource};

use kube::runtime::reflector::ObjectRef;

use super::super::stores::SLICE_MANAGER;
use super::{ActuationError, FIELD_MANAGER, Reading, Target, write_error};

/// A Service selector.
type Selector = BTreeMap<String, String>;

/// `k=v,k2=v2`, sorted: how a selector is shown and compared.
fn selector_text(s: &BTreeMap<String, String>) -> String {
    s.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

pub fn slice_name(service: &str) -> String {
    format!("{}-vaccel", service.chars().take(56).collect::<String>())
}

/// `tcp://host:port` → (host, port); other schemes cannot be a Service endpoint.
pub fn host_port(endpoint: &str) -> Result<(String, i32), ActuationError> {
    let bad = || {
        ActuationError::Invalid(format!(
            "service mode without selectors needs tcp://host:port backend endpoints, not {endpoint}"
        ))
    };
    let rest = endpoint.strip_prefix("tcp://").ok_or_else(bad)?;
    let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
    let port: i32 = port.trim_end_matches('/').parse().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || !(1..=65535).contains(&port) {
        return Err(bad());
    }
    Ok((host.to_owned(), port))
}

fn address_type(host: &str) -> &'static str {
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => "IPv4",
        Ok(std::net::IpAddr::V6(_)) => "IPv6",
        Err(_) => "FQDN",
    }
}

/// The Service (from the watch).
fn service(t: &Target<'_>, s: &ServiceActuation) -> Result<std::sync::Arc<Service>, ActuationError> {
    let svc = t.stores.services.get(&ObjectRef::new(&s.name).within(t.ns));
    svc.ok_or_else(|| ActuationError::MissingTarget(format!("Service {}", s.name)))
}

pub fn read(t: &Target<'_>, s: &ServiceActuation) -> Result<Reading, ActuationError> {
    if let (Some(local), Some(offload)) = (&s.local_selector, &s.offload_selector) {
        return Ok(selector_reading(s, local, offload, &*service(t, s)?));
    }
    service(t, s)?;
    let slice = t.stores.slices.get(&ObjectRef::new(&slice_name(&s.name)).within(t.ns));
    Ok(slice_reading(t, s, slice.as_deref()))
}

/// Which of the two selectors the Service has.
fn selector_reading(s: &ServiceActuation, local: &Selector, offload: &Selector, svc: &Service) -> Reading {
    let current = svc.spec.as_ref().and_then(|spec| spec.selector.clone()).unwrap_or_default();
    let backend = if current == *offload {
        Some(Backend::Offload(0))
    } else if current == *local {
        Some(Backend::Local)
    } else {
        None
    };
    let value = (!current.is_empty()).then(|| selector_text(&current));
    Reading { object: format!("Service {}", s.name), value, backend }
}

/// Which endpoint the owned EndpointSlice holds, if it exists.
fn slice_reading(t: &Target<'_>, s: &ServiceActuation, slice: Option<&EndpointSlice>) -> Reading {
    let object = format!("EndpointSlice {}", slice_name(&s.name));
    let value = slice.and_then(|sl| {
        let address = sl.endpoints.as_ref()?.first()?.addresses.first()?.clone();
        let port = sl.ports.as_ref()?.first()?.port?;
        Some(format!("tcp://{}:{port}", if address.contains(':') { format!("[{address}]") } else { address }))
    });
    let backend =
        value.as_deref().and_then(|v| t.backend_where(|endpoint| host_port(endpoint).ok() == host_port(v).ok()));
    Reading { object, value, backend }
}

/// Applies the selector or the slice; returns what the API server's answer says.
pub async fn write(t: &Target<'_>, s: &ServiceActuation, backend: Backend) -> Result<Reading, ActuationError> {
    match (&s.local_selector, &s.offload_selector) {
        (Some(local), Some(offload)) => {
            let after = write_selector(t, s, if backend.is_offload() { offload } else { local }).await?;
            Ok(selector_reading(s, local, offload, &after))
        }
        _ => write_slice(t, s, backend).await,
    }
}

/// Points the Service's selector at the backend's pods (only `spec.selector` is applied).
async fn write_selector(t: &Target<'_>, s: &ServiceActuation, selector: &Selector) -> Result<Service, ActuationError> {
    let body = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "name": s.name },
        "spec": { "selector": selector }
    });
    t.rt.may_write("services")?;
    let api: Api<Service> = Api::namespaced(t.client(), t.ns);
    let object = format!("selector of Service {}", s.name);
    api.patch(&s.name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(body))
        .await
        .map_err(write_error(&object))
}

/// Applies the owned EndpointSlice of a selector-less Service: one endpoint, the backend's agent.
async fn write_slice(t: &Target<'_>, s: &ServiceActuation, backend: Backend) -> Result<Reading, ActuationError> {
    let svc = service(t, s)?;
    let spec = svc.spec.clone().unwrap_or_default();
    if spec.selector.as_ref().is_some_and(|sel| !sel.is_empty()) {
        return Err(ActuationError::Invalid(format!(
            "Service {} has a selector, so Kubernetes manages its endpoints: set actuation.service.localSelector and offloadSelector, or remove the Service's selector",
            s.name
        )));
    }
    let (host, port) = host_port(t.rules.endpoint(backend))?;
    if host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
        return Err(ActuationError::Invalid(format!(
            "{host} is a loopback address, which an EndpointSlice cannot hold: use the agent's node or pod address"
        )));
    }
    let service_port = spec.ports.unwrap_or_default().into_iter().find(|p| s.port.is_none_or(|want| p.port == want));
    let owner = svc.controller_owner_ref(&()).map(|mut o| {
        o.controller = Some(false);
        o
    });
    let body = serde_json::json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": slice_name(&s.name),
            "labels": {
                "kubernetes.io/service-name": s.name,
                SLICE_MANAGER.0: SLICE_MANAGER.1,
            },
            "ownerReferences": owner.into_iter().collect::<Vec<_>>(),
        },
        "addressType": address_type(&host),
        "endpoints": [ { "addresses": [host], "conditions": { "ready": true } } ],
        "ports": [ {
            "name": service_port.and_then(|p| p.name).unwrap_or_default(),
            "port": port,
            "protocol": "TCP",
        } ],
    });
    t.rt.may_write("endpointslices")?;
    let api: Api<EndpointSlice> = Api::namespaced(t.client(), t.ns);
    let object = format!("EndpointSlice {}", slice_name(&s.name));
    let after = api
        .patch(&slice_name(&s.name), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(body))
        .await
        .map_err(write_error(&object))?;
    Ok(slice_reading(t, s, Some(&after)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_split_into_host_and_port() {
        assert_eq!(host_port("tcp://10.0.0.7:8192").ok(), Some(("10.0.0.7".to_owned(), 8192)));
        assert_eq!(host_port("tcp://[fd00::7]:8192").ok(), Some(("fd00::7".to_owned(), 8192)));
        assert_eq!(host_port("tcp://jetson.edge:8192").ok(), Some(("jetson.edge".to_owned(), 8192)));
        for bad in ["unix:///run/vaccel.sock", "vsock://3:8192", "tcp://host", "tcp://:80", "tcp://h:0"] {
            let err = host_port(bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(bad), "{bad}: {err}");
        }
        assert_eq!(address_type("10.0.0.7"), "IPv4");
        assert_eq!(address_type("fd00::7"), "IPv6");
        assert_eq!(address_type("jetson.edge"), "FQDN");
    }

    #[test]
    fn selectors_print_sorted() {
        let s: BTreeMap<String, String> = [("node", "jetson"), ("app", "vaccel-agent")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(selector_text(&s), "app=vaccel-agent,node=jetson");
    }
}
