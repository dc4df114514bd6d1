//! Simulator configuration: tokens with scope and IP allowlist, limits, delays, quotas.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Why a token spec, scope, CIDR or duration could not be parsed. Never contains a token value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// Everything the simulator needs to start.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Tokens known at start; more can be added with the `/_sim/tokens` hook.
    pub tokens: Vec<TokenSpec>,
    /// Requests per token in any sliding 60 s window; 0 means unlimited.
    pub rate_per_minute: u32,
    /// Time from create to `online` / `active`.
    pub provision_delay: Duration,
    /// Time from backup start to `completed`.
    pub backup_delay: Duration,
    /// Plan quota per product (`None` = unlimited).
    pub quota: Quota,
    /// Load the resources from this file at start and save them to it after changes.
    pub state_file: Option<PathBuf>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            tokens: Vec::new(),
            rate_per_minute: 120,
            provision_delay: Duration::from_secs(2),
            backup_delay: Duration::from_secs(3),
            quota: Quota::default(),
            state_file: None,
        }
    }
}

/// Plan quota: the most resources of each product that may exist at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Quota {
    pub databases: Option<u32>,
    pub functions: Option<u32>,
    pub proxies: Option<u32>,
}

/// What a token may do. Every scope may read everything; writes are limited as documented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Full,
    Read,
    Databases,
    Functions,
    Proxies,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Full => "full",
            Scope::Read => "read",
            Scope::Databases => "databases",
            Scope::Functions => "functions",
            Scope::Proxies => "proxies",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "full" => Ok(Scope::Full),
            "read" => Ok(Scope::Read),
            "databases" => Ok(Scope::Databases),
            "functions" => Ok(Scope::Functions),
            "proxies" => Ok(Scope::Proxies),
            other => Err(ParseError(format!(
                "unknown scope {other:?}: expected one of full, read, databases, functions, proxies"
            ))),
        }
    }
}

/// One allowlist entry: an IPv4 CIDR or a single IPv4/IPv6 address (as the portal accepts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// An entry matching exactly one address.
    pub fn single(addr: IpAddr) -> Self {
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        Cidr { addr, prefix }
    }

    /// Whether `ip` is inside this entry (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            IpAddr::V4(a) if self.prefix != 32 => write!(f, "{a}/{}", self.prefix),
            a => write!(f, "{a}"),
        }
    }
}

impl FromStr for Cidr {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let Some((addr, prefix)) = s.split_once('/') else {
            return s.parse::<IpAddr>().map(Cidr::single).map_err(|_| {
                ParseError(format!(
                    "invalid allowlist entry {s:?}: expected an IPv4 CIDR (10.0.0.0/8) or an IPv4/IPv6 address"
                ))
            });
        };
        let addr: IpAddr = addr.parse().map_err(|_| {
            ParseError(format!(
                "invalid allowlist entry {s:?}: {addr:?} is not an IP address"
            ))
        })?;
        if addr.is_ipv6() {
            return Err(ParseError(format!(
                "invalid allowlist entry {s:?}: IPv6 CIDRs are not supported, only single IPv6 addresses"
            )));
        }
        let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32).ok_or_else(|| {
            ParseError(format!(
                "invalid allowlist entry {s:?}: prefix length must be 0-32"
            ))
        })?;
        Ok(Cidr { addr, prefix })
    }
}

impl TryFrom<String> for Cidr {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Cidr> for String {
    fn from(c: Cidr) -> String {
        c.to_string()
    }
}

/// A token the simulator accepts. `allow` empty means any client IP. `account` is the portal
/// account the token belongs to: it sees only that account's resources (empty: the one account
/// every token shares unless told otherwise).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSpec {
    pub token: String,
    pub scope: Scope,
    #[serde(default)]
    pub allow: Vec<Cidr>,
    #[serde(default)]
    pub account: String,
}

impl TokenSpec {
    pub fn new(token: impl Into<String>, scope: Scope) -> Self {
        TokenSpec {
            token: token.into(),
            scope,
            allow: Vec::new(),
            account: String::new(),
        }
    }

    /// The same token, belonging to `account`.
    pub fn in_account(self, account: impl Into<String>) -> Self {
        TokenSpec {
            account: account.into(),
            ..self
        }
    }

    /// Checks the token value itself: non-empty, printable, no whitespace or ':'.
    pub fn validate_token(token: &str) -> Result<(), ParseError> {
        if token.is_empty() {
            return Err(ParseError("token must not be empty".into()));
        }
        if token.len() > 256 {
            return Err(ParseError("token must be at most 256 characters".into()));
        }
        if token
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ':')
        {
            return Err(ParseError(
                "token must not contain whitespace, control characters or ':'".into(),
            ));
        }
        Ok(())
    }

    /// Whether a client at `ip` may use this token.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow.is_empty() || self.allow.iter().any(|c| c.contains(ip))
    }
}

