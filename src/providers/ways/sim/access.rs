//! Who may connect: credentials (shown without the password), rotation (the only other time a
//! password is shown) and firewall rules.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde_json::json;

use super::bodies::RuleBody;
use super::faults::Call;
use super::model::{Rule, new_password};
use super::request::{
    Answer, St, Who, db_type, denied, done, made, not_found, ok, valid, valid_type,
};
use super::views;
use crate::sim::clock::now_ms;
use crate::sim::ids::new_id;

pub(crate) async fn credentials(
    State(s): St,
    Extension(caller): Who,
    Path((raw_type, name)): Path<(String, String)>,
) -> Answer {
    let db_type = valid_type(&raw_type)?;
    let store = s.store();
    let db = store
        .owned(&caller.customer, db_type, &name)
        .map_err(|d| denied(d, &name))?;
    ok(views::credentials(db))
}

/// A new password at once; the old one stops working.
pub(crate) async fn rotate(
    State(s): St,
    Extension(caller): Who,
    Path((raw_type, name)): Path<(String, String)>,
) -> Answer {
    let db_type = valid_type(&raw_type)?;
    let view = {
        let mut store = s.store();
        let db = store
            .owned_mut(&caller.customer, db_type, &name)
            .map_err(|d| denied(d, &name))?;
        db.password = new_password();
        views::rotated(db, now_ms())
    };
    s.stats.effective(Call::Rotate);
    ok(view)
}

pub(crate) async fn rules(
    State(s): St,
    Extension(caller): Who,
    Path((raw_type, name)): Path<(String, String)>,
) -> Answer {
    let db_type = valid_type(&raw_type)?;
    let store = s.store();
    let db = store
        .owned(&caller.customer, db_type, &name)
        .map_err(|d| denied(d, &name))?;
    let rules: Vec<_> = db.firewall.iter().map(|r| views::rule(db, r)).collect();
    ok(json!({ "total": rules.len(), "rules": rules }))
}

/// Adds a rule, also for a source already allowed (ASSUMPTION, `assumed`: firewall).
pub(crate) async fn add_rule(
    State(s): St,
    Extension(caller): Who,
    Path((raw_type, name)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let (db_type, body) = valid(db_type(&raw_type), RuleBody::parse(&body))?;
    let view = {
        let mut store = s.store();
        let db = store
            .owned_mut(&caller.customer, db_type, &name)
            .map_err(|d| denied(d, &name))?;
        let rule = Rule {
            id: new_id(),
            ip_address: body.ip_address,
            description: body.description,
            created_ms: now_ms(),
        };
        let view = views::rule(db, &rule);
        db.firewall.push(rule);
        view
    };
    s.stats.effective(Call::FirewallAdd);
    made(view)
}

pub(crate) async fn delete_rule(
    State(s): St,
    Extension(caller): Who,
    Path((raw_type, name, rule_id)): Path<(String, String, String)>,
) -> Answer {
    let db_type = valid_type(&raw_type)?;
    {
        let mut store = s.store();
        let db = store
            .owned_mut(&caller.customer, db_type, &name)
            .map_err(|d| denied(d, &name))?;
        let index = db
            .firewall
            .iter()
            .position(|r| r.id == rule_id)
            .ok_or_else(|| not_found(&format!("Firewall rule {rule_id}")))?;
        db.firewall.remove(index);
    }
    s.stats.effective(Call::FirewallDelete);
    done(format!("Firewall rule {rule_id} deleted"))
}
