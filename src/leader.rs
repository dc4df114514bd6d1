//! Leader election on a `coordination.k8s.io/v1` Lease, so that of several replicas exactly one
//! runs the controllers.
//!
//! The rules are client-go's. A replica takes the Lease when nobody holds it, or when its record
//! (holder, renew time, resourceVersion) has not changed for `leaseDurationSeconds` as measured
//! by the replica's own monotonic clock since it first saw that record, so clocks that disagree
//! between machines do not matter. Every write is a replace guarded by the resourceVersion
//! read, so two replicas racing for it cannot both win. The leader renews every retry period;
//! when it has not renewed for the renew deadline (shorter than the lease duration) or sees
//! another holder, leadership is lost and the caller must stop writing at once (the operator
//! exits, and Kubernetes restarts it as a standby). A standby takes over at most a lease
//! duration plus two retry periods after the leader's last renewal: it sees each renewal within a
//! retry period, and looks again within one after the Lease expired.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use rand::Rng;
use tokio::time::Instant;

use crate::telemetry::{Role, health};

/// Where the Lease is and how it is held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// This replica's name in `holderIdentity`: unique among the replicas.
    pub identity: String,
    /// How long the Lease stays valid without a renewal.
    pub duration: Duration,
    /// A leader that has not renewed for this long gives up; shorter than `duration`, so that it
    /// stops before any standby may take over.
    pub renew_deadline: Duration,
    /// How often the leader renews and a standby looks.
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// A config with client-go's proportions: for 15 s, a renew deadline of 10 s and a retry
    /// period of 2 s.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        identity: impl Into<String>,
        duration: Duration,
    ) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            duration,
            renew_deadline: duration.mul_f64(2.0 / 3.0),
            retry_period: duration.div_f64(7.5),
        }
    }
}

/// The identity of this replica: `POD_NAME` when set (the Deployment sets it), else the host name
/// with a random suffix, so that two processes on one machine differ.
pub fn default_identity() -> String {
    if let Ok(pod) = std::env::var("POD_NAME")
        && !pod.is_empty()
    {
        return pod;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "htx-operator".to_owned());
    let suffix: u32 = rand::rng().random();
    format!("{host}-{suffix:08x}")
}

/// Why a leader stopped being one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Lost {
    #[error("the Lease is held by '{0}' now")]
    TakenBy(String),
    #[error("the Lease could not be renewed within {0:?}")]
    NotRenewed(Duration),
}

/// The Lease record as this replica last saw it, and when (by its own clock).
#[derive(Debug, Clone)]
struct Observed {
    holder: Option<String>,
    renew_time: Option<MicroTime>,
    resource_version: Option<String>,
    duration: Duration,
    at: Instant,
}

/// What an attempt to take or renew the Lease found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Attempt {
    /// This replica holds the Lease (just taken or renewed).
    Held,
    /// Another replica holds a Lease that has not expired.
    HeldBy(String),
    /// Someone wrote the Lease between the read and the write; look again.
    Conflict,
}

/// Competes for the Lease.
pub struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
    observed: Option<Observed>,
}

impl Elector {
    pub fn new(client: kube::Client, config: LeaseConfig) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: None,
        }
    }

    pub fn config(&self) -> &LeaseConfig {
        &self.config
    }

    /// Waits until this replica holds the Lease, reporting standby meanwhile.
    pub async fn acquire(mut self) -> Leader {
        let mut last_holder: Option<String> = None;
        loop {
            let started = Instant::now();
            match self.try_acquire_or_renew().await {
                Ok(Attempt::Held) => {
                    tracing::info!(
                        lease = %self.config.name,
                        identity = %self.config.identity,
                        "became the leader"
                    );
                    health().set_role(Role::Leader);
                    return Leader {
                        elector: self,
                        renewed_at: started,
                    };
                }
                Ok(Attempt::HeldBy(holder)) => {
                    health().set_role(Role::Standby);
                    if last_holder.as_ref() != Some(&holder) {
                        tracing::info!(lease = %self.config.name, %holder, "standing by: another replica leads");
                        last_holder = Some(holder);
                    }
                }
                Ok(Attempt::Conflict) => {}
                Err(error) => {
                    tracing::warn!(%error, lease = %self.config.name, "cannot read or write the leader Lease");
                }
            }
            tokio::time::sleep(jittered(self.config.retry_period)).await;
        }
    }

    /// One look at the Lease: take it when free or expired, renew it when ours.
    async fn try_acquire_or_renew(&mut self) -> Result<Attempt, kube::Error> {
        let now = Instant::now();
        let Some(current) = self.api.get_opt(&self.config.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec_taking_over(None)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.observe(&created, now);
                    Ok(Attempt::Held)
                }
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(Attempt::Conflict),
                Err(error) => Err(error),
            };
        };
        self.observe(&current, Instant::now());
        let observed = self.observed.as_ref().expect("just observed");
        let ours = observed.holder.as_deref() == Some(self.config.identity.as_str());
        if !ours && !may_take(observed, Instant::now()) {
            return Ok(Attempt::HeldBy(observed.holder.clone().unwrap_or_default()));
        }
        let spec = if ours {
            let mut spec = current.spec.clone().unwrap_or_default();
            spec.renew_time = Some(MicroTime(Timestamp::now()));
            spec.lease_duration_seconds = Some(duration_seconds(self.config.duration));
            spec
        } else {
            self.spec_taking_over(current.spec.as_ref())
        };
        let lease = Lease {
            metadata: current.metadata.clone(),
            spec: Some(spec),
        };
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(written) => {
                self.observe(&written, now);
                Ok(Attempt::Held)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(Attempt::Conflict),
            Err(error) => Err(error),
        }
    }

    /// The record of a new holder (this replica), counting the transition.
    fn spec_taking_over(&self, previous: Option<&LeaseSpec>) -> LeaseSpec {
        let now = MicroTime(Timestamp::now());
        let transitions = previous.and_then(|s| s.lease_transitions).unwrap_or(0);
        let had_holder = previous
            .and_then(|s| s.holder_identity.as_deref())
            .is_some_and(|h| !h.is_empty());
        LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(duration_seconds(self.config.duration)),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            lease_transitions: Some(if had_holder {
                transitions + 1
            } else {
                transitions
            }),
            ..LeaseSpec::default()
        }
    }

    /// Remembers the record; its clock starts again only when the record changed.
    fn observe(&mut self, lease: &Lease, at: Instant) {
        let spec = lease.spec.clone().unwrap_or_default();
        let record = (
            spec.holder_identity.clone(),
            spec.renew_time.clone(),
            lease.metadata.resource_version.clone(),
        );
        if let Some(observed) = &self.observed
            && (
                observed.holder.clone(),
                observed.renew_time.clone(),
                observed.resource_version.clone(),
            ) == record
        {
            return;
        }
        self.observed = Some(Observed {
            holder: record.0,
            renew_time: record.1,
            resource_version: record.2,
            duration: spec
                .lease_duration_seconds
                .filter(|s| *s > 0)
                .map(|s| Duration::from_secs(s as u64))
                .unwrap_or(self.config.duration),
            at,
        });
    }
}

