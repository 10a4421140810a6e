//! `continuum-operator run` against a real kube-apiserver.

use std::time::Duration;

use continuum_testenv::ControlPlane;
use continuum_testenv::kit::{self, Cluster, Launch};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

mod common;
use common::OPERATOR;

#[test]
fn run_fails_clearly_when_the_crds_are_missing_then_starts_once_they_are_established() -> kit::Result<()> {
    let cp = ControlPlane::start()?;

    let op = common::operator(&cp).args(["--crd-wait-seconds", "2"]).start(&cp.dir, "without-crds")?;
    let code = op.wait_exit(Duration::from_secs(60))?;
    let log = op.log_text();
    assert_ne!(code, 0, "operator ran without CRDs: {log}");
    assert!(
        log.lines()
            .any(|l| l.contains("offloadpolicies.continuum.dev is not established") && l.contains("apply deploy/crds")),
        "no clear error in {log}"
    );

    cp.apply_crds(&common::repo().join("deploy/crds"))?;
    let op = common::operator(&cp).start(&cp.dir, "with-crds")?;
    let version = continuum_testenv::versions::kubernetes();
    op.wait_log(&version, Duration::from_secs(30))?;
    op.wait_log("leading", Duration::from_secs(30))?;
    let log = op.log_text();
    assert!(log.lines().any(|l| l.contains("etcdhealths.continuum.dev") && l.contains("established")), "{log}");

    op.signal("TERM")?;
    let code = op.wait_exit(Duration::from_secs(30))?;
    assert_eq!(code, 0, "operator did not shut down cleanly on SIGTERM:\n{}", op.log_text());
    assert!(op.log_text().contains("shutting down"), "{}", op.log_text());
    Ok(())
}

#[test]
fn install_crds_registers_and_waits_for_established_and_is_idempotent() -> kit::Result<()> {
    let cp = ControlPlane::start()?;
    let install = Launch::new(OPERATOR, ["install-crds", "--wait-seconds", "30", "--kubeconfig"])
        .arg(cp.kubeconfig.to_string_lossy());
    for round in 0..2 {
        let out = install.output()?;
        assert!(out.ok, "round {round}: {}", out.text());
        for crd in ["offloadpolicies.continuum.dev established", "etcdhealths.continuum.dev established"] {
            assert!(out.stdout.contains(crd), "round {round}: {}", out.stdout);
        }
    }
    let crd = Cluster::connect(&cp)?.cluster::<CustomResourceDefinition>().get("offloadpolicies.continuum.dev")?;
    let managers: Vec<String> =
        crd.metadata.managed_fields.unwrap_or_default().into_iter().filter_map(|m| m.manager).collect();
    assert!(managers.iter().any(|m| m.contains("continuum-operator")), "{managers:?}");
    let version = Launch::new(OPERATOR, ["version"]).output()?;
    assert!(version.stdout.starts_with(&format!("continuum-operator {}", env!("CARGO_PKG_VERSION"))));
    Ok(())
}
