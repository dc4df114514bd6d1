//! Managed databases and redis, one table: create in a project, read, PATCH, stop/start, status
//! and an asynchronous delete. ASSUMPTION DATASTORE_LIFECYCLE, DATASTORE_CONNECTION,
//! DATASTORE_DELETE_ASYNC.

use serde_json::{Value, json};

use super::assumed::{DatastoreSpec, Engine, check_label};
use super::body::Fields;
use super::error::ApiError;
use super::lifecycle::{GONE, Phase};
use super::model::Kind;
use super::store::{Row, Store};
use crate::sim::clock::rfc3339;
use crate::sim::ids::{new_id, random_secret, short_hex};

const RUNNING: &str = "running";

#[derive(Debug, Clone)]
pub(crate) struct Connection {
    pub host: String,
    pub username: String,
    pub password: String,
    /// The database name (none for redis).
    pub database: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Datastore {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub spec: DatastoreSpec,
    pub phase: Phase,
    /// When provisioning ends: the connection details show from then on.
    pub ready_ms: u64,
    pub connection: Connection,
    pub created_ms: u64,
    pub updated_ms: u64,
}

impl Row for Datastore {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Datastore {
    pub fn kind(&self) -> Kind {
        if self.spec.engine == Engine::Redis {
            Kind::Redis
        } else {
            Kind::Databases
        }
    }

    fn uri(&self) -> String {
        let c = &self.connection;
        let port = self.spec.engine.port();
        match self.spec.engine {
            Engine::Postgresql => format!(
                "postgresql://{}:{}@{}:{port}/{}?sslmode=require",
                c.username,
                c.password,
                c.host,
                c.database.as_deref().unwrap_or_default()
            ),
            Engine::Mysql => format!(
                "mysql://{}:{}@{}:{port}/{}",
                c.username,
                c.password,
                c.host,
                c.database.as_deref().unwrap_or_default()
            ),
            Engine::Redis => format!("rediss://{}:{}@{}:{port}/0", c.username, c.password, c.host),
        }
    }

    /// With the connection details when `detailed` and provisioned.
    pub fn view(&self, now: u64, detailed: bool) -> Value {
        let mut v = json!({
            "id": self.id,
            "project_id": self.project_id,
            "name": self.name,
            "version": self.spec.version,
            "plan": self.spec.plan,
            "status": self.phase.status(now),
            "created_at": rfc3339(self.created_ms),
            "updated_at": rfc3339(self.updated_ms),
        });
        match self.spec.engine {
            Engine::Redis => v["maxmemory_policy"] = json!(self.spec.maxmemory_policy),
            engine => {
                v["engine"] = json!(engine.as_str());
                v["storage_gb"] = json!(self.spec.storage_gb);
            }
        }
        if detailed && now >= self.ready_ms {
            let c = &self.connection;
            v["connection"] = json!({
                "host": c.host,
                "port": self.spec.engine.port(),
                "username": c.username,
                "password": c.password,
                "database": c.database,
                "uri": self.uri(),
            });
        }
        v
    }
}

fn gone(d: &Datastore, now: u64) -> bool {
    d.phase.is(now, GONE)
}

impl Store {
    /// Forgets the datastores whose delete has completed.
    pub fn settle(&mut self, now: u64) {
        self.datastores.retain(|d| !gone(d, now));
    }

    fn datastore(
        &self,
        account: &str,
        kind: Kind,
        id: &str,
        now: u64,
    ) -> Result<&Datastore, ApiError> {
        self.datastores
            .get(id)
            .filter(|d| d.kind() == kind && !gone(d, now))
            .filter(|d| self.project(account, &d.project_id).is_ok())
            .ok_or_else(|| ApiError::not_found(kind.singular(), id))
    }

    pub fn create_datastore(
        &mut self,
        account: &str,
        kind: Kind,
        body: &Value,
        now: u64,
    ) -> Result<Value, ApiError> {
        let f = Fields::of(body)?;
        let project_id = f.str("project_id")?;
        self.project(account, project_id)?;
        let name = f.str("name")?;
        check_label(name)?;
        let spec = DatastoreSpec::parse(f, kind == Kind::Redis)?;
        let delay = self.settings.provision_ms;
        let connection = Connection {
            host: format!(
                "{name}-{}.{}.paas.vinacis.com",
                short_hex(6),
                spec.engine.as_str()
            ),
            username: match spec.engine {
                Engine::Redis => "default".to_owned(),
                _ => format!("app_{}", short_hex(4)),
            },
            password: random_secret(32),
            database: (spec.engine != Engine::Redis).then(|| name.replace('-', "_")),
        };
        let d = Datastore {
            id: new_id(),
            project_id: project_id.to_owned(),
            name: name.to_owned(),
            spec,
            phase: Phase::after("provisioning", RUNNING, now, delay),
            ready_ms: now + delay,
            connection,
            created_ms: now,
            updated_ms: now,
        };
        Ok(self.datastores.insert(d).view(now, false))
    }

