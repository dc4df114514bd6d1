//! WaysDatabase at WaysCloud: the shared reconcile (look before creating, exactly one create,
//! confirmed deletion) plus what this kind changes in place once the database exists: its
//! password (into the connection Secret, before status), its settings, firewall and backup
//! policy.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;
use serde_json::{Map, Value, json};

use crate::api::{
    FirewallRuleStatus, ManagedStatus, ManagementPolicy, PASSWORD_SET_ANNOTATION, Provider,
    WaysDatabase, WaysDatabaseStatus,
};
use crate::duration::parse_duration;
use crate::http::{PortalError, Session};
use crate::reconcile::conditions::Wanted;
use crate::reconcile::connection;
use crate::reconcile::context::Context;
use crate::reconcile::error::Error;
use crate::reconcile::kind::{
    Converged, Held, LookUp, PortalKind, has_managed_status, managed_fields,
};
use crate::reconcile::shell::Run;
use crate::reconcile::snapshot::Snapshots;

use super::client::{self as portal, CreateDatabase, Credentials, NewRule, Ways};
use super::password::Password;
use super::settings;

has_managed_status!(WaysDatabaseStatus);

/// The shortest `rotateEvery`: each rotation breaks the connections using the old password.
const SHORTEST_ROTATION: Duration = Duration::from_secs(60);

impl PortalKind for WaysDatabase {
    type Status = WaysDatabaseStatus;
    type Remote = portal::Database;
    const PROVIDER: Provider = Provider::WaysCloud;
    const NOUN: &'static str = "database";
    const NAME_FIELD: &'static str = "spec.requestedName";

    managed_fields!(WaysDatabaseStatus);

    fn wanted_name(&self) -> String {
        self.spec
            .requested_name
            .clone()
            .unwrap_or_else(|| self.name_any().replace('-', "_"))
    }

    fn check_name(name: &str) -> Result<(), Error> {
        let valid = (1..=30).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if valid {
            return Ok(());
        }
        Err(Error::InvalidSpec {
            reason: "InvalidName",
            message: format!(
                "'{name}' is not a valid WaysCloud database name (1 to 30 lowercase letters, digits and underscores): set spec.requestedName to one"
            ),
        })
    }

    fn snapshots(ctx: &Context) -> &Snapshots<portal::Database> {
        &ctx.state::<super::WaysState>().databases
    }

