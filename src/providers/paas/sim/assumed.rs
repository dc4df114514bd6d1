//! ASSUMPTIONS: everything `seeds/paas-public-api.txt` leaves unsaid, decided here, each with a
//! name that the code using it repeats (`ASSUMPTION NAME`). Where the document allows several
//! readings, the least convenient one a real portal might have is taken, so a client that copes
//! with the simulator copes with the portal.
//!
//! Access
//! - **KEYS_ONLY**: only API keys (`Authorization: Bearer ak_…`) are simulated; a JWT or any other
//!   bearer is 401 like an unknown key.
//! - **SCOPES**: the document names 403 "insufficient scope" but no scope: a key may carry scopes
//!   `<area>:read` or `<area>:write` ([`Area`](super::config::Area): projects,
//!   web-services, databases, redis, storage); write includes read; a key without scopes may do
//!   everything its account may.
//! - **REVEAL_NEEDS_WRITE**: the reveal routes (values in clear) need the area's write scope.
//! - **FOREIGN_IS_NOT_FOUND**: another account's resource (or one named under the wrong parent)
//!   answers 404, never 403: a client cannot tell "not yours" from "gone".
//! - **RATE**: [`DEFAULT_RATE_PER_MINUTE`] requests per key in any sliding minute (no figure is
//!   documented); a 429 carries `Retry-After` in seconds; refused requests use no budget.
//!
//! Answers
//! - **BAD_INPUT_IS_400**: only 400/401/403/404/429 are documented, so every invalid body,
//!   parameter or state (a taken key, a stopped service, a full tenant) is 400: never 409 or
//!   422. A client cannot tell "try again" from "never" by the code, only by the text.
//! - **UNKNOWN_FIELDS_IGNORED**: fields the portal does not know are dropped without a word (a
//!   pydantic default): a misspelt parameter changes nothing and nobody is told.
//! - **STATUS_CODES**: creates answer 201 with the object; reads, updates and actions 200 with
//!   the object; deletes 204 without a body, except **DATASTORE_DELETE_ASYNC**.
//! - **NAMES_NOT_UNIQUE**: nothing says names are unique: a second create with a taken name
//!   makes a second resource with its own UUID, for every kind.
//! - **NAME_RULES**: see [`check_label`], [`check_key`], [`check_project_name`],
//!   [`check_bucket_name`].
//! - **NO_PROJECT_UPDATE**, **NO_PROJECT_DELETE**, **NO_BUCKET_GET**: the document has no
//!   `PATCH`/`DELETE /api/projects/{id}` and no `GET /api/storage/buckets/{id}`: they answer
//!   405 (the path exists with other methods). Buckets are read from the list.
//! - **WRONG_STATE_IS_400**: an action the resource's state refuses is 400: deploying a stopped
//!   service, stopping what is stopped (or not yet running), starting what runs, changing a
//!   database that is not running, cancelling a finished deployment, rolling back to one that
//!   never went live, presigning for a bucket still provisioning, deleting what is deleting.
//!
//! Web services
//! - **SERVICE_BODY**: create needs `name`, `project_id`, `git_repository_url` (https),
//!   `port`; `branch` (default [`DEFAULT_BRANCH`]), `build_command`, `min_instances` and
//!   `max_instances` ([`INSTANCES`], default 1 and 1, min ≤ max) are optional. PATCH takes the
//!   same fields but `project_id` (400: a service does not move).
//! - **DEPLOY_ON_CREATE**: creating a service queues its first deployment (`trigger: "create"`),
//!   as hosted platforms do: a client that deploys after creating makes a second one.
//! - **NO_AUTO_DEPLOY**: changing a service, its env or its bindings starts no deployment; the
//!   change takes effect at the next deployment or restart.
//! - **DEPLOYMENT_LIFECYCLE**: `queued` → `building` → `deploying` → `live` or `failed`, each stage
//!   lasting the configured stage delay; deployments may overlap; the newest live one is
//!   current and older live ones show `superseded`; a cancelled one shows `cancelled`. The
//!   service's own `status` is `live` while a deployment is current, else `deploying`,
//!   `failed` or `created`, and `stopping`/`stopped`/`starting`/`restarting` around actions.
//! - **DEPLOYMENTS_PAGE**: a page is a bare JSON array, newest first, with no total.
//! - **LOGS**: `{"logs": [{"timestamp", "message"}]}`, oldest first, from the deployments' stages.
//!
//! Env vars, project secrets, bindings
//! - **DEFAULT_IS_SECRET**: a value is secret unless `is_secret: false` (the document's bulk
//!   example spells out `false` for PORT and nothing for NODE_ENV).
//! - **SECRET_MASK**: a secret value reads as [`SECRET_MASK`]: neither its length nor a prefix.
//! - **KEY_TAKEN_IS_400**: a second env var with a taken key, a second project secret with a taken
//!   key and scope, a second binding with a taken `alias_key`: 400.
//! - **BULK_REPLACES**: the three bulk PUTs replace the whole set: what the body does not name is
//!   deleted (the reading that hurts a client that meant to merge). An entry whose key (secrets:
//!   key and scope; bindings: alias) existed keeps its id.
//! - **SCOPE_REQUIRED**: a project secret's `scope` is required (every example gives one).
//! - **SECRET_DELETE_DROPS_BINDINGS**: deleting a project secret deletes the bindings to it.
//! - **RESOLVED_VIEW**: `secret-bindings/resolved` lists one entry per key
//!   (`{key, value, is_secret, source: "env"|"secret_binding"}`), secrets masked; an env var
//!   shadows a binding of the same key. A binding resolves to the bound secret whatever its scope.
//!
//! Databases and redis (the document gives no bodies)
//! - **DATABASE_BODY**, **REDIS_BODY**: see [`DatastoreSpec`].
//! - **DATASTORE_LIFECYCLE**: `provisioning` → `running`; stop `stopping` → `stopped`; start
//!   `starting` → `running`; a PATCH of plan, storage or policy `updating` → `running` (a rename
//!   is immediate); each after the provision delay. `GET …/status` answers
//!   `{"id", "status", "updated_at"}`.
//! - **DATASTORE_CONNECTION**: the connection details (`host`, `port`, `username`, `password`,
//!   `database`, `uri`) are only in `GET /api/{databases,redis}/{id}`, once provisioned: never
//!   in the list or the create answer.
//! - **DATASTORE_DELETE_ASYNC**: a delete answers 202 with the object `deleting`, which
//!   disappears (404) after the provision delay.
//!
//! Object storage
//! - **BUCKET_BODY**: see [`BucketSpec`]; a bucket goes `provisioning` → `active` after the
//!   provision delay; at most [`DEFAULT_BUCKET_LIMIT`] buckets per account (400 beyond).
//! - **STORAGE_KEY_BODY**: see [`KeySpec`]; `secret_access_key` is in the create answer only.
//! - **KEYS_OUTLIVE_BUCKET**: deleting a bucket leaves the keys made for it.
//! - **PRESIGN_BODY**: `{"key", "method": "GET"|"PUT", "expires_in": 1..=604800}` →
//!   `{"url", "method", "expires_at"}`.
//! - **TENANT**: `{"bucket_limit", "buckets", "keys", "quota_bytes", "used_bytes"}`.

