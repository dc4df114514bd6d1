//! Function at the portal: `/api/portal/functions` (create and delete are the DESIGN §1
//! assumption, see `portal::routes`).

use serde_json::{Map, Value};

use crate::api::{Function, FunctionStatus, ManagedStatus, Provider};
use crate::http::{CreateRetry, PortalError, Session};

use super::client::{self as portal, CreateProduct, Htx};

use crate::reconcile::context::Context;
use crate::reconcile::error::Error;
use crate::reconcile::kind::{LookUp, PortalKind, has_managed_status, managed_fields};
use crate::reconcile::snapshot::Snapshots;

has_managed_status!(FunctionStatus);

impl PortalKind for Function {
    type Status = FunctionStatus;
    type Remote = portal::Function;
    const PROVIDER: Provider = Provider::Htx;
    const NOUN: &'static str = "function";

    managed_fields!(FunctionStatus);
    super::portal_named!();

    fn snapshots(ctx: &Context) -> &Snapshots<portal::Function> {
        &ctx.state::<super::HtxState>().functions
    }

    async fn list(
        client: &Session,
        _part: &'static str,
    ) -> Result<Vec<portal::Function>, PortalError> {
        Htx(client).list_functions().await
    }

    async fn create(
        &self,
        client: &Session,
        name: &str,
    ) -> Result<Option<portal::Function>, PortalError> {
        let mut fields = self.spec.parameters.clone().unwrap_or_default();
        fields.insert("runtime".into(), Value::from(self.spec.runtime.clone()));
        let body = CreateProduct {
            name: name.to_owned(),
            fields,
        };
        Htx(client)
            .create_function(&body, CreateRetry::WhenNotApplied)
            .await
    }

    async fn delete(
        &self,
        client: &Session,
        name: &str,
        _seen: Option<&portal::Function>,
    ) -> Result<(), PortalError> {
        Htx(client).delete_function(name).await
    }

    fn check_parameters(&self) -> Result<(), Error> {
        no_owned_parameters(self.spec.parameters.as_ref(), &["runtime"])
    }

    /// The portal lists functions but has no route to ask about one.
    const LOOK_UP: Option<LookUp<portal::Function>> = None;

    fn remote_name(remote: &portal::Function) -> &str {
        &remote.name
    }

    fn remote_id(remote: &portal::Function) -> &str {
        &remote.id
    }

    fn remote_state(remote: &portal::Function) -> &str {
        &remote.status
    }

    fn describe(&self) -> String {
        format!("({})", self.spec.runtime)
    }

    fn drift(&self, remote: &portal::Function) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(runtime) = &remote.runtime
            && *runtime != self.spec.runtime
        {
            problems.push(format!(
                "runtime is '{runtime}' at the portal but the spec asks for '{}'",
                self.spec.runtime
            ));
        }
        problems.extend(parameter_drift(
            self.spec.parameters.as_ref(),
            &remote.extra,
        ));
        problems
    }

    fn connection(remote: &portal::Function) -> Option<Map<String, Value>> {
        let url = remote.url.clone()?;
        Some(Map::from_iter([("url".to_owned(), Value::from(url))]))
    }

    fn mirrored(remote: &portal::Function, managed: ManagedStatus) -> FunctionStatus {
        FunctionStatus {
            managed,
            runtime: remote.runtime.clone(),
            url: remote.url.clone(),
        }
    }
}

/// Refuses parameters that set the portal name or one of the kind's `typed` fields: the operator
/// sets those itself, and a parameter would override them in the create body (a function created
/// as `parameters.name` would be one this object never finds).
pub fn no_owned_parameters(
    parameters: Option<&Map<String, Value>>,
    typed: &[&str],
) -> Result<(), Error> {
    let owned: Vec<&str> = parameters
        .into_iter()
        .flat_map(|parameters| parameters.keys())
        .map(String::as_str)
        .filter(|key| *key == "name" || typed.contains(key))
        .collect();
    if owned.is_empty() {
        return Ok(());
    }
    Err(Error::InvalidSpec {
        reason: "InvalidSpec",
        message: format!(
            "spec.parameters sets {}, which the operator sets itself (the name from spec.externalName or metadata.name, the rest from their own spec fields): remove {} from spec.parameters",
            owned
                .iter()
                .map(|key| format!("'{key}'"))
                .collect::<Vec<_>>()
                .join(" and "),
            if owned.len() == 1 { "it" } else { "them" }
        ),
    })
}

/// Parameters the portal reports with another value than the spec's. Parameters the portal
/// does not echo cannot be compared and are not reported.
pub fn parameter_drift(
    wanted: Option<&Map<String, Value>>,
    reported: &Map<String, Value>,
) -> Vec<String> {
    wanted
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| {
            let at_portal = reported.get(key)?;
            (at_portal != value).then(|| {
                format!(
                    "parameter '{key}' is {at_portal} at the portal but the spec asks for {value}"
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parameters_may_not_set_the_name_or_a_typed_field() {
        let fine = json!({"memory_mb": 512});
        assert!(no_owned_parameters(fine.as_object(), &["runtime"]).is_ok());
        assert!(no_owned_parameters(None, &["runtime"]).is_ok());
        let renaming = json!({"name": "elsewhere", "runtime": "go1.22", "handler": "h"});
        let refused = no_owned_parameters(renaming.as_object(), &["runtime"]).unwrap_err();
        assert_eq!(refused.reason(), "InvalidSpec");
        let message = refused.to_string();
        assert!(message.contains("'name' and 'runtime'"), "{message}");
    }

    #[test]
    fn only_reported_parameters_can_drift() {
        let wanted = json!({"memory_mb": 512, "handler": "main", "secret": "x"});
        let reported = json!({"memory_mb": 256, "handler": "main"});
        let drift = parameter_drift(wanted.as_object(), reported.as_object().unwrap());
        assert_eq!(drift.len(), 1);
        assert!(drift[0].contains("memory_mb"), "{drift:?}");
        assert!(parameter_drift(None, reported.as_object().unwrap()).is_empty());
    }
}
