//! What a WaysDatabase changes in place, decided from the spec and what the portal reports:
//! the connection limit and description (PATCH), the firewall (rules added and deleted), the
//! backup policy (PUT). Pure: the IO is in [`super::database`].

use std::net::Ipv4Addr;

use crate::api::{BackupFrequency, BackupPolicy, FirewallSource, WaysDatabaseSpec};

use super::client::{Policy, Rule, Update};

/// A source in one spelling: the network address and its prefix (`192.0.2.10` is
/// `192.0.2.10/32`; `10.0.0.7/24` is `10.0.0.0/24`). `None`: not an IPv4 source.
pub fn canonical(source: &str) -> Option<String> {
    let (address, prefix) = match source.trim().split_once('/') {
        Some((address, prefix)) => (address, prefix.parse::<u8>().ok()?),
        None => (source.trim(), 32),
    };
    if prefix > 32 {
        return None;
    }
    let address: Ipv4Addr = address.parse().ok()?;
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    let network = Ipv4Addr::from(u32::from(address) & mask);
    Some(format!("{network}/{prefix}"))
}

/// The firewall changes that leave exactly the wanted sources, each once.
#[derive(Debug, Default, PartialEq)]
pub struct FirewallPlan<'a> {
    pub add: Vec<&'a FirewallSource>,
    /// Rule ids: sources not wanted, and second rules for one source.
    pub delete: Vec<String>,
    /// The rules that stay.
    pub keep: Vec<&'a Rule>,
}

impl FirewallPlan<'_> {
    pub fn changes_nothing(&self) -> bool {
        self.add.is_empty() && self.delete.is_empty()
    }
}

pub fn firewall<'a>(wanted: &'a [FirewallSource], rules: &'a [Rule]) -> FirewallPlan<'a> {
    let mut plan = FirewallPlan::default();
    let mut kept: Vec<String> = Vec::new();
    for rule in rules {
        let source = canonical(&rule.ip_address);
        let is_wanted = wanted
            .iter()
            .any(|w| canonical(&w.cidr).is_some() && canonical(&w.cidr) == source);
        match source {
            Some(source) if is_wanted && !kept.contains(&source) => {
                kept.push(source);
                plan.keep.push(rule);
            }
            _ => plan.delete.push(rule.rule_id.clone()),
        }
    }
    let mut adding: Vec<String> = Vec::new();
    for source in wanted {
        let Some(canonical) = canonical(&source.cidr) else {
            continue;
        };
        if !kept.contains(&canonical) && !adding.contains(&canonical) {
            adding.push(canonical);
            plan.add.push(source);
        }
    }
    plan
}

/// The wanted sources the portal could not read (checked before any call).
pub fn invalid_sources(wanted: &[FirewallSource]) -> Vec<&str> {
    wanted
        .iter()
        .filter(|source| canonical(&source.cidr).is_none())
        .map(|source| source.cidr.as_str())
        .collect()
}

/// The policy to set for the spec's, with the defaults filled in.
pub fn policy(spec: &BackupPolicy) -> Policy {
    let frequency = spec.frequency.unwrap_or(BackupFrequency::Daily);
    Policy {
        enabled: spec.enabled,
        frequency: Some(frequency.as_str().to_owned()),
        retention_days: Some(spec.retention_days.unwrap_or(7)),
        time_of_day: match frequency {
            BackupFrequency::Hourly => None,
            _ => spec.time_of_day.clone(),
        },
    }
}

/// The policy at the portal differs from the wanted one in what the spec sets.
pub fn policy_differs(wanted: &Policy, seen: &Policy) -> bool {
    let same_text = |a: &Option<String>, b: &Option<String>| match (a, b) {
        (Some(a), Some(b)) => a.trim().eq_ignore_ascii_case(b.trim()),
        (None, _) => true,
        (Some(_), None) => false,
    };
    wanted.enabled != seen.enabled
        || !same_text(&wanted.frequency, &seen.frequency)
        || (wanted.retention_days.is_some() && wanted.retention_days != seen.retention_days)
        || !same_text(&wanted.time_of_day, &seen.time_of_day)
}

