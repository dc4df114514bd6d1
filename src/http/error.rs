//! Portal errors by meaning, not by number, for every provider: each provider's
//! [`Dialect`](super::Dialect) says what its answers mean. Each carries the portal's text (scrubbed
//! of the credential) when it sent one.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortalError {
    #[error(
        "the portal rejected the API token (401{}): check the token Secret holds a current, unrevoked token",
        detail(.message)
    )]
    Unauthorized { message: Option<String> },

    #[error(
        "the portal plan quota is reached (402{}): delete unused resources or raise the plan",
        detail(.message)
    )]
    QuotaExceeded { message: Option<String> },

    #[error(
        "the portal refused the call (403{}): the token's scope does not allow it, or the operator's IP is not on the token's allowlist",
        detail(.message)
    )]
    Forbidden { message: Option<String> },

    #[error("not found at the portal (404{})", detail(.message))]
    NotFound { message: Option<String> },

    #[error(
        "the name is already taken at the portal ({status}{})",
        detail(.message)
    )]
    AlreadyExists {
        status: u16,
        message: Option<String>,
    },

    #[error(
        "the portal rate limit was hit (429{}): calls with this token pause for {}s",
        detail(.message),
        .retry_after.as_secs()
    )]
    RateLimited {
        retry_after: Duration,
        message: Option<String>,
    },

    #[error("the portal rejected the request ({status}{})", detail(.message))]
    Rejected {
        status: u16,
        message: Option<String>,
    },

    #[error("the portal failed ({status}{}): will retry", detail(.message))]
    Server {
        status: u16,
        message: Option<String>,
    },

    #[error("could not reach the portal ({message}): will retry")]
    Transport { message: String, sent: bool },

    #[error("the portal answered {route} with a body that could not be read: {message}")]
    Decode {
        route: &'static str,
        message: String,
    },

    #[error(
        "the portal answered {status} (a redirect{}): the operator does not follow redirects, so the token never goes to another address; set the portal URL to the address the portal should be reached at",
        .location.as_deref().map(|to| format!(" to {to}")).unwrap_or_default()
    )]
    Redirected {
        status: u16,
        location: Option<String>,
    },

    #[error(
        "the portal's answer to {route} is larger than {} MiB: refused without reading it all",
        .limit >> 20
    )]
    TooLarge { route: &'static str, limit: u64 },
}

fn detail(message: &Option<String>) -> String {
    match message {
        Some(text) if !text.is_empty() => format!(": {text}"),
        _ => String::new(),
    }
}

impl PortalError {
    /// The usual meaning of an unsuccessful HTTP answer. `names_something`: the call creates a
    /// resource with a name the caller chose, so 409 (and a 422 saying so) means the name is
    /// taken. 402 is a plan quota.
    pub fn from_status(
        status: u16,
        retry_after: Option<Duration>,
        message: Option<String>,
        names_something: bool,
    ) -> Self {
        match status {
            401 => Self::Unauthorized { message },
            402 => Self::QuotaExceeded { message },
            403 => Self::Forbidden { message },
            404 => Self::NotFound { message },
            409 | 422 if names_something && names_a_conflict(status, &message) => {
                Self::AlreadyExists { status, message }
            }
            429 => Self::RateLimited {
                retry_after: retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
                message,
            },
            500..=599 => Self::Server { status, message },
            _ => Self::Rejected { status, message },
        }
    }

    /// Worth another attempt of the same call: the portal or the network failed, not the request.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Server { .. } | Self::Transport { .. } | Self::RateLimited { .. }
        )
    }

    /// True when the portal certainly did not act on the request, so even a create may be repeated.
    pub fn certainly_not_applied(&self) -> bool {
        match self {
            Self::RateLimited { .. } => true,
            Self::Transport { sent, .. } => !sent,
            _ => false,
        }
    }

    /// True when the portal answered and did not act: a definite refusal (or no request left at
    /// all). A create refused this way created nothing; anything else may have.
    pub fn is_refusal(&self) -> bool {
        self.certainly_not_applied()
            || matches!(
                self,
                Self::Unauthorized { .. }
                    | Self::QuotaExceeded { .. }
                    | Self::Forbidden { .. }
                    | Self::NotFound { .. }
                    | Self::AlreadyExists { .. }
                    | Self::Rejected { .. }
                    | Self::Redirected { .. }
            )
    }

    /// A short, stable word for the kind of error: condition reasons and metric labels use it.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unauthorized { .. } => "Unauthorized",
            Self::QuotaExceeded { .. } => "QuotaExceeded",
            Self::Forbidden { .. } => "Forbidden",
            Self::NotFound { .. } => "NotFound",
            Self::AlreadyExists { .. } => "AlreadyExists",
            Self::RateLimited { .. } => "RateLimited",
            Self::Rejected { .. } => "Rejected",
            Self::Server { .. } => "PortalError",
            Self::Transport { .. } => "PortalUnreachable",
            Self::Decode { .. } | Self::TooLarge { .. } => "UnexpectedResponse",
            Self::Redirected { .. } => "Redirected",
        }
    }
}

