//! The portal simulator over raw HTTP: every route, every error path, life cycles and hooks.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use htx_operator::providers::htx::sim::{
    Faults, Kind, Product, Quota, RunningSim, Scope, SimConfig, Simulator, TokenSpec,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const FULL: &str = "htx_full";
const READ: &str = "htx_read";
const DBS: &str = "htx_dbs";
const FNS: &str = "htx_fns";
const PXS: &str = "htx_pxs";
/// Allowlisted for 10.0.0.0/8 only: the loopback client is refused.
const FAR: &str = "htx_far";
/// Allowlisted for 127.0.0.0/8 and one IPv6 address.
const NEAR: &str = "htx_near";
/// Allowlisted for exactly 127.0.0.1.
const EXACT: &str = "htx_exact";

const DATABASES: &str = "/api/portal/databases";
const FUNCTIONS: &str = "/api/portal/functions";
const PROXIES: &str = "/api/portal/proxies";

fn config() -> SimConfig {
    let tokens = [
        "htx_full:full",
        "htx_read:read",
        "htx_dbs:databases",
        "htx_fns:functions",
        "htx_pxs:proxies",
        "htx_far:full:10.0.0.0/8",
        "htx_near:full:127.0.0.0/8,::1",
        "htx_exact:full:127.0.0.1",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    SimConfig {
        tokens,
        rate_per_minute: 0,
        provision_delay: Duration::from_millis(200),
        backup_delay: Duration::from_millis(200),
        ..SimConfig::default()
    }
}

async fn start(config: SimConfig) -> Api {
    let sim = Simulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    Api::new(sim)
}

struct Api {
    sim: RunningSim,
    http: reqwest::Client,
}

struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
    raw: String,
}

impl Reply {
    fn error(&self) -> &str {
        self.body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error text in {:?}", self.raw))
    }
}

