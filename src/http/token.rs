//! The portal API token: a secret that never shows up in `Debug`, `Display`, logs or errors.

use std::fmt;

/// A portal API credential (an HTX token `htx_…`, a WaysCloud API key, a PaaS key `ak_…`).
///
/// The value is reachable only through [`ApiToken::expose`], which the HTTP layer calls to build
/// the `Authorization` header. Formatting the token prints a fixed placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

impl ApiToken {
    /// Wraps a token, trimming the whitespace that Secrets written with `echo` often carry.
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidToken> {
        let value = value.into();
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(InvalidToken::Empty);
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(InvalidToken::BadCharacters);
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The raw token, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

impl fmt::Display for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Why a string can't be used as a token. Never carries the string itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidToken {
    #[error(
        "the API token is empty: put the token from the portal's Account → API tokens page in the Secret"
    )]
    Empty,
    #[error(
        "the API token contains whitespace or control characters inside it: check the Secret holds only the token"
    )]
    BadCharacters,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let token = ApiToken::new("htx_supersecret").unwrap();
        assert!(!format!("{token:?}").contains("supersecret"));
        assert!(!format!("{token}").contains("supersecret"));
        assert!(!format!("{:?}", Some(&token)).contains("supersecret"));
    }

    #[test]
    fn surrounding_whitespace_is_trimmed_and_inner_whitespace_refused() {
        assert_eq!(ApiToken::new(" htx_a\n").unwrap().expose(), "htx_a");
        assert_eq!(ApiToken::new("  \n"), Err(InvalidToken::Empty));
        assert_eq!(ApiToken::new("htx a"), Err(InvalidToken::BadCharacters));
    }
}
