//! Validation rules for names, engines and SKUs (the portal documents none; ours are below).
//!
//! - name: 3–63 characters, lowercase ASCII letters, digits and `-`, starting with a letter and
//!   not ending with `-` (a DNS label that starts with a letter).
//! - engine: `postgresql`, `mysql`, `mongodb` or `clickhouse`.
//! - sku: 3–64 characters, at least two `-`-separated parts, each of lowercase letters and digits
//!   (`db-s-1vcpu-2gb`, `ch-s-1vcpu-2gb`). Engine and sku are not cross-checked.

/// The database engines the portal offers.
pub(crate) const ENGINES: [&str; 4] = ["postgresql", "mysql", "mongodb", "clickhouse"];

pub(crate) fn validate_name(name: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid name {:?}: use 3-63 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen",
            shorten(name)
        ))
    }
}

pub(crate) fn validate_engine(engine: &str) -> Result<(), String> {
    if ENGINES.contains(&engine) {
        Ok(())
    } else {
        Err(format!(
            "invalid engine {:?}: must be one of postgresql, mysql, mongodb, clickhouse",
            shorten(engine)
        ))
    }
}

pub(crate) fn validate_sku(sku: &str) -> Result<(), String> {
    let parts: Vec<&str> = sku.split('-').collect();
    let ok = (3..=64).contains(&sku.len())
        && parts.len() >= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid sku {:?}: expected a size slug like db-s-1vcpu-2gb",
            shorten(sku)
        ))
    }
}

/// Keeps error messages short when a client sends something huge.
fn shorten(s: &str) -> String {
    if s.chars().count() <= 80 {
        s.to_owned()
    } else {
        let head: String = s.chars().take(77).collect();
        format!("{head}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["abc", "analytics", "app-db-1", "a1b", &"a".repeat(63)] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "ab",
            "1db",
            "-db",
            "db-",
            "Db1",
            "my_db",
            "my.db",
            "dé-b",
            &"a".repeat(64),
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        assert!(validate_name("UPPER").unwrap_err().contains("lowercase"));
    }

    #[test]
    fn engines() {
        for e in ENGINES {
            assert!(validate_engine(e).is_ok());
        }
        assert!(validate_engine("postgres").is_err());
        assert!(validate_engine("").is_err());
    }

    #[test]
    fn skus() {
        for ok in ["db-s-1vcpu-2gb", "ch-s-1vcpu-2gb", "db-s-1vcpu-1gb", "a-1"] {
            assert!(validate_sku(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "small", "db--s", "-db-s", "db-s-", "DB-S-1", "db s 1", "db_s_1",
        ] {
            assert!(validate_sku(bad).is_err(), "{bad}");
        }
    }
}