use std::ops::RangeInclusive;

use super::body::Fields;
use super::error::ApiError;

/// ASSUMPTION RATE.
pub const DEFAULT_RATE_PER_MINUTE: u32 = 60;

/// ASSUMPTION SECRET_MASK.
pub const SECRET_MASK: &str = "********";

/// ASSUMPTION SECRET_MASK: what a value reads as outside the reveal routes.
pub fn shown(value: &str, is_secret: bool) -> &str {
    if is_secret { SECRET_MASK } else { value }
}

/// ASSUMPTION DEFAULT_IS_SECRET.
pub const DEFAULT_IS_SECRET: bool = true;

/// ASSUMPTION SERVICE_BODY.
pub const DEFAULT_BRANCH: &str = "main";

/// ASSUMPTION SERVICE_BODY: the range of `min_instances` and `max_instances`.
pub const INSTANCES: RangeInclusive<u32> = 1..=10;

/// ASSUMPTION BUCKET_BODY.
pub const DEFAULT_BUCKET_LIMIT: u32 = 10;

/// ASSUMPTION TENANT: the storage quota of every account (nothing is stored, so none is used).
pub const TENANT_QUOTA_BYTES: u64 = 10 << 30;

/// The scopes a project secret may have (documented).
pub const SECRET_SCOPES: [&str; 3] = ["production", "staging", "development"];

