//! The PaaS API simulator over raw HTTP: every route, its documented errors, asynchronous life
//! cycles, masked secrets, duplicates by name, the rate limit, faults and hooks.

use std::time::{Duration, Instant};

use htx_operator::providers::paas::sim::{
    AfterEffect, Armed, Call, Faults, KeySpec, Kind, RunningSim, SECRET_MASK, SimConfig, Simulator,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const FULL: &str = "ak_live_full";
/// Another account.
const OTHER: &str = "ak_live_other";
/// Reads everything, writes nothing.
const READER: &str = "ak_live_reader";
/// Writes databases only.
const DB_ONLY: &str = "ak_live_dbonly";

fn config() -> SimConfig {
    let keys = [
        "ak_live_full:acme",
        "ak_live_other:globex",
        "ak_live_reader:acme:projects:read,web-services:read,databases:read,redis:read,storage:read",
        "ak_live_dbonly:acme:databases:write",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    SimConfig {
        keys,
        rate_per_minute: 0,
        provision_delay: Duration::from_millis(150),
        deploy_stage_delay: Duration::from_millis(40),
        bucket_limit: 3,
        ..SimConfig::default()
    }
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
    fn detail(&self) -> &str {
        self.body["detail"]
            .as_str()
            .unwrap_or_else(|| panic!("no detail in {:?}", self.raw))
    }

    fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {} {:?}", self.status, self.raw))
            .to_owned()
    }

    fn items(&self) -> &Vec<Value> {
        self.body
            .as_array()
            .unwrap_or_else(|| panic!("not a list: {:?}", self.raw))
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

impl Api {
    async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Result<Reply, reqwest::Error> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.sim.url()));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let raw = resp.text().await?;
        let body = if raw.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&raw).unwrap_or_else(|e| panic!("not JSON ({e}): {raw:?}"))
        };
        Ok(Reply {
            status,
            headers,
            body,
            raw,
        })
    }

    async fn call(&self, method: Method, path: &str, key: &str, body: Option<Value>) -> Reply {
        self.send(method, path, Some(key), body)
            .await
            .expect("request failed")
    }

    async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, FULL, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, FULL, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, FULL, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, FULL, Some(body)).await
    }

    async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, FULL, None).await
    }

    async fn project(&self, name: &str) -> String {
        let r = self.post("/api/projects", json!({"name": name})).await;
        assert_eq!(r.status, 201, "{}", r.raw);
        r.id()
    }

    async fn service(&self, project: &str, name: &str) -> String {
        let r = self
            .post(
                "/api/web-services",
                json!({"name": name, "project_id": project, "port": 3000,
                       "git_repository_url": "https://github.com/acme/api",
                       "build_command": "npm run build"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.raw);
        r.id()
    }

    /// Polls `path` until `field` is `want`, failing after 5 s.
    async fn wait_for(&self, path: &str, field: &str, want: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let r = self.get(path).await;
            if r.body[field] == want {
                return r.body;
            }
            assert!(
                Instant::now() < deadline,
                "{path}: {field} never became {want}: {}",
                r.raw
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls `path` until it answers `status`.
    async fn wait_status(&self, path: &str, status: u16) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let r = self.get(path).await;
            if r.status == status {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{path} never answered {status}: {}",
                r.raw
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn hook(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.send(method, path, None, body)
            .await
            .expect("hook failed")
    }
}

fn keys(list: &[Value], field: &str) -> Vec<String> {
    list.iter()
        .map(|v| v[field].as_str().unwrap().to_owned())
        .collect()
}

// ---------------------------------------------------------------- access

#[tokio::test]
async fn missing_unknown_and_revoked_keys_get_401() {
    let api = start().await;
    let none = api
        .send(Method::GET, "/api/projects", None, None)
        .await
        .unwrap();
    assert_eq!(none.status, 401);
    assert!(none.detail().contains("Bearer"), "{}", none.raw);
    for key in ["ak_live_unknown", "eyJhbGciOiJIUzI1NiJ9.e30.sig"] {
        let r = api.call(Method::GET, "/api/projects", key, None).await;
        assert_eq!(r.status, 401, "{key}");
        assert!(!r.raw.contains(key), "an error repeats no credential");
    }
    let added = api
        .hook(
            Method::POST,
            "/_sim/keys",
            Some(json!({"key": "ak_live_new", "account": "acme"})),
        )
        .await;
    assert_eq!(added.status, 201, "{}", added.raw);
    assert_eq!(
        api.call(Method::GET, "/api/projects", "ak_live_new", None)
            .await
            .status,
        200
    );
    api.hook(Method::POST, "/_sim/keys/ak_live_new/revoke", None)
        .await;
    assert_eq!(
        api.call(Method::GET, "/api/projects", "ak_live_new", None)
            .await
            .status,
        401
    );
    let bad = api
        .hook(
            Method::POST,
            "/_sim/keys",
            Some(json!({"key": "secret_x", "account": "acme"})),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(!bad.raw.contains("secret_x"));
}

#[tokio::test]
async fn scopes_refuse_with_403_and_say_which_one() {
    let api = start().await;
    let project = api.project("shop").await;
    assert_eq!(
        api.call(Method::GET, "/api/projects", READER, None)
            .await
            .status,
        200
    );
    let r = api
        .call(
            Method::POST,
            "/api/projects",
            READER,
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(r.detail().contains("projects:write"), "{}", r.raw);
    let secret = api
        .post(
            &format!("/api/projects/{project}/secrets"),
            json!({"key": "K", "value": "v", "scope": "staging"}),
        )
        .await
        .id();
    let reveal = format!("/api/projects/{project}/secrets/{secret}/reveal");
    assert_eq!(
        api.call(Method::GET, &reveal, READER, None).await.status,
        403,
        "reveal needs write"
    );
    assert_eq!(api.call(Method::GET, &reveal, FULL, None).await.status, 200);
    let db = api
        .call(
            Method::POST,
            "/api/databases",
            DB_ONLY,
            Some(json!({"name": "orders", "project_id": project})),
        )
        .await;
    assert_eq!(db.status, 201, "{}", db.raw);
    assert_eq!(
        api.call(Method::GET, "/api/redis", DB_ONLY, None)
            .await
            .status,
        403
    );
    assert_eq!(
        api.call(Method::GET, "/api/projects", DB_ONLY, None)
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn another_accounts_resources_are_not_found() {
    let api = start().await;
    let project = api.project("shop").await;
    let service = api.service(&project, "api").await;
    for path in [
        format!("/api/projects/{project}"),
        format!("/api/web-services/{service}"),
    ] {
        let r = api.call(Method::GET, &path, OTHER, None).await;
        assert_eq!(r.status, 404, "{path}");
    }
    assert!(
        api.call(Method::GET, "/api/projects", OTHER, None)
            .await
            .items()
            .is_empty()
    );
    assert!(
        api.call(Method::GET, "/api/web-services", OTHER, None)
            .await
            .items()
            .is_empty()
    );
    let r = api
        .call(
            Method::POST,
            "/api/redis",
            OTHER,
            Some(json!({"name": "cache", "project_id": project})),
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn rate_limit_is_per_key_with_retry_after_and_refusals_cost_nothing() {
    let api = start().await;
    api.hook(
        Method::POST,
        "/_sim/keys/ak_live_full/rate",
        Some(json!({"per_minute": 3})),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(api.get("/api/projects").await.status, 200);
    }
    for _ in 0..5 {
        let r = api.get("/api/projects").await;
        assert_eq!(r.status, 429);
        assert!(r.detail().contains("3 requests per minute"), "{}", r.raw);
        let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
    }
    assert_eq!(
        api.call(Method::GET, "/api/projects", OTHER, None)
            .await
            .status,
        200
    );
    api.hook(
        Method::POST,
        "/_sim/keys/ak_live_full/rate",
        Some(json!({"per_minute": null})),
    )
    .await;
    assert_eq!(
        api.get("/api/projects").await.status,
        200,
        "back to the simulator's (unlimited)"
    );
    api.hook(Method::POST, "/_sim/rate", Some(json!({"per_minute": 1})))
        .await;
    assert_eq!(
        api.call(Method::GET, "/api/projects", OTHER, None)
            .await
            .status,
        200
    );
    assert_eq!(
        api.call(Method::GET, "/api/projects", OTHER, None)
            .await
            .status,
        429
    );
    let stats = api.sim.hooks().stats();
    assert_eq!(stats.count("GET", "/api/projects", 429), 6);
}

#[tokio::test]
async fn undocumented_routes_and_methods_are_refused() {
    let api = start().await;
    let project = api.project("shop").await;
    let r = api.get("/api/nothing").await;
    assert_eq!(r.status, 404);
    assert!(r.detail().contains("no route"));
    // ASSUMPTION NO_PROJECT_UPDATE, NO_PROJECT_DELETE, NO_BUCKET_GET.
    let path = format!("/api/projects/{project}");
    assert_eq!(api.patch(&path, json!({"name": "x"})).await.status, 405);
    assert_eq!(api.delete(&path).await.status, 405);
    let bucket = api
        .post("/api/storage/buckets", json!({"name": "assets"}))
        .await
        .id();
    assert_eq!(
        api.get(&format!("/api/storage/buckets/{bucket}"))
            .await
            .status,
        405
    );
    let stats = api.sim.hooks().stats();
    assert_eq!(stats.count("PATCH", "/api/projects/{project_id}", 405), 1);
    assert_eq!(
        stats.count("GET", "/api/storage/buckets/{bucket_id}", 405),
        1
    );
}

// ---------------------------------------------------------------- projects and secrets

#[tokio::test]
async fn projects_are_created_read_and_listed_and_names_repeat() {
    let api = start().await;
    let a = api
        .post(
            "/api/projects",
            json!({"name": "shop", "description": "the shop"}),
        )
        .await;
    assert_eq!(a.status, 201);
    assert_eq!(a.body["description"], "the shop");
    let b = api.post("/api/projects", json!({"name": "shop"})).await;
    assert_eq!(b.status, 201);
    assert_ne!(
        a.id(),
        b.id(),
        "a second create with the same name is a second project"
    );
    assert_eq!(a.id().len(), 36);
    assert_eq!(
        api.get(&format!("/api/projects/{}", a.id())).await.body["name"],
        "shop"
    );
    assert_eq!(
        keys(api.get("/api/projects").await.items(), "id"),
        [a.id(), b.id()]
    );
    let unknown = api
        .get("/api/projects/00000000-0000-4000-8000-000000000000")
        .await;
    assert_eq!(unknown.status, 404);
    for bad in [
        json!({}),
        json!({"name": 5}),
        json!({"name": " "}),
        json!([]),
    ] {
        let r = api.post("/api/projects", bad.clone()).await;
        assert_eq!(r.status, 400, "{bad}");
        r.detail();
    }
    let not_json = api
        .http
        .post(format!("{}/api/projects", api.sim.url()))
        .bearer_auth(FULL)
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    let stats = api.sim.hooks().stats();
    assert_eq!(stats.created(Kind::Projects), 2);
    assert_eq!(stats.attempts(Kind::Projects, "shop"), 2);
}

#[tokio::test]
async fn project_secrets_never_show_their_value_outside_reveal() {
    let api = start().await;
    let project = api.project("shop").await;
    let secrets = format!("/api/projects/{project}/secrets");
    let created = api
        .post(
            &secrets,
            json!({"key": "STRIPE_SECRET_KEY", "value": "sk_live_42", "scope": "production"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.raw);
    assert_eq!(created.body["value"], SECRET_MASK);
    let id = created.id();
    let listed = api.get(&secrets).await;
    assert!(!listed.raw.contains("sk_live_42"), "{}", listed.raw);
    let reveal = api.get(&format!("{secrets}/{id}/reveal")).await;
    assert_eq!(reveal.body["value"], "sk_live_42");
    let patched = api
        .patch(&format!("{secrets}/{id}"), json!({"value": "sk_live_43"}))
        .await;
    assert_eq!(
        (patched.status.as_u16(), patched.body["value"].as_str()),
        (200, Some(SECRET_MASK))
    );
    assert_eq!(
        api.sim.hooks().secret_value(&id).as_deref(),
        Some("sk_live_43")
    );
    let taken = api
        .post(
            &secrets,
            json!({"key": "STRIPE_SECRET_KEY", "value": "x", "scope": "production"}),
        )
        .await;
    assert_eq!(taken.status, 400);
    assert!(taken.detail().contains("already exists"));
    for bad in [
        json!({"key": "K", "value": "v"}),
        json!({"key": "K", "value": "v", "scope": "prod"}),
        json!({"key": "1K", "value": "v", "scope": "staging"}),
        json!({"key": "K", "value": 1, "scope": "staging"}),
    ] {
        assert_eq!(api.post(&secrets, bad.clone()).await.status, 400, "{bad}");
    }
    let bulk = api
        .put(
            &format!("{secrets}/bulk"),
            json!({"secrets": [
                {"key": "API_SECRET", "value": "value1", "scope": "production"},
                {"key": "API_SECRET", "value": "value2", "scope": "staging", "is_secret": false}]}),
        )
        .await;
    assert_eq!(bulk.status, 200, "{}", bulk.raw);
    assert_eq!(keys(bulk.items(), "value"), [SECRET_MASK, "value2"]);
    assert_eq!(
        api.get(&secrets).await.items().len(),
        2,
        "the bulk PUT replaced the set"
    );
    let gone = api.get(&format!("{secrets}/{id}/reveal")).await;
    assert_eq!(gone.status, 404);
    let first = bulk.items()[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(api.delete(&format!("{secrets}/{first}")).await.status, 204);
    assert_eq!(api.delete(&format!("{secrets}/{first}")).await.status, 404);
    let stats = api.sim.hooks().stats();
    assert_eq!(stats.created(Kind::ProjectSecrets), 1);
    assert_eq!(stats.updated(Kind::ProjectSecrets), 2);
    assert_eq!(stats.deleted(Kind::ProjectSecrets), 1);
}

// ---------------------------------------------------------------- web services

#[tokio::test]
async fn web_service_life_cycle() {
    let api = start().await;
    let project = api.project("shop").await;
    let created = api
        .post(
            "/api/web-services",
            json!({"name": "backend-api", "project_id": project, "port": 3000,
                   "git_repository_url": "https://github.com/user/repo",
                   "build_command": "npm run build", "min_instances": 1, "max_instances": 3}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.raw);
    assert_eq!(
        created.body["status"], "deploying",
        "a create deploys (DEPLOY_ON_CREATE)"
    );
    assert_eq!(created.body["branch"], "main");
    let id = created.id();
    let path = format!("/api/web-services/{id}");
    api.wait_for(&path, "status", "live").await;
    let patched = api
        .patch(&path, json!({"name": "new-name", "min_instances": 2}))
        .await;
    assert_eq!(patched.status, 200, "{}", patched.raw);
    assert_eq!(
        (
            patched.body["name"].as_str(),
            patched.body["min_instances"].as_u64()
        ),
        (Some("new-name"), Some(2))
    );
    let refused = api.patch(&path, json!({"min_instances": 5})).await;
    assert_eq!(refused.status, 400);
    assert!(refused.detail().contains("max_instances"));
    assert_eq!(api.get("/api/web-services").await.items().len(), 1);
    let stop = api.post(&format!("{path}/stop"), json!({})).await;
    assert_eq!(
        (stop.status.as_u16(), stop.body["status"].as_str()),
        (200, Some("stopping"))
    );
    api.wait_for(&path, "status", "stopped").await;
    let deploy = api.post(&format!("{path}/deployments"), json!({})).await;
    assert_eq!(deploy.status, 400);
    assert!(deploy.detail().contains("stopped"));
    assert_eq!(
        api.post(&format!("{path}/stop"), json!({})).await.status,
        400
    );
    assert_eq!(
        api.post(&format!("{path}/start"), json!({})).await.status,
        200
    );
    api.wait_for(&path, "status", "live").await;
    assert_eq!(
        api.post(&format!("{path}/restart"), json!({})).await.body["status"],
        "restarting"
    );
    api.wait_for(&path, "status", "live").await;
    let logs = api.get(&format!("{path}/logs?tail=2")).await;
    assert_eq!(
        logs.body["logs"].as_array().unwrap().len(),
        2,
        "{}",
        logs.raw
    );
    assert_eq!(api.get(&format!("{path}/logs?tail=0")).await.status, 400);
    assert_eq!(api.delete(&path).await.status, 204);
    assert_eq!(api.get(&path).await.status, 404);
    let stats = api.sim.hooks().stats();
    assert_eq!(stats.created(Kind::WebServices), 1);
    assert_eq!(stats.updated(Kind::WebServices), 1);
    assert_eq!(stats.acted(Kind::WebServices), 3);
    assert_eq!(stats.deleted(Kind::WebServices), 1);
    assert_eq!(
        stats.deployments, 0,
        "the create's deployment is not one the API was asked for"
    );
}

#[tokio::test]
async fn invalid_web_service_bodies_get_400() {
    let api = start().await;
    let project = api.project("shop").await;
    let good = json!({"name": "api", "project_id": project, "port": 3000,
                      "git_repository_url": "https://github.com/a/b"});
    let with = |key: &str, value: Value| {
        let mut body = good.clone();
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = good.clone();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    for bad in [
        without("name"),
        without("port"),
        without("git_repository_url"),
        with("name", json!("Backend API")),
        with("port", json!(70000)),
        with("git_repository_url", json!("git@github.com:a/b.git")),
        with("max_instances", json!(11)),
        with("min_instances", json!(0)),
    ] {
        let r = api.post("/api/web-services", bad.clone()).await;
        assert_eq!(r.status, 400, "{bad}");
    }
    let r = api
        .post("/api/web-services", with("project_id", json!("nope")))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(api.post("/api/web-services", good).await.status, 201);
    let stats = api.sim.hooks().stats();
    assert_eq!(
        stats.attempts(Kind::WebServices, "api"),
        8,
        "refused creates are attempts too"
    );
}

#[tokio::test]
async fn deployments_go_through_their_stages_and_count_once_each() {
    let api = start().await;
    let project = api.project("shop").await;
    let service = api.service(&project, "api").await;
    let deployments = format!("/api/web-services/{service}/deployments");
    let d = api.post(&deployments, json!({"branch": "release"})).await;
    assert_eq!(d.status, 201, "{}", d.raw);
    assert_eq!(
        (d.body["status"].as_str(), d.body["trigger"].as_str()),
        (Some("queued"), Some("api"))
    );
    assert_eq!(d.body["branch"], "release");
    let path = format!("{deployments}/{}", d.id());
    api.wait_for(&path, "status", "live").await;
    // A body is optional: the service's branch.
    let bare = api
        .send(Method::POST, &deployments, Some(FULL), None)
        .await
        .unwrap();
    assert_eq!(bare.status, 201, "{}", bare.raw);
    assert_eq!(bare.body["branch"], "main");
    api.wait_for(&format!("{deployments}/{}", bare.id()), "status", "live")
        .await;
    assert_eq!(api.get(&path).await.body["status"], "superseded");
    let page = api.get(&format!("{deployments}?limit=2&offset=0")).await;
    assert_eq!(
        keys(page.items(), "id"),
        [bare.id(), d.id()],
        "newest first"
    );
    let last = api.get(&format!("{deployments}?limit=10&offset=2")).await;
    assert_eq!(keys(last.items(), "trigger"), ["create"]);
    assert_eq!(
        api.get(&format!("{deployments}?limit=101")).await.status,
        400
    );
    assert_eq!(api.get(&format!("{deployments}/nope")).await.status, 404);

    api.hook(
        Method::POST,
        "/_sim/deploy-outcome",
        Some(json!({"outcome": "failed"})),
    )
    .await;
    let failing = api.post(&deployments, json!({})).await.id();
    let failed = api
        .wait_for(&format!("{deployments}/{failing}"), "status", "failed")
        .await;
    assert!(failed["finished_at"].is_string());
    assert_eq!(
        api.get(&format!("/api/web-services/{service}")).await.body["status"],
        "live"
    );
    let refused = api
        .post(&format!("{deployments}/{failing}/rollback"), json!({}))
        .await;
    assert_eq!(refused.status, 400);
    let back = api.post(&format!("{path}/rollback"), json!({})).await;
    assert_eq!(back.status, 201, "{}", back.raw);
    assert_eq!(back.body["rollback_of"], d.id());
    let cancelled = api
        .post(&format!("{deployments}/{}/cancel", back.id()), json!({}))
        .await;
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(
        api.post(&format!("{deployments}/{}/cancel", back.id()), json!({}))
            .await
            .status,
        400
    );
    // A hook ends one deployment otherwise.
    let hooked = api
        .hook(
            Method::PATCH,
            &format!("/_sim/deployments/{}", d.id()),
            Some(json!({"outcome": "failed"})),
        )
        .await;
    assert_eq!(hooked.body["status"], "failed", "{}", hooked.raw);
    let stats = api.sim.hooks().stats();
    assert_eq!(stats.deployments, 3, "one per POST");
    assert_eq!(stats.rollbacks, 1);
    assert_eq!(
        stats.count(
            "POST",
            "/api/web-services/{web_service_id}/deployments",
            201
        ),
        3
    );
}

#[tokio::test]
async fn env_vars_are_masked_and_a_bulk_put_replaces_them_all() {
    let api = start().await;
    let project = api.project("shop").await;
    let service = api.service(&project, "api").await;
    let env = format!("/api/web-services/{service}/env");
    let url = api
        .post(
            &env,
            json!({"key": "DATABASE_URL", "value": "postgres://u:pw@h/db", "is_secret": true}),
        )
        .await;
    assert_eq!(url.status, 201, "{}", url.raw);
    assert_eq!(url.body["value"], SECRET_MASK);
    assert_eq!(
        api.post(&env, json!({"key": "DATABASE_URL", "value": "x"}))
            .await
            .status,
        400
    );
    let user = api
        .post(&env, json!({"key": "SET_BY_HAND", "value": "keep me"}))
        .await;
    assert_eq!(
        user.body["value"], SECRET_MASK,
        "secret unless is_secret: false"
    );
    let listed = api.get(&env).await;
    assert!(!listed.raw.contains("pw@h"), "{}", listed.raw);
    assert_eq!(
        api.get(&format!("{env}/{}/reveal", url.id())).await.body["value"],
        "postgres://u:pw@h/db"
    );
    let all = api.get(&format!("{env}/reveal-all")).await;
    assert_eq!(
        keys(all.items(), "value"),
        ["postgres://u:pw@h/db", "keep me"]
    );
    let patched = api
        .patch(
            &format!("{env}/{}", url.id()),
            json!({"value": "postgres://new"}),
        )
        .await;
    assert_eq!(patched.status, 200);
    let bulk = api
        .put(
            &format!("{env}/bulk"),
            json!({"variables": [
                {"key": "NODE_ENV", "value": "production"},
                {"key": "PORT", "value": "3000", "is_secret": false},
                {"key": "DATABASE_URL", "value": "postgres://bulk"}]}),
        )
        .await;
    assert_eq!(bulk.status, 200, "{}", bulk.raw);
    assert_eq!(
        keys(bulk.items(), "key"),
        ["DATABASE_URL", "NODE_ENV", "PORT"]
    );
    assert_eq!(bulk.items()[0]["id"], url.id(), "a named key keeps its id");
    let env_now = api.sim.hooks().env(&service).unwrap();
    assert!(
        !env_now.contains_key("SET_BY_HAND"),
        "ASSUMPTION BULK_REPLACES"
    );
    assert_eq!(env_now["DATABASE_URL"], "postgres://bulk");
    assert_eq!(env_now["PORT"], "3000");
    assert_eq!(
        api.put(&format!("{env}/bulk"), json!({"variables": "A=1"}))
            .await
            .status,
        400
    );
    assert_eq!(api.delete(&format!("{env}/{}", url.id())).await.status, 204);
    assert_eq!(
        api.get(&format!("{env}/{}/reveal", url.id())).await.status,
        404
    );
    let stats = api.sim.hooks().stats();
    assert_eq!(stats.env_updates, 5, "2 POST, 1 PATCH, 1 PUT, 1 DELETE");
    assert_eq!(stats.deployments, 0, "ASSUMPTION NO_AUTO_DEPLOY");
}

#[tokio::test]
async fn secret_bindings_resolve_masked_and_stay_in_their_project() {
    let api = start().await;
    let project = api.project("shop").await;
    let elsewhere = api.project("other").await;
    let service = api.service(&project, "api").await;
    let secret = |p: &str| format!("/api/projects/{p}/secrets");
    let pw = api
        .post(
            &secret(&project),
            json!({"key": "DB_PASSWORD", "value": "hunter2", "scope": "production"}),
        )
        .await
        .id();
    let foreign = api
        .post(
            &secret(&elsewhere),
            json!({"key": "X", "value": "x", "scope": "production"}),
        )
        .await
        .id();
    let bindings = format!("/api/web-services/{service}/secret-bindings");
    let b = api
        .post(
            &bindings,
            json!({"project_secret_id": pw, "alias_key": "DB_PASSWORD"}),
        )
        .await;
    assert_eq!(b.status, 201, "{}", b.raw);
    let r = api
        .post(
            &bindings,
            json!({"project_secret_id": foreign, "alias_key": "X"}),
        )
        .await;
    assert_eq!(r.status, 404, "another project's secret");
    api.post(
        &format!("/api/web-services/{service}/env"),
        json!({"key": "PORT", "value": "3000", "is_secret": false}),
    )
    .await;
    let resolved = api.get(&format!("{bindings}/resolved")).await;
    assert_eq!(
        resolved.body,
        json!([
            {"key": "DB_PASSWORD", "value": SECRET_MASK, "is_secret": true, "source": "secret_binding"},
            {"key": "PORT", "value": "3000", "is_secret": false, "source": "env"},
        ])
    );
    let bulk = api
        .put(
            &format!("{bindings}/bulk"),
            json!({"bindings": [{"project_secret_id": pw, "alias_key": "PGPASSWORD"}]}),
        )
        .await;
    assert_eq!(keys(bulk.items(), "alias_key"), ["PGPASSWORD"]);
    let id = bulk.items()[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(api.delete(&format!("{bindings}/{id}")).await.status, 204);
    assert!(api.get(&bindings).await.items().is_empty());
    let stats = api.sim.hooks().stats();
    assert_eq!(stats.created(Kind::SecretBindings), 1);
    assert_eq!(stats.updated(Kind::SecretBindings), 1);
    assert_eq!(stats.deleted(Kind::SecretBindings), 1);
}

// ---------------------------------------------------------------- databases, redis, storage

#[tokio::test]
async fn database_life_cycle_with_connection_details() {
    let api = start().await;
    let project = api.project("shop").await;
    let created = api
        .post(
            "/api/databases",
            json!({"name": "orders", "project_id": project, "plan": "standard"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.raw);
    assert_eq!(created.body["status"], "provisioning");
    assert!(created.body.get("connection").is_none());
    let path = format!("/api/databases/{}", created.id());
    assert_eq!(
        api.patch(&path, json!({"plan": "pro"})).await.status,
        400,
        "not running yet"
    );
    let ready = api.wait_for(&path, "status", "running").await;
    let c = &ready["connection"];
    assert_eq!(
        (c["port"].as_u64(), c["database"].as_str()),
        (Some(5432), Some("orders"))
    );
    let uri = c["uri"].as_str().unwrap();
    assert!(uri.contains(c["password"].as_str().unwrap()), "{uri}");
    let listed = api.get("/api/databases").await;
    assert!(
        !listed.raw.contains(c["password"].as_str().unwrap()),
        "the list has no credentials"
    );
    let status = api.get(&format!("{path}/status")).await;
    assert_eq!(status.body["status"], "running");
    let patched = api
        .patch(&path, json!({"plan": "pro", "storage_gb": 20}))
        .await;
    assert_eq!(
        (patched.status.as_u16(), patched.body["status"].as_str()),
        (200, Some("updating"))
    );
    api.wait_for(&format!("{path}/status"), "status", "running")
        .await;
    assert_eq!(api.patch(&path, json!({"storage_gb": 5})).await.status, 400);
    assert_eq!(
        api.patch(&path, json!({"engine": "mysql"})).await.status,
        400
    );
    assert_eq!(
        api.post(&format!("{path}/stop"), json!({})).await.body["status"],
        "stopping"
    );
    api.wait_for(&path, "status", "stopped").await;
    assert_eq!(
        api.post(&format!("{path}/stop"), json!({})).await.status,
        400
    );
    api.post(&format!("{path}/start"), json!({})).await;
    api.wait_for(&path, "status", "running").await;
    let deleting = api.delete(&path).await;
    assert_eq!(
        (deleting.status.as_u16(), deleting.body["status"].as_str()),
        (202, Some("deleting"))
    );
    assert_eq!(api.delete(&path).await.status, 400);
    api.wait_status(&path, 404).await;
    for bad in [
        json!({"name": "orders"}),
        json!({"name": "Orders", "project_id": project}),
        json!({"name": "orders", "project_id": project, "engine": "oracle"}),
        json!({"name": "orders", "project_id": project, "storage_gb": 0}),
    ] {
        assert_eq!(
            api.post("/api/databases", bad.clone()).await.status,
            400,
            "{bad}"
        );
    }
    let stats = api.sim.hooks().stats();
    assert_eq!(stats.created(Kind::Databases), 1);
    assert_eq!(stats.updated(Kind::Databases), 1);
    assert_eq!(stats.acted(Kind::Databases), 2);
    assert_eq!(stats.deleted(Kind::Databases), 1);
}

#[tokio::test]
async fn redis_life_cycle() {
    let api = start().await;
    let project = api.project("shop").await;
    let created = api
        .post(
            "/api/redis",
            json!({"name": "cache", "project_id": project}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.raw);
    let path = format!("/api/redis/{}", created.id());
    assert_eq!(
        api.get(&format!("/api/databases/{}", created.id()))
            .await
            .status,
        404
    );
    let ready = api.wait_for(&path, "status", "running").await;
    assert!(
        ready["connection"]["uri"]
            .as_str()
            .unwrap()
            .starts_with("rediss://default:")
    );
    let patched = api
        .patch(&path, json!({"maxmemory_policy": "allkeys-lru"}))
        .await;
    assert_eq!(patched.body["maxmemory_policy"], "allkeys-lru");
    api.wait_for(&format!("{path}/status"), "status", "running")
        .await;
    api.post(&format!("{path}/stop"), json!({})).await;
    api.wait_for(&format!("{path}/status"), "status", "stopped")
        .await;
    assert_eq!(api.delete(&path).await.status, 202);
    api.wait_status(&path, 404).await;
    assert!(api.get("/api/redis").await.items().is_empty());
}

#[tokio::test]
async fn buckets_and_access_keys() {
    let api = start().await;
    let a = api
        .post("/api/storage/buckets", json!({"name": "assets"}))
        .await;
    assert_eq!(a.status, 201, "{}", a.raw);
    let b = api
        .post("/api/storage/buckets", json!({"name": "assets"}))
        .await;
    assert_ne!(a.body["bucket"], b.body["bucket"]);
    assert_eq!(
        api.post("/api/storage/buckets", json!({"name": "A"}))
            .await
            .status,
        400
    );
    api.post("/api/storage/buckets", json!({"name": "third"}))
        .await;
    let full = api
        .post("/api/storage/buckets", json!({"name": "fourth"}))
        .await;
    assert_eq!(full.status, 400);
    assert!(full.detail().contains("limit"));
    assert_eq!(api.get("/api/storage/tenant").await.body["buckets"], 3);
    let bucket = a.id();
    let presign = format!("/api/storage/buckets/{bucket}/presign");
    let deadline = Instant::now() + Duration::from_secs(5);
    let url = loop {
        let r = api
            .post(&presign, json!({"key": "logo.png", "expires_in": 60}))
            .await;
        if r.status == 200 {
            break r;
        }
        assert!(r.detail().contains("provisioning"), "{}", r.raw);
        assert!(Instant::now() < deadline, "the bucket never became active");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(url.body["url"].as_str().unwrap().contains("/logo.png?"));
    let listed = api.get("/api/storage/buckets").await;
    assert_eq!(listed.items()[0]["status"], "active");
    let patched = api
        .patch(
            &format!("/api/storage/buckets/{bucket}"),
            json!({"public": true}),
        )
        .await;
    assert_eq!(patched.body["public"], true);
    let key = api
        .post(
            "/api/storage/keys",
            json!({"name": "ci", "bucket_id": bucket}),
        )
        .await;
    assert_eq!(key.status, 201, "{}", key.raw);
    let secret = key.body["secret_access_key"].as_str().unwrap().to_owned();
    let keys_listed = api.get("/api/storage/keys").await;
    assert!(!keys_listed.raw.contains(&secret), "shown once");
    assert_eq!(
        keys_listed.items()[0]["access_key_id"],
        key.body["access_key_id"]
    );
    assert_eq!(
        api.post(
            "/api/storage/keys",
            json!({"name": "x", "bucket_id": "nope"})
        )
        .await
        .status,
        404
    );
    assert_eq!(
        api.delete(&format!("/api/storage/buckets/{bucket}"))
            .await
            .status,
        204
    );
    assert_eq!(
        api.get("/api/storage/keys").await.items().len(),
        1,
        "KEYS_OUTLIVE_BUCKET"
    );
    assert_eq!(
        api.delete(&format!("/api/storage/keys/{}", key.id()))
            .await
            .status,
        204
    );
    assert_eq!(
        api.delete(&format!("/api/storage/keys/{}", key.id()))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn every_kind_takes_a_second_create_with_the_same_name() {
    let api = start().await;
    let project = api.project("shop").await;
    let creates: [(&str, Value); 6] = [
        ("/api/projects", json!({"name": "twin"})),
        (
            "/api/web-services",
            json!({"name": "twin", "project_id": project, "port": 80,
                                     "git_repository_url": "https://github.com/a/b"}),
        ),
        (
            "/api/databases",
            json!({"name": "twin", "project_id": project}),
        ),
        ("/api/redis", json!({"name": "twin", "project_id": project})),
        ("/api/storage/buckets", json!({"name": "twin"})),
        ("/api/storage/keys", json!({"name": "twin"})),
    ];
    for (path, body) in creates {
        let first = api.post(path, body.clone()).await;
        let second = api.post(path, body).await;
        assert_eq!(
            (first.status.as_u16(), second.status.as_u16()),
            (201, 201),
            "{path}"
        );
        assert_ne!(first.id(), second.id(), "{path}");
        let twins = api.get(path).await;
        let named = twins.items().iter().filter(|i| i["name"] == "twin").count();
        assert_eq!(named, 2, "{path}");
    }
}

// ---------------------------------------------------------------- faults

#[tokio::test]
async fn error_rate_answers_503_without_effect_and_latency_delays() {
    let api = start().await;
    let hooks = api.sim.hooks();
    hooks
        .set_faults(Faults {
            error_rate: 1.0,
            ..Faults::default()
        })
        .unwrap();
    let r = api.post("/api/projects", json!({"name": "shop"})).await;
    assert_eq!(r.status, 503);
    r.detail();
    assert_eq!(hooks.stats().created(Kind::Projects), 0);
    assert!(hooks.resources(Kind::Projects).is_empty());
    hooks
        .set_faults(Faults {
            latency_ms: 300,
            ..Faults::default()
        })
        .unwrap();
    let started = Instant::now();
    assert_eq!(api.get("/api/projects").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let hook = api.hook(Method::GET, "/_sim/faults", None).await;
    assert_eq!(hook.body["latency_ms"], 300);
    assert_eq!(
        api.hook(Method::POST, "/_sim/faults", Some(json!({"error_rate": 2})))
            .await
            .status,
        400
    );
}

/// The request an armed fault is tried on, and what it changed when it fired.
struct Target {
    call: Call,
    method: Method,
    path: String,
    body: Option<Value>,
}

#[tokio::test]
async fn each_armed_fault_commits_the_change_loses_the_answer_once_and_is_counted() {
    // Without delays every status is settled at once, so a changed state is the call's effect.
    let api = start_with(SimConfig {
        provision_delay: Duration::ZERO,
        deploy_stage_delay: Duration::ZERO,
        ..config()
    })
    .await;
    let hooks = api.sim.hooks();
    let project = api.project("shop").await;
    let service = api.service(&project, "api").await;
    let svc = format!("/api/web-services/{service}");
    let secret = api
        .post(
            &format!("/api/projects/{project}/secrets"),
            json!({"key": "S", "value": "v", "scope": "production"}),
        )
        .await
        .id();
    let db = api
        .post(
            "/api/databases",
            json!({"name": "orders", "project_id": project}),
        )
        .await
        .id();
    let doomed = api
        .post("/api/storage/buckets", json!({"name": "doomed"}))
        .await
        .id();
    let target = |call, method, path: String, body: Option<Value>| Target {
        call,
        method,
        path,
        body,
    };
    let targets = [
        target(
            Call::CreateProject,
            Method::POST,
            "/api/projects".into(),
            Some(json!({"name": "p2"})),
        ),
        target(
            Call::CreateProjectSecret,
            Method::POST,
            format!("/api/projects/{project}/secrets"),
            Some(json!({"key": "T", "value": "v", "scope": "staging"})),
        ),
        target(
            Call::CreateWebService,
            Method::POST,
            "/api/web-services".into(),
            Some(
                json!({"name": "w2", "project_id": project, "port": 80, "git_repository_url": "https://github.com/a/b"}),
            ),
        ),
        target(
            Call::CreateSecretBinding,
            Method::POST,
            format!("{svc}/secret-bindings"),
            Some(json!({"project_secret_id": secret, "alias_key": "S"})),
        ),
        target(
            Call::CreateDatabase,
            Method::POST,
            "/api/databases".into(),
            Some(json!({"name": "d2", "project_id": project})),
        ),
        target(
            Call::CreateRedis,
            Method::POST,
            "/api/redis".into(),
            Some(json!({"name": "r2", "project_id": project})),
        ),
        target(
            Call::CreateBucket,
            Method::POST,
            "/api/storage/buckets".into(),
            Some(json!({"name": "bucket-2"})),
        ),
        target(
            Call::CreateStorageKey,
            Method::POST,
            "/api/storage/keys".into(),
            Some(json!({"name": "k2"})),
        ),
        target(
            Call::Deploy,
            Method::POST,
            format!("{svc}/deployments"),
            Some(json!({})),
        ),
        target(
            Call::EnvUpdate,
            Method::PUT,
            format!("{svc}/env/bulk"),
            Some(json!({"variables": [{"key": "A", "value": "1"}]})),
        ),
        target(
            Call::Update,
            Method::PATCH,
            format!("/api/databases/{db}"),
            Some(json!({"name": "renamed"})),
        ),
        target(Call::StartStop, Method::POST, format!("{svc}/stop"), None),
        target(
            Call::Delete,
            Method::DELETE,
            format!("/api/storage/buckets/{doomed}"),
            None,
        ),
    ];
    for (lost_so_far, t) in (1..).zip(targets) {
        let call = serde_json::to_value(t.call).unwrap();
        let call = call.as_str().unwrap();
        let before = hooks.state();
        hooks.arm(Armed {
            on: t.call,
            fault: AfterEffect::LoseAnswer,
            count: 1,
        });
        let lost = api
            .send(t.method.clone(), &t.path, Some(FULL), t.body.clone())
            .await;
        assert!(
            lost.is_err(),
            "{call}: the answer should be lost: {:?}",
            lost.as_ref().map(|r| &r.raw)
        );
        assert_ne!(hooks.state(), before, "{call}: the change committed");
        assert_eq!(hooks.stats().fired(call, "lose_answer"), 1, "{call}");
        assert_eq!(
            hooks.stats().with_status(0),
            lost_so_far,
            "{call}: counted as dropped"
        );
        if t.call != Call::Delete && t.call != Call::StartStop {
            let again = api
                .send(t.method, &t.path, Some(FULL), t.body)
                .await
                .expect(call);
            assert!(
                again.status.is_success() || again.status == 400,
                "{call}: {}",
                again.raw
            );
            assert_eq!(
                hooks.stats().fired(call, "lose_answer"),
                1,
                "{call}: fired once only"
            );
        }
    }
    let stats = hooks.stats();
    assert_eq!(
        stats.created(Kind::Projects),
        3,
        "shop, and p2 twice: the lost one counts"
    );
    assert_eq!(stats.deployments, 2);
    assert_eq!(stats.env_updates, 2);
}

#[tokio::test]
async fn server_error_and_stall_after_the_effect() {
    let api = start().await;
    let hooks = api.sim.hooks();
    let project = api.project("shop").await;
    let service = api.service(&project, "api").await;
    let env = format!("/api/web-services/{service}/env");
    api.hook(
        Method::POST,
        "/_sim/faults/arm",
        Some(json!({"on": "env_update", "fault": "server_error"})),
    )
    .await;
    let r = api.post(&env, json!({"key": "A", "value": "1"})).await;
    assert_eq!(r.status, 503);
    r.detail();
    assert_eq!(
        hooks.env(&service).unwrap()["A"],
        "1",
        "committed despite the 5xx"
    );
    assert_eq!(hooks.stats().fired("env_update", "server_error"), 1);
    hooks.arm(Armed {
        on: Call::CreateProject,
        fault: AfterEffect::Stall,
        count: 1,
    });
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let stalled = impatient
        .post(format!("{}/api/projects", api.sim.url()))
        .bearer_auth(FULL)
        .json(&json!({"name": "slow"}))
        .send()
        .await;
    assert!(stalled.unwrap_err().is_timeout());
    assert_eq!(hooks.stats().fired("create_project", "stall"), 1);
    assert_eq!(hooks.resources(Kind::Projects).len(), 2);
}

#[tokio::test]
async fn a_dropped_connection_after_the_effect_is_random_or_before_it() {
    let api = start().await;
    let hooks = api.sim.hooks();
    hooks
        .set_faults(Faults {
            drop_rate: 1.0,
            ..Faults::default()
        })
        .unwrap();
    assert!(
        api.send(
            Method::POST,
            "/api/projects",
            Some(FULL),
            Some(json!({"name": "a"}))
        )
        .await
        .is_err()
    );
    assert_eq!(
        hooks.resources(Kind::Projects).len(),
        1,
        "taken effect, answer lost"
    );
    hooks
        .set_faults(Faults {
            drop_rate: 1.0,
            drop_before_effect: true,
            ..Faults::default()
        })
        .unwrap();
    assert!(
        api.send(
            Method::POST,
            "/api/projects",
            Some(FULL),
            Some(json!({"name": "b"}))
        )
        .await
        .is_err()
    );
    assert_eq!(
        hooks.resources(Kind::Projects).len(),
        1,
        "dropped before the effect"
    );
    assert_eq!(hooks.stats().count("POST", "/api/projects", 0), 2);
}

// ---------------------------------------------------------------- hooks

#[tokio::test]
async fn out_of_band_changes_are_seen_by_the_api_and_not_counted() {
    let api = start().await;
    let hooks = api.sim.hooks();
    let project = hooks
        .create_out_of_band(
            Kind::Projects,
            json!({"name": "ui-made", "account": "acme"}),
        )
        .unwrap();
    let project = project["id"].as_str().unwrap().to_owned();
    assert_eq!(
        api.get(&format!("/api/projects/{project}")).await.body["name"],
        "ui-made"
    );
    let r = api
        .hook(Method::POST, "/_sim/web-services", Some(json!({"name": "api", "project_id": project, "port": 80,
                                                               "git_repository_url": "https://github.com/a/b"})))
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let service = r.id();
    let var = api
        .hook(
            Method::POST,
            "/_sim/env-vars",
            Some(json!({"web_service_id": service, "key": "K", "value": "ui"})),
        )
        .await
        .id();
    api.hook(
        Method::PATCH,
        &format!("/_sim/env-vars/{var}"),
        Some(json!({"value": "changed"})),
    )
    .await;
    assert_eq!(hooks.env(&service).unwrap()["K"], "changed");
    let pinned = api
        .hook(
            Method::PATCH,
            &format!("/_sim/web-services/{service}"),
            Some(json!({"status": "suspended"})),
        )
        .await;
    assert_eq!(pinned.body["status"], "suspended", "{}", pinned.raw);
    assert_eq!(
        api.get(&format!("/api/web-services/{service}")).await.body["status"],
        "suspended"
    );
    let db = hooks
        .create_out_of_band(
            Kind::Databases,
            json!({"name": "db", "project_id": project}),
        )
        .unwrap();
    let db = db["id"].as_str().unwrap().to_owned();
    hooks
        .modify_out_of_band(Kind::Databases, &db, json!({"status": "failed"}))
        .unwrap();
    assert_eq!(
        api.get(&format!("/api/databases/{db}/status")).await.body["status"],
        "failed"
    );
    assert_eq!(
        api.hook(Method::DELETE, &format!("/_sim/projects/{project}"), None)
            .await
            .status,
        200
    );
    assert_eq!(
        api.get(&format!("/api/web-services/{service}"))
            .await
            .status,
        404
    );
    assert_eq!(api.get(&format!("/api/databases/{db}")).await.status, 404);
    assert_eq!(
        api.hook(Method::DELETE, &format!("/_sim/projects/{project}"), None)
            .await
            .status,
        404
    );
    let missing_account = api
        .hook(Method::POST, "/_sim/buckets", Some(json!({"name": "b1"})))
        .await;
    assert_eq!(missing_account.status, 400);
    let stats = hooks.stats();
    assert!(
        stats.creates.is_empty() && stats.requests.iter().all(|r| !r.route.starts_with("/_sim"))
    );
    assert_eq!(hooks.keys(), 4);
}

#[tokio::test]
async fn state_shows_values_in_clear_and_stats_reset() {
    let api = start().await;
    let project = api.project("shop").await;
    api.post(
        &format!("/api/projects/{project}/secrets"),
        json!({"key": "K", "value": "in-clear", "scope": "production"}),
    )
    .await;
    let state = api.hook(Method::GET, "/_sim/state", None).await;
    assert_eq!(state.body["project_secrets"][0]["value"], "in-clear");
    assert_eq!(state.body["projects"][0]["account"], "acme");
    let stats = api.hook(Method::GET, "/_sim/stats", None).await;
    assert_eq!(stats.body["creates"]["projects"], 1);
    assert_eq!(stats.body["create_attempts"]["projects/shop"], 1);
    api.hook(Method::POST, "/_sim/stats/reset", None).await;
    assert_eq!(api.sim.hooks().stats(), Default::default());
    let key = KeySpec::new("ak_live_late", "acme");
    api.sim.hooks().add_key(key).unwrap();
    assert_eq!(
        api.call(Method::GET, "/api/projects", "ak_live_late", None)
            .await
            .items()
            .len(),
        1
    );
}
