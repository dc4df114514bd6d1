//! The HTTP core every provider's client is built on: one limiter per credential, timeouts on
//! every call, retries where they are safe, the credential kept out of every text, no redirects,
//! a cap on answers. A provider brings its endpoints and its [`Dialect`]; its typed client is a
//! thin layer over a [`Session`].

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use rand::Rng;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::{Url, redirect};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::endpoint::{Access, Auth, Dialect, Endpoint};
use super::error::PortalError;
use super::limiter::{Budget, Limiter, Priority};
use super::redact::scrub;
use super::token::ApiToken;

/// One portal: where it is, how its API speaks, and the budget of each credential there.
#[derive(Clone)]
pub struct Portal {
    base_url: String,
    pub budget: Budget,
    pub dialect: &'static dyn Dialect,
}

impl std::fmt::Debug for Portal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Portal")
            .field("base_url", &self.base_url)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl Portal {
    /// The portal at `base_url`, checked: https (or loopback http, or plain http where
    /// `allow_insecure_http`), no user name or password in it.
    pub fn new(
        base_url: &str,
        budget: Budget,
        dialect: &'static dyn Dialect,
        allow_insecure_http: bool,
    ) -> Result<Self, SetupError> {
        let text = base_url.trim().trim_end_matches('/');
        let url = Url::parse(text).map_err(|_| SetupError::NotAUrl(text.to_owned()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(SetupError::CredentialsInUrl);
        }
        match url.scheme() {
            "https" => {}
            "http" if allow_insecure_http || is_loopback(&url) => {}
            "http" => return Err(SetupError::InsecureUrl(text.to_owned())),
            _ => return Err(SetupError::NotAUrl(text.to_owned())),
        }
        Ok(Self {
            base_url: text.to_owned(),
            budget,
            dialect,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// How the core talks to every portal.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Limit on one HTTP exchange, connection included.
    pub timeout: Duration,
    pub retry: Backoff,
    /// The largest response body read; a longer one is an error, not a memory spike.
    pub max_body_bytes: u64,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            retry: Backoff::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// 64 MiB: a list of 10,000 databases is a few MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 64 << 20;

/// Why a portal client cannot be set up: a configuration mistake, found before any request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    #[error("the portal URL '{0}' is not an http(s) URL: give it as https://host[:port]")]
    NotAUrl(String),
    #[error(
        "the portal URL '{0}' is plain http to another machine, so the credential would cross the network in clear: use https://, or allow it explicitly (--allow-insecure-http)"
    )]
    InsecureUrl(String),
    #[error(
        "the portal URL carries a user name or password: remove them; credentials belong in a Secret"
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

/// When a call that makes something may be sent again after it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateRetry {
    /// Only when the portal certainly did not act: a 429, or a connection that never opened.
    /// After a 5xx or a timeout the caller must look before asking again.
    WhenNotApplied,
    /// Also after 5xx and timeouts: the caller has made a repeat harmless.
    OnTransient,
}

/// The HTTP core shared by the whole operator. Cloning is cheap; limiters are per portal and
/// credential.
#[derive(Clone)]
pub struct PortalClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    settings: ClientSettings,
    /// One limiter per portal and credential (by fingerprint), with when it was last handed out.
    limiters: Mutex<HashMap<u64, (Arc<Limiter>, Instant)>>,
}

/// Keys the limiters and snapshots by portal and credential without keeping either.
static FINGERPRINT_KEYS: LazyLock<RandomState> = LazyLock::new(RandomState::new);

impl PortalClient {
    pub fn new(settings: ClientSettings) -> Result<Self, SetupError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("htx-operator/", env!("CARGO_PKG_VERSION")))
            // A redirect would carry the credential to whatever address the answer names.
            .redirect(redirect::Policy::none())
            .build()
            .map_err(|error| SetupError::Build(error.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                settings,
                limiters: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The calls made at `portal` with `token`, sharing that credential's limiter there with
    /// every other caller.
    pub fn session(&self, portal: &Portal, token: ApiToken) -> Session {
        let fingerprint = FINGERPRINT_KEYS.hash_one((portal.base_url.as_str(), token.expose()));
        let mut limiters = self
            .inner
            .limiters
            .lock()
            .expect("limiter registry poisoned");
        let (limiter, last_used) = limiters
            .entry(fingerprint)
            .or_insert_with(|| (Arc::new(Limiter::new(portal.budget)), Instant::now()));
        *last_used = Instant::now();
        let limiter = limiter.clone();
        drop(limiters);
        Session {
            client: self.clone(),
            portal: portal.clone(),
            token,
            fingerprint,
            limiter,
            reserved_write: AtomicBool::new(false),
        }
    }

    /// Drops the limiters of credentials nobody used for `idle` (their scheduler tasks end with
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

    /// How many credentials have a limiter (for tests and the memory benchmark).
    pub fn tokens_limited(&self) -> usize {
        self.inner
            .limiters
            .lock()
            .expect("limiter registry poisoned")
            .len()
    }
}

/// A portal's API as seen through one credential.
pub struct Session {
    client: PortalClient,
    portal: Portal,
    token: ApiToken,
    fingerprint: u64,
    limiter: Arc<Limiter>,
    /// A write permit already waited for (see [`Session::reserve_write`]).
    reserved_write: AtomicBool,
}

impl Session {
    /// Tells portals and credentials apart without exposing the credential.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// This credential's budget is being spent on writes (see [`Limiter::busy_writing`]).
    pub fn busy_writing(&self) -> bool {
        self.limiter.busy_writing()
    }

    /// Waits at the limiter for a write permit now and keeps it for this session's next write,
    /// so that what the caller does in between (recording its intent) happens right before the
    /// request leaves, not before the wait.
    pub async fn reserve_write(&self) {
        if !self.reserved_write.load(Ordering::Acquire) {
            let waited = self.limiter.acquire(Priority::Write).await;
            crate::metrics::global().limiter_waited(Priority::Write, waited);
            self.reserved_write.store(true, Ordering::Release);
        }
    }

    /// A read, decoded. Reads are repeated after transient failures.
    pub async fn get<T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        path: &str,
    ) -> Result<T, PortalError> {
        let body = self
            .call::<()>(endpoint, path, None, PortalError::is_transient)
            .await?;
        self.decode(endpoint, body.as_deref().unwrap_or(b"null"))
    }

    /// A read where the portal's 404 is an answer: `None`.
    pub async fn find<T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        path: &str,
    ) -> Result<Option<T>, PortalError> {
        match self.get(endpoint, path).await {
            Ok(found) => Ok(Some(found)),
            Err(PortalError::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// A call that makes something (or changes it, `retry` says whether a repeat is safe); the
    /// answer decoded, `None` when the portal answered without a body (202, 204).
    pub async fn write<B: Serialize, T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        path: &str,
        body: Option<&B>,
        retry: CreateRetry,
    ) -> Result<Option<T>, PortalError> {
        let may_repeat = match retry {
            CreateRetry::WhenNotApplied => PortalError::certainly_not_applied,
            CreateRetry::OnTransient => PortalError::is_transient,
        };
        match self.call(endpoint, path, body, may_repeat).await? {
            Some(bytes) => self.decode(endpoint, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// A delete: repeated after transient failures (a repeat finds it gone: 404, which callers
    /// deleting treat as done).
    pub async fn delete(&self, endpoint: &Endpoint, path: &str) -> Result<(), PortalError> {
        self.call::<()>(endpoint, path, None, PortalError::is_transient)
            .await
            .map(drop)
    }

    /// A hash of `parts` keyed with this session's credential (HMAC-SHA-256, hex): tells a value
    /// written before from a new one without keeping it, and cannot be checked against guesses
    /// by whoever reads it without the credential.
    pub fn keyed_digest(&self, parts: &[&str]) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, self.token.expose().as_bytes());
        let mut context = ring::hmac::Context::with_key(&key);
        for part in parts {
            // Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part.as_bytes());
        }
        context
            .sign()
            .as_ref()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    /// A portal text without this session's credential (see [`scrub`]).
    pub fn scrub(&self, text: &str) -> String {
        scrub(
            text,
            self.token.expose(),
            self.portal.dialect.credential_prefixes(),
        )
    }

    fn decode<T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        bytes: &[u8],
    ) -> Result<T, PortalError> {
        serde_json::from_slice(bytes).map_err(|error| PortalError::Decode {
            route: endpoint.template,
            // serde quotes the values it could not read, and those came from the portal.
            message: self.scrub(&error.to_string()),
        })
    }

    /// Sends one call, waiting at the limiter before every attempt and repeating it while
    /// `may_repeat` allows. Returns the response body, `None` when it was empty.
    async fn call<B: Serialize>(
        &self,
        endpoint: &Endpoint,
        path: &str,
        body: Option<&B>,
        may_repeat: fn(&PortalError) -> bool,
    ) -> Result<Option<Vec<u8>>, PortalError> {
        let settings = &self.client.inner.settings;
        let priority = match endpoint.access {
            Access::Read => Priority::Read,
            Access::Create | Access::Update | Access::Delete => Priority::Write,
        };
        let url = format!("{}{path}", self.portal.base_url);
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
            let result = self.send_once(endpoint, &url, body).await;
            tracing::debug!(
                route = endpoint.template,
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
            if attempt >= settings.retry.attempts || !may_repeat(&error) {
                return Err(error);
            }
            if !matches!(error, PortalError::RateLimited { .. }) {
                tokio::time::sleep(settings.retry.delay(attempt)).await;
            }
            attempt += 1;
        }
    }

    fn credential_header(&self) -> Result<(HeaderName, HeaderValue), PortalError> {
        let unusable = || PortalError::Unauthorized {
            message: Some("the credential contains characters an HTTP header cannot carry".into()),
        };
        let (name, value) = match self.portal.dialect.auth() {
            Auth::Bearer => (AUTHORIZATION, format!("Bearer {}", self.token.expose())),
            Auth::Header(name) => (
                HeaderName::from_static(name),
                self.token.expose().to_owned(),
            ),
        };
        let mut value = HeaderValue::from_str(&value).map_err(|_| unusable())?;
        value.set_sensitive(true);
        Ok((name, value))
    }

    async fn send_once<B: Serialize>(
        &self,
        endpoint: &Endpoint,
        url: &str,
        body: Option<&B>,
    ) -> Result<Option<Vec<u8>>, PortalError> {
        let (header, credential) = self.credential_header()?;
        let mut request = self
            .client
            .inner
            .http
            .request(endpoint.verb.method(), url)
            .header(header, credential);
        if let Some(body) = body {
            request = request.json(body);
        }
        let started = Instant::now();
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                crate::metrics::global().portal_response(endpoint, None, started.elapsed());
                return Err(transport_error(error));
            }
        };
        let status = response.status();
        crate::metrics::global().portal_response(
            endpoint,
            Some(status.as_u16()),
            started.elapsed(),
        );
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
        let limit = self.client.inner.settings.max_body_bytes;
        let too_large = || PortalError::TooLarge {
            route: endpoint.template,
            limit,
        };
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
        let dialect = self.portal.dialect;
        let text = dialect.error_text(&bytes).map(|text| self.scrub(&text));
        Err(dialect.meaning(endpoint, status.as_u16(), retry_after, text))
    }
}

/// The most a Content-Length header makes us reserve up front (a body may still be longer).
const PREALLOCATE_AT_MOST: u64 = 64 << 20;

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

    struct Plain;

    impl Dialect for Plain {
        fn auth(&self) -> Auth {
            Auth::Bearer
        }

        fn meaning(
            &self,
            _: &Endpoint,
            status: u16,
            retry_after: Option<Duration>,
            message: Option<String>,
        ) -> PortalError {
            PortalError::from_status(status, retry_after, message, false)
        }
    }

    fn portal(url: &str) -> Portal {
        Portal::new(url, Budget::default(), &Plain, false).unwrap()
    }

    #[tokio::test]
    async fn keyed_digests_follow_the_value_and_the_credential_and_never_show_either() {
        let client = PortalClient::new(ClientSettings::default()).unwrap();
        let portal = portal("https://portal.example");
        let one = client.session(&portal, ApiToken::new("ak_live_one").unwrap());
        let other = client.session(&portal, ApiToken::new("ak_live_other").unwrap());
        let digest = one.keyed_digest(&["KEY", "s3cret"]);
        assert_eq!(digest, one.keyed_digest(&["KEY", "s3cret"]));
        assert_ne!(digest, one.keyed_digest(&["KEY", "s3cret2"]));
        assert_ne!(digest, one.keyed_digest(&["KEYs", "3cret"]));
        assert_ne!(digest, other.keyed_digest(&["KEY", "s3cret"]));
        assert_eq!(digest.len(), 64);
        assert!(!digest.contains("s3cret") && !digest.contains("ak_live"));
    }

    #[tokio::test(start_paused = true)]
    async fn limiters_of_tokens_nobody_uses_are_dropped() {
        let client = PortalClient::new(ClientSettings::default()).unwrap();
        let portal = portal("https://portal.example");
        let old = client.session(&portal, ApiToken::new("htx_rotated_away").unwrap());
        drop(old);
        tokio::time::advance(Duration::from_secs(600)).await;
        let kept = client.session(&portal, ApiToken::new("htx_in_use").unwrap());
        client.forget_idle(Duration::from_secs(300));
        assert_eq!(client.tokens_limited(), 1);
        tokio::time::advance(Duration::from_secs(600)).await;
        client.forget_idle(Duration::from_secs(300));
        assert_eq!(client.tokens_limited(), 1, "a client still holds it");
        drop(kept);
        client.forget_idle(Duration::from_secs(300));
        assert_eq!(client.tokens_limited(), 0);
    }

    #[tokio::test]
    async fn one_credential_at_two_portals_has_two_limiters() {
        let client = PortalClient::new(ClientSettings::default()).unwrap();
        let token = ApiToken::new("htx_same").unwrap();
        let here = client.session(&portal("https://a.example"), token.clone());
        let there = client.session(&portal("https://b.example"), token);
        assert_ne!(here.fingerprint(), there.fingerprint());
        assert_eq!(client.tokens_limited(), 2);
    }

    #[tokio::test]
    async fn sessions_share_a_limiter_by_credential_only() {
        let client = PortalClient::new(ClientSettings::default()).unwrap();
        let portal = portal("https://a.example");
        let first = client.session(&portal, ApiToken::new("htx_a").unwrap());
        let again = client.session(&portal, ApiToken::new("htx_a").unwrap());
        let other = client.session(&portal, ApiToken::new("htx_b").unwrap());
        assert_eq!(first.fingerprint(), again.fingerprint());
        assert_ne!(first.fingerprint(), other.fingerprint());
        assert_eq!(client.tokens_limited(), 2);
    }
}
