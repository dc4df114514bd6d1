//! PaasDatabase and PaasRedis, one module for both: the shared reconcile (the project's id
//! recorded first, one create, found again by name and project, a confirmed deletion) plus what
//! changes in place: the settings a PATCH takes, `suspend` (stop / start), and the connection
//! Secret from the detail.

use kube::runtime::controller::Action;
use serde_json::{Map, Value};

use crate::api::{
    DatastoreSpec, ManagedStatus, Ownership, PaasDatabase, PaasDatastoreStatus, PaasRedis, Provider,
};
use crate::http::{PortalError, Session};
use crate::reconcile::conditions::Wanted;
use crate::reconcile::connection;
use crate::reconcile::context::Context;
use crate::reconcile::error::Error;
use crate::reconcile::kind::{
    Converged, Held, LookUp, PortalKind, external_or_own_name, has_managed_status,
};
use crate::reconcile::shell::Run;
use crate::reconcile::snapshot::Snapshots;

use super::client::{self as portal, Flavor, Paas, assumed};

has_managed_status!(PaasDatastoreStatus);

/// The parameters the operator sets itself.
const OWN_PARAMETERS: [&str; 2] = ["name", "project_id"];

/// The glue of one data store kind to [`PortalKind`].
macro_rules! datastore_kind {
    ($kind:ty, $flavor:expr, $noun:literal, $field:ident) => {
        impl PortalKind for $kind {
            type Status = PaasDatastoreStatus;
            type Remote = portal::Datastore;
            const PROVIDER: Provider = Provider::Paas;
            const NOUN: &'static str = $noun;
            const NAME_FIELD: &'static str = "spec.externalName";
            const NAMES_UNIQUE: bool = false;

            fn managed_spec(&self) -> &crate::api::ManagedSpec {
                &self.spec.datastore.managed
            }

            fn status(&self) -> Option<&PaasDatastoreStatus> {
                self.status.as_ref()
            }

            fn status_mut(&mut self) -> &mut Option<PaasDatastoreStatus> {
                &mut self.status
            }

            fn wanted_name(&self) -> String {
                external_or_own_name(self.spec.datastore.external_name.as_deref(), self)
            }

            fn check_name(name: &str) -> Result<(), Error> {
                check_label(name, $noun)
            }

            fn snapshots(ctx: &Context) -> &Snapshots<portal::Datastore> {
                &ctx.state::<super::PaasState>().$field
            }

            async fn list(
                client: &Session,
                _: &'static str,
            ) -> Result<Vec<portal::Datastore>, PortalError> {
                Paas(client).list_datastores($flavor).await
            }

            async fn create(
                &self,
                client: &Session,
                name: &str,
            ) -> Result<Option<portal::Datastore>, PortalError> {
                let body = create_body(&self.spec.datastore, self.status.as_ref(), name);
                Paas(client).create_datastore($flavor, &body).await
            }

            async fn delete(
                &self,
                client: &Session,
                _: &str,
                seen: Option<&portal::Datastore>,
            ) -> Result<(), PortalError> {
                let recorded = self.status.as_ref().and_then(|s| s.managed.id.as_deref());
                let Some(id) = seen.map(|d| d.id.as_str()).or(recorded) else {
                    // Never learned its id: nothing of this object's to delete.
                    return Err(PortalError::NotFound { message: None });
                };
                Paas(client).delete_datastore($flavor, id).await
            }

            const LOOK_UP: Option<LookUp<portal::Datastore>> = None;

            fn is_candidate(&self, remote: &portal::Datastore, name: &str) -> bool {
                let project = self.status.as_ref().and_then(|s| s.project_id.as_deref());
                remote.name == name && project == Some(remote.project_id.as_str())
            }

            fn parent(&self) -> Option<&str> {
                Some(&self.spec.datastore.project_ref.name)
            }

            fn remote_name(remote: &portal::Datastore) -> &str {
                &remote.name
            }

            fn remote_id(remote: &portal::Datastore) -> &str {
                &remote.id
            }

            fn remote_state(remote: &portal::Datastore) -> &str {
                &remote.status
            }

            fn describe(&self) -> String {
                describe(&self.spec.datastore)
            }

            fn check_parameters(&self) -> Result<(), Error> {
                check_parameters(&self.spec.datastore)
            }

            fn drift(&self, remote: &portal::Datastore) -> Vec<String> {
                fixed_drift(&self.spec.datastore, remote, $flavor)
            }

            /// Only the detail holds the connection: [`converge`](Self::converge) reads it.
            fn connection(_: &portal::Datastore) -> Option<Map<String, Value>> {
                None
            }

            fn mirrored(remote: &portal::Datastore, managed: ManagedStatus) -> PaasDatastoreStatus {
                mirrored(remote, managed)
            }

            async fn prepare(run: &mut Run<'_, Self>) -> Result<Option<Action>, Error> {
                let project = run.object.spec.datastore.project_ref.name.clone();
                super::parent::record_project_id(run, &project).await
            }

            async fn converge(
                run: &mut Run<'_, Self>,
                client: &Session,
                held: Held<'_, portal::Datastore>,
                status: &mut PaasDatastoreStatus,
            ) -> Result<Converged, Error> {
                converge(run, client, held, status, $flavor).await
            }
        }
    };
}

