//! Validation rules the API server checks at admission: CEL expressions in the CRDs
//! (`x-kubernetes-validations`), generated from attributes on the Rust types.
//!
//! Each rule repeats a check the operator makes itself (clusters before 1.25 ignore the rules,
//! and the operator keeps its checks), so that from Kubernetes 1.25 on a mistake is refused by
//! `kubectl apply` with the rule's message before anything is stored.
//!
//! # Adding a rule
//!
//! - A rule about one field or one struct: derive `kube::KubeSchema` instead of
//!   `schemars::JsonSchema` on the struct and put `#[x_kube(validation = …)]` on the field (`self`
//!   is the field; [`immutable`] for a field that cannot change) or on the struct (`self` is the
//!   struct; [`exactly_one_of`] for two fields of which exactly one must be set, [`at_most_one_of`]
//!   for two that exclude each other).
//! - A rule that needs `metadata.name` or the status: `#[kube(validation = …)]` on the kind's spec
//!   struct; `self` is the whole object, `oldSelf` the stored one.
//! - Use only what Kubernetes 1.25 reads: `rule` and `message` (a `Rule::new(…).message(…)` or a
//!   `(rule, message)` pair), no `messageExpression`, `reason`, `fieldPath` or `optionalOldSelf`.
//!   The message says what is wrong and what to do, as a condition message would.
//! - Add a case to `tests/admission/cases.yaml` (a valid object and the changes the rule refuses)
//!   and run `hack/update-crds.sh`. `tests/admission.rs` fails for a rule without a case and runs
//!   every case on a current API server (`hack/current-apiserver.sh`).
//!
//! `htx-operator crds --without-rules` prints the CRDs for clusters before 1.25: the same CRDs
//! with every rule removed ([`without_rules`]).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
    JSONSchemaPropsOrStringArray, ValidationRule,
};
use kube::core::Rule;

/// A field that cannot change once set. Kubernetes checks it on updates where the old and the
/// new object both have the field: an optional field can still be added or removed, unless a
/// rule on its struct says otherwise (`has(self.x) == has(oldSelf.x)`).
pub fn immutable(message: &str) -> Rule {
    Rule::new("self == oldSelf").message(message)
}

/// Exactly one of two optional fields of a struct must be set.
pub fn exactly_one_of(first: &str, second: &str, message: &str) -> Rule {
    Rule::new(format!("has(self.{first}) != has(self.{second})")).message(message)
}

/// At most one of two optional fields of a struct may be set.
pub fn at_most_one_of(first: &str, second: &str, message: &str) -> Rule {
    Rule::new(format!("!(has(self.{first}) && has(self.{second}))")).message(message)
}

/// Spec fields that cannot change once the stored object satisfies `asked` (a CEL condition on
/// `oldSelf`): each stays set or unset, and keeps its value. For a kind's top-level rule
/// (`#[kube(validation = …)]`).
pub fn fixed_once(asked: &str, fields: &[&str], message: &str) -> Rule {
    let unchanged: Vec<String> = fields
        .iter()
        .map(|f| {
            format!(
                "has(self.spec.{f}) == has(oldSelf.spec.{f}) && (!has(self.spec.{f}) || self.spec.{f} == oldSelf.spec.{f})"
            )
        })
        .collect();
    Rule::new(format!("!({asked}) || ({})", unchanged.join(" && "))).message(message)
}

/// The CRD with every validation rule removed, for API servers before 1.25.
pub fn without_rules(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    for_each_schema(&mut crd, &mut |schema| {
        schema.x_kubernetes_validations = None
    });
    crd
}

/// Every validation rule of the CRD, wherever it sits in the schema.
pub fn rules_of(crd: &CustomResourceDefinition) -> Vec<ValidationRule> {
    let mut rules = Vec::new();
    let mut crd = crd.clone();
    for_each_schema(&mut crd, &mut |schema| {
        rules.extend(schema.x_kubernetes_validations.take().into_iter().flatten());
    });
    rules
}

