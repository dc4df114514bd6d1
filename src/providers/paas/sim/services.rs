//! Web services: create (with its first deployment), read, PATCH, delete, stop/start/restart
//! and logs.

use serde_json::{Value, json};

use super::assumed::{DEFAULT_BRANCH, INSTANCES, check_label};
use super::body::{Fields, query_int};
use super::deployments::Trigger;
use super::error::ApiError;
use super::lifecycle::Phase;
use super::store::{Row, Store};
use crate::sim::clock::rfc3339;
use crate::sim::ids::{new_id, short_hex};

/// The run state of a service that is neither stopped nor in an action.
pub(crate) const RUNNING: &str = "running";

#[derive(Debug, Clone)]
pub(crate) struct WebService {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub repository: String,
    pub branch: String,
    pub port: u32,
    pub build_command: Option<String>,
    pub min_instances: u32,
    pub max_instances: u32,
    /// `running`, or stopping/stopped/starting/restarting around the actions.
    pub run: Phase,
    pub url: String,
    pub created_ms: u64,
    pub updated_ms: u64,
}

impl Row for WebService {
    fn id(&self) -> &str {
        &self.id
    }
}

impl WebService {
    /// ASSUMPTION SERVICE_BODY: sets what the body gives, all or nothing.
    pub fn apply(&mut self, f: Fields<'_>) -> Result<(), ApiError> {
        if let Some(project_id) = f.opt_str("project_id")?
            && project_id != self.project_id
        {
            return Err(ApiError::bad_request(
                "a web service cannot move to another project",
            ));
        }
        let mut next = self.clone();
        if let Some(name) = f.opt_str("name")? {
            check_label(name)?;
            next.name = name.to_owned();
        }
        if let Some(url) = f.opt_str("git_repository_url")? {
            check_repository(url)?;
            next.repository = url.to_owned();
        }
        if let Some(branch) = f.opt_str("branch")? {
            if branch.trim().is_empty() || branch.len() > 255 {
                return Err(ApiError::bad_request("invalid branch: 1-255 characters"));
            }
            next.branch = branch.to_owned();
        }
        if let Some(port) = f.opt_int("port", 1..=65535)? {
            next.port = port;
        }
        if let Some(command) = f.opt_str("build_command")? {
            next.build_command = Some(command.to_owned());
        }
        if let Some(min) = f.opt_int("min_instances", INSTANCES)? {
            next.min_instances = min;
        }
        if let Some(max) = f.opt_int("max_instances", INSTANCES)? {
            next.max_instances = max;
        }
        if next.min_instances > next.max_instances {
            return Err(ApiError::bad_request(format!(
                "min_instances ({}) must not exceed max_instances ({})",
                next.min_instances, next.max_instances
            )));
        }
        *self = next;
        Ok(())
    }
}

fn check_repository(url: &str) -> Result<(), ApiError> {
    let rest = url.strip_prefix("https://").unwrap_or_default();
    if rest.contains('/') && !rest.starts_with('/') && url.len() <= 2048 {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid git_repository_url {url:?}: an https:// URL of a repository"
        )))
    }
}

impl Store {
    /// ASSUMPTION FOREIGN_IS_NOT_FOUND: a service is the account's through its project.
    pub fn service(&self, account: &str, id: &str) -> Result<&WebService, ApiError> {
        self.services
            .get(id)
            .filter(|s| self.project(account, &s.project_id).is_ok())
            .ok_or_else(|| ApiError::not_found("web service", id))
    }

    pub fn service_view(&self, svc: &WebService, now: u64) -> Value {
        json!({
            "id": svc.id,
            "project_id": svc.project_id,
            "name": svc.name,
            "git_repository_url": svc.repository,
            "branch": svc.branch,
            "port": svc.port,
            "build_command": svc.build_command,
            "min_instances": svc.min_instances,
            "max_instances": svc.max_instances,
            "status": self.service_status(svc, now),
            "url": svc.url,
            "created_at": rfc3339(svc.created_ms),
            "updated_at": rfc3339(svc.updated_ms),
        })
    }

    /// ASSUMPTION DEPLOYMENT_LIFECYCLE: the run state around actions, else what the
    /// deployments say.
    fn service_status(&self, svc: &WebService, now: u64) -> String {
        let run = svc.run.status(now);
        if run != RUNNING {
            return run.to_owned();
        }
        self.deployment_summary(&svc.id, now).to_owned()
    }