/// ASSUMPTION NAME_RULES: web services, databases and redis are named like DNS labels (they
/// become host names): 1–63 lowercase letters, digits and `-`, starting with a letter, not
/// ending with `-`.
pub fn check_label(name: &str) -> Result<(), ApiError> {
    let ok = (1..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    ok.then_some(()).ok_or_else(|| {
        ApiError::bad_request(format!(
            "invalid name {name:?}: 1-63 lowercase letters, digits and '-', starting with a letter and not ending with '-'"
        ))
    })
}

/// ASSUMPTION NAME_RULES: env var keys, project secret keys and binding aliases are shell
/// variable names: a letter or `_`, then letters, digits and `_`, at most 255.
pub fn check_key(key: &str) -> Result<(), ApiError> {
    let ok = (1..=255).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then_some(()).ok_or_else(|| {
        ApiError::bad_request(format!(
            "invalid key {key:?}: a letter or '_', then letters, digits and '_' (at most 255)"
        ))
    })
}

/// ASSUMPTION NAME_RULES: a project name is 1–100 characters without control characters.
pub fn check_project_name(name: &str) -> Result<(), ApiError> {
    let ok = (1..=100).contains(&name.chars().count())
        && !name.chars().any(char::is_control)
        && !name.trim().is_empty();
    ok.then_some(()).ok_or_else(|| {
        ApiError::bad_request("invalid name: 1-100 characters, not blank, no control characters")
    })
}

/// ASSUMPTION NAME_RULES: bucket names as S3 has them: 3–63 lowercase letters, digits and `-`,
/// starting and ending with a letter or digit.
pub fn check_bucket_name(name: &str) -> Result<(), ApiError> {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let ok = (3..=63).contains(&name.len())
        && name.starts_with(alnum)
        && name.ends_with(alnum)
        && name.chars().all(|c| alnum(c) || c == '-');
    ok.then_some(()).ok_or_else(|| {
        ApiError::bad_request(format!(
            "invalid bucket name {name:?}: 3-63 lowercase letters, digits and '-', starting and ending with a letter or digit"
        ))
    })
}

/// What kind of data store a [`DatastoreSpec`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    Postgresql,
    Mysql,
    Redis,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Postgresql => "postgresql",
            Engine::Mysql => "mysql",
            Engine::Redis => "redis",
        }
    }

    pub fn port(self) -> u16 {
        match self {
            Engine::Postgresql => 5432,
            Engine::Mysql => 3306,
            Engine::Redis => 6379,
        }
    }

    fn versions(self) -> &'static [&'static str] {
        match self {
            Engine::Postgresql => &["16", "15", "14"],
            Engine::Mysql => &["8.0"],
            Engine::Redis => &["7", "6"],
        }
    }
}

/// ASSUMPTION DATABASE_BODY / REDIS_BODY: the fields of a database or redis besides `name` and
/// `project_id`.
///
/// - database: `engine` `postgresql` (default) | `mysql`, immutable; `version` (postgresql 16
///   (default), 15, 14; mysql 8.0), immutable; `plan` [`PLANS`] (default `starter`);
///   `storage_gb` 1–1024 (default 10), which can only grow.
/// - redis: `version` 7 (default) | 6, immutable; `plan`; `maxmemory_policy`
///   [`EVICTION_POLICIES`] (default `noeviction`).
///
/// PATCH takes `name`, `plan`, `storage_gb` / `maxmemory_policy`; a different `engine` or
/// `version` is 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatastoreSpec {
    pub engine: Engine,
    pub version: String,
    pub plan: String,
    /// Databases only.
    pub storage_gb: Option<u32>,
    /// Redis only.
    pub maxmemory_policy: Option<String>,
}

/// ASSUMPTION DATABASE_BODY / REDIS_BODY.
pub const PLANS: [&str; 3] = ["starter", "standard", "pro"];

