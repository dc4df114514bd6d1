//! The request bodies of the portal's writes, read and validated as the document gives them
//! (and as `assumed` completes them).

use std::net::Ipv4Addr;

use super::assumed::DESCRIPTION_MAX;
use super::model::{DbType, Frequency, Policy};
use super::validate::{Fields, Problem};

type Parsed<T> = Result<T, Vec<Problem>>;

const DB_TYPES: [&str; 2] = ["postgresql", "mariadb"];
const FREQUENCIES: [&str; 3] = ["hourly", "daily", "weekly"];

/// `requested_name`, `target_db_name`: `^[a-z0-9_]+$`, 1–30.
pub(crate) const NAME_PATTERN: &str = "^[a-z0-9_]+$";
pub(crate) const NAME_MAX: usize = 30;
const TIME_PATTERN: &str = "^([01][0-9]|2[0-3]):[0-5][0-9]$";

pub(crate) fn valid_name(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn valid_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 5
        && b[2] == b':'
        && matches!(
            (b[0], b[1]),
            (b'0'..=b'1', b'0'..=b'9') | (b'2', b'0'..=b'3')
        )
        && matches!((b[3], b[4]), (b'0'..=b'5', b'0'..=b'9'))
}

/// An IPv4 address or CIDR block without host bits.
pub(crate) fn check_source(s: &str) -> Result<(), String> {
    let (addr, prefix) = match s.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (s, None),
    };
    let not_valid = || format!("{s:?} is not a valid IPv4 address or CIDR block");
    let addr: Ipv4Addr = addr.parse().map_err(|_| not_valid())?;
    let Some(prefix) = prefix else {
        return Ok(());
    };
    let prefix: u32 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= 32)
        .ok_or_else(not_valid)?;
    let host_bits = u32::MAX.checked_shr(prefix).unwrap_or(0);
    if u32::from(addr) & host_bits != 0 {
        return Err(format!("{s} has host bits set"));
    }
    Ok(())
}

/// `POST /v1/databases`.
#[derive(Debug, PartialEq)]
pub(crate) struct CreateBody {
    pub db_type: DbType,
    pub requested_name: Option<String>,
}

impl CreateBody {
    pub fn parse(bytes: &[u8]) -> Parsed<Self> {
        let mut f = Fields::parse(bytes, false)?;
        let db_type = f.one_of("db_type", true, &DB_TYPES, DbType::parse);
        let requested_name = f.pattern("requested_name", false, NAME_MAX, NAME_PATTERN, valid_name);
        f.finish()?;
        Ok(CreateBody {
            db_type: db_type.expect("checked"),
            requested_name,
        })
    }
}

/// `DELETE /v1/databases`.
#[derive(Debug, PartialEq)]
pub(crate) struct DeleteBody {
    pub db_type: DbType,
    pub db_name: String,
    pub username: Option<String>,
}

impl DeleteBody {
    pub fn parse(bytes: &[u8]) -> Parsed<Self> {
        let mut f = Fields::parse(bytes, false)?;
        let db_type = f.one_of("db_type", true, &DB_TYPES, DbType::parse);
        let db_name = f.string("db_name", true, 128);
        let username = f.string("username", false, 128);
        f.finish()?;
        Ok(DeleteBody {
            db_type: db_type.expect("checked"),
            db_name: db_name.expect("checked"),
            username,
        })
    }
}

/// `PATCH /v1/databases/{db_type}/{db_name}`.
#[derive(Debug, PartialEq)]
pub(crate) struct PatchBody {
    pub connection_limit: Option<u32>,
    pub description: Option<String>,
}

impl PatchBody {
    pub fn parse(bytes: &[u8]) -> Parsed<Self> {
        let mut f = Fields::parse(bytes, false)?;
        let connection_limit = f.integer("connection_limit", false, 10, 1000);
        let description = f.string("description", false, DESCRIPTION_MAX);
        f.finish()?;
        Ok(PatchBody {
            connection_limit,
            description,
        })
    }
}

/// `POST …/firewall`.
#[derive(Debug, PartialEq)]
pub(crate) struct RuleBody {
    pub ip_address: String,
    pub description: Option<String>,
}

impl RuleBody {
    pub fn parse(bytes: &[u8]) -> Parsed<Self> {
        let mut f = Fields::parse(bytes, false)?;
        let ip_address = f.checked("ip_address", true, 18, check_source);
        let description = f.string("description", false, DESCRIPTION_MAX);
        f.finish()?;
        Ok(RuleBody {
            ip_address: ip_address.expect("checked"),
            description,
        })
    }
}

/// `PUT …/backup-policy`: a whole policy, omitted fields at their defaults.
pub(crate) fn parse_policy(bytes: &[u8]) -> Parsed<Policy> {
    let mut f = Fields::parse(bytes, false)?;
    let defaults = Policy::default();
    let enabled = f.boolean("enabled", true);
    let frequency = f.one_of("frequency", false, &FREQUENCIES, |s| {
        Frequency::ALL.into_iter().find(|q| q.as_str() == s)
    });
    let retention_days = f.integer("retention_days", false, 1, 365);
    let time_of_day = f.pattern("time_of_day", false, 5, TIME_PATTERN, valid_time);
    f.finish()?;
    Ok(Policy {
        enabled: enabled.expect("checked"),
        frequency: frequency.unwrap_or(defaults.frequency),
        retention_days: retention_days.unwrap_or(defaults.retention_days),
        time_of_day,
    })
}