impl Api {
    fn new(sim: RunningSim) -> Api {
        Api {
            sim,
            http: reqwest::Client::new(),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.sim.url()));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request failed");
        let status = resp.status();
        let headers = resp.headers().clone();
        let raw = resp.text().await.unwrap();
        let body = if raw.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&raw).unwrap_or_else(|e| panic!("not JSON ({e}): {raw:?}"))
        };
        Reply {
            status,
            headers,
            body,
            raw,
        }
    }

    async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    async fn delete(&self, path: &str, token: &str) -> Reply {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    async fn hook(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call(method, path, None, body).await
    }

    async fn create_db(&self, name: &str) -> Reply {
        self.post(
            DATABASES,
            FULL,
            json!({"name": name, "engine": "postgresql", "sku": "db-s-1vcpu-2gb"}),
        )
        .await
    }

    /// Polls `path` until `field` equals `want`, failing after 5 s.
    async fn wait_for(&self, path: &str, field: &str, want: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let r = self.get(path, FULL).await;
            if r.body[field] == want {
                return r.body;
            }
            assert!(
                Instant::now() < deadline,
                "{path}: {field} never became {want}: {}",
                r.raw
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Polls a list until the item named `name` has `status`.
    async fn wait_in_list(&self, path: &str, name: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let r = self.get(path, FULL).await;
            if let Some(item) = r
                .body
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["name"] == name)
                && item["status"] == status
            {
                return item.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{name} never became {status}: {}",
                r.raw
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect()
}

// ---------------------------------------------------------------- basics

#[tokio::test]
async fn openapi_is_served_without_a_token() {
    let api = start(config()).await;
    let r = api.call(Method::GET, "/api/openapi", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/json");
    let seed: Value =
        serde_json::from_str(include_str!("../src/providers/htx/sim/htx-openapi.json")).unwrap();
    assert_eq!(r.body, seed);
    assert_eq!(r.body["info"]["version"], "1.1.0");
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let api = start(config()).await;
    let r = api.get("/api/portal/nothing", FULL).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.error().contains("/api/portal/nothing"));
    let r = api.call(Method::GET, "/", None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = api
        .call(Method::PUT, DATABASES, Some(FULL), Some(json!({})))
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.error().contains("PUT"));
    // Functions and proxies have no single-object GET in the (assumed) API.
    let r = api.get("/api/portal/functions/x", FULL).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let r = api.hook(Method::PUT, "/_sim/stats", None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn url_and_addr_name_the_bound_port() {
    let api = start(config()).await;
    let addr = api.sim.addr();
    assert_ne!(addr.port(), 0);
    assert_eq!(api.sim.url(), format!("http://127.0.0.1:{}", addr.port()));
    let wild = Simulator::start(config(), "0.0.0.0:0".parse().unwrap())
        .await
        .unwrap();
    assert!(wild.url().starts_with("http://127.0.0.1:"));
    wild.shutdown().await;
    api.sim.shutdown().await;
}

// ---------------------------------------------------------------- 401

#[tokio::test]
async fn missing_malformed_and_unknown_tokens_get_401() {
    let api = start(config()).await;
    for path in [
        DATABASES,
        FUNCTIONS,
        PROXIES,
        "/api/portal/databases/x",
        "/api/portal/databases/x/backups",
    ] {
        let r = api.call(Method::GET, path, None, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(r.error().contains("missing bearer token"));
        let r = api.get(path, "htx_nope").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.error().contains("invalid or revoked"));
        assert!(!r.raw.contains("htx_nope"), "token echoed: {}", r.raw);
    }
    let r = api
        .http
        .get(format!("{}{DATABASES}", api.sim.url()))
        .header("Authorization", format!("Basic {FULL}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // 401 comes before everything else, even for writes.
    let r = api
        .call(Method::POST, DATABASES, None, Some(json!({"name": "x"})))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revoked_tokens_get_401_at_once() {
    let api = start(config()).await;
    assert_eq!(api.get(DATABASES, DBS).await.status, StatusCode::OK);
    api.sim.hooks().revoke_token(DBS).unwrap();
    assert_eq!(
        api.get(DATABASES, DBS).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Over HTTP too.
    assert_eq!(api.get(DATABASES, FNS).await.status, StatusCode::OK);
    let r = api
        .hook(Method::POST, &format!("/_sim/tokens/{FNS}/revoke"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        api.get(DATABASES, FNS).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = api
        .hook(Method::POST, &format!("/_sim/tokens/{FNS}/revoke"), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn rotated_tokens_keep_scope_and_allowlist() {
    let api = start(config()).await;
    api.sim.hooks().rotate_token(READ, "htx_read2").unwrap();
    assert_eq!(
        api.get(DATABASES, READ).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(api.get(DATABASES, "htx_read2").await.status, StatusCode::OK);
    // Same scope: still read-only.
    let r = api
        .post(
            DATABASES,
            "htx_read2",
            json!({"name":"abc","engine":"mysql","sku":"db-s-1vcpu-1gb"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let r = api
        .hook(
            Method::POST,
            &format!("/_sim/tokens/{FAR}/rotate"),
            Some(json!({"new_token": "htx_far2"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        api.get(DATABASES, FAR).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Same allowlist: still refused from loopback.
    let r = api.get(DATABASES, "htx_far2").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.error().contains("not allowlisted"));
    // Rotating onto an existing token or from an unknown one fails.
    let r = api
        .hook(
            Method::POST,
            &format!("/_sim/tokens/{FULL}/rotate"),
            Some(json!({"new_token": DBS})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = api
        .hook(
            Method::POST,
            "/_sim/tokens/htx_gone/rotate",
            Some(json!({"new_token": "x1"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn tokens_can_be_added_by_hook() {
    let api = start(config()).await;
    assert_eq!(
        api.get(DATABASES, "htx_new").await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = api
        .hook(
            Method::POST,
            "/_sim/tokens",
            Some(json!({"token":"htx_new","scope":"proxies","allow":["127.0.0.1"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(api.get(DATABASES, "htx_new").await.status, StatusCode::OK);
    assert_eq!(
        api.post(PROXIES, "htx_new", json!({"name":"px-one"}))
            .await
            .status,
        StatusCode::CREATED
    );
    let r = api
        .hook(
            Method::POST,
            "/_sim/tokens",
            Some(json!({"token":"htx_new","scope":"full"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = api
        .hook(
            Method::POST,
            "/_sim/tokens",
            Some(json!({"token":"htx_x","scope":"admin"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = api
        .hook(
            Method::POST,
            "/_sim/tokens",
            Some(json!({"token":"htx_x","scope":"read","allow":["fd00::/8"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.error().contains("IPv6 CIDRs"));
    // In process.
    let mut spec = TokenSpec::new("htx_inproc", Scope::Functions);
    spec.allow = vec!["10.1.0.0/16".parse().unwrap()];
    api.sim.hooks().add_token(spec).unwrap();
    assert_eq!(
        api.get(DATABASES, "htx_inproc").await.status,
        StatusCode::FORBIDDEN
    );
}

// ---------------------------------------------------------------- 403

#[tokio::test]
async fn ip_allowlist_is_enforced_on_every_endpoint() {
    let api = start(config()).await;
    api.create_db("ipdb").await;
    let calls: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::GET, DATABASES, None),
        (
            Method::POST,
            DATABASES,
            Some(json!({"name":"abc","engine":"mysql","sku":"db-s-1vcpu-1gb"})),
        ),
        (Method::GET, "/api/portal/databases/ipdb", None),
        (Method::DELETE, "/api/portal/databases/ipdb", None),
        (Method::GET, "/api/portal/databases/ipdb/backups", None),
        (Method::POST, "/api/portal/databases/ipdb/backups", None),
        (Method::GET, FUNCTIONS, None),
        (
            Method::POST,
            FUNCTIONS,
            Some(json!({"name":"fff","runtime":"nodejs20"})),
        ),
        (Method::DELETE, "/api/portal/functions/fff", None),
        (Method::GET, PROXIES, None),
        (Method::POST, PROXIES, Some(json!({"name":"ppp"}))),
        (Method::DELETE, "/api/portal/proxies/ppp", None),
    ];
    for (method, path, body) in &calls {
        let r = api
            .call(method.clone(), path, Some(FAR), body.clone())
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(
            r.error(),
            "client IP 127.0.0.1 is not allowlisted for this token"
        );
    }
    // Nothing happened.
    assert_eq!(api.sim.hooks().databases().len(), 1);
    assert!(api.sim.hooks().functions().is_empty());
    // Allowlisted by CIDR and by single address.
    for token in [NEAR, EXACT] {
        assert_eq!(api.get(DATABASES, token).await.status, StatusCode::OK);
        let r = api
            .post(
                FUNCTIONS,
                token,
                json!({"name": format!("fn-{}", &token[4..]), "runtime":"go1.22"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    }
}

#[tokio::test]
async fn read_scope_cannot_write_anything() {
    let api = start(config()).await;
    api.create_db("rdb").await;
    api.sim
        .hooks()
        .create_out_of_band(
            Product::Functions,
            json!({"name":"rfn","runtime":"nodejs20"}),
        )
        .unwrap();
    api.sim
        .hooks()
        .create_out_of_band(Product::Proxies, json!({"name":"rpx"}))
        .unwrap();
    let writes: Vec<(Method, &str, Option<Value>, &str)> = vec![
        (
            Method::POST,
            DATABASES,
            Some(json!({"name":"abc","engine":"mysql","sku":"db-s-1vcpu-1gb"})),
            "creating databases",
        ),
        (
            Method::DELETE,
            "/api/portal/databases/rdb",
            None,
            "deleting databases",
        ),
        (
            Method::POST,
            "/api/portal/databases/rdb/backups",
            None,
            "creating database backups",
        ),
        (
            Method::POST,
            FUNCTIONS,
            Some(json!({"name":"fff","runtime":"nodejs20"})),
            "creating functions",
        ),
        (
            Method::DELETE,
            "/api/portal/functions/rfn",
            None,
            "deleting functions",
        ),
        (
            Method::POST,
            PROXIES,
            Some(json!({"name":"ppp"})),
            "creating proxies",
        ),
        (
            Method::DELETE,
            "/api/portal/proxies/rpx",
            None,
            "deleting proxies",
        ),
    ];
    for (method, path, body, what) in writes {
        let r = api.call(method.clone(), path, Some(READ), body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(
            r.error(),
            format!("token scope \"read\" does not permit {what}")
        );
    }
    for path in [
        DATABASES,
        "/api/portal/databases/rdb",
        "/api/portal/databases/rdb/backups",
        FUNCTIONS,
        PROXIES,
    ] {
        assert_eq!(api.get(path, READ).await.status, StatusCode::OK, "{path}");
    }
    assert_eq!(api.sim.hooks().databases().len(), 1);
    assert_eq!(api.sim.hooks().functions().len(), 1);
    assert_eq!(api.sim.hooks().proxies().len(), 1);
}

#[tokio::test]
async fn product_scopes_write_only_their_product() {
    let api = start(config()).await;
    let db = json!({"name":"scoped-db","engine":"mysql","sku":"db-s-1vcpu-1gb"});
    let func = json!({"name":"scoped-fn","runtime":"python3.12"});
    let proxy = json!({"name":"scoped-px"});

    // databases: databases and backups only.
    assert_eq!(
        api.post(DATABASES, DBS, db.clone()).await.status,
        StatusCode::CREATED
    );
    let r = api.post(FUNCTIONS, DBS, func.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.error().contains("\"databases\""));
    assert_eq!(
        api.post(PROXIES, DBS, proxy.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    api.wait_for("/api/portal/databases/scoped-db", "status", "online")
        .await;
    let r = api
        .call(
            Method::POST,
            "/api/portal/databases/scoped-db/backups",
            Some(DBS),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = api
        .call(
            Method::POST,
            "/api/portal/databases/scoped-db/backups",
            Some(FNS),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // functions.
    assert_eq!(
        api.post(DATABASES, FNS, db.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        api.post(FUNCTIONS, FNS, func.clone()).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        api.delete("/api/portal/functions/scoped-fn", PXS)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        api.delete("/api/portal/functions/scoped-fn", FNS)
            .await
            .status,
        StatusCode::OK
    );

    // proxies.
    assert_eq!(
        api.post(PROXIES, FNS, proxy.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        api.post(PROXIES, PXS, proxy.clone()).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        api.delete("/api/portal/databases/scoped-db", PXS)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        api.delete("/api/portal/proxies/scoped-px", PXS)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        api.delete("/api/portal/databases/scoped-db", DBS)
            .await
            .status,
        StatusCode::OK
    );

    // Every scope reads everything.
    for token in [DBS, FNS, PXS] {
        for path in [DATABASES, FUNCTIONS, PROXIES] {
            assert_eq!(api.get(path, token).await.status, StatusCode::OK);
        }
    }
    // Scope is checked before the route: a forbidden delete of a missing name is 403, not 404.
    assert_eq!(
        api.delete("/api/portal/proxies/none", DBS).await.status,
        StatusCode::FORBIDDEN
    );
}

// ---------------------------------------------------------------- 429

#[tokio::test]
async fn rate_limit_gives_429_with_retry_after_per_token() {
    let mut cfg = config();
    cfg.rate_per_minute = 5;
    let api = start(cfg).await;
    for i in 0..5 {
        let r = api.get(DATABASES, FULL).await;
        assert_eq!(r.status, StatusCode::OK, "request {i}");
    }
    let r = api.get(DATABASES, FULL).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.error().contains("rate limit"));
    let secs: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&secs), "{secs}");
    // Every route counts against the same budget; writes too.
    let r = api.create_db("late").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // 429 comes before the scope check.
    for _ in 0..5 {
        api.get(DATABASES, READ).await;
    }
    let r = api.post(DATABASES, READ, json!({})).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // Other tokens have their own budget; 401 and IP 403 come first and use none.
    assert_eq!(api.get(DATABASES, DBS).await.status, StatusCode::OK);
    assert_eq!(
        api.get(DATABASES, "htx_nope").await.status,
        StatusCode::UNAUTHORIZED
    );
    for _ in 0..10 {
        assert_eq!(api.get(DATABASES, FAR).await.status, StatusCode::FORBIDDEN);
    }
    // Raising the limit (or 0 = unlimited) applies at once, by hook.
    let r = api
        .hook(Method::POST, "/_sim/rate", Some(json!({"per_minute": 0})))
        .await;
    assert_eq!(r.body, json!({"per_minute": 0}));
    assert_eq!(api.get(DATABASES, FULL).await.status, StatusCode::OK);
    // While unlimited nothing is recorded, so a new limit starts from an empty window.
    api.sim.hooks().set_rate_per_minute(1);
    assert_eq!(api.get(DATABASES, FULL).await.status, StatusCode::OK);
    assert_eq!(
        api.get(DATABASES, FULL).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // 429s are counted by status.
    let stats = api.sim.hooks().stats();
    assert_eq!(stats.count("GET", DATABASES, 429), 2);
}

#[tokio::test]
async fn rejected_requests_do_not_consume_budget() {
    let mut cfg = config();
    cfg.rate_per_minute = 3;
    let api = start(cfg).await;
    for _ in 0..3 {
        assert_eq!(api.get(DATABASES, FULL).await.status, StatusCode::OK);
    }
    for _ in 0..20 {
        assert_eq!(
            api.get(DATABASES, FULL).await.status,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    // Lifting the limit to 4 frees exactly one slot: the 20 rejections were not recorded.
    api.sim.hooks().set_rate_per_minute(4);
    assert_eq!(api.get(DATABASES, FULL).await.status, StatusCode::OK);
    assert_eq!(
        api.get(DATABASES, FULL).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

// ---------------------------------------------------------------- databases

#[tokio::test]
async fn database_life_cycle() {
    let api = start(config()).await;
    let r = api.create_db("analytics").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    let db = &r.body;
    assert_eq!(db["name"], "analytics");
    assert_eq!(db["engine"], "postgresql");
    assert_eq!(db["sku"], "db-s-1vcpu-2gb");
    assert_eq!(db["status"], "creating");
    assert_eq!(db["cluster_target"], "hcm-1");
    assert!(db["id"].as_str().unwrap().len() >= 8);
    assert!(db["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(db.get("connection").is_none());
    let id = db["id"].clone();

    let list = api.get(DATABASES, FULL).await;
    assert_eq!(names(&list.body), vec!["analytics"]);

    let online = api
        .wait_for("/api/portal/databases/analytics", "status", "online")
        .await;
    assert_eq!(online["id"], id);
    let c = &online["connection"];
    assert_eq!(c["port"], 5432);
    assert_eq!(c["username"], "htxadmin");
    assert_eq!(c["database"], "defaultdb");
    let uri = c["uri"].as_str().unwrap();
    assert_eq!(
        uri,
        format!(
            "postgresql://htxadmin:{}@{}:5432/defaultdb?sslmode=require",
            c["password"].as_str().unwrap(),
            c["host"].as_str().unwrap()
        )
    );
    let listed = api.wait_in_list(DATABASES, "analytics", "online").await;
    assert_eq!(listed, online);

    let r = api.delete("/api/portal/databases/analytics", FULL).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({}));
    let r = api.get("/api/portal/databases/analytics", FULL).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error(), "database \"analytics\" not found");
    assert_eq!(
        api.delete("/api/portal/databases/analytics", FULL)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(api.get(DATABASES, FULL).await.body, json!([]));

    // The name can be used again; it is a new database.
    let r = api.create_db("analytics").await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_ne!(r.body["id"], id);
}

#[tokio::test]
async fn every_engine_gets_plausible_connection_details() {
    let api = start(config()).await;
    for (engine, scheme, port) in [
        ("postgresql", "postgresql://", 5432),
        ("mysql", "mysql://", 3306),
        ("mongodb", "mongodb://", 27017),
        ("clickhouse", "clickhouse://", 9440),
    ] {
        let r = api
            .post(
                DATABASES,
                FULL,
                json!({"name": format!("e-{engine}"), "engine": engine, "sku": "db-s-1vcpu-1gb"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        let db = api
            .wait_for(
                &format!("/api/portal/databases/e-{engine}"),
                "status",
                "online",
            )
            .await;
        assert_eq!(db["connection"]["port"], port);
        assert!(
            db["connection"]["uri"]
                .as_str()
                .unwrap()
                .starts_with(scheme)
        );
    }
}

#[tokio::test]
async fn invalid_database_bodies_get_422() {
    let api = start(config()).await;
    let cases = [
        (
            json!({"name":"abc","engine":"oracle","sku":"db-s-1vcpu-1gb"}),
            "engine",
        ),
        (json!({"name":"abc","sku":"db-s-1vcpu-1gb"}), "engine"),
        (json!({"name":"abc","engine":"mysql"}), "sku"),
        (json!({"name":"abc","engine":"mysql","sku":"huge"}), "sku"),
        (json!({"engine":"mysql","sku":"db-s-1vcpu-1gb"}), "name"),
        (
            json!({"name":"ab","engine":"mysql","sku":"db-s-1vcpu-1gb"}),
            "name",
        ),
        (
            json!({"name":"1abc","engine":"mysql","sku":"db-s-1vcpu-1gb"}),
            "name",
        ),
        (
            json!({"name":"Abc","engine":"mysql","sku":"db-s-1vcpu-1gb"}),
            "name",
        ),
        (
            json!({"name":"abc-","engine":"mysql","sku":"db-s-1vcpu-1gb"}),
            "name",
        ),
        (
            json!({"name":"a_b_c","engine":"mysql","sku":"db-s-1vcpu-1gb"}),
            "name",
        ),
        (
            json!({"name":"a".repeat(64),"engine":"mysql","sku":"db-s-1vcpu-1gb"}),
            "name",
        ),
        (
            json!({"name":42,"engine":"mysql","sku":"db-s-1vcpu-1gb"}),
            "name",
        ),
        (json!(["abc"]), "JSON object"),
    ];
    for (body, word) in cases {
        let r = api.post(DATABASES, FULL, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(r.error().contains(word), "{body}: {}", r.error());
    }
    for raw in ["{not json", ""] {
        let r = api
            .http
            .post(format!("{}{DATABASES}", api.sim.url()))
            .bearer_auth(FULL)
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].is_string());
    }
    assert!(api.sim.hooks().databases().is_empty());
}

#[tokio::test]
async fn duplicates_get_409_and_quota_402() {
    let mut cfg = config();
    cfg.quota.databases = Some(2);
    let api = start(cfg).await;
    assert_eq!(api.create_db("one").await.status, StatusCode::CREATED);
    let r = api.create_db("one").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error(), "a database named \"one\" already exists");
    assert_eq!(api.create_db("two").await.status, StatusCode::CREATED);
    let r = api.create_db("three").await;
    assert_eq!(r.status, StatusCode::PAYMENT_REQUIRED);
    assert!(r.error().contains("quota"));
    // Deleting frees quota.
    api.delete("/api/portal/databases/one", FULL).await;
    assert_eq!(api.create_db("three").await.status, StatusCode::CREATED);
    // Quota by hook: merged, null removes.
    let r = api
        .hook(Method::POST, "/_sim/quota", Some(json!({"functions": 1})))
        .await;
    assert_eq!(
        r.body,
        json!({"databases": 2, "functions": 1, "proxies": null})
    );
    let r = api
        .hook(
            Method::POST,
            "/_sim/quota",
            Some(json!({"databases": null})),
        )
        .await;
    assert_eq!(r.body["databases"], Value::Null);
    assert_eq!(api.create_db("four").await.status, StatusCode::CREATED);
    let f = |n: &str| json!({"name": n, "runtime": "nodejs20"});
    assert_eq!(
        api.post(FUNCTIONS, FULL, f("fa1")).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        api.post(FUNCTIONS, FULL, f("fa2")).await.status,
        StatusCode::PAYMENT_REQUIRED
    );
    // In process, replacing the whole quota.
    api.sim.hooks().set_quota(Quota {
        proxies: Some(0),
        ..Quota::default()
    });
    assert_eq!(
        api.post(FUNCTIONS, FULL, f("fa2")).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        api.post(PROXIES, FULL, json!({"name":"pa1"})).await.status,
        StatusCode::PAYMENT_REQUIRED
    );
    let r = api
        .hook(Method::POST, "/_sim/quota", Some(json!({"disks": 3})))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn each_account_sees_changes_and_counts_only_its_own() {
    let mut cfg = config();
    cfg.quota.databases = Some(1);
    let api = start(cfg).await;
    api.sim
        .hooks()
        .add_token(TokenSpec::new("htx_other", Scope::Full).in_account("other"))
        .unwrap();
    let r = api
        .hook(
            Method::POST,
            "/_sim/tokens",
            Some(json!({"token":"htx_other_read","scope":"read","account":"other"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let db = |n: &str| json!({"name": n, "engine": "postgresql", "sku": "db-s-1vcpu-2gb"});
    assert_eq!(api.create_db("ours").await.status, StatusCode::CREATED);
    // The quota is the account's: the other account still has its one database to make.
    let r = api.post(DATABASES, "htx_other", db("theirs")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    // Each list holds its own account's only, for every token of that account.
    assert_eq!(names(&api.get(DATABASES, FULL).await.body), ["ours"]);
    assert_eq!(
        names(&api.get(DATABASES, "htx_other").await.body),
        ["theirs"]
    );
    assert_eq!(
        names(&api.get(DATABASES, "htx_other_read").await.body),
        ["theirs"]
    );
    // Another account's resource is not there: read, backups and delete are 404.
    for (method, path) in [
        (Method::GET, "/api/portal/databases/ours"),
        (Method::GET, "/api/portal/databases/ours/backups"),
        (Method::POST, "/api/portal/databases/ours/backups"),
        (Method::DELETE, "/api/portal/databases/ours"),
    ] {
        let r = api
            .call(method.clone(), path, Some("htx_other"), None)
            .await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            r.raw
        );
    }
    assert_eq!(
        api.get("/api/portal/databases/ours", FULL).await.status,
        StatusCode::OK
    );
    // Names are unique across the portal: a name another account holds is refused, unseen.
    let r = api.post(DATABASES, FULL, db("theirs")).await;
    assert_eq!(
        r.status,
        StatusCode::PAYMENT_REQUIRED,
        "quota first: {}",
        r.raw
    );
    api.sim.hooks().set_quota(Quota::default());
    let r = api.post(DATABASES, FULL, db("theirs")).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.raw);
    // Rotation keeps the account.
    api.sim
        .hooks()
        .rotate_token("htx_other", "htx_other_2")
        .unwrap();
    assert_eq!(
        names(&api.get(DATABASES, "htx_other_2").await.body),
        ["theirs"]
    );
    assert_eq!(
        api.delete("/api/portal/databases/theirs", "htx_other_2")
            .await
            .status,
        StatusCode::OK
    );
}

// ---------------------------------------------------------------- backups

#[tokio::test]
async fn backup_life_cycle() {
    let api = start(config()).await;
    let r = api
        .call(
            Method::GET,
            "/api/portal/databases/nodb/backups",
            Some(FULL),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = api
        .call(
            Method::POST,
            "/api/portal/databases/nodb/backups",
            Some(FULL),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    api.create_db("bdb").await;
    let r = api
        .call(
            Method::POST,
            "/api/portal/databases/bdb/backups",
            Some(FULL),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.error().contains("not online"), "{}", r.error());
    assert_eq!(
        api.get("/api/portal/databases/bdb/backups", FULL)
            .await
            .body,
        json!([])
    );

    api.wait_for("/api/portal/databases/bdb", "status", "online")
        .await;
    let r = api
        .call(
            Method::POST,
            "/api/portal/databases/bdb/backups",
            Some(FULL),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let b = r.body;
    assert_eq!(b["database"], "bdb");
    assert_eq!(b["status"], "running");
    assert!(b.get("completed_at").is_none() && b.get("size_bytes").is_none());
    // A body is accepted and ignored.
    let r = api
        .post(
            "/api/portal/databases/bdb/backups",
            FULL,
            json!({"label": "x"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    let done = api
        .wait_in_list_by_id("/api/portal/databases/bdb/backups", &b["id"], "completed")
        .await;
    assert!(done["completed_at"].as_str().unwrap() >= b["created_at"].as_str().unwrap());
    assert!(done["size_bytes"].as_u64().unwrap() > 0);
    let list = api
        .get("/api/portal/databases/bdb/backups", FULL)
        .await
        .body;
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(api.sim.hooks().backups("bdb").unwrap().len(), 2);

    // Backups go with their database.
    api.delete("/api/portal/databases/bdb", FULL).await;
    let r = api.get("/api/portal/databases/bdb/backups", FULL).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(api.sim.hooks().backups("bdb").is_none());
    api.create_db("bdb").await;
    assert_eq!(
        api.get("/api/portal/databases/bdb/backups", FULL)
            .await
            .body,
        json!([])
    );
}

impl Api {
    async fn wait_in_list_by_id(&self, path: &str, id: &Value, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let r = self.get(path, FULL).await;
            if let Some(item) = r.body.as_array().unwrap().iter().find(|i| &i["id"] == id)
                && item["status"] == status
            {
                return item.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{id} never became {status}: {}",
                r.raw
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

// ---------------------------------------------------------------- functions and proxies

#[tokio::test]
async fn function_life_cycle() {
    let api = start(config()).await;
    let body = json!({"name":"hello","runtime":"nodejs20","memory_mb":256,"env":{"A":"1"},"status":"ignored"});
    let r = api.post(FUNCTIONS, FULL, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    let f = r.body;
    assert_eq!(f["name"], "hello");
    assert_eq!(f["runtime"], "nodejs20");
    assert_eq!(f["memory_mb"], 256);
    assert_eq!(f["env"], json!({"A":"1"}));
    assert_eq!(f["status"], "deploying");
    assert!(f["id"].is_string());
    assert!(f.get("url").is_none());
    let active = api.wait_in_list(FUNCTIONS, "hello", "active").await;
    assert_eq!(active["url"], "https://hello.fn.vinacis.com");
    assert_eq!(active["id"], f["id"]);

    assert_eq!(
        api.post(FUNCTIONS, FULL, json!({"name":"hello","runtime":"go1.22"}))
            .await
            .status,
        StatusCode::CONFLICT
    );
    let r = api.post(FUNCTIONS, FULL, json!({"name":"nort"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.error().contains("runtime"));
    assert_eq!(
        api.post(FUNCTIONS, FULL, json!({"name":"Bad","runtime":"go"}))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let r = api.delete("/api/portal/functions/hello", FULL).await;
    assert_eq!((r.status, r.body), (StatusCode::OK, json!({})));
    assert_eq!(
        api.delete("/api/portal/functions/hello", FULL).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(api.get(FUNCTIONS, FULL).await.body, json!([]));
}

#[tokio::test]
async fn proxy_life_cycle() {
    let api = start(config()).await;
    let r = api
        .post(PROXIES, FULL, json!({"name":"egress","region":"hcm"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    let p = r.body;
    assert_eq!(p["type"], "socks5");
    assert_eq!(p["region"], "hcm");
    assert_eq!(p["status"], "provisioning");
    assert!(p.get("password").is_none());
    let active = api.wait_in_list(PROXIES, "egress", "active").await;
    assert_eq!(active["port"], 1080);
    for field in ["host", "username", "password"] {
        assert!(!active[field].as_str().unwrap().is_empty(), "{field}");
    }
    assert_eq!(
        api.post(PROXIES, FULL, json!({"name":"egress"}))
            .await
            .status,
        StatusCode::CONFLICT
    );
    let r = api
        .post(PROXIES, FULL, json!({"name":"webpx","type":"http"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.error().contains("socks5"));
    assert_eq!(
        api.post(PROXIES, FULL, json!({"name":"s5","type":"socks5"}))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        api.post(PROXIES, FULL, json!({"name":"s5x","type":"socks5"}))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        api.delete("/api/portal/proxies/egress", FULL).await.status,
        StatusCode::OK
    );
    assert_eq!(
        api.delete("/api/portal/proxies/egress", FULL).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(names(&api.get(PROXIES, FULL).await.body), vec!["s5x"]);
}

// ---------------------------------------------------------------- hooks: stats

#[tokio::test]
async fn stats_count_by_route_template_and_status() {
    let api = start(config()).await;
    api.create_db("st-one").await;
    api.create_db("st-one").await;
    api.get("/api/portal/databases/st-one", FULL).await;
    api.get("/api/portal/databases/st-two", FULL).await;
    api.get("/api/portal/databases/st-three", FULL).await;
    api.call(Method::GET, DATABASES, None, None).await;
    api.get("/api/nowhere", FULL).await;
    api.hook(Method::GET, "/_sim/state", None).await;

    let r = api.hook(Method::GET, "/_sim/stats", None).await;
    let reqs = r.body["requests"].as_array().unwrap();
    let find = |m: &str, route: &str, status: u64| {
        reqs.iter()
            .find(|x| x["method"] == m && x["route"] == route && x["status"] == status)
            .map(|x| x["count"].as_u64().unwrap())
    };
    assert_eq!(find("POST", DATABASES, 201), Some(1));
    assert_eq!(find("POST", DATABASES, 409), Some(1));
    assert_eq!(find("GET", "/api/portal/databases/{name}", 200), Some(1));
    assert_eq!(find("GET", "/api/portal/databases/{name}", 404), Some(2));
    assert_eq!(find("GET", DATABASES, 401), Some(1));
    assert_eq!(find("GET", "<unmatched>", 404), Some(1));
    assert_eq!(reqs.len(), 6, "hooks are not counted: {reqs:?}");
    assert_eq!(r.body["creates"]["databases"], 1);

    let stats = api.sim.hooks().stats();
    assert_eq!(stats.count("GET", "/api/portal/databases/{name}", 404), 2);
    assert_eq!(stats.route_total("POST", DATABASES), 2);
    assert_eq!(stats.total(), 7);
    assert_eq!(api.sim.hooks().creates_count(Kind::Databases), 1);

    let r = api.hook(Method::POST, "/_sim/stats/reset", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(api.sim.hooks().stats().total(), 0);
    assert_eq!(api.sim.hooks().creates_count(Kind::Databases), 0);
    api.delete("/api/portal/databases/st-one", FULL).await;
    assert_eq!(api.sim.hooks().deletes_count(Kind::Databases), 1);
}

// ---------------------------------------------------------------- hooks: faults

#[tokio::test]
async fn error_fault_answers_503_without_effect() {
    let api = start(config()).await;
    let r = api
        .hook(
            Method::POST,
            "/_sim/faults",
            Some(json!({"error_rate": 1.0})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = api.create_db("never").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.error().contains("unavailable"));
    // Even before auth.
    assert_eq!(
        api.get(DATABASES, "htx_nope").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // Hooks are unaffected.
    assert!(api.sim.hooks().databases().is_empty());
    assert_eq!(
        api.hook(Method::GET, "/_sim/faults", None).await.body["error_rate"],
        1.0
    );
    assert_eq!(
        api.hook(Method::DELETE, "/_sim/faults", None).await.status,
        StatusCode::OK
    );
    assert_eq!(api.create_db("now").await.status, StatusCode::CREATED);
    assert_eq!(api.sim.hooks().stats().count("POST", DATABASES, 503), 1);

    // A partial, seeded error rate is reproducible.
    let run = |api: &Api| {
        api.sim
            .hooks()
            .set_faults(Faults {
                error_rate: 0.5,
                seed: Some(42),
                ..Faults::default()
            })
            .unwrap()
    };
    run(&api);
    let mut first = Vec::new();
    for _ in 0..20 {
        first.push(api.get(DATABASES, FULL).await.status);
    }
    run(&api);
    let mut second = Vec::new();
    for _ in 0..20 {
        second.push(api.get(DATABASES, FULL).await.status);
    }
    assert_eq!(first, second);
    assert!(first.contains(&StatusCode::OK) && first.contains(&StatusCode::SERVICE_UNAVAILABLE));

    let r = api
        .hook(Method::POST, "/_sim/faults", Some(json!({"error_rate": 2})))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = api
        .hook(
            Method::POST,
            "/_sim/faults",
            Some(json!({"eror_rate": 0.1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn latency_fault_delays_portal_requests_only() {
    let api = start(config()).await;
    api.sim
        .hooks()
        .set_faults(Faults {
            latency_ms: 300,
            ..Faults::default()
        })
        .unwrap();
    let t = Instant::now();
    assert_eq!(api.get(DATABASES, FULL).await.status, StatusCode::OK);
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    // A delayed portal request is still out when a hook answers, and when a portal request made
    // after the faults were cleared does.
    api.sim
        .hooks()
        .set_faults(Faults {
            latency_ms: 3_000,
            ..Faults::default()
        })
        .unwrap();
    let http = api.http.clone();
    let url = format!("{}{DATABASES}", api.sim.url());
    let delayed = tokio::spawn(async move { http.get(url).bearer_auth(FULL).send().await });
    api.hook(Method::GET, "/_sim/stats", None).await;
    assert!(!delayed.is_finished(), "the hook waited for the latency");
    api.sim.hooks().clear_faults();
    assert_eq!(api.get(DATABASES, FULL).await.status, StatusCode::OK);
    assert!(
        !delayed.is_finished(),
        "a request after clearing the faults is not delayed"
    );
    delayed.await.unwrap().unwrap();
}

#[tokio::test]
async fn drop_fault_closes_the_connection_without_a_response() {
    let api = start(config()).await;
    api.sim
        .hooks()
        .set_faults(Faults {
            drop_rate: 1.0,
            ..Faults::default()
        })
        .unwrap();
    let client = reqwest::Client::new();
    let err = client
        .post(format!("{}{DATABASES}", api.sim.url()))
        .bearer_auth(FULL)
        .json(&json!({"name":"dropped","engine":"mysql","sku":"db-s-1vcpu-1gb"}))
        .send()
        .await
        .expect_err("the connection should be dropped");
    assert!(
        err.is_request() || err.is_connect() || err.is_body(),
        "{err:?}"
    );
    // By default the effect happened: only the response was lost.
    assert_eq!(names(&json!(api.sim.hooks().databases())), vec!["dropped"]);
    assert_eq!(api.sim.hooks().stats().count("POST", DATABASES, 0), 1);
    assert_eq!(api.sim.hooks().creates_count(Kind::Databases), 1);
    // GETs are dropped too.
    assert!(
        client
            .get(format!("{}{DATABASES}", api.sim.url()))
            .bearer_auth(FULL)
            .send()
            .await
            .is_err()
    );

    // drop_before_effect: nothing happens.
    api.sim
        .hooks()
        .set_faults(Faults {
            drop_rate: 1.0,
            drop_before_effect: true,
            ..Faults::default()
        })
        .unwrap();
    let res = client
        .post(format!("{}{DATABASES}", api.sim.url()))
        .bearer_auth(FULL)
        .json(&json!({"name":"not-made","engine":"mysql","sku":"db-s-1vcpu-1gb"}))
        .send()
        .await;
    assert!(res.is_err());
    assert_eq!(api.sim.hooks().databases().len(), 1);

    // The server keeps serving other connections.
    api.sim.hooks().clear_faults();
    assert_eq!(api.get(DATABASES, FULL).await.status, StatusCode::OK);
}

#[tokio::test]
async fn drop_fault_is_roughly_the_requested_share() {
    let api = start(config()).await;
    api.sim
        .hooks()
        .set_faults(Faults {
            drop_rate: 0.3,
            seed: Some(1),
            ..Faults::default()
        })
        .unwrap();
    let client = reqwest::Client::new();
    let mut dropped = 0;
    for _ in 0..100 {
        let r = client
            .get(format!("{}{DATABASES}", api.sim.url()))
            .bearer_auth(FULL)
            .send()
            .await;
        match r {
            Ok(r) => assert_eq!(r.status(), StatusCode::OK),
            Err(_) => dropped += 1,
        }
    }
    assert!((15..=45).contains(&dropped), "{dropped}");
    assert_eq!(api.sim.hooks().stats().count("GET", DATABASES, 0), dropped);
}

#[tokio::test]
async fn success_codes_can_be_changed() {
    let api = start(config()).await;
    api.hook(
        Method::POST,
        "/_sim/faults",
        Some(json!({"create_status": 202, "delete_status": 204})),
    )
    .await;
    let r = api.create_db("async-db").await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.body["name"], "async-db");
    let r = api.delete("/api/portal/databases/async-db", FULL).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.raw.is_empty());
    // Errors keep their codes.
    assert_eq!(
        api.delete("/api/portal/databases/async-db", FULL)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    api.sim
        .hooks()
        .set_faults(Faults {
            create_status: Some(204),
            delete_status: Some(202),
            ..Faults::default()
        })
        .unwrap();
    let r = api
        .post(FUNCTIONS, FULL, json!({"name":"fn-204","runtime":"go"}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.raw.is_empty());
    assert_eq!(api.sim.hooks().functions().len(), 1);
    let r = api.delete("/api/portal/functions/fn-204", FULL).await;
    assert_eq!((r.status, r.body), (StatusCode::ACCEPTED, json!({})));
    let r = api
        .hook(
            Method::POST,
            "/_sim/faults",
            Some(json!({"create_status": 404})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

// ---------------------------------------------------------------- hooks: hold / release

#[tokio::test]
async fn held_creates_take_effect_and_answer_on_release() {
    let api = start(config()).await;
    let r = api
        .hook(
            Method::POST,
            "/_sim/hold-creates",
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(r.body, json!({"enabled": true, "held": 0}));
    let url = format!("{}{DATABASES}", api.sim.url());
    let pending = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .bearer_auth(FULL)
            .json(&json!({"name":"held-db","engine":"mysql","sku":"db-s-1vcpu-1gb"}))
            .send()
            .await
            .unwrap()
    });
    let hooks = api.sim.hooks().clone();
    wait_until("a held create", || hooks.held() == 1).await;
    assert_eq!(
        api.hook(Method::GET, "/_sim/held", None).await.body,
        json!({"held": 1})
    );
    // The portal already has it; reads are not held.
    assert_eq!(names(&api.get(DATABASES, FULL).await.body), vec!["held-db"]);
    assert!(!pending.is_finished());
    let r = api.hook(Method::POST, "/_sim/release-creates", None).await;
    assert_eq!(r.body, json!({"released": 1}));
    let resp = pending.await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(resp.json::<Value>().await.unwrap()["name"], "held-db");

    // A client that gives up while held: the resource still exists.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let r = client
        .post(format!("{}{FUNCTIONS}", api.sim.url()))
        .bearer_auth(FULL)
        .json(&json!({"name":"held-fn","runtime":"go"}))
        .send()
        .await;
    assert!(r.unwrap_err().is_timeout());
    assert_eq!(names(&json!(api.sim.hooks().functions())), vec!["held-fn"]);
    assert_eq!(api.sim.hooks().creates_count(Kind::Functions), 1);

    // Failed creates are not held; turning holding off releases everything.
    assert_eq!(api.create_db("held-db").await.status, StatusCode::CONFLICT);
    let url = format!("{}{PROXIES}", api.sim.url());
    let pending = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .bearer_auth(FULL)
            .json(&json!({"name":"held-px"}))
            .send()
            .await
            .unwrap()
    });
    wait_until("a held proxy", || api.sim.hooks().proxies().len() == 1).await;
    api.sim.hooks().hold_creates(false);
    assert_eq!(pending.await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(api.create_db("free-db").await.status, StatusCode::CREATED);
}

// ---------------------------------------------------------------- hooks: out of band

#[tokio::test]
async fn out_of_band_resources_appear_and_vanish() {
    let api = start(config()).await;
    let r = api
        .hook(
            Method::POST,
            "/_sim/databases",
            Some(json!({"name":"web-ui","engine":"mysql","sku":"db-s-1vcpu-1gb"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["status"], "online");
    assert!(
        r.body["connection"]["uri"]
            .as_str()
            .unwrap()
            .starts_with("mysql://")
    );
    let got = api.get("/api/portal/databases/web-ui", FULL).await;
    assert_eq!(got.body["status"], "online");
    // Not counted as portal creates; duplicates conflict.
    assert_eq!(api.sim.hooks().creates_count(Kind::Databases), 0);
    let r = api
        .hook(
            Method::POST,
            "/_sim/databases",
            Some(json!({"name":"web-ui","engine":"mysql","sku":"db-s-1vcpu-1gb"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(api.create_db("web-ui").await.status, StatusCode::CONFLICT);
    let r = api
        .hook(Method::POST, "/_sim/databases", Some(json!({"name":"x"})))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    // A given status: the pending one still finishes, others are pinned.
    let r = api
        .hook(Method::POST, "/_sim/databases", Some(json!({"name":"slow-ui","engine":"mysql","sku":"db-s-1vcpu-1gb","status":"creating"})))
        .await;
    assert_eq!(r.body["status"], "creating");
    api.wait_for("/api/portal/databases/slow-ui", "status", "online")
        .await;
    api.sim
        .hooks()
        .create_out_of_band(
            Product::Databases,
            json!({"name":"odd-ui","engine":"mysql","sku":"db-s-1vcpu-1gb","status":"resizing"}),
        )
        .unwrap();
    assert_eq!(
        api.get("/api/portal/databases/odd-ui", FULL).await.body["status"],
        "resizing"
    );
    let r = api
        .post("/api/portal/databases/odd-ui/backups", FULL, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = api
        .hook(
            Method::POST,
            "/_sim/databases/odd-ui/status",
            Some(json!({"status":"failed"})),
        )
        .await;
    assert_eq!(r.body["status"], "failed");
    api.hook(
        Method::POST,
        "/_sim/databases/odd-ui/status",
        Some(json!({"status":"online"})),
    )
    .await;
    assert_eq!(
        api.get("/api/portal/databases/odd-ui", FULL).await.body["status"],
        "online"
    );

    // Functions and proxies.
    let r = api
        .hook(
            Method::POST,
            "/_sim/functions",
            Some(json!({"name":"ui-fn","runtime":"go"})),
        )
        .await;
    assert_eq!(
        (r.status, r.body["status"].clone()),
        (StatusCode::CREATED, json!("active"))
    );
    let r = api
        .hook(Method::POST, "/_sim/proxies", Some(json!({"name":"ui-px"})))
        .await;
    assert_eq!(r.body["status"], "active");
    assert_eq!(names(&api.get(FUNCTIONS, FULL).await.body), vec!["ui-fn"]);
    assert_eq!(names(&api.get(PROXIES, FULL).await.body), vec!["ui-px"]);

    // Out-of-band deletes.
    for path in [
        "/_sim/databases/web-ui",
        "/_sim/functions/ui-fn",
        "/_sim/proxies/ui-px",
    ] {
        assert_eq!(
            api.hook(Method::DELETE, path, None).await.status,
            StatusCode::OK,
            "{path}"
        );
        assert_eq!(
            api.hook(Method::DELETE, path, None).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert_eq!(
        api.get("/api/portal/databases/web-ui", FULL).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(api.sim.hooks().functions().is_empty());
    assert_eq!(api.sim.hooks().deletes_count(Kind::Databases), 0);
    assert!(
        api.sim
            .hooks()
            .delete_out_of_band(Product::Proxies, "ui-px")
            .is_err()
    );
}

#[tokio::test]
async fn out_of_band_creates_count_toward_quota() {
    let mut cfg = config();
    cfg.quota.proxies = Some(1);
    let api = start(cfg).await;
    api.sim
        .hooks()
        .create_out_of_band(Product::Proxies, json!({"name":"ui-px"}))
        .unwrap();
    api.sim
        .hooks()
        .create_out_of_band(Product::Proxies, json!({"name":"ui-px2"}))
        .unwrap();
    assert_eq!(
        api.post(PROXIES, FULL, json!({"name":"mine"})).await.status,
        StatusCode::PAYMENT_REQUIRED
    );
}

// ---------------------------------------------------------------- hooks: state

#[tokio::test]
async fn state_dump_has_everything() {
    let api = start(config()).await;
    api.sim
        .hooks()
        .create_out_of_band(
            Product::Databases,
            json!({"name":"dump-db","engine":"mongodb","sku":"db-s-1vcpu-1gb"}),
        )
        .unwrap();
    api.post("/api/portal/databases/dump-db/backups", FULL, json!({}))
        .await;
    api.post(FUNCTIONS, FULL, json!({"name":"dump-fn","runtime":"go"}))
        .await;
    let r = api.hook(Method::GET, "/_sim/state", None).await;
    let s = &r.body;
    assert_eq!(names(&s["databases"]), vec!["dump-db"]);
    assert_eq!(names(&s["functions"]), vec!["dump-fn"]);
    assert_eq!(s["proxies"], json!([]));
    assert_eq!(s["backups"].as_array().unwrap().len(), 1);
    assert_eq!(s["backups"][0]["database"], "dump-db");
    assert_eq!(s["rate_per_minute"], 0);
    assert_eq!(api.sim.hooks().state(), r.body);
}

fn temp_state_file(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("htx-sim-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("state.json")
}

#[tokio::test]
async fn state_file_survives_a_restart() {
    let path = temp_state_file("restart");
    let mut cfg = config();
    cfg.state_file = Some(path.clone());
    let api = start(cfg.clone()).await;
    api.create_db("keep-db").await;
    api.wait_for("/api/portal/databases/keep-db", "status", "online")
        .await;
    api.post("/api/portal/databases/keep-db/backups", FULL, json!({}))
        .await;
    api.post(
        FUNCTIONS,
        FULL,
        json!({"name":"keep-fn","runtime":"go","memory_mb":128}),
    )
    .await;
    api.post(PROXIES, FULL, json!({"name":"keep-px"})).await;
    api.wait_in_list(FUNCTIONS, "keep-fn", "active").await;
    api.wait_in_list(PROXIES, "keep-px", "active").await;
    api.create_db("gone-db").await;
    api.delete("/api/portal/databases/gone-db", FULL).await;
    // Saved soon after the change, without a shutdown.
    wait_until("the state file", || {
        std::fs::read_to_string(&path)
            .is_ok_and(|s| s.contains("keep-px") && !s.contains("gone-db"))
    })
    .await;
    let before = api.sim.hooks().state();
    api.sim.shutdown().await;
    assert!(!path.with_file_name("state.json.tmp").exists());

    let api = start(cfg).await;
    let after = api.sim.hooks().state();
    for key in ["databases", "functions", "proxies"] {
        assert_eq!(after[key], before[key], "{key}");
    }
    assert_eq!(after["backups"].as_array().unwrap().len(), 1);
    assert_eq!(after["backups"][0]["id"], before["backups"][0]["id"]);
    assert_eq!(
        api.get("/api/portal/databases/keep-db", FULL).await.body["status"],
        "online"
    );
    assert_eq!(api.create_db("keep-db").await.status, StatusCode::CONFLICT);
    api.sim.shutdown().await;

    // A broken state file is an error at start, not silently ignored.
    std::fs::write(&path, "garbage").unwrap();
    let mut cfg = config();
    cfg.state_file = Some(path.clone());
    let err = Simulator::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("state file"), "{err}");
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

// ---------------------------------------------------------------- load

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_thousands_of_requests_and_large_lists() {
    let api = start(config()).await;
    // HTX_SIM_LOAD=10000 for a bigger run.
    let n: usize = std::env::var("HTX_SIM_LOAD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let t = Instant::now();
    let url = api.sim.url();
    let mut tasks = Vec::new();
    for w in 0..16 {
        let http = api.http.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            for i in (w..n).step_by(16) {
                let r = http
                    .post(format!("{url}{DATABASES}"))
                    .bearer_auth(FULL)
                    .json(&json!({"name": format!("load-{i}"), "engine":"postgresql","sku":"db-s-1vcpu-1gb"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let creates = t.elapsed();
    let t = Instant::now();
    let list = api.get(DATABASES, FULL).await;
    let list_time = t.elapsed();
    assert_eq!(list.body.as_array().unwrap().len(), n);
    eprintln!(
        "{n} creates in {creates:?} ({:.0}/s); list of {n} in {list_time:?}",
        n as f64 / creates.as_secs_f64()
    );
    assert_eq!(api.sim.hooks().creates_count(Kind::Databases), n as u64);
}

// ---------------------------------------------------------------- the least convenient reading

#[tokio::test]
async fn a_lagging_list_misses_new_resources_and_keeps_deleted_ones() {
    let api = start(config()).await;
    api.create_db("early").await;
    api.sim
        .hooks()
        .set_faults(Faults {
            list_lag_ms: 60_000,
            ..Faults::default()
        })
        .unwrap();
    assert!(names(&api.get(DATABASES, FULL).await.body).is_empty());
    api.sim.hooks().clear_faults();
    api.create_db("late").await;
    assert_eq!(
        names(&api.get(DATABASES, FULL).await.body),
        ["early", "late"]
    );
    api.delete(&format!("{DATABASES}/early"), FULL).await;
    api.sim
        .hooks()
        .set_faults(Faults {
            list_lag_ms: 60_000,
            ..Faults::default()
        })
        .unwrap();
    assert!(
        names(&api.get(DATABASES, FULL).await.body).is_empty(),
        "both were created within the lag"
    );
    let current = api.get(&format!("{DATABASES}/late"), FULL).await;
    assert_eq!(
        current.status,
        StatusCode::OK,
        "a look-up by name is current"
    );
    let gone = api.get(&format!("{DATABASES}/early"), FULL).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert!(
        api.sim
            .hooks()
            .set_faults(Faults {
                list_lag_ms: 200_000,
                ..Faults::default()
            })
            .is_err(),
        "longer than the simulator remembers deletions"
    );
}

#[tokio::test]
async fn a_partial_list_leaves_items_out() {
    let api = start(config()).await;
    for i in 0..40 {
        api.create_db(&format!("part-{i:02}")).await;
    }
    api.sim
        .hooks()
        .set_faults(Faults {
            partial_list_rate: 0.5,
            seed: Some(3),
            ..Faults::default()
        })
        .unwrap();
    let listed = names(&api.get(DATABASES, FULL).await.body).len();
    assert!((5..35).contains(&listed), "{listed} of 40 listed");
}

#[tokio::test]
async fn async_deletes_show_deleting_then_go_or_come_back() {
    let api = start(config()).await;
    api.create_db("goes").await;
    api.create_db("stays").await;
    api.wait_in_list(DATABASES, "stays", "online").await;
    api.sim
        .hooks()
        .set_faults(Faults {
            async_deletes: true,
            ..Faults::default()
        })
        .unwrap();
    let accepted = api.delete(&format!("{DATABASES}/goes"), FULL).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED);
    assert_eq!(
        api.get(&format!("{DATABASES}/goes"), FULL).await.body["status"],
        "deleting"
    );
    assert_eq!(
        api.create_db("goes").await.status,
        StatusCode::CONFLICT,
        "a name being deleted is still taken"
    );
    wait_until_gone(&api, "goes").await;
    assert_eq!(api.sim.hooks().deletes_count(Kind::Databases), 1);

    api.sim
        .hooks()
        .set_faults(Faults {
            async_deletes: true,
            abandon_delete_rate: 1.0,
            ..Faults::default()
        })
        .unwrap();
    let accepted = api.delete(&format!("{DATABASES}/stays"), FULL).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED);
    api.wait_in_list(DATABASES, "stays", "deleting").await;
    api.wait_in_list(DATABASES, "stays", "online").await;
    let stats = api.sim.hooks().stats();
    assert_eq!(stats.abandoned_deletes, 1);
    assert_eq!(stats.deletes.get(Kind::Databases), 1);
}

async fn wait_until_gone(api: &Api, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while api.get(&format!("{DATABASES}/{name}"), FULL).await.status != StatusCode::NOT_FOUND {
        assert!(Instant::now() < deadline, "{name} never went");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn armed_faults_hit_the_next_calls_after_their_effect_and_are_counted() {
    let api = start(config()).await;
    let armed = api
        .hook(
            Method::POST,
            "/_sim/faults/arm",
            Some(json!({"on": "create", "fault": "server_error"})),
        )
        .await;
    assert_eq!(armed.status, StatusCode::OK);
    let failed = api.create_db("took-effect").await;
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        api.get(&format!("{DATABASES}/took-effect"), FULL)
            .await
            .status,
        StatusCode::OK,
        "the 503 came after the create took effect"
    );
    assert_eq!(
        api.create_db("took-effect").await.status,
        StatusCode::CONFLICT,
        "used up: the next create is answered"
    );
    api.sim
        .hooks()
        .arm(htx_operator::providers::htx::sim::Armed {
            on: htx_operator::providers::htx::sim::Call::Create,
            fault: htx_operator::providers::htx::sim::AfterEffect::LoseAnswer,
            count: 1,
        });
    let lost = api
        .http
        .post(format!("{}{DATABASES}", api.sim.url()))
        .bearer_auth(FULL)
        .json(&json!({"name": "lost-answer", "engine": "mysql", "sku": "db-s-1vcpu-1gb"}))
        .send()
        .await;
    assert!(lost.is_err(), "no answer: {lost:?}");
    let stats = api.sim.hooks().stats();
    assert_eq!(stats.fired("create", "server_error"), 1);
    assert_eq!(stats.fired("create", "lose_answer"), 1);
    assert_eq!(stats.attempts("databases", "took-effect"), 2);
    assert_eq!(stats.attempted_more_than_once(), ["databases/took-effect"]);
    assert_eq!(stats.creates.get(Kind::Databases), 2);
}
