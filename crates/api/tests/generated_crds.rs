//! The checked-in CRD YAML must be exactly what the types generate.

use std::path::Path;

fn check_dir(dir: &Path) {
    let files = continuum_api::crd_files().unwrap_or_else(|e| panic!("rendering CRDs: {e}"));
    let hint = "regenerate with `cargo run -p continuum-operator -- crd --write deploy/crds --write charts/continuum-operator/crds`";
    for (name, body) in &files {
        let path = dir.join(name);
        let current = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}; {hint}", path.display()));
        assert!(current == *body, "{} differs from the generated CRD; {hint}", path.display());
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    on_disk.sort();
    let mut generated: Vec<String> = files.into_iter().map(|(n, _)| n).collect();
    generated.sort();
    assert_eq!(on_disk, generated, "stale CRD files in {}", dir.display());
}

#[test]
fn deploy_crds_match_the_types() {
    check_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds"));
}

#[test]
fn chart_crds_match_the_types() {
    check_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../charts/continuum-operator/crds"));
}

#[test]
fn both_crds_are_namespaced_with_a_status_subresource() {
    for crd in continuum_api::crds() {
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(crd.spec.group, continuum_api::GROUP);
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(
            version.subresources.as_ref().and_then(|s| s.status.as_ref()).is_some(),
            "{:?} has no status subresource",
            crd.metadata.name
        );
    }
}
