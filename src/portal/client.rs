//! The typed HTX portal client: one method per route, a shared limiter per token, timeouts on
//! every call, retries where they are safe.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use reqwest::header::{AUTHORIZATION, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::{Url, redirect};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::error::PortalError;
use super::limiter::{Budget, Limiter, Priority};
use super::model::{Backup, CreateDatabase, CreateProduct, Database, Function, Proxy};
use super::redact::scrub;
use super::routes::{Access, Route};
use super::token::ApiToken;

/// How the client talks to the portal.
#[derive(Debug, Clone)]
pub struct PortalConfig {
    /// E.g. `https://portal.vinacis.com` (white-label portals have their own).
    pub base_url: String,
    pub budget: Budget,
    /// Limit on one HTTP exchange, connection included.
    pub timeout: Duration,
    pub retry: Backoff,
    /// Accept an `http://` URL of a host other than this machine (the token would cross the
    /// network in clear). Loopback `http://` is always accepted (simulators, tests).
    pub allow_insecure_http: bool,
    /// The largest response body read; a longer one is an error, not a memory spike.
    pub max_body_bytes: u64,
}

impl PortalConfig {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            budget: Budget::default(),
            timeout: Duration::from_secs(30),
            retry: Backoff::default(),
            allow_insecure_http: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }

    /// Checks the base URL: https (or loopback http, or http where explicitly allowed), no user
    /// name or password in it.
    pub fn validate(&self) -> Result<(), SetupError> {
        self.checked_url().map(drop)
    }

    fn checked_url(&self) -> Result<String, SetupError> {
        let text = self.base_url.trim().trim_end_matches('/');
        let url = Url::parse(text).map_err(|_| SetupError::NotAUrl(text.to_owned()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(SetupError::CredentialsInUrl);
        }
        match url.scheme() {
            "https" => {}
            "http" if self.allow_insecure_http || is_loopback(&url) => {}
            "http" => return Err(SetupError::InsecureUrl(text.to_owned())),
            _ => return Err(SetupError::NotAUrl(text.to_owned())),
        }
        Ok(text.to_owned())
    }
}

/// 64 MiB: a list of 10,000 databases is a few MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 64 << 20;

fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Why a portal client cannot be set up: a configuration mistake, found before any request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    #[error("the portal URL '{0}' is not an http(s) URL: give it as https://host[:port]")]
    NotAUrl(String),
    #[error(
        "the portal URL '{0}' is plain http to another machine, so the API token would cross the network in clear: use https://, or allow it explicitly (--allow-insecure-http)"
    )]
    InsecureUrl(String),
    #[error(
        "the portal URL carries a user name or password: remove them; credentials belong in the token Secret"
    )]
    CredentialsInUrl,
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

/// Jittered exponential backoff between attempts of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub attempts: u32,
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            attempts: 4,
            first: Duration::from_millis(250),
            max: Duration::from_secs(8),
        }
    }
}

impl Backoff {
    /// The pause after failed attempt `attempt` (1-based): doubling, capped, ±50 % jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let doubled = self
            .first
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = doubled.min(self.max);
        capped.mul_f64(rand::rng().random_range(0.5..1.5))
    }
}

/// When a create may be sent again after it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateRetry {
    /// Only when the portal certainly did not act: a 429, or a connection that never opened.
    /// After a 5xx or a timeout the caller must look the name up before creating again.
    WhenNotApplied,
    /// Also after 5xx and timeouts: the caller has made a repeat harmless.
    OnTransient,
}

/// A portal client shared by the whole operator. Cloning is cheap; limiters are per token.
#[derive(Clone)]
pub struct PortalClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    config: PortalConfig,
    /// One limiter per token (by fingerprint), with when it was last handed out.
    limiters: Mutex<HashMap<u64, (Arc<Limiter>, Instant)>>,
}