/// The token value is never printed.
impl fmt::Debug for TokenSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSpec")
            .field("token", &"<redacted>")
            .field("scope", &self.scope)
            .field("allow", &self.allow)
            .field("account", &self.account)
            .finish()
    }
}

/// `TOKEN:SCOPE` or `TOKEN:SCOPE:CIDR[,CIDR…]`.
impl FromStr for TokenSpec {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.splitn(3, ':');
        let token = parts.next().unwrap_or_default();
        let Some(scope) = parts.next() else {
            return Err(ParseError(
                "token spec must be TOKEN:SCOPE or TOKEN:SCOPE:CIDR[,CIDR...] (scope missing)"
                    .into(),
            ));
        };
        TokenSpec::validate_token(token).map_err(|e| ParseError(format!("token spec: {e}")))?;
        let scope: Scope = scope
            .parse()
            .map_err(|e: ParseError| ParseError(format!("token spec: {e}")))?;
        let allow = match parts.next() {
            None => Vec::new(),
            Some(list) if list.trim().is_empty() => {
                return Err(ParseError(
                    "token spec: empty allowlist after the second ':'".into(),
                ));
            }
            Some(list) => list
                .split(',')
                .map(|c| {
                    c.parse()
                        .map_err(|e: ParseError| ParseError(format!("token spec: {e}")))
                })
                .collect::<Result<Vec<Cidr>, _>>()?,
        };
        Ok(TokenSpec {
            token: token.to_owned(),
            scope,
            allow,
            account: String::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_spec_plain() {
        let t: TokenSpec = "htx_full1:full".parse().unwrap();
        assert_eq!(t.token, "htx_full1");
        assert_eq!(t.scope, Scope::Full);
        assert!(t.allow.is_empty());
        assert!(t.allows("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn token_spec_with_allowlist() {
        let t: TokenSpec = "htx_db:databases:10.0.0.0/8, 192.168.1.7,::1"
            .parse()
            .unwrap();
        assert_eq!(t.scope, Scope::Databases);
        assert_eq!(t.allow.len(), 3);
        assert!(t.allows("10.2.3.4".parse().unwrap()));
        assert!(t.allows("192.168.1.7".parse().unwrap()));
        assert!(!t.allows("192.168.1.8".parse().unwrap()));
        assert!(t.allows("::1".parse().unwrap()));
        assert!(!t.allows("127.0.0.1".parse().unwrap()));
        // IPv4-mapped IPv6 peer counts as IPv4.
        assert!(t.allows("::ffff:10.9.9.9".parse().unwrap()));
    }

    #[test]
    fn token_spec_errors_are_clear_and_secret_free() {
        let e = "htx_secret:fulll".parse::<TokenSpec>().unwrap_err().0;
        assert!(e.contains("unknown scope \"fulll\""), "{e}");
        assert!(!e.contains("htx_secret"));
        let e = "htx_secret".parse::<TokenSpec>().unwrap_err().0;
        assert!(e.contains("scope missing"), "{e}");
        assert!(!e.contains("htx_secret"));
        let e = ":full".parse::<TokenSpec>().unwrap_err().0;
        assert!(e.contains("must not be empty"), "{e}");
        let e = "t:read:10.0.0.0/33".parse::<TokenSpec>().unwrap_err().0;
        assert!(e.contains("prefix length"), "{e}");
        let e = "t:read:fd00::/8".parse::<TokenSpec>().unwrap_err().0;
        assert!(e.contains("IPv6 CIDRs are not supported"), "{e}");
        let e = "t:read:nonsense".parse::<TokenSpec>().unwrap_err().0;
        assert!(e.contains("invalid allowlist entry"), "{e}");
        let e = "t:read:".parse::<TokenSpec>().unwrap_err().0;
        assert!(e.contains("empty allowlist"), "{e}");
        let spec: TokenSpec = "htx_secret:read".parse().unwrap();
        assert!(!format!("{spec:?}").contains("htx_secret"));
    }

    #[test]
    fn cidr_edges() {
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("1.2.3.4".parse().unwrap()));
        assert!(!all.contains("::2".parse().unwrap()));
        let one: Cidr = "10.0.0.1/32".parse().unwrap();
        assert!(one.contains("10.0.0.1".parse().unwrap()));
        assert!(!one.contains("10.0.0.2".parse().unwrap()));
        assert_eq!(one.to_string(), "10.0.0.1");
        let net: Cidr = "10.1.0.0/16".parse().unwrap();
        assert_eq!(net.to_string(), "10.1.0.0/16");
    }
}
