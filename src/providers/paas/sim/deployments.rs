//! Deployments of a web service. ASSUMPTION DEPLOYMENT_LIFECYCLE: `queued` → `building` →
//! `deploying` → `live` or `failed`, one stage delay each, computed from timestamps; the newest
//! live deployment is current, older live ones show `superseded`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::body::{Fields, query_int};
use super::error::ApiError;
use super::store::{Row, Store};
use crate::sim::clock::rfc3339;
use crate::sim::ids::new_id;

/// How a deployment ends once its stages are over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Live,
    Failed,
}

/// What started a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// ASSUMPTION DEPLOY_ON_CREATE.
    Create,
    Api,
    Rollback,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Create => "create",
            Trigger::Api => "api",
            Trigger::Rollback => "rollback",
        }
    }
}

const STAGES: [&str; 3] = ["queued", "building", "deploying"];

#[derive(Debug, Clone)]
pub(crate) struct Deployment {
    pub id: String,
    pub service_id: String,
    pub branch: String,
    pub trigger: Trigger,
    pub rollback_of: Option<String>,
    pub created_ms: u64,
    pub stage_ms: u64,
    pub outcome: Outcome,
    pub cancelled_ms: Option<u64>,
}

impl Row for Deployment {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Deployment {
    fn finished_ms(&self) -> u64 {
        self.created_ms
            .saturating_add(self.stage_ms.saturating_mul(STAGES.len() as u64))
    }

    /// Its own status, before "superseded" is decided.
    pub fn progress(&self, now: u64) -> &'static str {
        if self.cancelled_ms.is_some_and(|at| at <= now) {
            return "cancelled";
        }
        if now >= self.finished_ms() {
            return match self.outcome {
                Outcome::Live => "live",
                Outcome::Failed => "failed",
            };
        }
        let stage = (now.saturating_sub(self.created_ms) / self.stage_ms.max(1)) as usize;
        STAGES[stage.min(STAGES.len() - 1)]
    }

    fn in_progress(&self, now: u64) -> bool {
        STAGES.contains(&self.progress(now))
    }

    /// When it reached each status it has reached by `now`.
    fn history(&self, now: u64) -> Vec<(u64, &'static str)> {
        let mut steps: Vec<(u64, &'static str)> = STAGES
            .iter()
            .enumerate()
            .map(|(i, stage)| (self.created_ms + self.stage_ms * i as u64, *stage))
            .collect();
        let end = match self.cancelled_ms {
            Some(at) => (at, "cancelled"),
            None => (self.finished_ms(), self.progress(self.finished_ms())),
        };
        steps.retain(|(at, _)| *at < end.0);
        steps.push(end);
        steps.retain(|(at, _)| *at <= now);
        steps
    }
}

impl Store {
    pub(crate) fn add_deployment(
        &mut self,
        service_id: &str,
        branch: String,
        trigger: Trigger,
        now: u64,
    ) -> String {
        let id = new_id();
        self.deployments.insert(Deployment {
            id: id.clone(),
            service_id: service_id.to_owned(),
            branch,
            trigger,
            rollback_of: None,
            created_ms: now,
            stage_ms: self.settings.stage_ms,
            outcome: self.settings.outcome,
            cancelled_ms: None,
        });
        id
    }

    fn current_live(&self, service_id: &str, now: u64) -> Option<&Deployment> {
        self.deployments
            .iter()
            .rev()
            .find(|d| d.service_id == service_id && d.progress(now) == "live")
    }

    /// What a service's deployments make its status while it runs.
    pub(crate) fn deployment_summary(&self, service_id: &str, now: u64) -> &'static str {
        if self.current_live(service_id, now).is_some() {
            return "live";
        }
        let own = || {
            self.deployments
                .iter()
                .filter(|d| d.service_id == service_id)
        };
        if own().any(|d| d.in_progress(now)) {
            return "deploying";
        }
        match own().next_back().map(|d| d.progress(now)) {
            Some("failed") => "failed",
            _ => "created",
        }
    }

    pub(crate) fn deployment_view(&self, d: &Deployment, now: u64) -> Value {
        let mut status = d.progress(now);
        if status == "live"
            && self
                .current_live(&d.service_id, now)
                .is_some_and(|c| c.id != d.id)
        {
            status = "superseded";
        }
        let history = d.history(now);
        let updated = history.last().map_or(d.created_ms, |(at, _)| *at);
        let finished = !STAGES.contains(&d.progress(now));
        json!({
            "id": d.id,
            "web_service_id": d.service_id,
            "branch": d.branch,
            "trigger": d.trigger.as_str(),
            "rollback_of": d.rollback_of,
            "status": status,
            "created_at": rfc3339(d.created_ms),
            "updated_at": rfc3339(updated),
            "finished_at": finished.then(|| rfc3339(updated)),
        })
    }