impl PortalClient {
    pub fn new(config: PortalConfig) -> Result<Self, SetupError> {
        let base_url = config.checked_url()?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("htx-operator/", env!("CARGO_PKG_VERSION")))
            // A redirect would carry the token to whatever address the answer names.
            .redirect(redirect::Policy::none())
            .build()
            .map_err(|error| SetupError::Build(error.to_string()))?;
        let mut config = config;
        config.base_url = base_url;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                config,
                limiters: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The calls made with one token, sharing that token's limiter with every other caller.
    pub fn with_token(&self, token: ApiToken) -> TokenClient {
        let mut limiters = self
            .inner
            .limiters
            .lock()
            .expect("limiter registry poisoned");
        let (limiter, last_used) = limiters.entry(token.fingerprint()).or_insert_with(|| {
            (
                Arc::new(Limiter::new(self.inner.config.budget)),
                Instant::now(),
            )
        });
        *last_used = Instant::now();
        let limiter = limiter.clone();
        drop(limiters);
        TokenClient {
            client: self.clone(),
            token,
            limiter,
            reserved_write: AtomicBool::new(false),
        }
    }
}

impl PortalClient {
    /// Drops the limiters of tokens nobody used for `idle` (their scheduler tasks end with
    /// them): a token seen once, then rotated away, costs nothing for long.
    pub fn forget_idle(&self, idle: Duration) {
        self.inner
            .limiters
            .lock()
            .expect("limiter registry poisoned")
            .retain(|_, (limiter, last_used)| {
                Arc::strong_count(limiter) > 1 || last_used.elapsed() < idle
            });
    }

    /// How many tokens have a limiter (for tests and the memory benchmark).
    pub fn tokens_limited(&self) -> usize {
        self.inner
            .limiters
            .lock()
            .expect("limiter registry poisoned")
            .len()
    }
}

/// The portal API as seen through one token.
pub struct TokenClient {
    client: PortalClient,
    token: ApiToken,
    limiter: Arc<Limiter>,
    /// A write permit already waited for (see [`TokenClient::reserve_write`]).
    reserved_write: AtomicBool,
}

impl TokenClient {
    /// Waits at the limiter for a write permit now and keeps it for this client's next create or
    /// delete, so that what the caller does in between (recording its intent) happens right
    /// before the request leaves, not before the wait.
    pub async fn reserve_write(&self) {
        if !self.reserved_write.load(Ordering::Acquire) {
            let waited = self.limiter.acquire(Priority::Write).await;
            crate::metrics::global().limiter_waited(Priority::Write, waited);
            self.reserved_write.store(true, Ordering::Release);
        }
    }

    /// Tells tokens apart without exposing them (see [`ApiToken::fingerprint`]).
    pub fn fingerprint(&self) -> u64 {
        self.token.fingerprint()
    }

    pub async fn list_databases(&self) -> Result<Vec<Database>, PortalError> {
        self.read(Route::ListDatabases, None).await
    }

    pub async fn get_database(&self, name: &str) -> Result<Database, PortalError> {
        self.read(Route::GetDatabase, Some(name)).await
    }

