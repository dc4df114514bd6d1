//! The portal client against the in-process simulator: every route and every error path.

use std::time::Duration;

use htx_operator::http::{
    ApiToken, Backoff, Budget, ClientSettings, CreateRetry, PortalClient, PortalError, REDACTED,
    Session, SetupError,
};
use htx_operator::providers::htx::client::{
    self as htx, CreateDatabase, CreateProduct, Htx, backup_lifecycle,
};
use htx_operator::providers::htx::sim::{
    Faults, Kind, Quota, RunningSim, Scope, SimConfig, Simulator, TokenSpec,
};
use htx_operator::reconcile::lifecycle::Lifecycle;
use serde_json::json;

const FULL: &str = "htx_full_contract";

async fn sim_with(config: SimConfig) -> RunningSim {
    let mut config = config;
    if config.tokens.is_empty() {
        config.tokens = vec![
            TokenSpec::new(FULL, Scope::Full),
            TokenSpec::new("htx_read", Scope::Read),
            TokenSpec::new("htx_dbonly", Scope::Databases),
            "htx_elsewhere:full:10.0.0.0/8".parse().unwrap(),
            "htx_loopback:full:127.0.0.0/8".parse().unwrap(),
        ];
    }
    Simulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator starts")
}

async fn sim() -> RunningSim {
    sim_with(SimConfig {
        rate_per_minute: 0,
        provision_delay: Duration::from_millis(200),
        backup_delay: Duration::from_millis(200),
        ..SimConfig::default()
    })
    .await
}

/// The HTX API at the simulator with `token`.
type Client = Htx<Session>;

fn client_for(sim: &RunningSim, token: &str) -> Client {
    client_with(sim, token, |_| {})
}

fn client_with(sim: &RunningSim, token: &str, tune: impl FnOnce(&mut ClientSettings)) -> Client {
    let mut settings = ClientSettings {
        retry: Backoff {
            attempts: 4,
            first: Duration::from_millis(10),
            max: Duration::from_millis(50),
        },
        ..ClientSettings::default()
    };
    tune(&mut settings);
    let portal = htx::portal(&sim.url(), Budget::per_minute(100_000), false).unwrap();
    Htx(PortalClient::new(settings)
        .unwrap()
        .session(&portal, ApiToken::new(token).unwrap()))
}

fn postgres(name: &str) -> CreateDatabase {
    CreateDatabase {
        name: name.into(),
        engine: "postgresql".into(),
        sku: "db-s-1vcpu-2gb".into(),
    }
}

fn product(name: &str, fields: serde_json::Value) -> CreateProduct {
    CreateProduct {
        name: name.into(),
        fields: fields.as_object().cloned().unwrap_or_default(),
    }
}

/// Polls `check` every 50 ms until it is true or 10 s pass.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn databases_and_backups_round_trip() {
    let sim = sim().await;
    let client = client_for(&sim, FULL);
    assert!(client.list_databases().await.unwrap().is_empty());

    let created = client
        .create_database(&postgres("analytics"), CreateRetry::WhenNotApplied)
        .await
        .unwrap()
        .expect("201 carries the object");
    assert_eq!(created.name, "analytics");
    assert_eq!(created.engine, "postgresql");
    assert!(!created.id.is_empty());
    assert_eq!(Lifecycle::of(&created.status), Lifecycle::InProgress);

    let early_backup = client
        .create_backup("analytics", CreateRetry::WhenNotApplied)
        .await;
    assert!(
        matches!(early_backup, Err(PortalError::Rejected { status: 409, .. })),
        "a database still creating can't be backed up: {early_backup:?}"
    );

    eventually("the database to come online", || async {
        Lifecycle::of(&client.get_database("analytics").await.unwrap().status) == Lifecycle::Ready
    })
    .await;
    let online = client.get_database("analytics").await.unwrap();
    assert_eq!(online.id, created.id);
    let connection = online
        .connection_details()
        .expect("connection details once online");
    assert!(connection.contains_key("host") && connection.contains_key("password"));
    assert_eq!(client.list_databases().await.unwrap().len(), 1);

    let backup = client
        .create_backup("analytics", CreateRetry::WhenNotApplied)
        .await
        .unwrap()
        .expect("201 carries the backup");
    assert_eq!(backup_lifecycle(&backup.status), Lifecycle::InProgress);
    eventually("the backup to complete", || async {
        let backups = client.list_backups("analytics").await.unwrap();
        backups.len() == 1 && backup_lifecycle(&backups[0].status) == Lifecycle::Ready
    })
    .await;
    let completed = &client.list_backups("analytics").await.unwrap()[0];
    assert_eq!(completed.id, backup.id);
    assert!(completed.size_bytes.is_some() && completed.completed_at.is_some());

    client.delete_database("analytics").await.unwrap();
    assert!(matches!(
        client.get_database("analytics").await,
        Err(PortalError::NotFound { .. })
    ));
    assert!(matches!(
        client.delete_database("analytics").await,
        Err(PortalError::NotFound { .. })
    ));
    assert!(matches!(
        client.list_backups("analytics").await,
        Err(PortalError::NotFound { .. })
    ));
}

