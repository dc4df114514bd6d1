//! PaasBucket: the shared reconcile (one create, found again by name, a confirmed deletion)
//! plus `public` (PATCH) and an access key into the connection Secret. The key's secret is shown
//! once: it goes to the Secret before status records the key; a key asked for whose answer was
//! lost is revoked and another made (at least once, never a key nobody holds the secret of).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use serde_json::{Map, Value};

use crate::api::{ManagedStatus, Ownership, PaasBucket, PaasBucketStatus, Provider};
use crate::http::{PortalError, Session};
use crate::reconcile::conditions::Wanted;
use crate::reconcile::connection;
use crate::reconcile::context::Context;
use crate::reconcile::error::Error;
use crate::reconcile::kind::{
    Converged, Held, LookUp, PortalKind, external_or_own_name, has_managed_status, managed_fields,
};
use crate::reconcile::shell::Run;
use crate::reconcile::snapshot::Snapshots;

use super::client::{self as portal, Paas};

has_managed_status!(PaasBucketStatus);

impl PortalKind for PaasBucket {
    type Status = PaasBucketStatus;
    type Remote = portal::Bucket;
    const PROVIDER: Provider = Provider::Paas;
    const NOUN: &'static str = "bucket";
    const NAME_FIELD: &'static str = "spec.externalName";
    const NAMES_UNIQUE: bool = false;

    managed_fields!(PaasBucketStatus);

    fn wanted_name(&self) -> String {
        external_or_own_name(self.spec.external_name.as_deref(), self)
    }

    fn check_name(name: &str) -> Result<(), Error> {
        let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        let valid = (3..=63).contains(&name.len())
            && name.starts_with(alnum)
            && name.ends_with(alnum)
            && name.chars().all(|c| alnum(c) || c == '-');
        if valid {
            return Ok(());
        }
        Err(Error::InvalidSpec {
            reason: "InvalidName",
            message: format!(
                "'{name}' is not a valid bucket name (3 to 63 lowercase letters, digits and hyphens, starting and ending with a letter or digit): set spec.externalName to one"
            ),
        })
    }

    fn snapshots(ctx: &Context) -> &Snapshots<portal::Bucket> {
        &ctx.state::<super::PaasState>().buckets
    }

    async fn list(client: &Session, _: &'static str) -> Result<Vec<portal::Bucket>, PortalError> {
        Paas(client).list_buckets().await
    }

    async fn create(
        &self,
        client: &Session,
        name: &str,
    ) -> Result<Option<portal::Bucket>, PortalError> {
        let public = self.spec.public.unwrap_or(false);
        Paas(client).create_bucket(name, public).await
    }