    fn deployment(
        &self,
        account: &str,
        service_id: &str,
        id: &str,
    ) -> Result<&Deployment, ApiError> {
        self.service(account, service_id)?;
        self.deployments
            .get(id)
            .filter(|d| d.service_id == service_id)
            .ok_or_else(|| ApiError::not_found("deployment", id))
    }

    /// ASSUMPTION WRONG_STATE_IS_400: a stopped (or stopping) service takes no deployment.
    fn check_deployable(
        &self,
        account: &str,
        service_id: &str,
        now: u64,
    ) -> Result<String, ApiError> {
        let svc = self.service(account, service_id)?;
        match svc.run.status(now) {
            "stopped" | "stopping" => Err(ApiError::bad_request(
                "web service is stopped: start it before deploying",
            )),
            _ => Ok(svc.branch.clone()),
        }
    }

    pub fn create_deployment(
        &mut self,
        account: &str,
        service_id: &str,
        body: &Value,
        now: u64,
    ) -> Result<Value, ApiError> {
        let configured = self.check_deployable(account, service_id, now)?;
        let branch = match Fields::of(body)?.opt_str("branch")? {
            Some(b) if b.trim().is_empty() => {
                return Err(ApiError::bad_request("invalid branch: must not be blank"));
            }
            Some(b) => b.to_owned(),
            None => configured,
        };
        let id = self.add_deployment(service_id, branch, Trigger::Api, now);
        self.get_deployment(account, service_id, &id, now)
    }

    /// ASSUMPTION DEPLOYMENTS_PAGE: newest first, `limit` 1–100 (default 10), `offset`.
    pub fn list_deployments(
        &self,
        account: &str,
        service_id: &str,
        query: &str,
        now: u64,
    ) -> Result<Value, ApiError> {
        self.service(account, service_id)?;
        let limit = query_int(query, "limit", 1..=100, 10)? as usize;
        let offset = query_int(query, "offset", 0..=u64::MAX, 0)? as usize;
        let page: Vec<Value> = self
            .deployments
            .iter()
            .rev()
            .filter(|d| d.service_id == service_id)
            .skip(offset)
            .take(limit)
            .map(|d| self.deployment_view(d, now))
            .collect();
        Ok(Value::Array(page))
    }

    pub fn get_deployment(
        &self,
        account: &str,
        service_id: &str,
        id: &str,
        now: u64,
    ) -> Result<Value, ApiError> {
        Ok(self.deployment_view(self.deployment(account, service_id, id)?, now))
    }

    pub fn cancel_deployment(
        &mut self,
        account: &str,
        service_id: &str,
        id: &str,
        now: u64,
    ) -> Result<Value, ApiError> {
        let d = self.deployment(account, service_id, id)?;
        if !d.in_progress(now) {
            return Err(ApiError::bad_request(format!(
                "deployment is {}: only a deployment in progress can be cancelled",
                d.progress(now)
            )));
        }
        self.deployments
            .get_mut(id)
            .expect("found above")
            .cancelled_ms = Some(now);
        self.get_deployment(account, service_id, id, now)
    }

    /// A new deployment of what `id` deployed; `id` must have gone live.
    pub fn rollback_deployment(
        &mut self,
        account: &str,
        service_id: &str,
        id: &str,
        now: u64,
    ) -> Result<Value, ApiError> {
        let target = self.deployment(account, service_id, id)?;
        if target.progress(now) != "live" {
            return Err(ApiError::bad_request(format!(
                "deployment is {}: only a deployment that went live can be rolled back to",
                target.progress(now)
            )));
        }
        let branch = target.branch.clone();
        self.check_deployable(account, service_id, now)?;
        let new = self.add_deployment(service_id, branch, Trigger::Rollback, now);
        self.deployments
            .get_mut(&new)
            .expect("just added")
            .rollback_of = Some(id.to_owned());
        self.get_deployment(account, service_id, &new, now)
    }

    /// Sets how a deployment ends (at once if it has ended already).
    pub fn set_outcome(&mut self, id: &str, outcome: Outcome) -> Option<()> {
        self.deployments.get_mut(id)?.outcome = outcome;
        Some(())
    }

    /// The log lines of a service's deployments, oldest first.
    pub(crate) fn deployment_log(&self, service_id: &str, now: u64) -> Vec<(u64, String)> {
        let mut lines: Vec<(u64, String)> = self
            .deployments
            .iter()
            .filter(|d| d.service_id == service_id)
            .flat_map(|d| {
                d.history(now).into_iter().map(|(at, status)| {
                    (at, format!("deployment {} ({}): {status}", d.id, d.branch))
                })
            })
            .collect();
        lines.sort_by_key(|(at, _)| *at);
        lines
    }
}
