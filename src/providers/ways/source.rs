//! The database a WaysSnapshot or WaysRestore acts on, and where its calls go: a WaysDatabase of
//! the namespace (waited for until Ready) or a portal name, with the object's own credentials,
//! else the WaysDatabase's, else the operator's default.

use kube::{Api, Resource, ResourceExt};

use crate::api::{DbType, Provider, WaysDatabase, WaysDatabaseSource, WaysDatabaseTarget};
use crate::reconcile::bindings::BindingKey;
use crate::reconcile::conditions::{self, READY};
use crate::reconcile::context::Context;
use crate::reconcile::credentials::Located;
use crate::reconcile::error::Error;
use crate::reconcile::kind::PortalKind;
use crate::reconcile::managed;

use super::client::assumed::requested_part;

/// A portal database and where its calls go.
pub struct Target {
    pub db_type: DbType,
    pub db_name: String,
    pub located: Located,
}

pub enum Resolved {
    Target(Target),
    /// The referenced WaysDatabase is missing or not Ready: why.
    Waiting(String),
}

/// The database recorded in the object's status once it asked the portal for something: that
/// one, whatever the spec says now.
pub async fn recorded_target<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    object: &K,
    source: &WaysDatabaseSource,
    db_type: DbType,
    db_name: &str,
) -> Result<Target, Error> {
    let db = match &source.database_ref {
        Some(reference) => database_object(ctx, object, &reference.name).await?,
        None => None,
    };
    let located = located(ctx, object, source, db.as_ref())?;
    Ok(Target {
        db_type,
        db_name: db_name.to_owned(),
        located,
    })
}

/// The database `source` names, or why it is waited for.
pub async fn resolve<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    object: &K,
    source: &WaysDatabaseSource,
) -> Result<Resolved, Error> {
    let target = source.target().map_err(|message| Error::InvalidSpec {
        reason: "InvalidSpec",
        message: message.to_owned(),
    })?;
    match target {
        WaysDatabaseTarget::Portal(db_type, db_name) => {
            let located = located(ctx, object, source, None)?;
            // A database bound by an object of another namespace is that tenant's.
            let key = BindingKey {
                credentials: located.secret.clone(),
                product: <WaysDatabase as PortalKind>::NOUN,
                name: requested_part(db_name).unwrap_or(db_name).to_owned(),
                within: None,
            };
            if ctx
                .bindings
                .holder(&key)
                .is_some_and(|holder| Some(holder.namespace) != object.namespace())
            {
                return Err(Error::AlreadyBound {
                    noun: <WaysDatabase as PortalKind>::NOUN,
                    name: db_name.to_owned(),
                });
            }
            Ok(Resolved::Target(Target {
                db_type,
                db_name: db_name.to_owned(),
                located,
            }))
        }
        WaysDatabaseTarget::Object(name) => {
            let Some(db) = database_object(ctx, object, name).await? else {
                return Ok(Resolved::Waiting(format!(
                    "the WaysDatabase '{name}' does not exist in this namespace: waiting for it"
                )));
            };
            let status = db.status.as_ref();
            let db_conditions = status.map_or(&[][..], |s| &s.managed.conditions[..]);
            let db_name = status.and_then(|s| s.db_name.clone());
            let Some(db_name) = db_name.filter(|_| conditions::is_true(db_conditions, READY))
            else {
                let why = conditions::find(db_conditions, READY)
                    .map_or("no status yet".to_owned(), |c| {
                        format!("Ready: {}", c.reason)
                    });
                return Ok(Resolved::Waiting(format!(
                    "waiting for the WaysDatabase '{name}' to be Ready ({why})"
                )));
            };
            let located = located(ctx, object, source, Some(&db))?;
            Ok(Resolved::Target(Target {
                db_type: db.spec.db_type,
                db_name,
                located,
            }))
        }
    }
}

/// The object's own ProviderConfig, else the WaysDatabase's credentials, else the default.
fn located<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    object: &K,
    source: &WaysDatabaseSource,
    db: Option<&WaysDatabase>,
) -> Result<Located, Error> {
    let own = crate::reconcile::credentials::CredentialRefs {
        provider_config: source.provider_config_ref.as_ref().map(|r| r.name.as_str()),
        token_secret: None,
    };
    let refs = match db {
        Some(db) if own.provider_config.is_none() => db.spec.managed.credential_refs(),
        _ => own,
    };
    managed::located(ctx, object, Provider::WaysCloud, refs)
}

async fn database_object<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    object: &K,
    name: &str,
) -> Result<Option<WaysDatabase>, Error> {
    let api: Api<WaysDatabase> =
        Api::namespaced(ctx.kube.clone(), &object.namespace().unwrap_or_default());
    Ok(api.get_opt(name).await?)
}
