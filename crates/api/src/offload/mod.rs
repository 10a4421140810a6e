//! OffloadPolicy resource.

mod actuation;
mod signals;
mod spec;
mod status;
mod telemetry;

pub use actuation::*;
pub use signals::*;
pub use spec::*;
pub use status::*;
pub use telemetry::*;

/// Keeps a field's own doc on an `Option` of an enum with documented variants. schemars writes
/// such a field as `anyOf: [<the enum, with its type doc>, null]` with the field doc beside it,
/// and kube's CRD rewrite lifts the enum's branch over the field, type doc included: `kubectl
/// explain` would say what the type is instead of what the field does.
fn field_doc_wins(schema: &mut schemars::Schema) {
    if let Some(serde_json::Value::Array(branches)) = schema.get_mut("anyOf") {
        for branch in branches.iter_mut().filter_map(serde_json::Value::as_object_mut) {
            branch.remove("description");
        }
    }
}