    fn list_part(&self) -> &'static str {
        self.spec.db_type.as_str()
    }

    async fn list(
        client: &Session,
        part: &'static str,
    ) -> Result<Vec<portal::Database>, PortalError> {
        Ways(client).list_databases(part).await
    }

    /// The portal answers a create for a name that exists as a success (`idempotent`): that is
    /// read as the name being taken, so that nobody's database is taken over unasked.
    async fn create(
        &self,
        client: &Session,
        name: &str,
    ) -> Result<Option<portal::Database>, PortalError> {
        let body = CreateDatabase {
            db_type: self.spec.db_type.as_str(),
            requested_name: name,
        };
        let created = Ways(client).create_database(&body).await?;
        if created.existed {
            return Err(PortalError::AlreadyExists {
                status: 200,
                message: Some(format!(
                    "the portal answered that '{}' exists already",
                    created.database.db_name
                )),
            });
        }
        Ok(Some(created.database))
    }

    async fn delete(
        &self,
        client: &Session,
        _name: &str,
        seen: Option<&portal::Database>,
    ) -> Result<(), PortalError> {
        let recorded = self.status.as_ref().and_then(|s| s.db_name.as_deref());
        let Some(db_name) = seen.map(|db| db.db_name.as_str()).or(recorded) else {
            // Never learned its name: it never existed for this object.
            return Err(PortalError::NotFound { message: None });
        };
        Ways(client)
            .delete_database(self.spec.db_type.as_str(), db_name)
            .await
    }

    const LOOK_UP: Option<LookUp<portal::Database>> = None;

    fn remote_name(remote: &portal::Database) -> &str {
        &remote.requested
    }

    fn remote_id(remote: &portal::Database) -> &str {
        &remote.db_name
    }

    /// Creates are synchronous and the portal reports no state: a database it lists is usable.
    fn remote_state(_: &portal::Database) -> &str {
        "available"
    }

    fn describe(&self) -> String {
        format!("({})", self.spec.db_type.as_str())
    }

    fn check_parameters(&self) -> Result<(), Error> {
        if let Some(every) = self.rotate_every()?
            && every < SHORTEST_ROTATION
        {
            return Err(invalid(
                "spec.credentials.rotateEvery is shorter than 1m: each rotation breaks the connections using the old password",
            ));
        }
        let unreadable = settings::invalid_sources(self.spec.firewall.as_deref().unwrap_or(&[]));
        if !unreadable.is_empty() {
            return Err(invalid(format!(
                "spec.firewall has sources that are not IPv4 addresses or CIDR blocks: {}",
                unreadable.join(", ")
            )));
        }
        Ok(())
    }

    fn drift(&self, _: &portal::Database) -> Vec<String> {
        Vec::new()
    }

    /// The connection Secret holds a password, which the portal shows only in the answers to a
    /// create and a rotation: [`converge`](Self::converge) writes it.
    fn connection(_: &portal::Database) -> Option<Map<String, Value>> {
        None
    }

    fn mirrored(remote: &portal::Database, managed: ManagedStatus) -> WaysDatabaseStatus {
        WaysDatabaseStatus {
            managed,
            db_name: Some(remote.db_name.clone()),
            host: remote.host.clone(),
            port: remote.port,
            username: remote.username.clone(),
            ..WaysDatabaseStatus::default()
        }
    }

    async fn converge(
        run: &mut Run<'_, Self>,
        client: &Session,
        held: Held<'_, portal::Database>,
        status: &mut WaysDatabaseStatus,
    ) -> Result<Converged, Error> {
        let previous = run.status().clone();
        carry_over(&previous, status);
        let (credentials_ready, next_rotation) = credentials(run, client, held, status).await?;
        if deep_sync_due(run, held.fresh, &previous) {
            deep_sync(run, client, held.remote, status).await?;
        }
        let deep_resync = run.ctx.timing.deep_resync;
        let next_deep = status
            .last_deep_sync_time
            .as_ref()
            .map(|t| until(t.0, deep_resync))
            .unwrap_or(deep_resync);
        let next_rotation = next_rotation.map(|at| until(at, Duration::ZERO));
        Ok(Converged {
            conditions: vec![credentials_ready],
            look_again_within: Some(next_rotation.map_or(next_deep, |r| r.min(next_deep))),
        })
    }
}

