//! Every text a portal sends (error bodies, decode errors, redirect targets) passes through here
//! before it can reach an error, a condition, an Event, a log line or a metric: the credential
//! the request presented is cut out, so is anything shaped like a credential of the portal, and
//! the text is capped. A portal that repeats the token it was shown ("API token 'htx_…' is not
//! valid") must not put it in front of everyone who may read the object.

/// The longest portal text kept, in characters.
pub const MAX_TEXT: usize = 300;

/// What replaces a credential.
pub const REDACTED: &str = "<redacted>";

/// The shortest credential-shaped word masked (prefix included).
const MIN_CREDENTIAL_LEN: usize = 12;

/// `text` without `secret`, and without words that start with one of `prefixes` (the shapes of
/// the provider's credentials: an older token, a colleague's, is masked too), at most
/// [`MAX_TEXT`] characters.
pub fn scrub(text: &str, secret: &str, prefixes: &[&str]) -> String {
    let without_secret = if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret, REDACTED)
    };
    cap(&mask_credential_words(&without_secret, prefixes))
}

fn mask_credential_words(text: &str, prefixes: &[&str]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = prefixes.iter().filter_map(|prefix| rest.find(prefix)).min() {
        let word_len = rest[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len() - start);
        out.push_str(&rest[..start]);
        let word = &rest[start..start + word_len];
        if word.len() >= MIN_CREDENTIAL_LEN {
            out.push_str(REDACTED);
        } else {
            out.push_str(word);
        }
        rest = &rest[start + word_len..];
    }
    out.push_str(rest);
    out
}

fn cap(text: &str) -> String {
    match text.char_indices().nth(MAX_TEXT) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_presented_secret_is_cut_out_wherever_it_appears() {
        let secret = "tok3n-that-is-odd";
        let text = format!("API token '{secret}' is not valid ({secret})");
        let scrubbed = scrub(&text, secret, &[]);
        assert!(!scrubbed.contains(secret), "{scrubbed}");
        assert_eq!(scrubbed, "API token '<redacted>' is not valid (<redacted>)");
    }

    #[test]
    fn credential_shaped_words_are_masked_short_words_kept() {
        let scrubbed = scrub(
            "old token htx_0123456789abcdef revoked; use htx_ prefix, key ak_live_ZZZZ9999yyyy",
            "htx_other",
            &["htx_", "ak_live_"],
        );
        assert_eq!(
            scrubbed,
            "old token <redacted> revoked; use htx_ prefix, key <redacted>"
        );
    }

    #[test]
    fn long_texts_are_capped_on_a_character_boundary() {
        let text = "é".repeat(MAX_TEXT + 10);
        let scrubbed = scrub(&text, "x", &[]);
        assert_eq!(scrubbed.chars().count(), MAX_TEXT + 1);
        assert!(scrubbed.ends_with('…'));
        assert_eq!(scrub("short", "x", &[]), "short");
    }
}
