//! Every field is documented for `kubectl explain`, and every schema default is stated in its doc.

use serde_json::Value;

/// Walks a structural schema; calls `f(path, schema)` for every property.
fn walk(path: &str, schema: &Value, f: &mut dyn FnMut(&str, &Value)) {
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            let p = format!("{path}.{name}");
            f(&p, prop);
            walk(&p, prop, f);
        }
    }
    if let Some(items) = schema.get("items") {
        walk(&format!("{path}[]"), items, f);
    }
}

fn schema_of(
    crd: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
) -> Value {
    let schema = crd.spec.versions[0].schema.as_ref().and_then(|s| s.open_api_v3_schema.as_ref());
    serde_json::to_value(schema).unwrap_or_default()
}

#[test]
fn every_spec_and_status_field_has_a_description() {
    for crd in continuum_api::crds() {
        let schema = schema_of(&crd);
        let mut missing = Vec::new();
        for root in ["spec", "status"] {
            let sub = &schema["properties"][root];
            walk(root, sub, &mut |path, prop| {
                let described = prop.get("description").and_then(Value::as_str).is_some_and(|d| d.trim().len() > 10);
                // Condition is Kubernetes' own type; its fields carry upstream docs.
                if !described && !path.contains(".conditions[]") {
                    missing.push(path.to_owned());
                }
            });
        }
        assert!(missing.is_empty(), "{:?}: undocumented fields {missing:?}", crd.metadata.name);
    }
}

#[test]
fn every_schema_default_is_stated_in_the_field_doc() {
    let mut checked = 0;
    for crd in continuum_api::crds() {
        let schema = schema_of(&crd);
        let mut wrong = Vec::new();
        walk("spec", &schema["properties"]["spec"], &mut |path, prop| {
            let Some(default) = prop.get("default") else { return };
            let doc = prop.get("description").and_then(Value::as_str).unwrap_or_default();
            let shown = match default {
                Value::String(s) => s.clone(),
                Value::Object(_) => String::new(),
                other => other.to_string(),
            };
            checked += 1;
            let stated = doc.contains("Default:") || doc.contains("Default ");
            let matches = shown.is_empty() || doc.contains(&shown) || doc.contains(&human(&shown));
            if !stated || !matches {
                wrong.push(format!("{path}: default {default} but doc says {doc:?}"));
            }
        });
        assert!(wrong.is_empty(), "{:?}:\n{}", crd.metadata.name, wrong.join("\n"));
    }
    assert!(checked >= 20, "only {checked} defaults found");
}

/// `120s` is documented as `2m`, `60s` as `1m`, `300s` as `5m`.
fn human(go_duration: &str) -> String {
    match go_duration.strip_suffix('s').and_then(|n| n.parse::<u64>().ok()) {
        Some(secs) if secs >= 60 && secs % 60 == 0 => format!("{}m", secs / 60),
        _ => go_duration.to_owned(),
    }
}