#[tokio::test]
async fn functions_and_proxies_round_trip_with_fields_passed_through() {
    let sim = sim().await;
    let client = client_for(&sim, FULL);
    let function = client
        .create_function(
            &product("resize", json!({"runtime": "nodejs20", "memory_mb": 256})),
            CreateRetry::WhenNotApplied,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(function.runtime.as_deref(), Some("nodejs20"));
    assert_eq!(function.extra["memory_mb"], 256);
    let proxy = client
        .create_proxy(
            &product("egress", json!({"type": "socks5"})),
            CreateRetry::WhenNotApplied,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(proxy.kind.as_deref(), Some("socks5"));

    eventually("both to become active", || async {
        let functions = client.list_functions().await.unwrap();
        let proxies = client.list_proxies().await.unwrap();
        Lifecycle::of(&functions[0].status) == Lifecycle::Ready
            && Lifecycle::of(&proxies[0].status) == Lifecycle::Ready
    })
    .await;
    let proxy = &client.list_proxies().await.unwrap()[0];
    assert!(proxy.host.is_some() && proxy.port.is_some() && proxy.password.is_some());
    assert!(client.list_functions().await.unwrap()[0].url.is_some());

    client.delete_function("resize").await.unwrap();
    client.delete_proxy("egress").await.unwrap();
    assert!(client.list_functions().await.unwrap().is_empty());
    assert!(client.list_proxies().await.unwrap().is_empty());
    assert!(matches!(
        client.delete_proxy("egress").await,
        Err(PortalError::NotFound { .. })
    ));
}

#[tokio::test]
async fn tokens_are_checked_by_existence_scope_and_client_ip() {
    let sim = sim().await;
    let unknown = client_for(&sim, "htx_nobody").list_databases().await;
    assert!(
        matches!(unknown, Err(PortalError::Unauthorized { .. })),
        "{unknown:?}"
    );

    let read_only = client_for(&sim, "htx_read");
    assert!(read_only.list_databases().await.is_ok(), "read scope reads");
    let refused = read_only
        .create_database(&postgres("nope"), CreateRetry::WhenNotApplied)
        .await;
    match refused {
        Err(PortalError::Forbidden {
            message: Some(message),
        }) => {
            assert!(
                message.contains("read"),
                "the portal names the scope: {message}"
            )
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }

    let databases_only = client_for(&sim, "htx_dbonly");
    assert!(
        databases_only
            .create_database(&postgres("mine"), CreateRetry::WhenNotApplied)
            .await
            .is_ok()
    );
    let wrong_product = databases_only
        .create_function(
            &product("fn-a", json!({"runtime": "python3.12"})),
            CreateRetry::WhenNotApplied,
        )
        .await;
    assert!(
        matches!(wrong_product, Err(PortalError::Forbidden { .. })),
        "{wrong_product:?}"
    );

    let elsewhere = client_for(&sim, "htx_elsewhere").list_databases().await;
    match elsewhere {
        Err(PortalError::Forbidden {
            message: Some(message),
        }) => {
            assert!(
                message.to_lowercase().contains("allowlist") || message.contains("IP"),
                "{message}"
            )
        }
        other => panic!("a token bound to 10.0.0.0/8 is refused on loopback: {other:?}"),
    }
    assert!(
        client_for(&sim, "htx_loopback")
            .list_databases()
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn revoked_and_rotated_tokens_stop_working_at_once() {
    let sim = sim().await;
    let client = client_for(&sim, FULL);
    client.list_databases().await.unwrap();
    sim.hooks().rotate_token(FULL, "htx_rotated").unwrap();
    assert!(matches!(
        client.list_databases().await,
        Err(PortalError::Unauthorized { .. })
    ));
    let rotated = client_for(&sim, "htx_rotated");
    rotated.list_databases().await.unwrap();
    sim.hooks().revoke_token("htx_rotated").unwrap();
    let revoked = rotated.list_databases().await;
    assert!(
        matches!(revoked, Err(PortalError::Unauthorized { .. })),
        "{revoked:?}"
    );
}

#[tokio::test]
async fn quota_conflict_and_invalid_input_have_their_own_errors() {
    let sim = sim().await;
    sim.hooks().set_quota(Quota {
        databases: Some(2),
        ..Quota::default()
    });
    let client = client_for(&sim, FULL);
    client
        .create_database(&postgres("first"), CreateRetry::WhenNotApplied)
        .await
        .unwrap();
    let duplicate = client
        .create_database(&postgres("first"), CreateRetry::WhenNotApplied)
        .await;
    assert!(
        matches!(duplicate, Err(PortalError::AlreadyExists { .. })),
        "{duplicate:?}"
    );
    client
        .create_database(&postgres("second"), CreateRetry::WhenNotApplied)
        .await
        .unwrap();
    let over_quota = client
        .create_database(&postgres("third"), CreateRetry::WhenNotApplied)
        .await;
    assert!(
        matches!(over_quota, Err(PortalError::QuotaExceeded { .. })),
        "{over_quota:?}"
    );

    let mut bad = postgres("fourth");
    bad.engine = "oracle".into();
    match client
        .create_database(&bad, CreateRetry::WhenNotApplied)
        .await
    {
        Err(PortalError::Rejected {
            status: 422,
            message: Some(message),
        }) => {
            assert!(message.contains("engine"), "{message}")
        }
        other => panic!("an invalid engine is rejected, not taken as a conflict: {other:?}"),
    }
    assert_eq!(sim.hooks().creates_count(Kind::Databases), 2);
}

#[tokio::test]
async fn a_429_carries_retry_after_and_is_not_retried_past_the_attempts() {
    let sim = sim_with(SimConfig {
        rate_per_minute: 3,
        ..SimConfig::default()
    })
    .await;
    let client = client_with(&sim, FULL, |config| config.retry.attempts = 1);
    for _ in 0..3 {
        client.list_databases().await.unwrap();
    }
    match client.list_databases().await {
        Err(PortalError::RateLimited { retry_after, .. }) => {
            assert!(retry_after >= Duration::from_secs(1) && retry_after <= Duration::from_secs(60))
        }
        other => panic!("expected a 429, got {other:?}"),
    }
}

#[tokio::test]
async fn writes_answered_202_or_204_are_accepted() {
    let sim = sim().await;
    let client = client_for(&sim, FULL);
    sim.hooks()
        .set_faults(Faults {
            create_status: Some(204),
            delete_status: Some(204),
            ..Faults::default()
        })
        .unwrap();
    let created = client
        .create_database(&postgres("quiet"), CreateRetry::WhenNotApplied)
        .await
        .unwrap();
    assert!(created.is_none(), "204 has no body");
    client.delete_database("quiet").await.unwrap();

    sim.hooks()
        .set_faults(Faults {
            create_status: Some(202),
            ..Faults::default()
        })
        .unwrap();
    let accepted = client
        .create_database(&postgres("later"), CreateRetry::WhenNotApplied)
        .await
        .unwrap();
    assert_eq!(accepted.map(|db| db.name).as_deref(), Some("later"));
}

#[tokio::test]
async fn server_errors_retry_reads_but_never_an_unsafe_create() {
    let sim = sim().await;
    let client = client_for(&sim, FULL);
    sim.hooks()
        .set_faults(Faults {
            error_rate: 1.0,
            ..Faults::default()
        })
        .unwrap();
    let listed = client.list_databases().await;
    assert!(
        matches!(listed, Err(PortalError::Server { status: 503, .. })),
        "{listed:?}"
    );
    let created = client
        .create_database(&postgres("once"), CreateRetry::WhenNotApplied)
        .await;
    assert!(
        matches!(created, Err(PortalError::Server { .. })),
        "{created:?}"
    );
    let stats = sim.hooks().stats();
    let count = |method: &str| {
        stats
            .requests
            .iter()
            .filter(|r| r.method == method && r.route == "/api/portal/databases")
            .map(|r| r.count)
            .sum::<u64>()
    };
    assert_eq!(count("GET"), 4, "a read is tried four times");
    assert_eq!(
        count("POST"),
        1,
        "a create after a 5xx is left to the caller"
    );

    sim.hooks()
        .set_faults(Faults {
            error_rate: 0.5,
            seed: Some(7),
            ..Faults::default()
        })
        .unwrap();
    for _ in 0..10 {
        client
            .list_databases()
            .await
            .expect("retries see reads through a flaky portal");
    }
}

#[tokio::test]
async fn dropped_connections_and_slow_answers_are_transport_errors() {
    let sim = sim().await;
    let client = client_with(&sim, FULL, |config| {
        config.timeout = Duration::from_millis(300);
        config.retry.attempts = 1;
    });
    sim.hooks()
        .set_faults(Faults {
            drop_rate: 1.0,
            ..Faults::default()
        })
        .unwrap();
    let dropped = client
        .create_database(&postgres("lost"), CreateRetry::WhenNotApplied)
        .await;
    assert!(
        matches!(dropped, Err(PortalError::Transport { sent: true, .. })),
        "{dropped:?}"
    );
    assert_eq!(
        sim.hooks().creates_count(Kind::Databases),
        1,
        "the portal acted although the answer was lost: the caller must look the name up"
    );

    sim.hooks()
        .set_faults(Faults {
            latency_ms: 2_000,
            ..Faults::default()
        })
        .unwrap();
    match client.list_databases().await {
        Err(PortalError::Transport { message, .. }) => {
            assert!(message.contains("timed out"), "{message}")
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn the_token_never_shows_in_errors() {
    let sim = sim().await;
    let secret = "htx_do_not_print_me";
    let errors = [
        client_for(&sim, secret).list_databases().await.unwrap_err(),
        client_for(&sim, "htx_read")
            .create_database(&postgres("x-db"), CreateRetry::WhenNotApplied)
            .await
            .unwrap_err(),
    ];
    for error in errors {
        assert!(!format!("{error} {error:?}").contains(secret));
    }
    let nowhere = htx::portal("http://127.0.0.1:9", Budget::default(), false).unwrap();
    let unreachable = Htx(PortalClient::new(ClientSettings::default())
        .unwrap()
        .session(&nowhere, ApiToken::new(secret).unwrap()))
    .list_databases()
    .await
    .unwrap_err();
    assert!(
        matches!(unreachable, PortalError::Transport { sent: false, .. }),
        "{unreachable:?}"
    );
    assert!(!format!("{unreachable} {unreachable:?}").contains(secret));
}

#[tokio::test]
async fn a_portal_that_repeats_the_token_never_gets_it_into_an_error() {
    let sim = sim().await;
    sim.hooks().set_quota(Quota {
        databases: Some(0),
        ..Quota::default()
    });
    sim.hooks()
        .set_faults(Faults {
            echo_token: true,
            ..Faults::default()
        })
        .unwrap();
    let unknown = "htx_not_a_known_token_42";
    let raw = reqwest::Client::new()
        .get(format!("{}/api/portal/databases", sim.url()))
        .bearer_auth(unknown)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(raw.contains(unknown), "the fault repeats the token: {raw}");

    let errors = [
        (
            unknown,
            client_for(&sim, unknown).list_databases().await.map(drop),
        ),
        (
            FULL,
            client_for(&sim, FULL)
                .create_database(&postgres("over-quota"), CreateRetry::WhenNotApplied)
                .await
                .map(drop),
        ),
        (
            "htx_read",
            client_for(&sim, "htx_read")
                .create_database(&postgres("out-of-scope"), CreateRetry::WhenNotApplied)
                .await
                .map(drop),
        ),
    ];
    let reasons: Vec<&str> = errors
        .iter()
        .map(|(_, result)| result.as_ref().unwrap_err().reason())
        .collect();
    assert_eq!(reasons, ["Unauthorized", "QuotaExceeded", "Forbidden"]);
    for (token, result) in errors {
        let text = format!("{0} {0:?}", result.unwrap_err());
        assert!(!text.contains(token), "{text}");
        assert!(
            text.contains(REDACTED),
            "the portal text is kept, scrubbed: {text}"
        );
    }
}

#[tokio::test]
async fn redirects_are_answered_not_followed() {
    let target = sim().await;
    let moved = sim().await;
    moved
        .hooks()
        .set_faults(Faults {
            redirect_to: Some(target.url()),
            ..Faults::default()
        })
        .unwrap();
    let result = client_for(&moved, FULL).list_databases().await;
    match result {
        Err(PortalError::Redirected {
            status: 307,
            location,
        }) => {
            assert_eq!(
                location.as_deref(),
                Some(format!("{}/api/portal/databases", target.url()).as_str())
            );
        }
        other => panic!("expected the redirect as an error, got {other:?}"),
    }
    assert_eq!(moved.hooks().stats().with_status(307), 1);
    assert_eq!(
        target.hooks().stats().total(),
        0,
        "the token went nowhere else"
    );
}

#[test]
fn portal_urls_are_checked_before_any_request() {
    let setup = |url: &str, allow_insecure_http: bool| {
        htx::portal(url, Budget::default(), allow_insecure_http).err()
    };
    assert_eq!(setup("https://portal.vinacis.com", false), None);
    assert_eq!(setup("http://127.0.0.1:8090/", false), None);
    assert_eq!(setup("http://localhost:8090", false), None);
    assert_eq!(setup("http://[::1]:8090", false), None);
    assert!(matches!(
        setup("http://portal.example.com", false),
        Some(SetupError::InsecureUrl(_))
    ));
    assert_eq!(setup("http://portal.example.com", true), None);
    assert_eq!(
        setup("https://user:secret@portal.vinacis.com", false),
        Some(SetupError::CredentialsInUrl)
    );
    assert!(matches!(
        setup("portal.vinacis.com", false),
        Some(SetupError::NotAUrl(_))
    ));
    let refused = setup("http://portal.example.com", false)
        .unwrap()
        .to_string();
    assert!(refused.contains("--allow-insecure-http"), "{refused}");
}

#[tokio::test]
async fn an_answer_over_the_size_cap_is_refused() {
    let sim = sim().await;
    for i in 0..50 {
        sim.hooks()
            .create_out_of_band(
                htx_operator::providers::htx::sim::Product::Databases,
                json!({"name": format!("big-{i:03}"), "engine": "mysql", "sku": "db-s-1vcpu-1gb"}),
            )
            .unwrap();
    }
    let capped = client_with(&sim, FULL, |config| config.max_body_bytes = 4_096);
    let refused = capped.list_databases().await;
    assert!(
        matches!(refused, Err(PortalError::TooLarge { limit: 4_096, .. })),
        "{refused:?}"
    );
    let uncapped = client_for(&sim, FULL).list_databases().await.unwrap();
    assert_eq!(uncapped.len(), 50);
}

#[tokio::test]
async fn the_spec_is_served() {
    let sim = sim().await;
    let spec: serde_json::Value = reqwest::get(format!("{}/api/openapi", sim.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(spec["info"]["title"], "HTX Cloud Portal API");
}