    /// Its key first (keys outlive their bucket at this portal), then the bucket.
    async fn delete(
        &self,
        client: &Session,
        _: &str,
        seen: Option<&portal::Bucket>,
    ) -> Result<(), PortalError> {
        let status = self.status.as_ref();
        if let Some(key_id) = status.and_then(|s| s.key_id.as_deref()) {
            match Paas(client).delete_key(key_id).await {
                Ok(()) | Err(PortalError::NotFound { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        let recorded = status.and_then(|s| s.managed.id.as_deref());
        let Some(id) = seen.map(|b| b.id.as_str()).or(recorded) else {
            return Err(PortalError::NotFound { message: None });
        };
        Paas(client).delete_bucket(id).await
    }

    const LOOK_UP: Option<LookUp<portal::Bucket>> = None;

    fn remote_name(remote: &portal::Bucket) -> &str {
        &remote.name
    }

    fn remote_id(remote: &portal::Bucket) -> &str {
        &remote.id
    }

    fn remote_state(remote: &portal::Bucket) -> &str {
        &remote.status
    }

    fn describe(&self) -> String {
        String::new()
    }

    fn drift(&self, _: &portal::Bucket) -> Vec<String> {
        Vec::new()
    }

    /// The key's secret is known only when it is made: [`converge`](Self::converge) writes it.
    fn connection(_: &portal::Bucket) -> Option<Map<String, Value>> {
        None
    }

    fn mirrored(remote: &portal::Bucket, managed: ManagedStatus) -> PaasBucketStatus {
        PaasBucketStatus {
            managed,
            bucket: remote.bucket.clone(),
            ..PaasBucketStatus::default()
        }
    }

    async fn converge(
        run: &mut Run<'_, Self>,
        client: &Session,
        held: Held<'_, portal::Bucket>,
        status: &mut PaasBucketStatus,
    ) -> Result<Converged, Error> {
        let previous = run.status().clone();
        status.access_key_id = previous.access_key_id.clone();
        status.key_id = previous.key_id.clone();
        status.key_requested_at = previous.key_requested_at.clone();
        if held.ownership == Ownership::Observed {
            return Ok(Converged::default());
        }
        let paas = Paas(client);
        let remote = held.remote;
        let public = run.object.spec.public.unwrap_or(false);
        if remote.public.is_some_and(|seen| seen != public) {
            paas.set_public(&remote.id, public).await?;
            Self::snapshots(run.ctx).outdate(client.fingerprint()).await;
            let note = format!("set public: {public} on the bucket '{}'", remote.name);
            run.publish(false, "Updating", note.clone()).await;
            return Ok(Converged {
                conditions: vec![Wanted::synced(false, "Updating", note)],
                look_again_within: Some(run.ctx.timing.poll),
            });
        }
        keep_key(run, &paas, remote, status).await?;
        Ok(Converged::default())
    }
}

/// The name the object's keys carry at the portal: its uid, so that one found after a lost
/// answer is known to be its own.
fn key_name(object: &PaasBucket) -> String {
    format!("k8s-{}", object.uid().unwrap_or_default())
}

async fn keep_key(
    run: &mut Run<'_, PaasBucket>,
    paas: &Paas<&Session>,
    remote: &portal::Bucket,
    status: &mut PaasBucketStatus,
) -> Result<(), Error> {
    let Some(target) = run
        .object
        .spec
        .managed
        .write_connection_secret_to_ref
        .clone()
    else {
        return Ok(());
    };
    if status.key_id.is_some() {
        return Ok(());
    }
    let name = key_name(run.object);
    if status.key_requested_at.is_some() {
        // The answer (and the secret in it) was lost: revoke what that request made.
        for lost in paas.list_keys().await?.iter().filter(|k| k.name == name) {
            match paas.delete_key(&lost.id).await {
                Ok(()) | Err(PortalError::NotFound { .. }) => {}
                Err(error) => return Err(error.into()),
            }
            let note = format!(
                "revoked the access key {} whose secret was never received",
                lost.access_key_id
            );
            run.publish(true, "KeyRevoked", note).await;
        }
    }
    let mut intent = run.status().clone();
    intent.key_requested_at = Some(Time(Timestamp::now()));
    run.write(intent.clone()).await?;
    status.key_requested_at = intent.key_requested_at;
    let Some(key) = paas.create_key(&name, &remote.id).await? else {
        return Ok(());
    };
    let Some(secret) = key.secret_access_key.as_deref() else {
        return Ok(());
    };
    let mut details = Map::new();
    details.insert(
        "bucket".into(),
        remote.bucket.clone().unwrap_or_default().into(),
    );
    details.insert(
        "endpoint".into(),
        remote.endpoint.clone().unwrap_or_default().into(),
    );
    details.insert("accessKeyId".into(), key.access_key_id.clone().into());
    details.insert("secretAccessKey".into(), secret.into());
    connection::write(
        run.ctx,
        run.object,
        &target.name,
        &details,
        Default::default(),
    )
    .await?;
    status.access_key_id = Some(key.access_key_id);
    status.key_id = Some(key.id);
    status.key_requested_at = None;
    Ok(())
}
