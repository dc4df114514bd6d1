//! What the core knows of a provider's API: its endpoints (for the limiter, the retries and the
//! metrics) and its dialect (how it authenticates and what its answers mean).

use reqwest::Method;

use super::error::PortalError;

/// One route of a portal API: its method, its path template (a bounded metric label) and what it
/// does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub verb: Verb,
    /// E.g. `/api/portal/databases/{name}`.
    pub template: &'static str,
    pub access: Access,
}

impl Endpoint {
    pub const fn new(verb: Verb, template: &'static str, access: Access) -> Self {
        Self {
            verb,
            template,
            access,
        }
    }

    /// The concrete path: each `{…}` of the template replaced, in order, by a percent-encoded
    /// segment of `segments`.
    pub fn path(&self, segments: &[&str]) -> String {
        let mut path = String::with_capacity(self.template.len() + 16);
        let mut rest = self.template;
        let mut segments = segments.iter();
        while let Some(open) = rest.find('{') {
            let close = rest[open..]
                .find('}')
                .map_or(rest.len(), |at| open + at + 1);
            path.push_str(&rest[..open]);
            let segment = segments
                .next()
                .expect("a segment for every placeholder of the template");
            path.push_str(&percent_encode(segment));
            rest = &rest[close..];
        }
        path.push_str(rest);
        path
    }
}

/// The HTTP method of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Verb {
    pub fn method(self) -> Method {
        match self {
            Self::Get => Method::GET,
            Self::Post => Method::POST,
            Self::Put => Method::PUT,
            Self::Patch => Method::PATCH,
            Self::Delete => Method::DELETE,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// What a request does, which decides its priority at the limiter and how it may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    Read,
    /// Makes something new (not idempotent).
    Create,
    /// Changes something in place.
    Update,
    Delete,
}

/// How a provider's API takes its credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <credential>`.
    Bearer,
    /// The credential as the value of this header (e.g. `X-API-Key`).
    Header(&'static str),
}

/// How a provider's API speaks: how it authenticates, and what its failures mean.
pub trait Dialect: Send + Sync + 'static {
    fn auth(&self) -> Auth;

    /// The human text of an error body, if it has one. By default the `error`, `message` or
    /// `detail` string of a JSON object, or the body itself when it is short text.
    fn error_text(&self, body: &[u8]) -> Option<String> {
        plain_error_text(body)
    }

    /// What an unsuccessful answer means (the text is already scrubbed of the credential).
    fn meaning(
        &self,
        endpoint: &Endpoint,
        status: u16,
        retry_after: Option<std::time::Duration>,
        text: Option<String>,
    ) -> PortalError;

    /// Words that begin the credentials this provider issues, masked in any text it sends back.
    fn credential_prefixes(&self) -> &'static [&'static str] {
        &[]
    }
}

/// The `error`, `message` or `detail` string of a JSON object body, else the body as text.
pub fn plain_error_text(body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    if let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(body) {
        for key in ["error", "message", "detail"] {
            if let Some(serde_json::Value::String(text)) = fields.get(key) {
                return Some(text.clone());
            }
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// Percent-encodes text for one URL path segment or userinfo part (RFC 3986 unreserved
/// characters pass through).
pub fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded_into_the_placeholders_in_order() {
        let endpoint = Endpoint::new(
            Verb::Delete,
            "/v1/databases/{db_type}/{db_name}/firewall/{rule_id}",
            Access::Delete,
        );
        assert_eq!(
            endpoint.path(&["postgresql", "a/b c", "r1"]),
            "/v1/databases/postgresql/a%2Fb%20c/firewall/r1"
        );
        let plain = Endpoint::new(Verb::Get, "/api/portal/databases", Access::Read);
        assert_eq!(plain.path(&[]), "/api/portal/databases");
    }

    #[test]
    fn error_text_prefers_the_error_field() {
        assert_eq!(
            plain_error_text(br#"{"error":"nope"}"#).as_deref(),
            Some("nope")
        );
        assert_eq!(
            plain_error_text(br#"{"detail":"bad"}"#).as_deref(),
            Some("bad")
        );
        assert_eq!(
            plain_error_text(b"<html>oops</html>").as_deref(),
            Some("<html>oops</html>")
        );
        assert_eq!(plain_error_text(b""), None);
    }
}