datastore_kind!(PaasDatabase, Flavor::Database, "database", databases);
datastore_kind!(PaasRedis, Flavor::Redis, "redis", redis);

/// What a data store kind's object gives the shared functions below.
trait Datastore: PortalKind<Status = PaasDatastoreStatus> {
    fn datastore(&self) -> &DatastoreSpec;
}

impl Datastore for PaasDatabase {
    fn datastore(&self) -> &DatastoreSpec {
        &self.spec.datastore
    }
}

impl Datastore for PaasRedis {
    fn datastore(&self) -> &DatastoreSpec {
        &self.spec.datastore
    }
}

impl super::parent::InProject for PaasDatastoreStatus {
    fn project_id(&mut self) -> &mut Option<String> {
        &mut self.project_id
    }
}

pub(super) fn check_label(name: &str, noun: &str) -> Result<(), Error> {
    let valid = (1..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        return Ok(());
    }
    Err(Error::InvalidSpec {
        reason: "InvalidName",
        message: format!(
            "'{name}' is not a valid PaaS {noun} name (1 to 63 lowercase letters, digits and hyphens, starting with a letter, not ending with a hyphen): set spec.externalName to one"
        ),
    })
}

fn check_parameters(spec: &DatastoreSpec) -> Result<(), Error> {
    let parameters = spec.parameters.iter().flatten();
    let owned: Vec<&str> = parameters
        .map(|(key, _)| key.as_str())
        .filter(|key| OWN_PARAMETERS.contains(key))
        .collect();
    if owned.is_empty() {
        return Ok(());
    }
    Err(Error::InvalidSpec {
        reason: "InvalidSpec",
        message: format!(
            "spec.parameters sets {}, which the operator sets itself (spec.externalName, spec.projectRef): remove it",
            owned.join(", ")
        ),
    })
}

fn create_body(
    spec: &DatastoreSpec,
    status: Option<&PaasDatastoreStatus>,
    name: &str,
) -> Map<String, Value> {
    let mut body = spec.parameters.clone().unwrap_or_default();
    body.insert("name".into(), name.into());
    let project = status.and_then(|s| s.project_id.clone());
    // prepare() recorded it before any create is decided.
    body.insert("project_id".into(), project.unwrap_or_default().into());
    body
}

fn describe(spec: &DatastoreSpec) -> String {
    let parameters = spec.parameters.iter().flatten();
    let words: Vec<String> = parameters
        .filter_map(|(_, value)| value.as_str().map(str::to_owned))
        .collect();
    if words.is_empty() {
        String::new()
    } else {
        format!("({})", words.join(" "))
    }
}

/// The parameters the portal reports otherwise and a PATCH cannot change.
fn fixed_drift(spec: &DatastoreSpec, remote: &portal::Datastore, flavor: Flavor) -> Vec<String> {
    let updatable = assumed::updatable(flavor);
    spec.parameters
        .iter()
        .flatten()
        .filter(|(key, _)| !updatable.contains(&key.as_str()))
        .filter_map(|(key, wanted)| {
            let seen = remote.settings.get(key)?;
            (!same(seen, wanted)).then(|| format!("parameters.{key} is {seen} at the portal"))
        })
        .collect()
}

