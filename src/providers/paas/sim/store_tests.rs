//! The store's operations without a server, at chosen instants.

use serde_json::{Value, json};

use super::assumed::SECRET_MASK;
use super::deployments::Outcome;
use super::model::Kind;
use super::store::{Settings, Store};

const ACME: &str = "acme";
const OTHER: &str = "other";
/// Provisioning and similar actions take 100 ms, each deployment stage 10 ms.
const P: u64 = 100;
const S: u64 = 10;

fn store() -> Store {
    Store::new(Settings {
        provision_ms: P,
        stage_ms: S,
        bucket_limit: 2,
        outcome: Outcome::Live,
    })
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_owned()
}

fn project(st: &mut Store) -> String {
    id(&st
        .create_project(ACME, &json!({"name": "shop"}), 0)
        .unwrap())
}

fn service(st: &mut Store, project: &str, now: u64) -> String {
    let body = json!({"name": "api", "project_id": project, "port": 3000,
                      "git_repository_url": "https://github.com/acme/api"});
    id(&st.create_service(ACME, &body, now).unwrap())
}

#[test]
fn names_are_not_unique_and_ids_are_uuids() {
    let mut st = store();
    let a = st
        .create_project(ACME, &json!({"name": "shop"}), 0)
        .unwrap();
    let b = st
        .create_project(ACME, &json!({"name": "shop", "description": "again"}), 0)
        .unwrap();
    assert_ne!(a["id"], b["id"]);
    assert_eq!(id(&a).len(), 36);
    assert_eq!(st.list_projects(ACME).as_array().unwrap().len(), 2);
    let p = id(&a);
    let s1 = service(&mut st, &p, 0);
    let s2 = service(&mut st, &p, 0);
    assert_ne!(s1, s2);
}

#[test]
fn another_accounts_resources_are_not_found() {
    let mut st = store();
    let p = project(&mut st);
    let s = service(&mut st, &p, 0);
    assert_eq!(st.get_project(OTHER, &p).unwrap_err().status, 404);
    assert_eq!(st.get_service(OTHER, &s, 0).unwrap_err().status, 404);
    assert!(st.list_projects(OTHER).as_array().unwrap().is_empty());
    assert!(st.list_services(OTHER, 0).as_array().unwrap().is_empty());
    let body = json!({"name": "db", "project_id": p});
    assert_eq!(
        st.create_datastore(OTHER, Kind::Databases, &body, 0)
            .unwrap_err()
            .status,
        404
    );
}

#[test]
fn project_secrets_are_masked_unless_revealed_and_unique_per_key_and_scope() {
    let mut st = store();
    let p = project(&mut st);
    let body = json!({"key": "STRIPE", "value": "sk_live_1", "scope": "production"});
    let s = st.create_secret(ACME, &p, &body, 0).unwrap();
    assert_eq!(s["value"], SECRET_MASK);
    assert_eq!(
        st.reveal_secret(ACME, &p, &id(&s)).unwrap()["value"],
        "sk_live_1"
    );
    let taken = st.create_secret(ACME, &p, &body, 0).unwrap_err();
    assert_eq!(taken.status, 400);
    assert!(taken.detail.contains("already exists"), "{}", taken.detail);
    let staging =
        json!({"key": "STRIPE", "value": "sk_test", "scope": "staging", "is_secret": false});
    assert_eq!(
        st.create_secret(ACME, &p, &staging, 0).unwrap()["value"],
        "sk_test"
    );
    assert!(
        st.create_secret(ACME, &p, &json!({"key": "K", "value": "v"}), 0)
            .is_err()
    );
    let patched = st
        .patch_secret(ACME, &p, &id(&s), &json!({"value": "sk_live_2"}), 5)
        .unwrap();
    assert_eq!(patched["value"], SECRET_MASK);
    assert_eq!(
        st.reveal_secret(ACME, &p, &id(&s)).unwrap()["value"],
        "sk_live_2"
    );
    assert!(st.patch_secret(ACME, &p, &id(&s), &json!({}), 5).is_err());
}