fn for_each_schema(
    crd: &mut CustomResourceDefinition,
    visit: &mut impl FnMut(&mut JSONSchemaProps),
) {
    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            walk(schema, visit);
        }
    }
}

/// Visits the schema and every schema nested in it.
fn walk(schema: &mut JSONSchemaProps, visit: &mut impl FnMut(&mut JSONSchemaProps)) {
    visit(schema);
    let maps = [
        &mut schema.properties,
        &mut schema.pattern_properties,
        &mut schema.definitions,
    ];
    for map in maps.into_iter().flatten() {
        map.values_mut().for_each(|child| walk(child, visit));
    }
    let lists = [&mut schema.all_of, &mut schema.any_of, &mut schema.one_of];
    for list in lists.into_iter().flatten() {
        list.iter_mut().for_each(|child| walk(child, visit));
    }
    if let Some(not) = &mut schema.not {
        walk(not, visit);
    }
    match &mut schema.items {
        Some(JSONSchemaPropsOrArray::Schema(child)) => walk(child, visit),
        Some(JSONSchemaPropsOrArray::Schemas(children)) => {
            children.iter_mut().for_each(|child| walk(child, visit));
        }
        None => {}
    }
    for either in [
        &mut schema.additional_items,
        &mut schema.additional_properties,
    ] {
        if let Some(JSONSchemaPropsOrBool::Schema(child)) = either {
            walk(child, visit);
        }
    }
    for dependency in schema.dependencies.iter_mut().flat_map(|d| d.values_mut()) {
        if let JSONSchemaPropsOrStringArray::Schema(child) = dependency {
            walk(child, visit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::crds;
    use serde_json::Value;

    /// The generic JSON view of the same removal: every `x-kubernetes-validations` key, at any
    /// depth (no property of ours has that name).
    fn strip_json(value: &mut Value) {
        match value {
            Value::Object(map) => {
                map.remove("x-kubernetes-validations");
                map.values_mut().for_each(strip_json);
            }
            Value::Array(items) => items.iter_mut().for_each(strip_json),
            _ => {}
        }
    }

    #[test]
    fn without_rules_removes_every_rule_and_nothing_else() {
        let crds = crds();
        assert!(
            crds.iter().filter(|crd| !rules_of(crd).is_empty()).count() >= 5,
            "the managed kinds have rules to remove"
        );
        for crd in crds {
            let name = crd.metadata.name.clone().unwrap();
            let mut expected = serde_json::to_value(&crd).unwrap();
            strip_json(&mut expected);
            let stripped = without_rules(crd);
            assert!(rules_of(&stripped).is_empty(), "{name} keeps a rule");
            assert_eq!(serde_json::to_value(&stripped).unwrap(), expected, "{name}");
        }
    }

    #[test]
    fn no_enum_lists_null_which_kubernetes_1_20_refuses() {
        for mut crd in crds() {
            let name = crd.metadata.name.clone().unwrap();
            for_each_schema(&mut crd, &mut |schema| {
                let values = schema.enum_.iter().flatten();
                assert!(
                    values.into_iter().all(|value| !value.0.is_null()),
                    "{name}: an enum lists null (an optional enum field needs #[schemars(with = …)])"
                );
            });
        }
    }

    #[test]
    fn every_rule_has_a_message_and_only_what_kubernetes_1_25_reads() {
        for crd in crds() {
            let name = crd.metadata.name.clone().unwrap();
            for rule in rules_of(&crd) {
                let rule_text = &rule.rule;
                assert!(
                    rule.message
                        .as_deref()
                        .is_some_and(|m| !m.trim().is_empty()),
                    "{name}: the rule `{rule_text}` has no message"
                );
                assert!(
                    rule.message_expression.is_none()
                        && rule.reason.is_none()
                        && rule.field_path.is_none()
                        && rule.optional_old_self.is_none(),
                    "{name}: the rule `{rule_text}` uses a field that API servers 1.25 to 1.27 do not know: {rule:?}"
                );
            }
        }
    }
}
