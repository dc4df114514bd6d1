//! The WaysCloud simulator over raw HTTP: every route, every documented error, keys and
//! customers, snapshots and restores, faults and hooks.

use std::time::{Duration, Instant};

use htx_operator::providers::ways::sim::{
    AfterEffect, Armed, Call, DbType, Faults, KeySpec, Permission, RunningSim, SimConfig, Simulator,
};
use htx_operator::sim::stats::RequestCounts;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const FULL: &str = "wk_full";
const READ: &str = "wk_read";
const CREATE: &str = "wk_create";
const UPDATE: &str = "wk_update";
const DELETE: &str = "wk_delete";
/// Another customer's key, with every permission.
const OTHER: &str = "wk_other";

const CUSTOMER: &str = "6dd1d906";
const PG: &str = "/v1/databases/postgresql";
const ORDERS: &str = "cust_6dd1d906_pg_orders";

fn config() -> SimConfig {
    let keys = [
        "wk_full:6dd1d906:all",
        "wk_read:6dd1d906:read",
        "wk_create:6dd1d906:create",
        "wk_update:6dd1d906:read,update",
        "wk_delete:6dd1d906:delete",
        "wk_other:c2:all",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    SimConfig {
        keys,
        rate_per_minute: 0,
        ..SimConfig::default()
    }
}

async fn start() -> Api {
    start_with(config()).await
}

async fn start_with(config: SimConfig) -> Api {
    let sim = Simulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    Api {
        sim,
        http: reqwest::Client::new(),
    }
}

struct Api {
    sim: RunningSim,
    http: reqwest::Client,
}

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
    raw: String,
}

impl Reply {
    /// The text of a `{"detail": "…"}` error.
    fn detail(&self) -> &str {
        self.body["detail"]
            .as_str()
            .unwrap_or_else(|| panic!("no detail text in {:?}", self.raw))
    }

    /// `(field, type)` of each problem of a 422.
    fn problems(&self) -> Vec<(String, String)> {
        assert_eq!(
            self.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            self.raw
        );
        self.body["detail"]
            .as_array()
            .unwrap_or_else(|| panic!("no problem list in {}", self.raw))
            .iter()
            .map(|p| {
                let loc = p["loc"].as_array().unwrap();
                assert!(p["msg"].is_string(), "{p}");
                let field = loc.last().unwrap();
                let field = field
                    .as_str()
                    .map_or_else(|| field.to_string(), str::to_owned);
                (field, p["type"].as_str().unwrap().to_owned())
            })
            .collect()
    }
}

fn problem(field: &str, kind: &str) -> (String, String) {
    (field.to_owned(), kind.to_owned())
}

impl Api {
    async fn try_call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Result<Reply> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.sim.url()));
        if let Some(key) = key {
            req = req.header("X-API-Key", key);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let raw = resp.text().await?;
        let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
        Ok(Reply {
            status,
            headers,
            body,
            raw,
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        self.try_call(method, path, key, body)
            .await
            .expect("request failed")
    }

    /// A `/_sim/` hook: no key.
    async fn hook(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call(method, path, None, body).await
    }

    async fn get(&self, path: &str, key: &str) -> Reply {
        self.call(Method::GET, path, Some(key), None).await
    }

    async fn post(&self, path: &str, key: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(key), Some(body)).await
    }

    async fn send(&self, method: Method, path: &str, key: &str, body: Value) -> Reply {
        self.call(method, path, Some(key), Some(body)).await
    }

    async fn delete(&self, path: &str, key: &str) -> Reply {
        self.call(Method::DELETE, path, Some(key), None).await
    }

    async fn create(&self, key: &str, db_type: &str, requested: &str) -> Reply {
        self.post(
            "/v1/databases",
            key,
            json!({"db_type": db_type, "requested_name": requested}),
        )
        .await
    }

    /// Creates `cust_6dd1d906_pg_<requested>` and returns its name.
    async fn create_pg(&self, requested: &str) -> String {
        let r = self.create(FULL, "postgresql", requested).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
        r.body["db_name"].as_str().unwrap().to_owned()
    }

    fn password(&self, name: &str) -> String {
        self.sim.hooks().password(DbType::Postgresql, name).unwrap()
    }

    fn arm(&self, on: Call, fault: AfterEffect) {
        self.sim.hooks().arm(Armed {
            on,
            fault,
            count: 1,
        });
    }
}

fn db(name: &str) -> String {
    format!("{PG}/{name}")
}