    pub fn list_datastores(&self, account: &str, kind: Kind, now: u64) -> Value {
        let views: Vec<Value> = self
            .datastores
            .iter()
            .filter(|d| d.kind() == kind && !gone(d, now))
            .filter(|d| self.project(account, &d.project_id).is_ok())
            .map(|d| d.view(now, false))
            .collect();
        Value::Array(views)
    }

    pub fn get_datastore(
        &self,
        account: &str,
        kind: Kind,
        id: &str,
        now: u64,
    ) -> Result<Value, ApiError> {
        Ok(self.datastore(account, kind, id, now)?.view(now, true))
    }

    pub fn datastore_status(
        &self,
        account: &str,
        kind: Kind,
        id: &str,
        now: u64,
    ) -> Result<Value, ApiError> {
        let d = self.datastore(account, kind, id, now)?;
        Ok(json!({"id": d.id, "status": d.phase.status(now), "updated_at": rfc3339(d.updated_ms)}))
    }

    /// ASSUMPTION WRONG_STATE_IS_400: only a running datastore takes a PATCH.
    pub fn patch_datastore(
        &mut self,
        account: &str,
        kind: Kind,
        id: &str,
        body: &Value,
        now: u64,
    ) -> Result<Value, ApiError> {
        let d = self.datastore(account, kind, id, now)?;
        let status = d.phase.status(now);
        if status != RUNNING {
            return Err(ApiError::bad_request(format!(
                "{} is {status}: it can be changed once running",
                kind.singular()
            )));
        }
        let f = Fields::of(body)?;
        let name = f.opt_str("name")?;
        if let Some(name) = name {
            check_label(name)?;
        }
        let mut spec = d.spec.clone();
        let resized = spec.patch(f)?;
        let delay = self.settings.provision_ms;
        let d = self.datastores.get_mut(id).expect("found above");
        if let Some(name) = name {
            d.name = name.to_owned();
        }
        d.spec = spec;
        if resized {
            d.phase = Phase::after("updating", RUNNING, now, delay);
        }
        d.updated_ms = now;
        Ok(d.view(now, true))
    }

    /// `stop` or `start`.
    pub fn datastore_action(
        &mut self,
        account: &str,
        kind: Kind,
        id: &str,
        action: &str,
        now: u64,
    ) -> Result<Value, ApiError> {
        let delay = self.settings.provision_ms;
        let d = self.datastore(account, kind, id, now)?;
        let status = d.phase.status(now);
        let (needs, next) = match action {
            "stop" => (RUNNING, Phase::after("stopping", "stopped", now, delay)),
            _ => ("stopped", Phase::after("starting", RUNNING, now, delay)),
        };
        if status != needs {
            return Err(ApiError::bad_request(format!(
                "{} is {status}: it cannot {action} now",
                kind.singular()
            )));
        }
        let d = self.datastores.get_mut(id).expect("found above");
        d.phase = next;
        d.updated_ms = now;
        Ok(d.view(now, false))
    }

    /// Accepts the delete: `deleting`, then gone after the provision delay.
    pub fn delete_datastore(
        &mut self,
        account: &str,
        kind: Kind,
        id: &str,
        now: u64,
    ) -> Result<Value, ApiError> {
        let d = self.datastore(account, kind, id, now)?;
        if d.phase.is(now, "deleting") {
            return Err(ApiError::bad_request(format!(
                "{} is already being deleted",
                kind.singular()
            )));
        }
        let delay = self.settings.provision_ms;
        let d = self.datastores.get_mut(id).expect("found above");
        d.phase = Phase::after("deleting", GONE, now, delay);
        d.updated_ms = now;
        let mut accepted = d.view(now, false);
        accepted["status"] = json!("deleting");
        Ok(accepted)
    }
}
