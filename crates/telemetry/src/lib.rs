//! Telemetry: the Prometheus text format, histogram math, etcd's metrics, and an HTTP client for
//! metrics endpoints. No Kubernetes types here.

pub mod etcd;
pub mod exposition;
pub mod fetch;
pub mod histogram;
pub mod promql;