/// ASSUMPTION REDIS_BODY.
pub const EVICTION_POLICIES: [&str; 3] = ["noeviction", "allkeys-lru", "volatile-lru"];

const STORAGE_GB: RangeInclusive<u32> = 1..=1024;

impl DatastoreSpec {
    /// The create body of a database (`redis: false`) or a redis.
    pub fn parse(f: Fields<'_>, redis: bool) -> Result<DatastoreSpec, ApiError> {
        let engine = if redis {
            Engine::Redis
        } else {
            match f.opt_choice("engine", &["postgresql", "mysql"])? {
                Some("mysql") => Engine::Mysql,
                _ => Engine::Postgresql,
            }
        };
        let version = f
            .opt_choice("version", engine.versions())?
            .unwrap_or(engine.versions()[0]);
        let plan = f.opt_choice("plan", &PLANS)?.unwrap_or(PLANS[0]);
        let (storage_gb, maxmemory_policy) = if redis {
            let policy = f.opt_choice("maxmemory_policy", &EVICTION_POLICIES)?;
            (
                None,
                Some(policy.unwrap_or(EVICTION_POLICIES[0]).to_owned()),
            )
        } else {
            (
                Some(f.opt_int("storage_gb", STORAGE_GB)?.unwrap_or(10)),
                None,
            )
        };
        Ok(DatastoreSpec {
            engine,
            version: version.to_owned(),
            plan: plan.to_owned(),
            storage_gb,
            maxmemory_policy,
        })
    }

    /// Applies a PATCH body (besides `name`); `Ok(true)` when something changed that takes an
    /// `updating` phase.
    pub fn patch(&mut self, f: Fields<'_>) -> Result<bool, ApiError> {
        if let Some(engine) = f.opt_str("engine")?
            && engine != self.engine.as_str()
        {
            return Err(ApiError::bad_request("engine cannot be changed"));
        }
        if let Some(version) = f.opt_str("version")?
            && version != self.version
        {
            return Err(ApiError::bad_request("version cannot be changed"));
        }
        let mut next = self.clone();
        if let Some(plan) = f.opt_choice("plan", &PLANS)? {
            next.plan = plan.to_owned();
        }
        if self.engine == Engine::Redis {
            if let Some(policy) = f.opt_choice("maxmemory_policy", &EVICTION_POLICIES)? {
                next.maxmemory_policy = Some(policy.to_owned());
            }
        } else if let Some(gb) = f.opt_int("storage_gb", STORAGE_GB)? {
            if gb < self.storage_gb.unwrap_or(0) {
                return Err(ApiError::bad_request("storage_gb can only grow"));
            }
            next.storage_gb = Some(gb);
        }
        let changed = next != *self;
        *self = next;
        Ok(changed)
    }
}

/// ASSUMPTION BUCKET_BODY: `{"name", "public": false}`; PATCH changes `public` only (a bucket
/// cannot be renamed: 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketSpec {
    pub name: String,
    pub public: bool,
}

impl BucketSpec {
    pub fn parse(f: Fields<'_>) -> Result<BucketSpec, ApiError> {
        let name = f.str("name")?;
        check_bucket_name(name)?;
        Ok(BucketSpec {
            name: name.to_owned(),
            public: f.opt_bool("public")?.unwrap_or(false),
        })
    }

    pub fn patch(&mut self, f: Fields<'_>) -> Result<(), ApiError> {
        if let Some(name) = f.opt_str("name")?
            && name != self.name
        {
            return Err(ApiError::bad_request("a bucket cannot be renamed"));
        }
        let public = f
            .opt_bool("public")?
            .ok_or_else(|| ApiError::bad_request("nothing to update: give \"public\""))?;
        self.public = public;
        Ok(())
    }
}

/// ASSUMPTION STORAGE_KEY_BODY: `{"name", "bucket_id": null, "permissions": "read-write"}`;
/// without `bucket_id` the key reaches every bucket of the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    pub name: String,
    pub bucket_id: Option<String>,
    pub permissions: String,
}

/// ASSUMPTION STORAGE_KEY_BODY.
pub const KEY_PERMISSIONS: [&str; 2] = ["read-write", "read"];