/// Used when a 429 comes without a readable `Retry-After`.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// 409 on a create is always a conflict; 422 is one only when the portal says the name is taken
/// (it also uses 422 for invalid input, which must not be mistaken for "already exists").
fn names_a_conflict(status: u16, message: &Option<String>) -> bool {
    if status == 409 {
        return true;
    }
    message.as_deref().is_some_and(|text| {
        let text = text.to_ascii_lowercase();
        [
            "already exists",
            "already taken",
            "already in use",
            "duplicate",
        ]
        .iter()
        .any(|phrase| text.contains(phrase))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_create(status: u16, message: &str) -> PortalError {
        PortalError::from_status(status, None, Some(message.into()), true)
    }

    #[test]
    fn status_codes_map_to_meanings() {
        assert_eq!(on_create(401, "x").reason(), "Unauthorized");
        assert_eq!(on_create(402, "x").reason(), "QuotaExceeded");
        assert_eq!(on_create(403, "x").reason(), "Forbidden");
        assert_eq!(on_create(404, "x").reason(), "NotFound");
        assert_eq!(on_create(409, "x").reason(), "AlreadyExists");
        assert_eq!(on_create(503, "x").reason(), "PortalError");
        assert_eq!(on_create(400, "x").reason(), "Rejected");
    }

    #[test]
    fn a_422_is_a_conflict_only_when_it_says_so() {
        assert_eq!(
            on_create(422, "Database 'a' already exists").reason(),
            "AlreadyExists"
        );
        assert_eq!(
            on_create(422, "engine must be one of …").reason(),
            "Rejected"
        );
    }

    #[test]
    fn conflicts_of_calls_that_name_nothing_are_not_already_exists() {
        let error = PortalError::from_status(409, None, None, false);
        assert_eq!(error.reason(), "Rejected");
    }

    #[test]
    fn rate_limits_keep_retry_after_and_default_it() {
        let error = PortalError::from_status(429, Some(Duration::from_secs(7)), None, false);
        assert_eq!(
            error,
            PortalError::RateLimited {
                retry_after: Duration::from_secs(7),
                message: None
            }
        );
        let error = PortalError::from_status(429, None, None, false);
        assert!(
            matches!(error, PortalError::RateLimited { retry_after, .. } if retry_after == DEFAULT_RETRY_AFTER)
        );
    }

    #[test]
    fn messages_carry_the_portal_text_and_say_what_to_do() {
        let text = on_create(403, "token scope 'read' cannot create databases").to_string();
        assert!(text.contains("scope 'read'"), "{text}");
        assert!(text.contains("allowlist"), "{text}");
        assert!(
            PortalError::Unauthorized { message: None }
                .to_string()
                .contains("check the token Secret")
        );
    }

    #[test]
    fn only_unapplied_failures_allow_repeating_a_create() {
        let unsent = PortalError::Transport {
            message: "refused".into(),
            sent: false,
        };
        let sent = PortalError::Transport {
            message: "reset".into(),
            sent: true,
        };
        assert!(unsent.certainly_not_applied());
        assert!(!sent.certainly_not_applied());
        assert!(!on_create(503, "x").certainly_not_applied());
        assert!(PortalError::from_status(429, None, None, true).certainly_not_applied());
    }

    #[test]
    fn refusals_are_answers_that_did_nothing() {
        for status in [400, 401, 402, 403, 404, 409, 422, 429] {
            assert!(on_create(status, "x").is_refusal(), "{status}");
        }
        assert!(!on_create(500, "x").is_refusal());
        assert!(
            !PortalError::Transport {
                message: "reset".into(),
                sent: true
            }
            .is_refusal()
        );
        assert!(
            PortalError::Redirected {
                status: 301,
                location: None
            }
            .is_refusal()
        );
    }
}
