//! ASSUMPTION (DESIGN §1): the spec lists only `GET /api/portal/functions` and
//! `GET /api/portal/proxies`. The guide says every portal action has a route and that
//! `functions`/`proxies` tokens "create and delete that one product", so the simulator offers
//! `POST /api/portal/{functions,proxies}` and `DELETE /api/portal/{functions,proxies}/{name}`
//! with the shapes below. Everything assumed about them lives in this module.
//!
//! - Function create body: `{name, runtime, …any other fields}`; `runtime` is a required
//!   non-empty string without whitespace (≤ 64 chars). The object echoes the other fields
//!   verbatim and, once `active`, adds `url: https://<name>.fn.vinacis.com`.
//! - Proxy create body: `{name, type?, …any other fields}`; `type` defaults to `socks5`, the only
//!   type offered. Once `active` the object adds `host`, `port`, `username`, `password`.
//! - Fields the portal sets itself (`id`, `name`, `status`, `created_at` and the generated ones)
//!   are not taken from the body.
//!
//! ASSUMPTION (accounts): the guide says a token "has the same access as your account" and lists
//! "your resources", without saying how names are shared between accounts. A token belongs to
//! one account ([`super::config::TokenSpec::account`]) and sees, changes and counts against the
//! quota of that account's resources only: another account's resource is answered 404 and left
//! out of lists. Names stay unique across the whole portal, the least convenient reading: a name
//! another account holds is refused 409 although the caller cannot see it.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::model::str_field;
use crate::sim::ids::{random_secret, short_hex};

const COMMON_RESERVED: [&str; 4] = ["id", "name", "status", "created_at"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FunctionBody {
    pub fields: Map<String, Value>,
    pub url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ProxyBody {
    pub fields: Map<String, Value>,
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
}

fn extra_fields(obj: &Map<String, Value>, reserved: &[&str]) -> Map<String, Value> {
    obj.iter()
        .filter(|(k, _)| !COMMON_RESERVED.contains(&k.as_str()) && !reserved.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

pub(crate) fn parse_function(name: &str, obj: &Map<String, Value>) -> Result<FunctionBody, String> {
    let runtime = str_field(obj, "runtime")?;
    if runtime.is_empty() || runtime.len() > 64 || runtime.chars().any(char::is_whitespace) {
        return Err(
            "invalid runtime: must be a non-empty name without spaces, e.g. nodejs20 or python3.12"
                .to_owned(),
        );
    }
    Ok(FunctionBody {
        fields: extra_fields(obj, &["url"]),
        url: format!("https://{name}.fn.vinacis.com"),
    })
}

pub(crate) fn parse_proxy(_name: &str, obj: &Map<String, Value>) -> Result<ProxyBody, String> {
    let mut fields = extra_fields(obj, &["host", "port", "username", "password"]);
    match fields.get("type") {
        None | Some(Value::Null) => {
            fields.insert("type".into(), Value::String("socks5".into()));
        }
        Some(Value::String(t)) if t == "socks5" => {}
        Some(_) => return Err("invalid type: only \"socks5\" proxies are offered".to_owned()),
    }
    let tag = short_hex(8);
    Ok(ProxyBody {
        fields,
        host: format!("px-{tag}.hcm-1.vinacis.com"),
        port: 1080,
        username: format!("u{tag}"),
        password: random_secret(20),
    })
}

impl FunctionBody {
    pub(crate) fn write<M: SerializeMap>(&self, m: &mut M, active: bool) -> Result<(), M::Error> {
        for (k, v) in &self.fields {
            m.serialize_entry(k, v)?;
        }
        if active {
            m.serialize_entry("url", &self.url)?;
        }
        Ok(())
    }
}

impl ProxyBody {
    pub(crate) fn write<M: SerializeMap>(&self, m: &mut M, active: bool) -> Result<(), M::Error> {
        for (k, v) in &self.fields {
            m.serialize_entry(k, v)?;
        }
        if active {
            m.serialize_entry("host", &self.host)?;
            m.serialize_entry("port", &self.port)?;
            m.serialize_entry("username", &self.username)?;
            m.serialize_entry("password", &self.password)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn function_echoes_fields_but_not_reserved_ones() {
        let f = parse_function(
            "hello",
            &obj(json!({"name":"hello","runtime":"nodejs20","memory_mb":256,"id":"x","url":"y","env":{"A":"1"}})),
        )
        .unwrap();
        assert_eq!(f.fields.get("runtime"), Some(&json!("nodejs20")));
        assert_eq!(f.fields.get("memory_mb"), Some(&json!(256)));
        assert_eq!(f.fields.get("env"), Some(&json!({"A":"1"})));
        assert!(!f.fields.contains_key("id") && !f.fields.contains_key("url"));
        assert_eq!(f.url, "https://hello.fn.vinacis.com");
    }

    #[test]
    fn function_needs_runtime() {
        assert!(
            parse_function("f1x", &obj(json!({})))
                .unwrap_err()
                .contains("runtime")
        );
        assert!(parse_function("f1x", &obj(json!({"runtime":""}))).is_err());
        assert!(parse_function("f1x", &obj(json!({"runtime":"a b"}))).is_err());
    }

    #[test]
    fn proxy_type_defaults_to_socks5() {
        let p = parse_proxy("p1x", &obj(json!({"name":"p1x","region":"hcm"}))).unwrap();
        assert_eq!(p.fields.get("type"), Some(&json!("socks5")));
        assert_eq!(p.fields.get("region"), Some(&json!("hcm")));
        assert!(parse_proxy("p1x", &obj(json!({"type":"http"}))).is_err());
        assert!(parse_proxy("p1x", &obj(json!({"type":"socks5"}))).is_ok());
    }
}