impl KeySpec {
    pub fn parse(f: Fields<'_>) -> Result<KeySpec, ApiError> {
        let name = f.str("name")?;
        check_project_name(name)?;
        Ok(KeySpec {
            name: name.to_owned(),
            bucket_id: f.opt_str("bucket_id")?.map(str::to_owned),
            permissions: f
                .opt_choice("permissions", &KEY_PERMISSIONS)?
                .unwrap_or(KEY_PERMISSIONS[0])
                .to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value, redis: bool) -> Result<DatastoreSpec, ApiError> {
        DatastoreSpec::parse(Fields::of(&v).unwrap(), redis)
    }

    #[test]
    fn datastore_defaults_and_choices() {
        let db = spec(json!({}), false).unwrap();
        assert_eq!(db.engine, Engine::Postgresql);
        assert_eq!((db.version.as_str(), db.plan.as_str()), ("16", "starter"));
        assert_eq!(db.storage_gb, Some(10));
        let my = spec(json!({"engine": "mysql", "plan": "pro"}), false).unwrap();
        assert_eq!((my.engine, my.version.as_str()), (Engine::Mysql, "8.0"));
        assert!(spec(json!({"engine": "mysql", "version": "16"}), false).is_err());
        assert!(spec(json!({"engine": "oracle"}), false).is_err());
        let r = spec(json!({"engine": "postgresql"}), true).unwrap();
        assert_eq!(r.engine, Engine::Redis, "a redis body's engine is ignored");
        assert_eq!(r.maxmemory_policy.as_deref(), Some("noeviction"));
        assert!(spec(json!({"maxmemory_policy": "lru"}), true).is_err());
    }

    #[test]
    fn datastore_patch_keeps_what_cannot_change() {
        let mut db = spec(json!({"storage_gb": 20}), false).unwrap();
        let patch =
            |db: &mut DatastoreSpec, v: serde_json::Value| db.patch(Fields::of(&v).unwrap());
        assert_eq!(patch(&mut db, json!({"name": "x"})), Ok(false));
        assert_eq!(
            patch(&mut db, json!({"plan": "pro", "engine": "postgresql"})),
            Ok(true)
        );
        assert_eq!(db.plan, "pro");
        assert!(
            patch(&mut db, json!({"storage_gb": 10}))
                .unwrap_err()
                .detail
                .contains("grow")
        );
        assert!(patch(&mut db, json!({"version": "15"})).is_err());
        assert!(patch(&mut db, json!({"engine": "mysql"})).is_err());
        assert_eq!(db.storage_gb, Some(20), "a refused patch changes nothing");
        assert_eq!(patch(&mut db, json!({"plan": "pro"})), Ok(false));
    }

    #[test]
    fn names() {
        assert!(check_label("backend-api").is_ok());
        for bad in ["", "Api", "1api", "api-", "a_b", &"a".repeat(64)] {
            assert!(check_label(bad).is_err(), "{bad}");
        }
        assert!(check_key("DATABASE_URL").is_ok() && check_key("_x1").is_ok());
        for bad in ["", "1X", "A-B", "A B"] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
        assert!(check_project_name("My app (prod)").is_ok());
        assert!(check_project_name(" ").is_err());
        assert!(check_project_name("a\nb").is_err());
        assert!(check_bucket_name("1-assets").is_ok());
        assert!(check_bucket_name("ab").is_err());
        assert!(check_bucket_name("-ab").is_err());
    }

    #[test]
    fn bucket_and_key_bodies() {
        let mut b = BucketSpec::parse(Fields::of(&json!({"name": "assets"})).unwrap()).unwrap();
        assert!(!b.public);
        b.patch(Fields::of(&json!({"public": true})).unwrap())
            .unwrap();
        assert!(b.public);
        assert!(
            b.patch(Fields::of(&json!({"name": "other"})).unwrap())
                .is_err()
        );
        assert!(b.patch(Fields::of(&json!({})).unwrap()).is_err());
        let k = KeySpec::parse(Fields::of(&json!({"name": "ci"})).unwrap()).unwrap();
        assert_eq!((k.permissions.as_str(), k.bucket_id), ("read-write", None));
        assert!(
            KeySpec::parse(Fields::of(&json!({"name": "ci", "permissions": "all"})).unwrap())
                .is_err()
        );
    }
}