    /// ASSUMPTION DEPLOY_ON_CREATE: the service and its first deployment.
    pub fn create_service(
        &mut self,
        account: &str,
        body: &Value,
        now: u64,
    ) -> Result<Value, ApiError> {
        let f = Fields::of(body)?;
        let project_id = f.str("project_id")?;
        self.project(account, project_id)?;
        let name = f.str("name")?;
        f.str("git_repository_url")?;
        f.opt_int("port", 1..=65535)?
            .ok_or_else(|| ApiError::bad_request("field \"port\" is required"))?;
        let mut svc = WebService {
            id: new_id(),
            project_id: project_id.to_owned(),
            name: String::new(),
            repository: String::new(),
            branch: DEFAULT_BRANCH.to_owned(),
            port: 0,
            build_command: None,
            min_instances: 1,
            max_instances: 1,
            run: Phase::at(RUNNING),
            url: format!("https://{name}-{}.paas.vinacis.com", short_hex(6)),
            created_ms: now,
            updated_ms: now,
        };
        svc.apply(f)?;
        let id = svc.id.clone();
        let branch = svc.branch.clone();
        self.services.insert(svc);
        self.add_deployment(&id, branch, Trigger::Create, now);
        Ok(self.service_view(self.services.get(&id).expect("just added"), now))
    }

    pub fn list_services(&self, account: &str, now: u64) -> Value {
        let views: Vec<Value> = self
            .services
            .iter()
            .filter(|s| self.project(account, &s.project_id).is_ok())
            .map(|s| self.service_view(s, now))
            .collect();
        Value::Array(views)
    }

    pub fn get_service(&self, account: &str, id: &str, now: u64) -> Result<Value, ApiError> {
        Ok(self.service_view(self.service(account, id)?, now))
    }

    /// ASSUMPTION NO_AUTO_DEPLOY: the change waits for the next deployment.
    pub fn patch_service(
        &mut self,
        account: &str,
        id: &str,
        body: &Value,
        now: u64,
    ) -> Result<Value, ApiError> {
        self.service(account, id)?;
        let f = Fields::of(body)?;
        let svc = self.services.get_mut(id).expect("found above");
        svc.apply(f)?;
        svc.updated_ms = now;
        self.get_service(account, id, now)
    }

    /// Deletes the service with its deployments, env vars and bindings.
    pub fn delete_service(&mut self, account: &str, id: &str) -> Result<(), ApiError> {
        self.service(account, id)?;
        self.remove_service(id);
        Ok(())
    }

    pub fn remove_service(&mut self, id: &str) {
        self.services.remove(id);
        self.deployments.retain(|d| d.service_id != id);
        self.env.retain(|v| v.service_id != id);
        self.bindings.retain(|b| b.service_id != id);
    }

    /// `stop`, `start` or `restart`. ASSUMPTION WRONG_STATE_IS_400.
    pub fn service_action(
        &mut self,
        account: &str,
        id: &str,
        action: &str,
        now: u64,
    ) -> Result<Value, ApiError> {
        let delay = self.settings.provision_ms;
        let svc = self.service(account, id)?;
        let status = svc.run.status(now).to_owned();
        let (needs, next) = match action {
            "stop" => (RUNNING, Phase::after("stopping", "stopped", now, delay)),
            "start" => ("stopped", Phase::after("starting", RUNNING, now, delay)),
            _ => (RUNNING, Phase::after("restarting", RUNNING, now, delay)),
        };
        if status != needs {
            let shown = if status == RUNNING {
                "running"
            } else {
                &status
            };
            return Err(ApiError::bad_request(format!(
                "web service is {shown}: it cannot {action} now"
            )));
        }
        let svc = self.services.get_mut(id).expect("found above");
        svc.run = next;
        svc.updated_ms = now;
        self.get_service(account, id, now)
    }

    /// ASSUMPTION LOGS: the last `tail` lines from `since` (Unix seconds).
    pub fn service_logs(
        &self,
        account: &str,
        id: &str,
        query: &str,
        now: u64,
    ) -> Result<Value, ApiError> {
        self.service(account, id)?;
        let tail = query_int(query, "tail", 1..=10_000, 100)? as usize;
        let since_ms = query_int(query, "since", 0..=u64::MAX, 0)?.saturating_mul(1000);
        let mut lines = self.deployment_log(id, now);
        lines.retain(|(at, _)| *at >= since_ms);
        let skip = lines.len().saturating_sub(tail);
        let logs: Vec<Value> = lines[skip..]
            .iter()
            .map(|(at, message)| json!({"timestamp": rfc3339(*at), "message": message}))
            .collect();
        Ok(json!({ "logs": logs }))
    }
}