impl WaysDatabase {
    fn rotate_every(&self) -> Result<Option<Duration>, Error> {
        let Some(text) = self
            .spec
            .credentials
            .as_ref()
            .and_then(|c| c.rotate_every.as_deref())
        else {
            return Ok(None);
        };
        parse_duration(text)
            .map(Some)
            .map_err(|problem| invalid(format!("spec.credentials.rotateEvery: {problem}")))
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidSpec {
        reason: "InvalidSpec",
        message: message.into(),
    }
}

/// How long from now until `duration` after `since` (zero when past).
fn until(since: Timestamp, duration: Duration) -> Duration {
    let due = SignedDuration::try_from(duration)
        .ok()
        .and_then(|d| since.checked_add(d).ok())
        .unwrap_or(since);
    Duration::try_from(due.duration_since(Timestamp::now())).unwrap_or(Duration::ZERO)
}

/// What the list does not show is kept from the last status: the portal's connection details
/// where the list omits them, the password's whereabouts, the settings last read.
fn carry_over(previous: &WaysDatabaseStatus, status: &mut WaysDatabaseStatus) {
    status.host = status.host.take().or_else(|| previous.host.clone());
    status.port = status.port.or(previous.port);
    status.username = status.username.take().or_else(|| previous.username.clone());
    status.connection_limit = previous.connection_limit;
    status.description = previous.description.clone();
    status.size_mb = previous.size_mb;
    status.firewall = previous.firewall.clone();
    status.backup_policy = previous.backup_policy.clone();
    status.last_rotation_time = previous.last_rotation_time.clone();
    status.password_secret = previous.password_secret.clone();
    status.rotation_handled = previous.rotation_handled.clone();
    status.last_deep_sync_time = previous.last_deep_sync_time.clone();
    status.deep_synced_generation = previous.deep_synced_generation;
}

/// The password: the create's into the Secret, or a rotation when one is due. Returns
/// `CredentialsReady` and when `rotateEvery` makes the next rotation due.
async fn credentials(
    run: &mut Run<'_, WaysDatabase>,
    client: &Session,
    held: Held<'_, portal::Database>,
    status: &mut WaysDatabaseStatus,
) -> Result<(Wanted, Option<Timestamp>), Error> {
    let object = run.object;
    let spec = &object.spec;
    let target = spec
        .managed
        .write_connection_secret_to_ref
        .as_ref()
        .map(|r| r.name.clone());
    let now = Timestamp::now();
    if held.fresh
        && let (Some(credentials), Some(target)) = (&held.remote.credentials, &target)
    {
        put_password(run, target, held.remote, status, credentials, now).await?;
        status.password_secret = Some(target.clone());
        status.last_rotation_time = Some(Time(now));
    }
    let requested = spec
        .credentials
        .as_ref()
        .and_then(|c| c.rotation_requested_at.clone());
    if held.fresh {
        // A request already in the spec at create time is served by the new password.
        status.rotation_handled = requested.clone();
    }
    let decision = |status: &WaysDatabaseStatus| -> Result<_, Error> {
        Ok(Password {
            target: target.as_deref(),
            held_in: status.password_secret.as_deref(),
            set_at: status.last_rotation_time.as_ref().map(|t| t.0),
            requested: requested.as_deref(),
            handled: status.rotation_handled.as_deref(),
            every: object.rotate_every()?,
            ownership: held.ownership,
            policy: spec.managed.management_policy(),
        }
        .rotation_due(now))
    };
    if let Some(why) = decision(status)? {
        // Until the new password is in the Secret, the Secret's is not the portal's: recorded
        // first, so that a crash in between rotates again rather than trusting a dead password.
        client.reserve_write().await;
        if status.password_secret.is_some() {
            let mut unknown = run.status().clone();
            unknown.password_secret = None;
            run.write(unknown).await?;
            status.password_secret = None;
        }
        let db = held.remote;
        let rotated = Ways(client)
            .rotate(spec.db_type.as_str(), &db.db_name)
            .await?;
        let credentials = rotated.credentials.as_ref().ok_or(PortalError::Decode {
            route: portal::Route::RotateCredentials.endpoint().template,
            message: "the rotation's answer holds no password".to_owned(),
        })?;
        if let Some(target) = &target {
            put_password(run, target, &rotated, status, credentials, now).await?;
            status.password_secret = Some(target.clone());
        }
        status.last_rotation_time = Some(Time(now));
        if why == super::password::Why::Requested {
            status.rotation_handled = requested.clone();
        }
        let whereto = target
            .as_deref()
            .map(|t| format!(": the Secret '{t}' holds the new one"))
            .unwrap_or_default();
        let note = format!(
            "rotated the password of '{}' ({}){whereto}",
            db.db_name,
            why.reason()
        );
        run.publish(false, why.reason(), note).await;
    }
    let settled = Password {
        target: target.as_deref(),
        held_in: status.password_secret.as_deref(),
        set_at: status.last_rotation_time.as_ref().map(|t| t.0),
        requested: None,
        handled: None,
        every: object.rotate_every()?,
        ownership: held.ownership,
        policy: spec.managed.management_policy(),
    };
    Ok((settled.condition(), settled.next_scheduled()))
}

/// Writes the connection Secret with a password the portal just showed, and when it was set.
async fn put_password(
    run: &Run<'_, WaysDatabase>,
    target: &str,
    db: &portal::Database,
    status: &WaysDatabaseStatus,
    credentials: &Credentials,
    at: Timestamp,
) -> Result<(), Error> {
    let host = db.host.clone().or_else(|| status.host.clone());
    let port = db.port.or(status.port);
    let username = db.username.clone().or_else(|| status.username.clone());
    let mut details = json!({
        "host": host,
        "port": port,
        "database": db.db_name,
        "username": username,
        "password": credentials.password.expose(),
        "uri": credentials.connection_string.as_ref().map(|c| c.expose()),
    });
    let details = details.as_object_mut().expect("an object").clone();
    let annotations = BTreeMap::from([(PASSWORD_SET_ANNOTATION.to_owned(), at.to_string())]);
    connection::write(run.ctx, run.object, target, &details, annotations).await
}

/// The reads beyond the list are due: a new spec, a new resource, or `--deep-resync` passed.
fn deep_sync_due(run: &Run<'_, WaysDatabase>, fresh: bool, previous: &WaysDatabaseStatus) -> bool {
    let interval = SignedDuration::try_from(run.ctx.timing.deep_resync).unwrap_or_default();
    fresh
        || previous.deep_synced_generation != run.generation()
        || previous
            .last_deep_sync_time
            .as_ref()
            .is_none_or(|at| Timestamp::now().duration_since(at.0) >= interval)
}

/// Reads the settings, firewall and backup policy, and changes what differs from the spec
/// (nothing under `managementPolicy: Observe`).
async fn deep_sync(
    run: &Run<'_, WaysDatabase>,
    client: &Session,
    db: &portal::Database,
    status: &mut WaysDatabaseStatus,
) -> Result<(), Error> {
    let spec = &run.object.spec;
    let manage = spec.managed.management_policy() == ManagementPolicy::Manage;
    let ways = Ways(client);
    let (db_type, db_name) = (spec.db_type.as_str(), db.db_name.as_str());

    let info = ways.info(db_type, db_name).await?;
    status.size_mb = info.size_mb();
    status.connection_limit = info.connection_limit();
    let update = settings::update(spec, info.connection_limit(), status.description.as_deref());
    if manage && (update.connection_limit.is_some() || update.description.is_some()) {
        client.reserve_write().await;
        ways.update_database(db_type, db_name, &update).await?;
        let mut changed = Vec::new();
        if let Some(limit) = update.connection_limit {
            status.connection_limit = Some(limit);
            changed.push(format!("connection limit {limit}"));
        }
        if let Some(description) = update.description {
            status.description = Some(description.to_owned());
            changed.push("description".to_owned());
        }
        let note = format!("set the {} of '{db_name}'", changed.join(" and "));
        run.publish(false, "Updated", note).await;
    }

    status.firewall = match &spec.firewall {
        None => None,
        Some(wanted) => {
            let mut rules = ways.firewall(db_type, db_name).await?;
            let plan = settings::firewall(wanted, &rules);
            if manage && !plan.changes_nothing() {
                let (added, deleted) = (plan.add.len(), plan.delete.len());
                for rule_id in &plan.delete {
                    client.reserve_write().await;
                    match ways.delete_rule(db_type, db_name, rule_id).await {
                        Ok(()) | Err(PortalError::NotFound { .. }) => {}
                        Err(error) => return Err(error.into()),
                    }
                }
                for source in &plan.add {
                    // One spelling (`192.0.2.10/32`, network addresses): the portal refuses host
                    // bits in a block, and lists a source as it was given.
                    let canonical = settings::canonical(&source.cidr).unwrap_or_default();
                    let rule = NewRule {
                        ip_address: &canonical,
                        description: source.description.as_deref(),
                    };
                    client.reserve_write().await;
                    ways.add_rule(db_type, db_name, &rule).await?;
                }
                let note = format!(
                    "firewall of '{db_name}': added {added} source(s), removed {deleted} rule(s)"
                );
                run.publish(false, "FirewallChanged", note).await;
                rules = ways.firewall(db_type, db_name).await?;
            }
            Some(
                rules
                    .into_iter()
                    .map(|rule| FirewallRuleStatus {
                        rule_id: rule.rule_id,
                        cidr: rule.ip_address,
                    })
                    .collect(),
            )
        }
    };

    status.backup_policy = match &spec.backup_policy {
        None => None,
        Some(wanted_spec) => {
            let seen = ways.backup_policy(db_type, db_name).await?;
            let wanted = settings::policy(wanted_spec);
            if manage && settings::policy_differs(&wanted, &seen) {
                client.reserve_write().await;
                ways.set_backup_policy(db_type, db_name, &wanted).await?;
                let note = format!("set the backup policy of '{db_name}'");
                run.publish(false, "BackupPolicySet", note).await;
                Some(wanted_spec.clone())
            } else {
                Some(observed_policy(&seen))
            }
        }
    };

    status.last_deep_sync_time = Some(Time(Timestamp::now()));
    status.deep_synced_generation = run.generation();
    Ok(())
}

/// The portal's policy in the spec's terms.
fn observed_policy(seen: &portal::Policy) -> crate::api::BackupPolicy {
    use crate::api::BackupFrequency;
    let frequency =
        seen.frequency
            .as_deref()
            .and_then(|f| match f.trim().to_ascii_lowercase().as_str() {
                "hourly" => Some(BackupFrequency::Hourly),
                "daily" => Some(BackupFrequency::Daily),
                "weekly" => Some(BackupFrequency::Weekly),
                _ => None,
            });
    crate::api::BackupPolicy {
        enabled: seen.enabled,
        frequency,
        retention_days: seen.retention_days,
        time_of_day: seen.time_of_day.clone(),
    }
}