#[test]
fn bulk_replaces_the_set_keeping_ids_of_named_keys() {
    let mut st = store();
    let p = project(&mut st);
    let svc = service(&mut st, &p, 0);
    let keep = st
        .add_var(ACME, &svc, &json!({"key": "KEEP", "value": "1"}), 0)
        .unwrap();
    st.add_var(ACME, &svc, &json!({"key": "USER_SET", "value": "x"}), 0)
        .unwrap();
    let env = st
        .bulk_env(
            ACME,
            &svc,
            &json!({"variables": [
            {"key": "KEEP", "value": "2", "is_secret": false},
            {"key": "NEW", "value": "3"}]}),
            1,
        )
        .unwrap();
    let keys: Vec<&str> = env
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["KEEP", "NEW"],
        "USER_SET is gone: the PUT replaced the set"
    );
    assert_eq!(env[0]["id"], keep["id"]);
    assert_eq!(env[0]["value"], "2");
    assert_eq!(env[1]["value"], SECRET_MASK, "secret unless said otherwise");
    let revealed = st.list_env(ACME, &svc, true).unwrap();
    assert_eq!(revealed[1]["value"], "3");
    let twice = json!({"variables": [{"key": "A", "value": "1"}, {"key": "A", "value": "2"}]});
    assert!(
        st.bulk_env(ACME, &svc, &twice, 2)
            .unwrap_err()
            .detail
            .contains("twice")
    );
    assert_eq!(
        st.list_env(ACME, &svc, false)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn bindings_resolve_masked_and_go_with_their_secret() {
    let mut st = store();
    let p = project(&mut st);
    let svc = service(&mut st, &p, 0);
    let secret = st
        .create_secret(
            ACME,
            &p,
            &json!({"key": "DB_PW", "value": "pw", "scope": "production"}),
            0,
        )
        .unwrap();
    let bind = json!({"project_secret_id": id(&secret), "alias_key": "DATABASE_PASSWORD"});
    st.add_binding(ACME, &svc, &bind, 0).unwrap();
    assert_eq!(
        st.add_binding(ACME, &svc, &bind, 0).unwrap_err().status,
        400
    );
    st.add_var(
        ACME,
        &svc,
        &json!({"key": "PORT", "value": "3000", "is_secret": false}),
        0,
    )
    .unwrap();
    let resolved = st.resolved(ACME, &svc).unwrap();
    assert_eq!(
        resolved,
        json!([
            {"key": "DATABASE_PASSWORD", "value": SECRET_MASK, "is_secret": true, "source": "secret_binding"},
            {"key": "PORT", "value": "3000", "is_secret": false, "source": "env"},
        ])
    );
    let unknown = json!({"project_secret_id": "nope", "alias_key": "X"});
    assert_eq!(
        st.add_binding(ACME, &svc, &unknown, 0).unwrap_err().status,
        404
    );
    st.delete_secret(ACME, &p, &id(&secret)).unwrap();
    assert!(
        st.list_bindings(ACME, &svc)
            .unwrap()
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn secrets_bulk_replaces_and_drops_the_bindings_of_what_it_removed() {
    let mut st = store();
    let p = project(&mut st);
    let svc = service(&mut st, &p, 0);
    let entry = |key: &str, scope: &str| json!({"key": key, "value": "v", "scope": scope});
    let kept = st
        .create_secret(ACME, &p, &entry("A", "production"), 0)
        .unwrap();
    let dropped = st
        .create_secret(ACME, &p, &entry("B", "production"), 0)
        .unwrap();
    for (secret, alias) in [(&kept, "X"), (&dropped, "Y")] {
        let bind = json!({"project_secret_id": id(secret), "alias_key": alias});
        st.add_binding(ACME, &svc, &bind, 0).unwrap();
    }
    let body = json!({"secrets": [entry("A", "production"), entry("A", "staging")]});
    let after = st.bulk_secrets(ACME, &p, &body, 1).unwrap();
    assert_eq!(after.as_array().unwrap().len(), 2);
    assert_eq!(after[0]["id"], kept["id"]);
    assert_eq!(after[1]["scope"], "staging");
    let bindings = st.list_bindings(ACME, &svc).unwrap();
    assert_eq!(bindings.as_array().unwrap().len(), 1);
    assert_eq!(bindings[0]["alias_key"], "X");
    let twice = json!({"secrets": [entry("A", "staging"), entry("A", "staging")]});
    assert_eq!(
        st.bulk_secrets(ACME, &p, &twice, 2).unwrap_err().status,
        400
    );
    assert_eq!(
        st.list_secrets(ACME, &p).unwrap().as_array().unwrap().len(),
        2
    );
}

#[test]
fn a_new_service_deploys_itself_through_every_stage() {
    let mut st = store();
    let p = project(&mut st);
    let svc = service(&mut st, &p, 1_000);
    let list = st.list_deployments(ACME, &svc, "", 1_000).unwrap();
    let first = list[0].clone();
    assert_eq!(first["trigger"], "create");
    let d = id(&first);
    for (at, status) in [
        (1_000, "queued"),
        (1_010, "building"),
        (1_020, "deploying"),
        (1_030, "live"),
    ] {
        assert_eq!(
            st.get_deployment(ACME, &svc, &d, at).unwrap()["status"],
            status,
            "at {at}"
        );
    }
    assert_eq!(
        st.get_service(ACME, &svc, 1_020).unwrap()["status"],
        "deploying"
    );
    assert_eq!(st.get_service(ACME, &svc, 1_030).unwrap()["status"], "live");
    assert!(st.get_deployment(ACME, &svc, &d, 1_029).unwrap()["finished_at"].is_null());
    assert!(st.get_deployment(ACME, &svc, &d, 1_030).unwrap()["finished_at"].is_string());
}

#[test]
fn a_newer_live_deployment_supersedes_and_a_failed_one_does_not() {
    let mut st = store();
    let p = project(&mut st);
    let svc = service(&mut st, &p, 0);
    let first = id(&st.list_deployments(ACME, &svc, "", 0).unwrap()[0]);
    let second = id(&st
        .create_deployment(ACME, &svc, &json!({"branch": "dev"}), 100)
        .unwrap());
    st.settings.outcome = Outcome::Failed;
    let third = id(&st.create_deployment(ACME, &svc, &json!({}), 200).unwrap());
    let at = 300;
    assert_eq!(
        st.get_deployment(ACME, &svc, &first, at).unwrap()["status"],
        "superseded"
    );
    assert_eq!(
        st.get_deployment(ACME, &svc, &second, at).unwrap()["status"],
        "live"
    );
    assert_eq!(
        st.get_deployment(ACME, &svc, &second, at).unwrap()["branch"],
        "dev"
    );
    assert_eq!(
        st.get_deployment(ACME, &svc, &third, at).unwrap()["status"],
        "failed"
    );
    assert_eq!(st.get_service(ACME, &svc, at).unwrap()["status"], "live");
    st.set_outcome(&second, Outcome::Failed).unwrap();
    assert_eq!(
        st.get_deployment(ACME, &svc, &first, at).unwrap()["status"],
        "live"
    );
    let page = st
        .list_deployments(ACME, &svc, "limit=2&offset=1", at)
        .unwrap();
    let ids: Vec<String> = page.as_array().unwrap().iter().map(id).collect();
    assert_eq!(ids, [second.clone(), first.clone()], "newest first");
    assert!(st.list_deployments(ACME, &svc, "limit=0", at).is_err());
    assert!(st.list_deployments(ACME, &svc, "limit=101", at).is_err());
    let back = st.rollback_deployment(ACME, &svc, &first, at).unwrap();
    assert_eq!(
        (back["trigger"].as_str(), back["rollback_of"].as_str()),
        (Some("rollback"), Some(first.as_str()))
    );
    assert_eq!(
        st.rollback_deployment(ACME, &svc, &third, at)
            .unwrap_err()
            .status,
        400
    );
}

#[test]
fn cancelling_works_only_in_progress() {
    let mut st = store();
    let p = project(&mut st);
    let svc = service(&mut st, &p, 0);
    let d = id(&st.list_deployments(ACME, &svc, "", 0).unwrap()[0]);
    assert_eq!(
        st.cancel_deployment(ACME, &svc, &d, 15).unwrap()["status"],
        "cancelled"
    );
    assert_eq!(
        st.get_deployment(ACME, &svc, &d, 1_000).unwrap()["status"],
        "cancelled"
    );
    assert_eq!(
        st.get_service(ACME, &svc, 1_000).unwrap()["status"],
        "created"
    );
    assert!(
        st.cancel_deployment(ACME, &svc, &d, 1_000)
            .unwrap_err()
            .detail
            .contains("cancelled")
    );
    let logs = st.service_logs(ACME, &svc, "", 1_000).unwrap();
    let messages: Vec<&str> = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert!(
        messages[0].ends_with("queued") && messages[2].ends_with("cancelled"),
        "{messages:?}"
    );
    let tail = st.service_logs(ACME, &svc, "tail=1", 1_000).unwrap();
    assert_eq!(tail["logs"].as_array().unwrap().len(), 1);
    assert!(st.service_logs(ACME, &svc, "tail=0", 1_000).is_err());
    let later = st.service_logs(ACME, &svc, "since=1", 1_000).unwrap();
    assert!(
        later["logs"].as_array().unwrap().is_empty(),
        "every line is from before 1 s"
    );
}

#[test]
fn stop_start_and_deploying_a_stopped_service() {
    let mut st = store();
    let p = project(&mut st);
    let svc = service(&mut st, &p, 0);
    assert_eq!(
        st.service_action(ACME, &svc, "start", 50)
            .unwrap_err()
            .status,
        400
    );
    assert_eq!(
        st.service_action(ACME, &svc, "stop", 50).unwrap()["status"],
        "stopping"
    );
    assert_eq!(
        st.get_service(ACME, &svc, 150).unwrap()["status"],
        "stopped"
    );
    let refused = st
        .create_deployment(ACME, &svc, &json!({}), 150)
        .unwrap_err();
    assert!(refused.detail.contains("start it"), "{}", refused.detail);
    assert_eq!(
        st.service_action(ACME, &svc, "stop", 150)
            .unwrap_err()
            .status,
        400
    );
    assert_eq!(
        st.service_action(ACME, &svc, "start", 150).unwrap()["status"],
        "starting"
    );
    assert_eq!(st.get_service(ACME, &svc, 250).unwrap()["status"], "live");
}

#[test]
fn service_patch_is_all_or_nothing() {
    let mut st = store();
    let p = project(&mut st);
    let svc = service(&mut st, &p, 0);
    let v = st
        .patch_service(
            ACME,
            &svc,
            &json!({"name": "new-name", "max_instances": 3, "min_instances": 2}),
            5,
        )
        .unwrap();
    assert_eq!(
        (
            v["name"].as_str(),
            v["min_instances"].as_u64(),
            v["max_instances"].as_u64()
        ),
        (Some("new-name"), Some(2), Some(3))
    );
    let e = st
        .patch_service(ACME, &svc, &json!({"name": "x", "min_instances": 4}), 6)
        .unwrap_err();
    assert!(e.detail.contains("must not exceed"), "{}", e.detail);
    assert_eq!(st.get_service(ACME, &svc, 6).unwrap()["name"], "new-name");
    assert!(
        st.patch_service(ACME, &svc, &json!({"project_id": "elsewhere"}), 6)
            .is_err()
    );
    assert!(
        st.patch_service(
            ACME,
            &svc,
            &json!({"git_repository_url": "git@github.com:a/b"}),
            6
        )
        .is_err()
    );
    assert_eq!(
        st.deployments.iter().count(),
        1,
        "no deployment from a PATCH"
    );
    st.delete_service(ACME, &svc).unwrap();
    assert_eq!(st.deployments.iter().count(), 0);
    assert_eq!(st.get_service(ACME, &svc, 7).unwrap_err().status, 404);
}

#[test]
fn datastore_life_cycle_and_connection_details() {
    let mut st = store();
    let p = project(&mut st);
    let created = st
        .create_datastore(
            ACME,
            Kind::Databases,
            &json!({"name": "orders", "project_id": p}),
            0,
        )
        .unwrap();
    let db = id(&created);
    assert_eq!(created["status"], "provisioning");
    assert!(created.get("connection").is_none());
    assert!(
        st.get_datastore(ACME, Kind::Databases, &db, 50)
            .unwrap()
            .get("connection")
            .is_none()
    );
    assert_eq!(
        st.get_datastore(ACME, Kind::Redis, &db, 50)
            .unwrap_err()
            .status,
        404
    );
    assert_eq!(
        st.patch_datastore(ACME, Kind::Databases, &db, &json!({"plan": "pro"}), 50)
            .unwrap_err()
            .status,
        400
    );
    let ready = st.get_datastore(ACME, Kind::Databases, &db, 100).unwrap();
    assert_eq!(ready["status"], "running");
    let uri = ready["connection"]["uri"].as_str().unwrap();
    assert!(
        uri.starts_with("postgresql://app_") && uri.ends_with(":5432/orders?sslmode=require"),
        "{uri}"
    );
    let listed = st.list_datastores(ACME, Kind::Databases, 100);
    assert!(
        listed[0].get("connection").is_none(),
        "the list shows no credentials"
    );
    let patched = st
        .patch_datastore(ACME, Kind::Databases, &db, &json!({"plan": "pro"}), 100)
        .unwrap();
    assert_eq!(patched["status"], "updating");
    assert_eq!(
        st.datastore_status(ACME, Kind::Databases, &db, 200)
            .unwrap()["status"],
        "running"
    );
    st.datastore_action(ACME, Kind::Databases, &db, "stop", 200)
        .unwrap();
    assert_eq!(
        st.datastore_action(ACME, Kind::Databases, &db, "stop", 300)
            .unwrap_err()
            .status,
        400
    );
    st.datastore_action(ACME, Kind::Databases, &db, "start", 300)
        .unwrap();
    assert_eq!(
        st.delete_datastore(ACME, Kind::Databases, &db, 400)
            .unwrap()["status"],
        "deleting"
    );
    assert_eq!(
        st.delete_datastore(ACME, Kind::Databases, &db, 450)
            .unwrap_err()
            .status,
        400
    );
    assert_eq!(
        st.get_datastore(ACME, Kind::Databases, &db, 450).unwrap()["status"],
        "deleting"
    );
    assert_eq!(
        st.get_datastore(ACME, Kind::Databases, &db, 500)
            .unwrap_err()
            .status,
        404
    );
    st.settle(500);
    assert_eq!(st.datastores.iter().count(), 0);
}

#[test]
fn redis_connection() {
    let mut st = store();
    let p = project(&mut st);
    let r = id(&st
        .create_datastore(
            ACME,
            Kind::Redis,
            &json!({"name": "cache", "project_id": p}),
            0,
        )
        .unwrap());
    let v = st.get_datastore(ACME, Kind::Redis, &r, 100).unwrap();
    assert_eq!(v["maxmemory_policy"], "noeviction");
    assert!(v["connection"]["database"].is_null());
    assert!(
        v["connection"]["uri"]
            .as_str()
            .unwrap()
            .starts_with("rediss://default:")
    );
    assert!(
        st.list_datastores(ACME, Kind::Databases, 100)
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn buckets_keys_and_the_tenant_limit() {
    let mut st = store();
    let b = st
        .create_bucket(ACME, &json!({"name": "assets"}), 0)
        .unwrap();
    let twin = st
        .create_bucket(ACME, &json!({"name": "assets"}), 0)
        .unwrap();
    assert_ne!(b["bucket"], twin["bucket"], "same name, distinct S3 names");
    let full = st
        .create_bucket(ACME, &json!({"name": "third"}), 0)
        .unwrap_err();
    assert!(full.detail.contains("limit"), "{}", full.detail);
    assert_eq!(st.tenant(ACME)["buckets"], 2);
    assert_eq!(
        st.create_bucket(OTHER, &json!({"name": "assets"}), 0)
            .unwrap()["status"],
        "provisioning"
    );
    let bucket = id(&b);
    assert_eq!(
        st.patch_bucket(ACME, &bucket, &json!({"public": true}), 1)
            .unwrap()["public"],
        true
    );
    assert_eq!(st.list_buckets(ACME, 1)[0]["public"], true);
    assert_eq!(
        st.patch_bucket(OTHER, &bucket, &json!({"public": true}), 1)
            .unwrap_err()
            .status,
        404
    );
    assert_eq!(
        st.presign(ACME, &bucket, &json!({"key": "a.txt"}), 50)
            .unwrap_err()
            .status,
        400
    );
    let url = st
        .presign(
            ACME,
            &bucket,
            &json!({"key": "a.txt", "method": "PUT"}),
            100,
        )
        .unwrap();
    assert!(url["url"].as_str().unwrap().contains("/a.txt?"));
    let key = st
        .create_key(ACME, &json!({"name": "ci", "bucket_id": bucket}), 100)
        .unwrap();
    assert_eq!(key["secret_access_key"].as_str().unwrap().len(), 40);
    let listed = st.list_keys(ACME);
    assert!(listed[0].get("secret_access_key").is_none(), "shown once");
    assert!(st.list_keys(OTHER).as_array().unwrap().is_empty());
    st.delete_bucket(ACME, &bucket).unwrap();
    assert_eq!(
        st.list_keys(ACME)[0]["bucket_id"],
        bucket,
        "the key outlives its bucket"
    );
    assert_eq!(st.delete_bucket(ACME, &bucket).unwrap_err().status, 404);
    assert_eq!(st.delete_key(OTHER, &id(&key)).unwrap_err().status, 404);
    st.delete_key(ACME, &id(&key)).unwrap();
}