/// The in-place update the spec asks for: the connection limit where the portal reports
/// another, the description where it is not the one last set (the portal does not report it).
pub fn update<'a>(
    spec: &'a WaysDatabaseSpec,
    limit_at_portal: Option<u32>,
    description_set: Option<&str>,
) -> Update<'a> {
    Update {
        connection_limit: spec
            .connection_limit
            .filter(|wanted| limit_at_portal != Some(*wanted)),
        description: spec
            .description
            .as_deref()
            .filter(|wanted| description_set != Some(*wanted)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(cidr: &str) -> FirewallSource {
        FirewallSource {
            cidr: cidr.to_owned(),
            description: None,
        }
    }

    fn rule(id: &str, ip: &str) -> Rule {
        Rule {
            rule_id: id.to_owned(),
            ip_address: ip.to_owned(),
            description: None,
        }
    }

    #[test]
    fn sources_have_one_spelling() {
        assert_eq!(canonical("192.0.2.10").as_deref(), Some("192.0.2.10/32"));
        assert_eq!(canonical("10.0.0.7/24").as_deref(), Some("10.0.0.0/24"));
        assert_eq!(canonical("0.0.0.0/0").as_deref(), Some("0.0.0.0/0"));
        assert_eq!(canonical("10.0.0.0/33"), None);
        assert_eq!(canonical("example.com"), None);
    }

    #[test]
    fn exactly_the_wanted_sources_stay_each_once() {
        let wanted = [
            source("10.0.0.0/24"),
            source("192.0.2.10"),
            source("192.0.2.10/32"),
        ];
        let rules = [
            rule("a", "10.0.0.0/24"),
            rule("b", "10.0.0.0/24"),
            rule("c", "203.0.113.5/32"),
        ];
        let plan = firewall(&wanted, &rules);
        assert_eq!(plan.delete, ["b", "c"], "the duplicate and the stranger go");
        assert_eq!(plan.keep, [&rules[0]]);
        assert_eq!(
            plan.add,
            [&wanted[1]],
            "one rule for two spellings of a source"
        );
        let settled = [rule("a", "10.0.0.0/24"), rule("d", "192.0.2.10/32")];
        assert!(firewall(&wanted, &settled).changes_nothing());
        assert_eq!(
            firewall(&[], &settled).delete,
            ["a", "d"],
            "empty allows none"
        );
    }

    #[test]
    fn the_policy_differs_only_in_what_the_spec_sets() {
        let wanted = policy(&BackupPolicy {
            enabled: true,
            frequency: None,
            retention_days: None,
            time_of_day: Some("02:00".into()),
        });
        assert_eq!(wanted.frequency.as_deref(), Some("daily"));
        assert_eq!(wanted.retention_days, Some(7));
        let seen = Policy {
            frequency: Some("Daily".into()),
            ..wanted.clone()
        };
        assert!(!policy_differs(&wanted, &seen));
        let other_time = Policy {
            time_of_day: Some("03:00".into()),
            ..wanted.clone()
        };
        assert!(policy_differs(&wanted, &other_time));
        let disabled = Policy {
            enabled: false,
            ..wanted.clone()
        };
        assert!(policy_differs(&wanted, &disabled));
    }

    #[test]
    fn only_what_differs_is_updated() {
        let spec: WaysDatabaseSpec = serde_json::from_value(serde_json::json!({
            "dbType": "postgresql", "connectionLimit": 200, "description": "orders"
        }))
        .unwrap();
        let all = update(&spec, Some(100), None);
        assert_eq!(all.connection_limit, Some(200));
        assert_eq!(all.description, Some("orders"));
        let none = update(&spec, Some(200), Some("orders"));
        assert_eq!((none.connection_limit, none.description), (None, None));
    }
}