/// A Lease held by someone else may be taken when nobody holds it, or when its record has not
/// changed for its whole duration.
fn may_take(observed: &Observed, now: Instant) -> bool {
    observed.holder.as_deref().is_none_or(str::is_empty) || now >= observed.at + observed.duration
}

fn duration_seconds(duration: Duration) -> i32 {
    i32::try_from(duration.as_secs().max(1)).unwrap_or(i32::MAX)
}

/// ±10 %, so that standbys do not all knock at once.
fn jittered(period: Duration) -> Duration {
    period.mul_f64(rand::rng().random_range(0.9..1.1))
}

/// This replica holds the Lease.
pub struct Leader {
    elector: Elector,
    /// When the last successful renewal was sent (a conservative start for the deadline).
    renewed_at: Instant,
}

impl Leader {
    pub fn identity(&self) -> &str {
        &self.elector.config.identity
    }

    /// Renews the Lease every retry period; returns as soon as leadership is lost. Each attempt
    /// is cut off at the renew deadline, so a hanging API server cannot keep a leader that
    /// should have stopped.
    pub async fn keep(&mut self) -> Lost {
        let config = self.elector.config.clone();
        loop {
            tokio::time::sleep(config.retry_period).await;
            let deadline = self.renewed_at + config.renew_deadline;
            let started = Instant::now();
            if started >= deadline {
                return Lost::NotRenewed(config.renew_deadline);
            }
            let attempt =
                tokio::time::timeout_at(deadline, self.elector.try_acquire_or_renew()).await;
            match attempt {
                Ok(Ok(Attempt::Held)) => self.renewed_at = started,
                Ok(Ok(Attempt::HeldBy(holder))) => return Lost::TakenBy(holder),
                Ok(Ok(Attempt::Conflict)) => {
                    tracing::debug!("the Lease changed under the renewal, looking again");
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, "could not renew the leader Lease");
                }
                Err(_) => return Lost::NotRenewed(config.renew_deadline),
            }
        }
    }

    /// Gives the Lease up (after the controllers stopped), so a standby takes over at its next
    /// look instead of waiting for the Lease to expire.
    pub async fn release(mut self) {
        let elector = &mut self.elector;
        let Ok(Some(mut lease)) = elector.api.get_opt(&elector.config.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(elector.config.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        match elector
            .api
            .replace(&elector.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!(lease = %elector.config.name, "released the leader Lease"),
            Err(error) => tracing::warn!(%error, "could not release the leader Lease"),
        }
        health().set_role(Role::Unknown);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(holder: Option<&str>, at: Instant) -> Observed {
        Observed {
            holder: holder.map(str::to_owned),
            renew_time: None,
            resource_version: Some("1".into()),
            duration: Duration::from_secs(15),
            at,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_lease_is_taken_only_after_its_duration_without_change() {
        let seen = Instant::now();
        let lease = observed(Some("a"), seen);
        assert!(!may_take(&lease, seen));
        assert!(!may_take(&lease, seen + Duration::from_secs(14)));
        assert!(may_take(&lease, seen + Duration::from_secs(15)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_released_lease_is_taken_at_once() {
        let now = Instant::now();
        assert!(may_take(&observed(None, now), now));
        assert!(may_take(&observed(Some(""), now), now));
    }

    #[test]
    fn proportions_follow_client_go() {
        let config = LeaseConfig::new("ns", "lease", "me", Duration::from_secs(15));
        assert_eq!(config.renew_deadline, Duration::from_secs(10));
        assert_eq!(config.retry_period, Duration::from_secs(2));
        assert!(config.renew_deadline < config.duration);
    }

    #[test]
    fn identities_differ_between_processes_on_one_host() {
        if std::env::var_os("POD_NAME").is_none() {
            assert_ne!(default_identity(), default_identity());
        }
    }
}
