//! One token's budget is shared by every caller, and a 429 pauses all of them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use htx_operator::http::{ApiToken, Budget, ClientSettings, PortalClient};
use htx_operator::providers::htx::client::{self as htx, Htx};
use tokio::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_tasks_sharing_a_token_stay_within_the_budget() {
    let (url, arrivals) = recording_portal(false).await;
    let budget = Budget::new(20, Duration::from_secs(2));
    let portal = htx::portal(&url, budget, false).unwrap();
    let client = PortalClient::new(ClientSettings::default()).unwrap();

    let tasks: Vec<_> = (0..50)
        .map(|_| {
            // Each task asks for its own handle: the limiter is found by token, not by handle.
            let client = Htx(client.session(&portal, ApiToken::new("htx_shared").unwrap()));
            tokio::spawn(async move { client.list_databases().await.unwrap() })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }

    // When the requests reached the portal, as the portal counts them. A request leaves a few
    // milliseconds after its permit on loopback, so a slightly narrower window absorbs that.
    let arrived: Vec<Instant> = arrivals.lock().unwrap().iter().map(|(at, _)| *at).collect();
    assert_eq!(arrived.len(), 50);
    let window = budget.per - Duration::from_millis(50);
    let busiest = arrived
        .iter()
        .enumerate()
        .map(|(i, first)| {
            arrived[i..]
                .iter()
                .take_while(|at| **at < *first + window)
                .count()
        })
        .max()
        .unwrap();
    assert!(
        busiest <= budget.requests as usize,
        "{busiest} requests reached the portal within {window:?}, budget {}",
        budget.requests
    );
}

/// A portal stand-in that records when every request arrived and, when `throttle_first`, answers
/// the first one 429 (`Retry-After: 2`).
async fn recording_portal(throttle_first: bool) -> (String, Arc<Mutex<Vec<(Instant, u16)>>>) {
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let seen = arrivals.clone();
    let app = Router::new().route(
        "/api/portal/databases",
        get(move || {
            let seen = seen.clone();
            async move {
                let mut seen = seen.lock().unwrap();
                let status = if throttle_first && seen.is_empty() {
                    429
                } else {
                    200
                };
                seen.push((Instant::now(), status));
                let mut headers = HeaderMap::new();
                if status == 429 {
                    headers.insert("retry-after", "2".parse().unwrap());
                    return (
                        StatusCode::TOO_MANY_REQUESTS,
                        headers,
                        r#"{"error":"slow down"}"#,
                    );
                }
                (StatusCode::OK, headers, "[]")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, arrivals)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_pauses_every_caller_of_the_token() {
    let (url, arrivals) = recording_portal(true).await;
    // 10 per second with a burst of 5: after the pause they must come paced, not all at once.
    let portal = htx::portal(&url, Budget::per_minute(600), false).unwrap();
    let client = PortalClient::new(ClientSettings::default()).unwrap();

    let first = Htx(client.session(&portal, ApiToken::new("htx_t").unwrap()));
    let throttled = tokio::spawn(async move { first.list_databases().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let others: Vec<_> = (0..10)
        .map(|_| {
            let client = Htx(client.session(&portal, ApiToken::new("htx_t").unwrap()));
            tokio::spawn(async move { client.list_databases().await })
        })
        .collect();
    throttled.await.unwrap().expect("retried after Retry-After");
    for other in others {
        other.await.unwrap().unwrap();
    }

    let arrivals = arrivals.lock().unwrap();
    let (throttled_at, status) = arrivals[0];
    assert_eq!(status, 429);
    let resumed_at = arrivals[1].0;
    assert!(
        resumed_at.duration_since(throttled_at) >= Duration::from_millis(1_950),
        "a request came {:?} after the 429, before Retry-After ended",
        resumed_at.duration_since(throttled_at)
    );
    assert_eq!(
        arrivals.len(),
        12,
        "one 429, then the retried call and the ten others"
    );
    let right_after: usize = arrivals[1..]
        .iter()
        .filter(|(at, _)| at.duration_since(resumed_at) < Duration::from_millis(150))
        .count();
    assert!(
        right_after <= 2,
        "{right_after} requests in the first 150 ms after the pause: no burst allowed"
    );
}