/// Equal, with a number and its text taken as the same (`"16"` and `16`).
fn same(seen: &Value, wanted: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    seen == wanted || text(seen) == text(wanted)
}

fn mirrored(remote: &portal::Datastore, managed: ManagedStatus) -> PaasDatastoreStatus {
    let settings: Map<String, Value> = remote
        .settings
        .iter()
        .filter(|(key, _)| !matches!(key.as_str(), "created_at" | "updated_at"))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    PaasDatastoreStatus {
        managed,
        project_id: Some(remote.project_id.clone()).filter(|id| !id.is_empty()),
        settings: Some(settings).filter(|s| !s.is_empty()),
        connection_secret: None,
    }
}

async fn converge<K: Datastore>(
    run: &mut Run<'_, K>,
    client: &Session,
    held: Held<'_, portal::Datastore>,
    status: &mut PaasDatastoreStatus,
    flavor: Flavor,
) -> Result<Converged, Error> {
    status.connection_secret = run.status().connection_secret.clone();
    if held.ownership == Ownership::Observed {
        return Ok(Converged::default());
    }
    let paas = Paas(client);
    let spec = run.object.datastore();
    let remote = held.remote;
    if next_step(spec, remote, flavor).is_none() {
        write_connection(run, &paas, flavor, remote, status).await?;
        return Ok(Converged::default());
    }
    // A list may predate this operator's own last change (lists are shared and reused while
    // the credential's budget goes to writes): the detail decides.
    let fresh = paas.datastore(flavor, &remote.id).await?;
    // Either the list was behind the detail, or it is about to be behind the step below: the
    // next look lists again (the data store lists are one per key: no parts).
    let outdate = || K::snapshots(run.ctx).outdate(client.fingerprint());
    let Some(step) = next_step(spec, &fresh, flavor) else {
        outdate().await;
        return Ok(Converged {
            look_again_within: Some(run.ctx.timing.poll),
            ..Converged::default()
        });
    };
    let note = match step {
        Step::Run(start) => {
            paas.run_datastore(flavor, &fresh.id, start).await?;
            let verb = if start { "start" } else { "stop" };
            format!(
                "asked the portal to {verb} the {} '{}'",
                K::NOUN,
                fresh.name
            )
        }
        Step::Update(changes) => {
            paas.update_datastore(flavor, &fresh.id, &changes).await?;
            let keys: Vec<&str> = changes.keys().map(String::as_str).collect();
            format!(
                "changed {} of the {} '{}'",
                keys.join(", "),
                K::NOUN,
                fresh.name
            )
        }
    };
    outdate().await;
    run.publish(false, "Updating", note.clone()).await;
    Ok(acted(run, note))
}

/// What a data store needs next to match its spec.
#[derive(Debug, PartialEq)]
enum Step {
    /// Start (`true`) or stop it.
    Run(bool),
    /// PATCH these settings.
    Update(Map<String, Value>),
}

fn next_step(spec: &DatastoreSpec, remote: &portal::Datastore, flavor: Flavor) -> Option<Step> {
    let suspend = spec.suspend.unwrap_or(false);
    match remote.status.as_str() {
        "running" if suspend => Some(Step::Run(false)),
        "stopped" if !suspend => Some(Step::Run(true)),
        "running" => {
            let changes = settings_to_change(spec, remote, flavor);
            (!changes.is_empty()).then_some(Step::Update(changes))
        }
        // On its way somewhere: looked at again once it is there.
        _ => None,
    }
}

/// After a stop, start or update: not settled until a list taken after it shows the outcome
/// (one taken before would show the old state and ask again), which the next poll looks at.
fn acted<K: Datastore>(run: &Run<'_, K>, note: String) -> Converged {
    Converged {
        conditions: vec![Wanted::synced(false, "Updating", note)],
        look_again_within: Some(run.ctx.timing.poll),
    }
}

/// The updatable settings whose value the spec asks to be otherwise.
fn settings_to_change(
    spec: &DatastoreSpec,
    remote: &portal::Datastore,
    flavor: Flavor,
) -> Map<String, Value> {
    let updatable = assumed::updatable(flavor);
    spec.parameters
        .iter()
        .flatten()
        .filter(|(key, _)| updatable.contains(&key.as_str()))
        .filter(|(key, wanted)| {
            !remote
                .settings
                .get(*key)
                .is_some_and(|seen| same(seen, wanted))
        })
        .map(|(key, wanted)| (key.clone(), wanted.clone()))
        .collect()
}