    /// The database of that name; `None` when the portal answers 404.
    pub async fn find_database(&self, name: &str) -> Result<Option<Database>, PortalError> {
        match self.get_database(name).await {
            Ok(found) => Ok(Some(found)),
            Err(PortalError::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// `None` when the portal accepted the create without returning the object (202/204).
    pub async fn create_database(
        &self,
        body: &CreateDatabase,
        retry: CreateRetry,
    ) -> Result<Option<Database>, PortalError> {
        self.create(Route::CreateDatabase, None, Some(body), retry)
            .await
    }

    /// A database that is already gone answers `NotFound`, which callers deleting it treat as done.
    pub async fn delete_database(&self, name: &str) -> Result<(), PortalError> {
        self.delete(Route::DeleteDatabase, name).await
    }

    pub async fn list_backups(&self, database: &str) -> Result<Vec<Backup>, PortalError> {
        self.read(Route::ListBackups, Some(database)).await
    }

    pub async fn create_backup(
        &self,
        database: &str,
        retry: CreateRetry,
    ) -> Result<Option<Backup>, PortalError> {
        self.create::<(), _>(Route::CreateBackup, Some(database), None, retry)
            .await
    }

    pub async fn list_functions(&self) -> Result<Vec<Function>, PortalError> {
        self.read(Route::ListFunctions, None).await
    }

    pub async fn create_function(
        &self,
        body: &CreateProduct,
        retry: CreateRetry,
    ) -> Result<Option<Function>, PortalError> {
        self.create(Route::CreateFunction, None, Some(body), retry)
            .await
    }

    pub async fn delete_function(&self, name: &str) -> Result<(), PortalError> {
        self.delete(Route::DeleteFunction, name).await
    }

    pub async fn list_proxies(&self) -> Result<Vec<Proxy>, PortalError> {
        self.read(Route::ListProxies, None).await
    }

    pub async fn create_proxy(
        &self,
        body: &CreateProduct,
        retry: CreateRetry,
    ) -> Result<Option<Proxy>, PortalError> {
        self.create(Route::CreateProxy, None, Some(body), retry)
            .await
    }

    pub async fn delete_proxy(&self, name: &str) -> Result<(), PortalError> {
        self.delete(Route::DeleteProxy, name).await
    }

    async fn read<T: DeserializeOwned>(
        &self,
        route: Route,
        name: Option<&str>,
    ) -> Result<T, PortalError> {
        let body = self
            .call::<()>(route, name, None, PortalError::is_transient)
            .await?;
        self.decode(route, body.as_deref().unwrap_or(b"null"))
    }

    async fn create<B: Serialize, T: DeserializeOwned>(
        &self,
        route: Route,
        name: Option<&str>,
        body: Option<&B>,
        retry: CreateRetry,
    ) -> Result<Option<T>, PortalError> {
        let may_repeat = match retry {
            CreateRetry::WhenNotApplied => PortalError::certainly_not_applied,
            CreateRetry::OnTransient => PortalError::is_transient,
        };
        match self.call(route, name, body, may_repeat).await? {
            Some(bytes) => self.decode(route, &bytes).map(Some),
            None => Ok(None),
        }
    }

    async fn delete(&self, route: Route, name: &str) -> Result<(), PortalError> {
        self.call::<()>(route, Some(name), None, PortalError::is_transient)
            .await
            .map(drop)
    }

    /// Sends one call, waiting at the limiter before every attempt and repeating it while
    /// `may_repeat` allows. Returns the response body, `None` when it was empty.
    async fn call<B: Serialize>(
        &self,
        route: Route,
        name: Option<&str>,
        body: Option<&B>,
        may_repeat: fn(&PortalError) -> bool,
    ) -> Result<Option<Vec<u8>>, PortalError> {
        let inner = &self.client.inner;
        let priority = match route.access() {
            Access::Read => Priority::Read,
            Access::Create | Access::Delete => Priority::Write,
        };
        let url = format!("{}{}", inner.config.base_url, route.path(name));
        let mut attempt = 1;
        loop {
            let reserved =
                priority == Priority::Write && self.reserved_write.swap(false, Ordering::AcqRel);
            let waited = if reserved {
                Duration::ZERO
            } else {
                let waited = self.limiter.acquire(priority).await;
                crate::metrics::global().limiter_waited(priority, waited);
                waited
            };
            let started = Instant::now();
            let result = self.send_once(route, &url, body).await;
            tracing::debug!(
                route = route.template(),
                attempt,
                limiter_wait_ms = waited.as_millis() as u64,
                elapsed_ms = started.elapsed().as_millis() as u64,
                outcome = match &result {
                    Ok(_) => "ok",
                    Err(error) => error.reason(),
                },
                "portal call"
            );
            let error = match result {
                Ok(body) => return Ok(body),
                Err(error) => error,
            };
            if let PortalError::RateLimited { retry_after, .. } = &error {
                self.limiter.pause_for(*retry_after);
            }
            if attempt >= inner.config.retry.attempts || !may_repeat(&error) {
                return Err(error);
            }
            if !matches!(error, PortalError::RateLimited { .. }) {
                tokio::time::sleep(inner.config.retry.delay(attempt)).await;
            }
            attempt += 1;
        }
    }

    async fn send_once<B: Serialize>(
        &self,
        route: Route,
        url: &str,
        body: Option<&B>,
    ) -> Result<Option<Vec<u8>>, PortalError> {
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", self.token.expose()))
            .map_err(|_| PortalError::Unauthorized {
            message: Some("the token contains characters an HTTP header cannot carry".into()),
        })?;
        authorization.set_sensitive(true);
        let mut request = self
            .client
            .inner
            .http
            .request(route.method(), url)
            .header(AUTHORIZATION, authorization);
        if let Some(body) = body {
            request = request.json(body);
        }
        let started = Instant::now();
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                crate::metrics::global().portal_response(route, None, started.elapsed());
                return Err(transport_error(error));
            }
        };
        let status = response.status();
        crate::metrics::global().portal_response(route, Some(status.as_u16()), started.elapsed());
        if status.is_redirection() {
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|value| value.to_str().ok())
                .map(|text| self.scrub(text));
            return Err(PortalError::Redirected {
                status: status.as_u16(),
                location,
            });
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let limit = self.client.inner.config.max_body_bytes;
        let too_large = || PortalError::TooLarge { route, limit };
        if response
            .content_length()
            .is_some_and(|length| length > limit)
        {
            return Err(too_large());
        }
        // Chunk by chunk into one buffer: a list of 10,000 databases is megabytes, and collecting
        // the chunks first held the body twice (see BENCHMARKS.md).
        let expected = response
            .content_length()
            .unwrap_or(0)
            .min(PREALLOCATE_AT_MOST);
        let mut bytes = Vec::with_capacity(expected as usize);
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        if status.is_success() {
            return Ok((!bytes.is_empty()).then_some(bytes));
        }
        Err(PortalError::from_status(
            route,
            status.as_u16(),
            retry_after,
            error_text(&bytes).map(|text| self.scrub(&text)),
        ))
    }

    fn decode<T: DeserializeOwned>(&self, route: Route, bytes: &[u8]) -> Result<T, PortalError> {
        serde_json::from_slice(bytes).map_err(|error| PortalError::Decode {
            route,
            // serde quotes the values it could not read, and those came from the portal.
            message: self.scrub(&error.to_string()),
        })
    }

    /// A portal text without this client's token (see [`scrub`]).
    fn scrub(&self, text: &str) -> String {
        scrub(text, self.token.expose())
    }
}

/// The most a Content-Length header makes us reserve up front (a body may still be longer).
const PREALLOCATE_AT_MOST: u64 = 64 << 20;

/// The portal's `{"error": "…"}` text, or a short excerpt of a body that is not JSON.
fn error_text(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() {
        return None;
    }
    if let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(bytes) {
        for key in ["error", "message", "detail"] {
            if let Some(serde_json::Value::String(text)) = fields.get(key) {
                return Some(text.clone());
            }
        }
    }
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn transport_error(error: reqwest::Error) -> PortalError {
    let sent = !error.is_connect();
    let message = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "connection failed".to_owned()
    } else {
        "connection lost".to_owned()
    };
    // reqwest's own text names the URL, never the headers: keep the cause for the log.
    let cause = std::error::Error::source(&error)
        .map(|source| source.to_string())
        .unwrap_or_default();
    PortalError::Transport {
        message: if cause.is_empty() {
            message
        } else {
            format!("{message}: {cause}")
        },
        sent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let backoff = Backoff {
            attempts: 10,
            first: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let first = backoff.delay(1);
            assert!(first >= Duration::from_millis(50) && first < Duration::from_millis(150));
            let third = backoff.delay(3);
            assert!(third >= Duration::from_millis(200) && third < Duration::from_millis(600));
            let late = backoff.delay(30);
            assert!(late >= Duration::from_millis(500) && late < Duration::from_millis(1500));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn limiters_of_tokens_nobody_uses_are_dropped() {
        let portal = PortalClient::new(PortalConfig::new("https://portal.example")).unwrap();
        let old = portal.with_token(ApiToken::new("htx_rotated_away").unwrap());
        drop(old);
        tokio::time::advance(Duration::from_secs(600)).await;
        let kept = portal.with_token(ApiToken::new("htx_in_use").unwrap());
        portal.forget_idle(Duration::from_secs(300));
        assert_eq!(portal.tokens_limited(), 1);
        tokio::time::advance(Duration::from_secs(600)).await;
        portal.forget_idle(Duration::from_secs(300));
        assert_eq!(portal.tokens_limited(), 1, "a client still holds it");
        drop(kept);
        portal.forget_idle(Duration::from_secs(300));
        assert_eq!(portal.tokens_limited(), 0);
    }

    #[test]
    fn error_text_prefers_the_error_field() {
        assert_eq!(error_text(br#"{"error":"nope"}"#).as_deref(), Some("nope"));
        assert_eq!(error_text(br#"{"detail":"bad"}"#).as_deref(), Some("bad"));
        assert_eq!(
            error_text(b"<html>oops</html>").as_deref(),
            Some("<html>oops</html>")
        );
        assert_eq!(error_text(b""), None);
    }
}
