//! Values a PaaS spec gives literally or from a key of a Secret in the object's namespace. A
//! Secret read here is watched for the object: when it changes, the object is reconciled again
//! (through the same poll that wakes objects waiting on a token Secret).

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Resource, ResourceExt};

use crate::api::SecretKeyRef;
use crate::reconcile::context::Context;
use crate::reconcile::tokens::{TokenLocation, Wake};

/// Where one value comes from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    Literal(&'a str),
    Secret(&'a SecretKeyRef),
}

/// Why a value could not be had (a message for a condition; the value is never in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing(pub String);

/// The value, read now. A Secret is watched for `object` whether or not it has the key yet, so
/// that creating or changing it reaches the portal without anyone touching the object.
pub async fn resolve<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    object: &K,
    source: Source<'_>,
) -> Result<Result<String, Missing>, kube::Error> {
    let reference = match source {
        Source::Literal(value) => return Ok(Ok(value.to_owned())),
        Source::Secret(reference) => reference,
    };
    let namespace = object.namespace().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(ctx.kube.clone(), &namespace);
    let secret = secrets.get_opt(&reference.name).await?;
    let location = TokenLocation {
        namespace,
        name: reference.name.clone(),
        key: reference.key.clone(),
    };
    let version = secret
        .as_ref()
        .and_then(|s| s.metadata.resource_version.clone());
    ctx.token_waits
        .wait_for_change(location, version, Wake::of(object));
    let Some(secret) = secret else {
        return Ok(Err(Missing(format!(
            "the Secret '{}' does not exist",
            reference.name
        ))));
    };
    let bytes = secret
        .data
        .as_ref()
        .and_then(|data| data.get(&reference.key))
        .map(|value| value.0.clone());
    let Some(bytes) = bytes else {
        return Ok(Err(Missing(format!(
            "the Secret '{}' has no key '{}'",
            reference.name, reference.key
        ))));
    };
    Ok(String::from_utf8(bytes).map_err(|_| {
        Missing(format!(
            "the key '{}' of the Secret '{}' is not UTF-8 text",
            reference.key, reference.name
        ))
    }))
}