/// The connection details from the detail into `writeConnectionSecretToRef`, once per Secret
/// name (the API has no rotation: they do not change).
async fn write_connection<K: Datastore>(
    run: &mut Run<'_, K>,
    paas: &Paas<&Session>,
    flavor: Flavor,
    remote: &portal::Datastore,
    status: &mut PaasDatastoreStatus,
) -> Result<(), Error> {
    let Some(target) = run
        .object
        .managed_spec()
        .write_connection_secret_to_ref
        .clone()
    else {
        status.connection_secret = None;
        return Ok(());
    };
    if status.connection_secret.as_deref() == Some(target.name.as_str()) {
        return Ok(());
    }
    let detail = paas.datastore(flavor, &remote.id).await?;
    let Some(details) = detail.connection else {
        return Ok(());
    };
    connection::write(
        run.ctx,
        run.object,
        &target.name,
        &details,
        Default::default(),
    )
    .await?;
    status.connection_secret = Some(target.name);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ProjectRef;
    use serde_json::json;

    fn spec(parameters: Value, suspend: bool) -> DatastoreSpec {
        DatastoreSpec {
            project_ref: ProjectRef {
                name: "shop".into(),
            },
            external_name: None,
            parameters: parameters.as_object().cloned(),
            suspend: Some(suspend),
            managed: Default::default(),
        }
    }

    fn remote(status: &str, settings: Value) -> portal::Datastore {
        let mut value = json!({"id": "d1", "name": "db", "project_id": "p1", "status": status});
        value
            .as_object_mut()
            .unwrap()
            .extend(settings.as_object().unwrap().clone());
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn suspend_stops_and_starts_only_from_a_settled_state() {
        let plain = json!({});
        let db = Flavor::Database;
        assert_eq!(
            next_step(
                &spec(plain.clone(), true),
                &remote("running", plain.clone()),
                db
            ),
            Some(Step::Run(false))
        );
        assert_eq!(
            next_step(
                &spec(plain.clone(), false),
                &remote("stopped", plain.clone()),
                db
            ),
            Some(Step::Run(true))
        );
        for moving in ["stopping", "starting", "updating", "provisioning"] {
            assert_eq!(
                next_step(
                    &spec(plain.clone(), true),
                    &remote(moving, plain.clone()),
                    db
                ),
                None
            );
        }
        assert_eq!(
            next_step(
                &spec(plain.clone(), true),
                &remote("stopped", plain.clone()),
                db
            ),
            None
        );
    }

    #[test]
    fn only_updatable_settings_are_patched_and_the_rest_is_drift() {
        let wanted = spec(
            json!({"engine": "mysql", "version": 16, "plan": "pro", "storage_gb": 10}),
            false,
        );
        let seen = remote(
            "running",
            json!({"engine": "postgresql", "version": "16", "plan": "starter", "storage_gb": 10}),
        );
        let Some(Step::Update(changes)) = next_step(&wanted, &seen, Flavor::Database) else {
            panic!("a plan to change");
        };
        assert_eq!(Value::Object(changes), json!({"plan": "pro"}));
        assert_eq!(
            fixed_drift(&wanted, &seen, Flavor::Database),
            vec!["parameters.engine is \"postgresql\" at the portal"],
            "16 and \"16\" are the same version"
        );
        let redis = spec(json!({"plan": "pro", "storage_gb": 20}), false);
        let Some(Step::Update(changes)) = next_step(&redis, &seen, Flavor::Redis) else {
            panic!("a plan to change");
        };
        assert!(!changes.contains_key("storage_gb"), "not a redis setting");
    }

    #[test]
    fn parameters_may_not_set_the_name_or_the_project() {
        assert!(check_parameters(&spec(json!({"plan": "pro"}), false)).is_ok());
        let error = check_parameters(&spec(json!({"name": "x", "project_id": "p"}), false))
            .unwrap_err()
            .to_string();
        assert!(error.contains("name, project_id"), "{error}");
    }
}