fn listed_names(list: &Reply) -> Vec<&str> {
    list.body["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["db_name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn create_shows_the_password_once_and_the_database_is_usable_at_once() {
    let api = start().await;
    let r = api.create(FULL, "postgresql", "orders").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    let b = &r.body;
    assert_eq!(b["success"], true);
    assert_eq!(b["db_name"], ORDERS);
    assert_eq!(b["db_type"], "postgresql");
    assert_eq!(b["username"], ORDERS);
    assert_eq!(b["idempotent"], false);
    assert_eq!(b["port"], 5432);
    let password = b["password"].as_str().unwrap();
    assert_eq!(password, api.password(ORDERS));
    let host = b["host"].as_str().unwrap();
    assert_eq!(
        b["connection_string"],
        format!("postgresql://{ORDERS}:{password}@{host}:5432/{ORDERS}")
    );
    for field in ["message", "password_generated"] {
        assert!(!b[field].is_null(), "{field} missing: {}", r.raw);
    }

    // Synchronous: listed and readable at once.
    assert_eq!(listed_names(&api.get(PG, READ).await), [ORDERS]);
    let info = api.get(&format!("{}/info", db(ORDERS)), READ).await;
    assert_eq!(info.status, StatusCode::OK);
    assert_eq!(info.body["connection_limit"], 100);
    assert_eq!(info.body["owner"], ORDERS);
    assert!(info.body["size_mb"].as_f64().unwrap() > 0.0);
    assert!(info.body["created_at"].is_string());

    // Never again: credentials come without it.
    let creds = api.get(&format!("{}/credentials", db(ORDERS)), READ).await;
    assert_eq!(creds.status, StatusCode::OK);
    assert_eq!(creds.body["database"], ORDERS);
    assert_eq!(creds.body["username"], ORDERS);
    assert_eq!(creds.body["host"], host);
    assert!(!creds.raw.contains(password), "{}", creds.raw);
    let list = api.get(PG, READ).await;
    assert!(!list.raw.contains(password));
}

#[tokio::test]
async fn an_existing_name_is_an_idempotent_answer_without_the_password() {
    let api = start().await;
    api.create_pg("orders").await;
    let password = api.password(ORDERS);
    let again = api.create(FULL, "postgresql", "orders").await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.raw);
    assert_eq!(again.body["idempotent"], true);
    assert_eq!(again.body["db_name"], ORDERS);
    let shown = again.body["password"].as_str().unwrap();
    assert_ne!(
        shown, password,
        "an idempotent answer must not hold the password"
    );
    assert_eq!(api.password(ORDERS), password, "nor change it");
    let stats = api.sim.hooks().stats();
    assert_eq!(stats.effective(Call::Create), 1);
    assert_eq!(stats.attempts("postgresql", ORDERS), 2);
    assert_eq!(api.sim.hooks().databases().len(), 1);
}

#[tokio::test]
async fn names_are_derived_per_customer_and_engine() {
    let api = start().await;
    let maria = api.create(FULL, "mariadb", "orders").await;
    assert_eq!(maria.status, StatusCode::CREATED);
    let maria_name = maria.body["db_name"].as_str().unwrap();
    assert!(maria_name.starts_with("cust_6dd1d906_") && maria_name.ends_with("_orders"));
    assert_ne!(maria_name, ORDERS);
    assert_eq!(maria.body["port"], 3306);
    assert!(
        maria.body["connection_string"]
            .as_str()
            .unwrap()
            .starts_with("mysql://")
    );

    // Another customer's "orders" is another database.
    let theirs = api.create(OTHER, "postgresql", "orders").await;
    assert_eq!(theirs.status, StatusCode::CREATED);
    assert_eq!(theirs.body["db_name"], "cust_c2_pg_orders");

    // Without a requested name: a generated suffix, a new database each time.
    let a = api
        .post("/v1/databases", FULL, json!({"db_type": "postgresql"}))
        .await;
    let b = api
        .post(
            "/v1/databases",
            FULL,
            json!({"db_type": "postgresql", "customer_id": "c2"}),
        )
        .await;
    let (a, b) = (
        a.body["db_name"].as_str().unwrap(),
        b.body["db_name"].as_str().unwrap(),
    );
    assert_ne!(a, b);
    for name in [a, b] {
        let suffix = name.strip_prefix("cust_6dd1d906_pg_").unwrap();
        let (day, tag) = suffix.split_once('_').unwrap();
        assert_eq!(day.len(), 8, "{name}");
        assert!(day.bytes().all(|c| c.is_ascii_digit()), "{name}");
        assert_eq!(tag.len(), 6, "{name}");
    }

    // Lists show only the caller's databases of that engine.
    let mine = api.get(PG, READ).await;
    assert_eq!(mine.body["db_type"], "postgresql");
    let mut names = listed_names(&mine);
    names.sort();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(names, want);
    let element = &mine.body["databases"][0];
    for field in ["db_type", "username", "created_at", "size_mb"] {
        assert!(!element[field].is_null(), "{field} missing: {element}");
    }
    assert_eq!(
        listed_names(&api.get(PG, OTHER).await),
        ["cust_c2_pg_orders"]
    );
    assert_eq!(
        listed_names(&api.get("/v1/databases/mariadb", READ).await),
        [maria_name]
    );
}

#[tokio::test]
async fn keys_and_permissions() {
    let api = start().await;
    api.create_pg("orders").await;
    let missing = api.call(Method::GET, PG, None, None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert!(missing.detail().contains("X-API-Key"), "{}", missing.raw);
    let unknown = api.get(PG, "wk_nope").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(!unknown.raw.contains("wk_nope"));

    // Each write needs its permission; refused writes change nothing.
    let forbidden = |r: &Reply, permission: &str| {
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.raw);
        assert!(r.detail().contains(permission), "{}", r.raw);
    };
    forbidden(
        &api.create(READ, "postgresql", "x").await,
        "database:create",
    );
    forbidden(&api.get(PG, CREATE).await, "database:read");
    let patch = json!({"connection_limit": 50});
    forbidden(
        &api.send(Method::PATCH, &db(ORDERS), READ, patch.clone())
            .await,
        "database:update",
    );
    forbidden(&api.delete(&db(ORDERS), UPDATE).await, "database:delete");
    forbidden(
        &api.post(
            &format!("{}/credentials/rotate", db(ORDERS)),
            READ,
            json!({}),
        )
        .await,
        "database:update",
    );
    forbidden(
        &api.post(
            &format!("{}/firewall", db(ORDERS)),
            READ,
            json!({"ip_address": "10.0.0.0/8"}),
        )
        .await,
        "database:update",
    );
    forbidden(
        &api.post(
            &format!("{}/restore", db(ORDERS)),
            READ,
            json!({"snapshot_id": "x"}),
        )
        .await,
        "database:update",
    );
    forbidden(
        &api.send(
            Method::PUT,
            &format!("{}/backup-policy", db(ORDERS)),
            READ,
            json!({"enabled": true}),
        )
        .await,
        "database:update",
    );
    forbidden(
        &api.get(&format!("{}/snapshots", db(ORDERS)), DELETE).await,
        "database:read",
    );
    assert_eq!(api.sim.hooks().databases().len(), 1);
    assert_eq!(
        api.sim.hooks().stats().effective.len(),
        1,
        "only the first create"
    );

    // As documented, a snapshot needs only read.
    let snap = api
        .post(&format!("{}/snapshots", db(ORDERS)), READ, json!({}))
        .await;
    assert_eq!(snap.status, StatusCode::CREATED, "{}", snap.raw);
    // Engines need no permission at all.
    assert_eq!(
        api.get("/v1/databases/engines", DELETE).await.status,
        StatusCode::OK
    );

    // A key gains permissions by the hook.
    api.sim
        .hooks()
        .put_key(KeySpec::new(
            READ,
            CUSTOMER,
            [Permission::Read, Permission::Update],
        ))
        .unwrap();
    let r = api.send(Method::PATCH, &db(ORDERS), READ, patch).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
}

#[tokio::test]
async fn another_customers_database_is_forbidden_and_an_unknown_one_not_found() {
    let api = start().await;
    api.create_pg("orders").await;
    let routes = [
        (Method::GET, "info", None),
        (Method::GET, "credentials", None),
        (Method::POST, "credentials/rotate", None),
        (Method::GET, "firewall", None),
        (
            Method::POST,
            "firewall",
            Some(json!({"ip_address": "10.0.0.0/8"})),
        ),
        (Method::GET, "metrics", None),
        (Method::POST, "restart", None),
        (Method::GET, "snapshots", None),
        (Method::POST, "snapshots", Some(json!({}))),
        (
            Method::POST,
            "restore",
            Some(json!({"snapshot_id": "snap_x"})),
        ),
        (Method::GET, "backup-policy", None),
        (
            Method::PUT,
            "backup-policy",
            Some(json!({"enabled": false})),
        ),
    ];
    for (method, tail, body) in routes {
        let theirs = api
            .call(
                method.clone(),
                &format!("{}/{tail}", db(ORDERS)),
                Some(OTHER),
                body.clone(),
            )
            .await;
        assert_eq!(
            theirs.status,
            StatusCode::FORBIDDEN,
            "{method} {tail}: {}",
            theirs.raw
        );
        let unknown = api
            .call(
                method.clone(),
                &format!("{}/{tail}", db("cust_6dd1d906_pg_nope")),
                Some(FULL),
                body,
            )
            .await;
        assert_eq!(
            unknown.status,
            StatusCode::NOT_FOUND,
            "{method} {tail}: {}",
            unknown.raw
        );
        assert!(unknown.detail().contains("not found"), "{}", unknown.raw);
    }
    let patch = api
        .send(
            Method::PATCH,
            &db(ORDERS),
            OTHER,
            json!({"connection_limit": 50}),
        )
        .await;
    assert_eq!(patch.status, StatusCode::FORBIDDEN);
    let delete = api.delete(&db(ORDERS), OTHER).await;
    assert_eq!(delete.status, StatusCode::FORBIDDEN);
    let delete = api
        .send(
            Method::DELETE,
            "/v1/databases",
            OTHER,
            json!({"db_type": "postgresql", "db_name": ORDERS}),
        )
        .await;
    assert_eq!(delete.status, StatusCode::FORBIDDEN);
    assert!(
        api.sim
            .hooks()
            .database(DbType::Postgresql, ORDERS)
            .is_some()
    );
    assert_eq!(
        api.sim.hooks().stats().effective.len(),
        1,
        "only the create"
    );
}

#[tokio::test]
async fn rotation_replaces_the_password_at_once() {
    let api = start().await;
    let first = api.create(FULL, "postgresql", "orders").await.body["password"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = api
        .post(
            &format!("{}/credentials/rotate", db(ORDERS)),
            UPDATE,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let b = &r.body;
    assert_eq!(b["success"], true);
    assert_eq!(b["db_name"], ORDERS);
    assert_eq!(b["username"], ORDERS);
    assert_eq!(b["port"], 5432);
    assert!(
        b["host"].is_string() && b["created_at"].is_string(),
        "{}",
        r.raw
    );
    let second = b["password"].as_str().unwrap();
    assert_ne!(second, first);
    assert_eq!(
        api.password(ORDERS),
        second,
        "the old password no longer works"
    );
    assert!(b["connection_string"].as_str().unwrap().contains(second));
    let creds = api.get(&format!("{}/credentials", db(ORDERS)), READ).await;
    assert!(!creds.raw.contains(second) && !creds.raw.contains(&first));
    assert_eq!(api.sim.hooks().stats().effective(Call::Rotate), 1);
}

#[tokio::test]
async fn patch_changes_limit_and_description_in_place() {
    let api = start().await;
    api.create_pg("orders").await;
    let r = api
        .send(
            Method::PATCH,
            &db(ORDERS),
            UPDATE,
            json!({"connection_limit": 200, "description": "orders service"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.body["success"], true);
    assert!(r.body["message"].is_string());
    let info = api.get(&format!("{}/info", db(ORDERS)), READ).await;
    assert_eq!(info.body["connection_limit"], 200);
    let state = api
        .sim
        .hooks()
        .database(DbType::Postgresql, ORDERS)
        .unwrap();
    assert_eq!(state.description.as_deref(), Some("orders service"));
    // Only what is given changes.
    api.send(
        Method::PATCH,
        &db(ORDERS),
        UPDATE,
        json!({"connection_limit": 10}),
    )
    .await;
    let state = api
        .sim
        .hooks()
        .database(DbType::Postgresql, ORDERS)
        .unwrap();
    assert_eq!(
        (state.connection_limit, state.description.as_deref()),
        (10, Some("orders service"))
    );
    let empty = api
        .send(Method::PATCH, &db(ORDERS), UPDATE, json!({}))
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(empty.detail().contains("No updates"), "{}", empty.raw);
    let nulls = api
        .send(
            Method::PATCH,
            &db(ORDERS),
            UPDATE,
            json!({"description": null}),
        )
        .await;
    assert_eq!(nulls.status, StatusCode::BAD_REQUEST);
    assert_eq!(api.sim.hooks().stats().effective(Call::Patch), 2);
}

#[tokio::test]
async fn validation_errors_are_fastapi_lists() {
    let api = start().await;
    api.create_pg("orders").await;
    let create = |body: Value| api.post("/v1/databases", FULL, body);
    assert_eq!(
        create(json!({"db_type": "mysql", "requested_name": "Orders"}))
            .await
            .problems(),
        [
            problem("db_type", "enum"),
            problem("requested_name", "string_pattern_mismatch")
        ]
    );
    assert_eq!(
        create(json!({"db_type": "postgresql", "requested_name": "a".repeat(31)}))
            .await
            .problems(),
        [problem("requested_name", "string_too_long")]
    );
    assert_eq!(
        create(json!({"db_type": "postgresql", "requested_name": ""}))
            .await
            .problems(),
        [problem("requested_name", "string_too_short")]
    );
    assert_eq!(
        create(json!({"requested_name": "web-app"}))
            .await
            .problems(),
        [
            problem("db_type", "missing"),
            problem("requested_name", "string_pattern_mismatch")
        ]
    );
    let r = create(json!({"db_type": "oracle"})).await;
    assert_eq!(r.body["detail"][0]["loc"], json!(["body", "db_type"]));
    assert_eq!(
        r.body["detail"][0]["msg"],
        "Input should be 'postgresql' or 'mariadb'"
    );
    assert_eq!(r.body["detail"][0]["input"], "oracle");

    let raw = api
        .http
        .post(format!("{}/v1/databases", api.sim.url()))
        .header("X-API-Key", FULL)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = raw.json().await.unwrap();
    assert_eq!(body["detail"][0]["type"], "json_invalid");
    assert_eq!(
        api.call(Method::POST, "/v1/databases", Some(FULL), None)
            .await
            .problems(),
        [problem("body", "missing")]
    );

    let orders = db(ORDERS);
    let patch = |body: Value| api.send(Method::PATCH, &orders, FULL, body);
    assert_eq!(
        patch(json!({"connection_limit": 9})).await.problems(),
        [problem("connection_limit", "greater_than_equal")]
    );
    assert_eq!(
        patch(json!({"connection_limit": 1001})).await.problems(),
        [problem("connection_limit", "less_than_equal")]
    );
    assert_eq!(
        patch(json!({"connection_limit": "200"})).await.problems(),
        [problem("connection_limit", "int_type")]
    );
    assert_eq!(
        patch(json!({"description": "x".repeat(256)}))
            .await
            .problems(),
        [problem("description", "string_too_long")]
    );

    let firewall = format!("{}/firewall", db(ORDERS));
    let rule = |ip: &str| api.post(&firewall, FULL, json!({"ip_address": ip}));
    for bad in ["10.0.0.1/24", "10.0.0.0/33", "2001:db8::/32", "office"] {
        assert_eq!(
            rule(bad).await.problems(),
            [problem("ip_address", "value_error")],
            "{bad}"
        );
    }
    let backup_policy = format!("{}/backup-policy", db(ORDERS));
    let policy = |body: Value| api.send(Method::PUT, &backup_policy, FULL, body);
    assert_eq!(
        policy(json!({"enabled": "yes", "frequency": "monthly", "retention_days": 0, "time_of_day": "25:00"})).await.problems(),
        [
            problem("enabled", "bool_type"),
            problem("frequency", "enum"),
            problem("retention_days", "greater_than_equal"),
            problem("time_of_day", "string_pattern_mismatch"),
        ]
    );
    assert_eq!(
        api.post(
            &format!("{}/restore", db(ORDERS)),
            FULL,
            json!({"target_db_name": "Copy"})
        )
        .await
        .problems(),
        [
            problem("snapshot_id", "missing"),
            problem("target_db_name", "string_pattern_mismatch")
        ]
    );

    // The path's engine too, reported with the body's problems.
    let r = api.get("/v1/databases/mysql", FULL).await;
    assert_eq!(r.body["detail"][0]["loc"], json!(["path", "db_type"]));
    assert_eq!(
        api.send(
            Method::PATCH,
            "/v1/databases/mysql/x",
            FULL,
            json!({"connection_limit": 1})
        )
        .await
        .problems(),
        [
            problem("db_type", "enum"),
            problem("connection_limit", "greater_than_equal")
        ]
    );
    let state = api
        .sim
        .hooks()
        .database(DbType::Postgresql, ORDERS)
        .unwrap();
    assert!(state.firewall.is_empty());
    assert_eq!(state.connection_limit, 100);
    assert_eq!(
        api.sim.hooks().stats().effective.len(),
        1,
        "only the first create"
    );
}

#[tokio::test]
async fn firewall_rules_allow_duplicates_and_are_deleted_by_id() {
    let api = start().await;
    api.create_pg("orders").await;
    let path = format!("{}/firewall", db(ORDERS));
    let add = |ip: &str| {
        api.post(
            &path,
            UPDATE,
            json!({"ip_address": ip, "description": "office"}),
        )
    };
    let first = add("10.0.0.0/24").await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.raw);
    let b = &first.body;
    assert_eq!(
        (b["db_name"].as_str(), b["db_type"].as_str()),
        (Some(ORDERS), Some("postgresql"))
    );
    assert_eq!(b["ip_address"], "10.0.0.0/24");
    assert_eq!(b["description"], "office");
    assert_eq!(b["port"], 5432);
    assert!(b["created_at"].is_string());
    let id = b["rule_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let second = add("10.0.0.0/24").await;
    assert_eq!(second.status, StatusCode::CREATED);
    assert_ne!(second.body["rule_id"], id.as_str());
    assert_eq!(add("192.0.2.100").await.status, StatusCode::CREATED);

    let list = api.get(&path, READ).await;
    assert_eq!(list.body["total"], 3);
    let sources: Vec<&str> = list.body["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ip_address"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["10.0.0.0/24", "10.0.0.0/24", "192.0.2.100"]);

    let deleted = api.delete(&format!("{path}/{id}"), UPDATE).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.raw);
    assert_eq!(deleted.body["success"], true);
    assert_eq!(api.get(&path, READ).await.body["total"], 2);
    let again = api.delete(&format!("{path}/{id}"), UPDATE).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert!(again.detail().contains(&id), "{}", again.raw);
    let stats = api.sim.hooks().stats();
    assert_eq!(
        (
            stats.effective(Call::FirewallAdd),
            stats.effective(Call::FirewallDelete)
        ),
        (3, 1)
    );
}

#[tokio::test]
async fn backup_policy_is_replaced_whole() {
    let api = start().await;
    api.create_pg("orders").await;
    let path = format!("{}/backup-policy", db(ORDERS));
    let initial = api.get(&path, READ).await;
    assert_eq!(initial.status, StatusCode::OK);
    let b = &initial.body;
    assert_eq!(
        (b["db_name"].as_str(), b["db_type"].as_str()),
        (Some(ORDERS), Some("postgresql"))
    );
    assert_eq!(
        (
            b["enabled"].as_bool(),
            b["frequency"].as_str(),
            b["retention_days"].as_u64()
        ),
        (Some(false), Some("daily"), Some(7))
    );
    assert!(b["time_of_day"].is_null() && b["next_backup"].is_null() && b["last_backup"].is_null());

    let set = api
        .send(Method::PUT, &path, UPDATE, json!({"enabled": true, "frequency": "weekly", "retention_days": 30, "time_of_day": "02:00"}))
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.raw);
    assert_eq!(set.body["frequency"], "weekly");
    assert!(
        set.body["next_backup"]
            .as_str()
            .unwrap()
            .contains("T02:00:00"),
        "{}",
        set.raw
    );
    assert_eq!(api.get(&path, READ).await.body, set.body);

    // PUT replaces: what is left out goes back to its default.
    let reset = api
        .send(Method::PUT, &path, UPDATE, json!({"enabled": true}))
        .await;
    assert_eq!(
        (
            reset.body["frequency"].as_str(),
            reset.body["retention_days"].as_u64()
        ),
        (Some("daily"), Some(7))
    );
    assert!(reset.body["time_of_day"].is_null());
    assert_eq!(api.sim.hooks().stats().effective(Call::PolicyPut), 2);
}

#[tokio::test]
async fn snapshots_are_listed_newest_first_with_their_descriptions() {
    let api = start().await;
    api.create_pg("orders").await;
    let path = format!("{}/snapshots", db(ORDERS));
    let first = api
        .post(&path, READ, json!({"description": "before migration"}))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.raw);
    let b = &first.body;
    assert_eq!(b["success"], true);
    assert_eq!(
        (b["db_name"].as_str(), b["db_type"].as_str()),
        (Some(ORDERS), Some("postgresql"))
    );
    assert_eq!(b["description"], "before migration");
    assert!(
        b["size_mb"].as_f64().unwrap() > 0.0
            && b["created_at"].is_string()
            && b["message"].is_string()
    );
    let id = b["snapshot_id"].as_str().unwrap().to_owned();
    let parts: Vec<&str> = id.split('_').collect();
    assert_eq!(parts.len(), 4, "{id}");
    assert_eq!(
        (parts[0], parts[1].len(), parts[2].len(), parts[3].len()),
        ("snap", 8, 6, 8),
        "{id}"
    );
    // Without a body at all.
    let bare = api.call(Method::POST, &path, Some(READ), None).await;
    assert_eq!(bare.status, StatusCode::CREATED, "{}", bare.raw);
    assert!(bare.body["description"].is_null());
    let policy_made = api
        .sim
        .hooks()
        .take_policy_snapshot(DbType::Postgresql, ORDERS)
        .unwrap();

    let list = api.get(&path, READ).await;
    assert_eq!(list.body["db_name"], ORDERS);
    let snaps = list.body["snapshots"].as_array().unwrap();
    let ids: Vec<&str> = snaps
        .iter()
        .map(|s| s["snapshot_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            policy_made.as_str(),
            bare.body["snapshot_id"].as_str().unwrap(),
            id.as_str()
        ]
    );
    assert_eq!(snaps[2]["description"], "before migration");
    assert_eq!(snaps[2]["type"], "manual");
    assert_eq!(snaps[0]["type"], "automated");
    assert!(
        snaps[0]["description"]
            .as_str()
            .unwrap()
            .contains("backup policy")
    );
    assert!(
        api.get(&format!("{}/backup-policy", db(ORDERS)), READ)
            .await
            .body["last_backup"]
            .is_string()
    );

    let deleted = api.delete(&format!("{path}/{id}"), DELETE).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.raw);
    assert_eq!(
        api.get(&path, READ).await.body["snapshots"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        api.delete(&format!("{path}/{id}"), DELETE).await.status,
        StatusCode::NOT_FOUND
    );
    let stats = api.sim.hooks().stats();
    assert_eq!(
        (
            stats.effective(Call::Snapshot),
            stats.effective(Call::SnapshotDelete)
        ),
        (2, 1)
    );
}

#[tokio::test]
async fn restores_count_data_generations() {
    let api = start().await;
    api.create_pg("orders").await;
    let hooks = api.sim.hooks();
    assert_eq!(hooks.generation(DbType::Postgresql, ORDERS), Some(0));
    let snap = api
        .post(&format!("{}/snapshots", db(ORDERS)), READ, json!({}))
        .await
        .body["snapshot_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let restore_path = format!("{}/restore", db(ORDERS));
    let restore = |body: Value| api.post(&restore_path, UPDATE, body);

    // In place, twice: the same database, its data replaced each time.
    let password = api.password(ORDERS);
    for generation in 1..=2 {
        let r = restore(json!({"snapshot_id": snap})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
        assert_eq!(r.body["success"], true);
        assert_eq!(r.body["db_name"], ORDERS);
        assert_eq!(r.body["snapshot_id"], snap.as_str());
        assert!(r.body["message"].is_string());
        assert_eq!(
            hooks.generation(DbType::Postgresql, ORDERS),
            Some(generation)
        );
    }
    assert_eq!(
        api.password(ORDERS),
        password,
        "a restore keeps the user's password"
    );
    assert_eq!(
        hooks
            .database(DbType::Postgresql, ORDERS)
            .unwrap()
            .restored_from
            .as_deref(),
        Some(snap.as_str())
    );

    // Into a new database: derived like a create's name, no password shown.
    let copy = restore(json!({"snapshot_id": snap, "target_db_name": "orders_copy"})).await;
    assert_eq!(copy.status, StatusCode::OK, "{}", copy.raw);
    assert_eq!(copy.body["db_name"], "cust_6dd1d906_pg_orders_copy");
    assert!(copy.body.get("password").is_none(), "{}", copy.raw);
    let copied = hooks
        .database(DbType::Postgresql, "cust_6dd1d906_pg_orders_copy")
        .unwrap();
    assert_eq!(
        (copied.generation, copied.restored_from.as_deref()),
        (1, Some(snap.as_str()))
    );
    assert!(!copy.raw.contains(&copied.password));
    assert_eq!(hooks.generation(DbType::Postgresql, ORDERS), Some(2));
    assert_eq!(
        listed_names(&api.get(PG, READ).await),
        ["cust_6dd1d906_pg_orders", "cust_6dd1d906_pg_orders_copy"]
    );

    // A target that exists, a snapshot that does not.
    let taken = restore(json!({"snapshot_id": snap, "target_db_name": "orders_copy"})).await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.raw);
    let unknown = restore(json!({"snapshot_id": "snap_20250101_000000_00000000"})).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(hooks.stats().effective(Call::Restore), 3);
    assert_eq!(hooks.generation(DbType::Postgresql, ORDERS), Some(2));
}

#[tokio::test]
async fn quota_counts_databases_and_refuses_beyond_it() {
    let api = start().await;
    api.sim.hooks().set_quota(2);
    let quota = api.get("/v1/quota", READ).await;
    assert_eq!(quota.status, StatusCode::OK);
    assert_eq!(
        (quota.body["used"].as_u64(), quota.body["limit"].as_u64()),
        (Some(0), Some(2))
    );
    assert!(
        quota.body["storage_used_gb"].is_number() && quota.body["storage_limit_gb"].is_number()
    );
    api.create_pg("a").await;
    let snap = api
        .post(
            &format!("{}/snapshots", db("cust_6dd1d906_pg_a")),
            READ,
            json!({}),
        )
        .await
        .body["snapshot_id"]
        .clone();
    api.create_pg("b").await;
    assert_eq!(api.get("/v1/quota", READ).await.body["used"], 2);

    let over = api.create(FULL, "postgresql", "c").await;
    assert_eq!(over.status, StatusCode::FORBIDDEN, "{}", over.raw);
    assert!(over.detail().contains("quota"), "{}", over.raw);
    // Checked before the name: even an existing name is refused at the limit.
    let existing = api.create(FULL, "postgresql", "a").await;
    assert_eq!(existing.status, StatusCode::FORBIDDEN);
    let restore = api
        .post(
            &format!("{}/restore", db("cust_6dd1d906_pg_a")),
            FULL,
            json!({"snapshot_id": snap, "target_db_name": "a_copy"}),
        )
        .await;
    assert_eq!(restore.status, StatusCode::FORBIDDEN, "{}", restore.raw);
    // Another customer has a quota of their own.
    assert_eq!(
        api.create(OTHER, "postgresql", "c").await.status,
        StatusCode::CREATED
    );

    let stats = api.sim.hooks().stats();
    assert_eq!(stats.effective(Call::Create), 3);
    assert_eq!(
        stats.attempts("postgresql", "cust_6dd1d906_pg_c"),
        1,
        "a refused create is an attempt"
    );
    assert_eq!(stats.effective(Call::Restore), 0);
    api.delete(&db("cust_6dd1d906_pg_b"), FULL).await;
    assert_eq!(
        api.create(FULL, "postgresql", "c").await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn deletes_by_body_and_by_path() {
    let api = start().await;
    api.create_pg("a").await;
    api.create_pg("b").await;
    let (a, b) = ("cust_6dd1d906_pg_a", "cust_6dd1d906_pg_b");
    api.post(&format!("{}/snapshots", db(a)), READ, json!({}))
        .await;

    let by_body = api
        .send(
            Method::DELETE,
            "/v1/databases",
            DELETE,
            json!({"db_type": "postgresql", "db_name": a, "username": a}),
        )
        .await;
    assert_eq!(by_body.status, StatusCode::OK, "{}", by_body.raw);
    assert_eq!(by_body.body["success"], true);
    assert!(by_body.body["message"].is_string());
    assert!(api.sim.hooks().database(DbType::Postgresql, a).is_none());
    for tail in ["info", "snapshots", "credentials"] {
        assert_eq!(
            api.get(&format!("{}/{tail}", db(a)), FULL).await.status,
            StatusCode::NOT_FOUND,
            "{tail}"
        );
    }
    let again = api
        .send(
            Method::DELETE,
            "/v1/databases",
            DELETE,
            json!({"db_type": "postgresql", "db_name": a}),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);

    let wrong_user = api
        .delete(&format!("{}?username=someone", db(b)), DELETE)
        .await;
    assert_eq!(
        wrong_user.status,
        StatusCode::BAD_REQUEST,
        "{}",
        wrong_user.raw
    );
    let by_path = api.delete(&format!("{}?username={b}", db(b)), DELETE).await;
    assert_eq!(by_path.status, StatusCode::OK, "{}", by_path.raw);
    assert_eq!(
        api.delete(&db(b), DELETE).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(listed_names(&api.get(PG, FULL).await).is_empty());
    assert_eq!(api.sim.hooks().stats().effective(Call::Delete), 2);

    // The history remembers them.
    let history = api.get("/v1/databases/history", READ).await;
    assert_eq!(history.status, StatusCode::OK);
    assert_eq!(history.body["total"], 2);
    let entries = history.body["databases"].as_array().unwrap();
    assert_eq!(entries[0]["db_name"], a);
    assert!(
        entries
            .iter()
            .all(|e| e["deleted_at"].is_string() && e["created_at"].is_string())
    );
    assert_eq!(
        api.get("/v1/databases/history", OTHER).await.body["total"],
        0
    );
}

#[tokio::test]
async fn engines_metrics_and_restart() {
    let api = start().await;
    api.create_pg("orders").await;
    let engines = api.get("/v1/databases/engines", READ).await;
    let types: Vec<&str> = engines.body["engines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["db_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["postgresql", "mariadb"]);
    let metrics = api.get(&format!("{}/metrics", db(ORDERS)), READ).await;
    assert_eq!(metrics.status, StatusCode::OK);
    for field in [
        "database_id",
        "storage_gb",
        "backup_gb",
        "active_connections",
        "max_connections",
        "total_queries",
        "queries_per_sec",
        "cache_hit_ratio",
        "cpu_percent",
        "memory_percent",
        "measured_at",
    ] {
        assert!(!metrics.body[field].is_null(), "{field}: {}", metrics.raw);
    }
    assert_eq!(metrics.body["max_connections"], 100);
    let restart = api
        .post(&format!("{}/restart", db(ORDERS)), UPDATE, json!({}))
        .await;
    assert_eq!(restart.status, StatusCode::OK, "{}", restart.raw);
    assert_eq!(restart.body["success"], true);
    assert_eq!(api.sim.hooks().stats().effective(Call::Restart), 1);
}

#[tokio::test]
async fn rate_limit_is_per_key_with_retry_after() {
    let api = start_with(SimConfig {
        rate_per_minute: 3,
        ..config()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(api.get(PG, READ).await.status, StatusCode::OK);
    }
    let limited = api.get(PG, READ).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(
        limited.detail().contains("3 requests per minute"),
        "{}",
        limited.raw
    );
    // Refused requests use no budget, and other keys have their own.
    for _ in 0..5 {
        assert_eq!(
            api.get(PG, READ).await.status,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    assert_eq!(api.get(PG, FULL).await.status, StatusCode::OK);
    // Unknown keys are refused before the rate is counted.
    assert_eq!(
        api.get(PG, "wk_nope").await.status,
        StatusCode::UNAUTHORIZED
    );
    api.sim.hooks().set_rate_per_minute(0);
    assert_eq!(api.get(PG, READ).await.status, StatusCode::OK);
    let stats = api.sim.hooks().stats();
    assert_eq!(
        stats.requests.count("GET", "/v1/databases/{db_type}", 429),
        6
    );
}

/// Each armed fault: the change is made, the answer lost (or a 500), and counted once.
#[tokio::test]
async fn armed_faults_commit_the_change_and_lose_the_answer() {
    let api = start().await;
    let hooks = api.sim.hooks();
    let lost = |r: reqwest::Result<Reply>, what: &str| {
        assert!(r.is_err(), "{what}: an answer came: {:?}", r.map(|r| r.raw));
    };

    api.arm(Call::Create, AfterEffect::LoseAnswer);
    lost(
        api.try_call(
            Method::POST,
            "/v1/databases",
            Some(FULL),
            Some(json!({"db_type": "postgresql", "requested_name": "orders"})),
        )
        .await,
        "create",
    );
    let password = api.password(ORDERS);
    // Asked again: the idempotent answer, and the password is not in it.
    let again = api.create(FULL, "postgresql", "orders").await;
    assert_eq!(again.body["idempotent"], true);
    assert_ne!(again.body["password"], password.as_str());

    api.arm(Call::Rotate, AfterEffect::LoseAnswer);
    lost(
        api.try_call(
            Method::POST,
            &format!("{}/credentials/rotate", db(ORDERS)),
            Some(FULL),
            None,
        )
        .await,
        "rotate",
    );
    assert_ne!(api.password(ORDERS), password, "the rotation happened");

    api.arm(Call::Patch, AfterEffect::LoseAnswer);
    lost(
        api.try_call(
            Method::PATCH,
            &db(ORDERS),
            Some(FULL),
            Some(json!({"connection_limit": 300})),
        )
        .await,
        "patch",
    );
    assert_eq!(
        hooks
            .database(DbType::Postgresql, ORDERS)
            .unwrap()
            .connection_limit,
        300
    );

    api.arm(Call::FirewallAdd, AfterEffect::LoseAnswer);
    lost(
        api.try_call(
            Method::POST,
            &format!("{}/firewall", db(ORDERS)),
            Some(FULL),
            Some(json!({"ip_address": "10.1.0.0/16"})),
        )
        .await,
        "firewall add",
    );
    assert_eq!(
        hooks
            .database(DbType::Postgresql, ORDERS)
            .unwrap()
            .firewall
            .len(),
        1
    );

    api.arm(Call::Snapshot, AfterEffect::LoseAnswer);
    lost(
        api.try_call(
            Method::POST,
            &format!("{}/snapshots", db(ORDERS)),
            Some(FULL),
            Some(json!({"description": "obj-uid-1"})),
        )
        .await,
        "snapshot",
    );
    let snaps = hooks
        .database(DbType::Postgresql, ORDERS)
        .unwrap()
        .snapshots;
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0].description.as_deref(), Some("obj-uid-1"));

    api.arm(Call::Restore, AfterEffect::LoseAnswer);
    lost(
        api.try_call(
            Method::POST,
            &format!("{}/restore", db(ORDERS)),
            Some(FULL),
            Some(json!({"snapshot_id": snaps[0].snapshot_id})),
        )
        .await,
        "restore",
    );
    assert_eq!(hooks.generation(DbType::Postgresql, ORDERS), Some(1));

    // A 500 after the effect: Starlette's plain text.
    api.arm(Call::PolicyPut, AfterEffect::ServerError);
    let r = api
        .send(
            Method::PUT,
            &format!("{}/backup-policy", db(ORDERS)),
            FULL,
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.raw, "Internal Server Error");
    assert!(
        hooks
            .database(DbType::Postgresql, ORDERS)
            .unwrap()
            .backup_policy
            .enabled
    );

    // Each fired once and is used up; refused calls do not use an armed fault.
    api.arm(Call::Delete, AfterEffect::LoseAnswer);
    assert_eq!(
        api.delete(&db(ORDERS), READ).await.status,
        StatusCode::FORBIDDEN
    );
    lost(
        api.try_call(Method::DELETE, &db(ORDERS), Some(FULL), None)
            .await,
        "delete",
    );
    assert!(hooks.database(DbType::Postgresql, ORDERS).is_none());
    let stats = hooks.stats();
    for call in [
        Call::Create,
        Call::Rotate,
        Call::Patch,
        Call::FirewallAdd,
        Call::Snapshot,
        Call::Restore,
        Call::Delete,
    ] {
        assert_eq!(stats.fired(call, "lose_answer"), 1, "{call:?}");
        assert_eq!(stats.effective(call), 1, "{call:?}");
    }
    assert_eq!(stats.fired(Call::PolicyPut, "server_error"), 1);
    assert_eq!(
        stats.requests.count("POST", "/v1/databases", 0),
        1,
        "the lost answer counted as status 0"
    );
    assert_eq!(stats.requests.count("POST", "/v1/databases", 200), 1);
}

#[tokio::test]
async fn a_stalled_answer_never_comes() {
    let api = start().await;
    api.arm(Call::Create, AfterEffect::Stall);
    let r = api
        .http
        .post(format!("{}/v1/databases", api.sim.url()))
        .header("X-API-Key", FULL)
        .json(&json!({"db_type": "postgresql", "requested_name": "orders"}))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(r.unwrap_err().is_timeout());
    assert!(
        api.sim
            .hooks()
            .database(DbType::Postgresql, ORDERS)
            .is_some()
    );
    assert_eq!(api.sim.hooks().stats().fired(Call::Create, "stall"), 1);
}

#[tokio::test]
async fn random_faults_errors_latency_and_drops() {
    let api = start().await;
    let hooks = api.sim.hooks();
    assert!(
        hooks
            .set_faults(Faults {
                error_rate: 2.0,
                ..Faults::default()
            })
            .is_err()
    );
    hooks
        .set_faults(Faults {
            error_rate: 1.0,
            ..Faults::default()
        })
        .unwrap();
    let r = api.create(FULL, "postgresql", "orders").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.raw, "Internal Server Error");
    assert!(
        hooks.databases().is_empty(),
        "an injected error comes before the effect"
    );
    // Even without a key: faults come first.
    assert_eq!(
        api.call(Method::GET, PG, None, None).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );

    hooks
        .set_faults(Faults {
            drop_rate: 1.0,
            ..Faults::default()
        })
        .unwrap();
    assert!(
        api.try_call(
            Method::POST,
            "/v1/databases",
            Some(FULL),
            Some(json!({"db_type": "postgresql", "requested_name": "orders"}))
        )
        .await
        .is_err()
    );
    assert!(
        hooks.database(DbType::Postgresql, ORDERS).is_some(),
        "dropped after the effect"
    );

    hooks
        .set_faults(Faults {
            latency_ms: 300,
            ..Faults::default()
        })
        .unwrap();
    let started = Instant::now();
    assert_eq!(api.get(PG, READ).await.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let started = Instant::now();
    api.call(Method::GET, "/_sim/stats", None, None).await;
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "hooks are not delayed"
    );
    hooks.clear_faults();
    assert_eq!(hooks.faults(), Faults::default());
}

#[tokio::test]
async fn out_of_band_changes_through_the_http_hooks() {
    let api = start().await;
    let created = api
        .hook(
            Method::POST,
            "/_sim/databases",
            Some(
                json!({"customer": CUSTOMER, "db_type": "postgresql", "requested_name": "orders"}),
            ),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.raw);
    assert_eq!(created.body["db_name"], ORDERS);
    let taken = api
        .hook(
            Method::POST,
            "/_sim/databases",
            Some(
                json!({"customer": CUSTOMER, "db_type": "postgresql", "requested_name": "orders"}),
            ),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(listed_names(&api.get(PG, READ).await), [ORDERS]);

    let base = format!("/_sim/databases/postgresql/{ORDERS}");
    assert_eq!(
        api.hook(
            Method::POST,
            &format!("{base}/connection-limit"),
            Some(json!({"connection_limit": 42}))
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        api.get(&format!("{}/info", db(ORDERS)), READ).await.body["connection_limit"],
        42
    );
    assert_eq!(
        api.hook(
            Method::POST,
            &format!("{base}/connection-limit"),
            Some(json!({"connection_limit": 5}))
        )
        .await
        .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let rule = api
        .hook(
            Method::POST,
            &format!("{base}/firewall"),
            Some(json!({"ip_address": "10.9.0.0/16"})),
        )
        .await;
    assert_eq!(rule.status, StatusCode::CREATED, "{}", rule.raw);
    let rule_id = rule.body["rule_id"].as_str().unwrap();
    assert_eq!(
        api.get(&format!("{}/firewall", db(ORDERS)), READ)
            .await
            .body["rules"][0]["rule_id"],
        rule_id
    );
    assert_eq!(
        api.hook(Method::DELETE, &format!("{base}/firewall/{rule_id}"), None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        api.hook(Method::DELETE, &format!("{base}/firewall/{rule_id}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let policy = api
        .hook(
            Method::PUT,
            &format!("{base}/backup-policy"),
            Some(json!({"enabled": true, "frequency": "hourly"})),
        )
        .await;
    assert_eq!(policy.status, StatusCode::OK, "{}", policy.raw);
    assert_eq!(
        api.get(&format!("{}/backup-policy", db(ORDERS)), READ)
            .await
            .body["frequency"],
        "hourly"
    );

    let rotated = api
        .hook(Method::POST, &format!("{base}/rotate"), None)
        .await;
    let state = api.hook(Method::GET, &base, None).await;
    assert_eq!(state.body["password"], rotated.body["password"]);
    assert_eq!(state.body["generation"], 0);
    let snap = api
        .hook(Method::POST, &format!("{base}/policy-snapshot"), None)
        .await;
    assert_eq!(snap.status, StatusCode::CREATED);
    assert_eq!(
        api.hook(Method::GET, &base, None).await.body["snapshots"][0]["type"],
        "automated"
    );

    // Keys, rate, quota, faults and stats.
    assert_eq!(
        api.hook(
            Method::POST,
            "/_sim/keys",
            Some(json!({"key": "wk_new", "customer": "c9", "permissions": ["database:read"]}))
        )
        .await
        .status,
        StatusCode::CREATED
    );
    assert_eq!(api.get(PG, "wk_new").await.status, StatusCode::OK);
    assert_eq!(
        api.hook(
            Method::POST,
            "/_sim/keys",
            Some(json!({"key": "wk_bad", "customer": "c9", "permissions": ["database:drop"]}))
        )
        .await
        .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        api.hook(Method::POST, "/_sim/quota", Some(json!({"limit": 7})))
            .await
            .body["limit"],
        7
    );
    assert_eq!(api.get("/v1/quota", READ).await.body["limit"], 7);
    assert_eq!(
        api.hook(Method::POST, "/_sim/rate", Some(json!({"per_minute": 9})))
            .await
            .body["per_minute"],
        9
    );
    assert_eq!(
        api.hook(Method::GET, "/_sim/rate", None).await.body["per_minute"],
        9
    );
    assert_eq!(
        api.hook(Method::POST, "/_sim/faults", Some(json!({"error_rate": 3})))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        api.hook(
            Method::POST,
            "/_sim/faults/arm",
            Some(json!({"on": "firewall_add", "fault": "lose_answer"}))
        )
        .await
        .status,
        StatusCode::OK
    );
    assert!(
        api.try_call(
            Method::POST,
            &format!("{}/firewall", db(ORDERS)),
            Some(FULL),
            Some(json!({"ip_address": "10.0.0.1"}))
        )
        .await
        .is_err()
    );
    let stats = api.hook(Method::GET, "/_sim/stats", None).await;
    assert_eq!(stats.body["fired"]["firewall_add:lose_answer"], 1);
    assert_eq!(stats.body["effective"]["firewall_add"], 1);
    assert!(
        stats.body["effective"].get("create").is_none(),
        "out-of-band creates are not counted"
    );
    api.hook(Method::POST, "/_sim/stats/reset", None).await;
    assert_eq!(
        api.hook(Method::GET, "/_sim/stats", None).await.body["requests"],
        json!([])
    );

    assert_eq!(
        api.hook(Method::DELETE, &base, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        api.hook(Method::GET, &base, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.hook(Method::GET, "/_sim/databases", None).await.body,
        json!([])
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_are_fastapi_errors() {
    let api = start().await;
    let r = api.get("/v2/databases", FULL).await;
    assert_eq!((r.status, r.detail()), (StatusCode::NOT_FOUND, "Not Found"));
    let r = api.send(Method::PUT, "/v1/quota", FULL, json!({})).await;
    assert_eq!(
        (r.status, r.detail()),
        (StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
    );
    let stats = api.sim.hooks().stats();
    assert_eq!(stats.requests.count("PUT", "/v1/quota", 405), 1);
    assert_eq!(stats.requests.with_status(404), 1);
}