/// `POST …/snapshots`: an optional description (the body itself may be absent).
pub(crate) fn parse_snapshot(bytes: &[u8]) -> Parsed<Option<String>> {
    let mut f = Fields::parse(bytes, true)?;
    let description = f.string("description", false, DESCRIPTION_MAX);
    f.finish()?;
    Ok(description)
}

/// `POST …/restore`.
#[derive(Debug, PartialEq)]
pub(crate) struct RestoreBody {
    pub snapshot_id: String,
    pub target_db_name: Option<String>,
}

impl RestoreBody {
    pub fn parse(bytes: &[u8]) -> Parsed<Self> {
        let mut f = Fields::parse(bytes, false)?;
        let snapshot_id = f.string("snapshot_id", true, 128);
        let target_db_name = f.pattern("target_db_name", false, NAME_MAX, NAME_PATTERN, valid_name);
        f.finish()?;
        Ok(RestoreBody {
            snapshot_id: snapshot_id.expect("checked"),
            target_db_name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds<T: std::fmt::Debug>(parsed: Parsed<T>) -> Vec<(String, &'static str)> {
        parsed
            .unwrap_err()
            .into_iter()
            .map(|p| (p.loc[1].as_str().unwrap_or_default().to_owned(), p.kind))
            .collect()
    }

    #[test]
    fn create_bodies() {
        let ok = CreateBody::parse(
            br#"{"db_type":"mariadb","requested_name":"web_1","customer_id":"x"}"#,
        );
        assert_eq!(
            ok.unwrap(),
            CreateBody {
                db_type: DbType::Mariadb,
                requested_name: Some("web_1".into())
            }
        );
        let bare = CreateBody::parse(br#"{"db_type":"postgresql","requested_name":null}"#);
        assert_eq!(bare.unwrap().requested_name, None);
        assert_eq!(
            kinds(CreateBody::parse(
                br#"{"db_type":"mysql","requested_name":"Web"}"#
            )),
            [
                ("db_type".into(), "enum"),
                ("requested_name".into(), "string_pattern_mismatch")
            ]
        );
        let long = format!(
            r#"{{"db_type":"postgresql","requested_name":"{}"}}"#,
            "a".repeat(31)
        );
        assert_eq!(
            kinds(CreateBody::parse(long.as_bytes())),
            [("requested_name".into(), "string_too_long")]
        );
        assert_eq!(
            kinds(CreateBody::parse(br#"{"requested_name":"a-b"}"#)),
            [
                ("db_type".into(), "missing"),
                ("requested_name".into(), "string_pattern_mismatch")
            ]
        );
    }

    #[test]
    fn sources() {
        assert!(check_source("192.0.2.100").is_ok());
        assert!(check_source("192.0.2.100/32").is_ok());
        assert!(check_source("10.0.0.0/24").is_ok());
        assert!(check_source("0.0.0.0/0").is_ok());
        assert_eq!(
            check_source("10.0.0.1/24").unwrap_err(),
            "10.0.0.1/24 has host bits set"
        );
        for bad in [
            "10.0.0.0/33",
            "10.0.0/8",
            "::1",
            "2001:db8::/32",
            "host",
            "10.0.0.0/",
        ] {
            assert!(check_source(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn patches_and_limits() {
        let p = PatchBody::parse(br#"{"connection_limit":200,"description":"prod"}"#).unwrap();
        assert_eq!(p.connection_limit, Some(200));
        assert_eq!(
            kinds(PatchBody::parse(br#"{"connection_limit":9}"#)),
            [("connection_limit".into(), "greater_than_equal")]
        );
        assert_eq!(
            kinds(PatchBody::parse(br#"{"connection_limit":1001}"#)),
            [("connection_limit".into(), "less_than_equal")]
        );
        assert_eq!(
            kinds(PatchBody::parse(br#"{"connection_limit":"200"}"#)),
            [("connection_limit".into(), "int_type")]
        );
    }

    #[test]
    fn policies() {
        let p = parse_policy(br#"{"enabled":true,"time_of_day":"23:59"}"#).unwrap();
        assert_eq!(p.frequency, Frequency::Daily);
        assert_eq!(p.retention_days, 7);
        assert_eq!(p.time_of_day.as_deref(), Some("23:59"));
        assert_eq!(
            kinds(parse_policy(
                br#"{"frequency":"monthly","retention_days":0,"time_of_day":"24:00"}"#
            )),
            [
                ("enabled".into(), "missing"),
                ("frequency".into(), "enum"),
                ("retention_days".into(), "greater_than_equal"),
                ("time_of_day".into(), "string_pattern_mismatch")
            ]
        );
        for bad in ["2:00", "12:60", "ab:cd", "12-00"] {
            assert!(!valid_time(bad), "{bad}");
        }
    }

    #[test]
    fn snapshots_and_restores() {
        assert_eq!(parse_snapshot(b"").unwrap(), None);
        assert_eq!(
            parse_snapshot(br#"{"description":"before"}"#).unwrap(),
            Some("before".into())
        );
        assert_eq!(
            kinds(RestoreBody::parse(br#"{"target_db_name":"Copy"}"#)),
            [
                ("snapshot_id".into(), "missing"),
                ("target_db_name".into(), "string_pattern_mismatch")
            ]
        );
    }
}
