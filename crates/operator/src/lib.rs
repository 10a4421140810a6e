//! continuum-operator as a library: the two controllers (OffloadPolicy, EtcdHealth) on one
//! controller kit, their actuators, leader election, the admin server and the CLI. The binary
//! (`main.rs`) only parses arguments and calls in here; tests and benches use these modules.

pub mod admin;
pub mod allow;
pub mod apiclient;
pub mod check_etcd;
pub mod cli;
pub mod clock;
pub mod crdgen;
pub mod error;
pub mod etcd;
pub mod kit;
pub mod leader;
pub mod liveness;
pub mod metrics;
pub mod offload;
pub mod readiness;
pub mod run;
pub mod secrets;
