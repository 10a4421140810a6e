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

/// `120s` is documented as `2m`, `60s` as `1m`, `300s` as `5m`, `3600s` as `1h`.
fn human(go_duration: &str) -> String {
    match go_duration.strip_suffix('s').and_then(|n| n.parse::<u64>().ok()) {
        Some(secs) if secs >= 3600 && secs % 3600 == 0 => format!("{}h", secs / 3600),
        Some(secs) if secs >= 60 && secs % 60 == 0 => format!("{}m", secs / 60),
        _ => go_duration.to_owned(),
    }
}

/// Follows `$ref` into `$defs`, and the non-null branch of an `anyOf` (how schemars writes an
/// `Option` of a type with variants or of a type kept in `$defs`).
fn resolve<'a>(defs: &'a Value, schema: &'a Value) -> &'a Value {
    if let Some(name) = schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/$defs/")) {
        return resolve(defs, &defs[name]);
    }
    let any_of = schema.get("anyOf").and_then(Value::as_array).into_iter().flatten();
    match any_of.filter(|s| s.get("type") != Some(&Value::from("null"))).collect::<Vec<_>>()[..] {
        [only] => resolve(defs, only),
        _ => schema,
    }
}

/// Pairs every property of the CRD schema `crd` with the same property of `plain`, the types'
/// schema as schemars writes it before kube's CRD rewrites (fields beside their types in `$defs`).
fn pair_fields(path: &str, crd: &Value, plain: &Value, defs: &Value, f: &mut dyn FnMut(&str, &Value, &Value)) {
    let plain_type = resolve(defs, plain);
    if let Some(props) = crd.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            let field = &plain_type["properties"][name];
            let p = format!("{path}.{name}");
            f(&p, prop, field);
            pair_fields(&p, prop, field, defs, f);
        }
    }
    if let Some(items) = crd.get("items") {
        pair_fields(&format!("{path}[]"), items, &plain_type["items"], defs, f);
    }
}

fn plain_schema<T: schemars::JsonSchema>() -> Value {
    serde_json::to_value(schemars::SchemaGenerator::default().into_root_schema_for::<T>()).unwrap_or_default()
}

/// An `Option` of an enum with documented variants used to come out with the enum's doc ("The
/// local backend or the offload backends.") instead of the field's: `kubectl explain` then
/// says what the type is, not what the field does.
#[test]
fn enum_typed_fields_keep_their_own_doc_not_the_doc_of_their_enum() {
    use continuum_api::{EtcdHealthSpec, EtcdHealthStatus, OffloadPolicySpec, OffloadPolicyStatus};
    let plain = [
        ("offloadpolicies", plain_schema::<OffloadPolicySpec>(), plain_schema::<OffloadPolicyStatus>()),
        ("etcdhealths", plain_schema::<EtcdHealthSpec>(), plain_schema::<EtcdHealthStatus>()),
    ];
    let (mut wrong, mut enums) = (Vec::new(), Vec::new());
    for crd in continuum_api::crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let Some((_, spec, status)) = plain.iter().find(|(n, ..)| name.starts_with(n)) else {
            panic!("no types for {name}");
        };
        let schema = schema_of(&crd);
        for (root, types) in [("spec", spec), ("status", status)] {
            let defs = &types["$defs"];
            pair_fields(root, &schema["properties"][root], types, defs, &mut |path, prop, field| {
                let Some(own) = field.get("description").and_then(Value::as_str) else { return };
                let shown = prop.get("description").and_then(Value::as_str).unwrap_or_default();
                let type_doc = resolve(defs, field).get("description").and_then(Value::as_str);
                if prop.get("enum").is_some() {
                    enums.push(path.to_owned());
                }
                if shown != own {
                    let from_type = if type_doc == Some(shown) { " (the doc of its type)" } else { "" };
                    wrong.push(format!("{path}: {shown:?}{from_type} instead of its own {own:?}"));
                }
            });
        }
    }
    assert!(wrong.is_empty(), "fields whose CRD description is not their doc comment:\n{}", wrong.join("\n"));
    for field in ["spec.pin", "spec.mode", "spec.onDelete", "spec.telemetry.onNoData", "spec.signals[].unit"] {
        assert!(enums.iter().any(|e| e == field), "{field} not checked; enum-typed fields seen: {enums:?}");
    }
    for field in ["status.phase", "status.activeBackend"] {
        assert!(enums.iter().any(|e| e == field), "{field} not checked; enum-typed fields seen: {enums:?}");
    }
}
