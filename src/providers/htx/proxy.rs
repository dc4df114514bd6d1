//! Proxy at the portal: `/api/portal/proxies` (create and delete are the DESIGN §1 assumption,
//! see `portal::routes`).

use serde_json::{Map, Value};

use crate::api::{ManagedStatus, Provider, Proxy, ProxyStatus};
use crate::http::{CreateRetry, PortalError, Session, percent_encode};

use super::client::{self as portal, CreateProduct, Htx};

use super::function::{no_owned_parameters, parameter_drift};
use crate::reconcile::context::Context;
use crate::reconcile::error::Error;
use crate::reconcile::kind::{LookUp, PortalKind, has_managed_status, managed_fields};
use crate::reconcile::snapshot::Snapshots;

has_managed_status!(ProxyStatus);

impl PortalKind for Proxy {
    type Status = ProxyStatus;
    type Remote = portal::Proxy;
    const PROVIDER: Provider = Provider::Htx;
    const NOUN: &'static str = "proxy";

    managed_fields!(ProxyStatus);
    super::portal_named!();

    fn snapshots(ctx: &Context) -> &Snapshots<portal::Proxy> {
        &ctx.state::<super::HtxState>().proxies
    }

    async fn list(
        client: &Session,
        _part: &'static str,
    ) -> Result<Vec<portal::Proxy>, PortalError> {
        Htx(client).list_proxies().await
    }

    async fn create(
        &self,
        client: &Session,
        name: &str,
    ) -> Result<Option<portal::Proxy>, PortalError> {
        let mut fields = self.spec.parameters.clone().unwrap_or_default();
        let proxy_type = self.spec.proxy_type.unwrap_or_default();
        fields.insert("type".into(), Value::from(proxy_type.as_str()));
        let body = CreateProduct {
            name: name.to_owned(),
            fields,
        };
        Htx(client)
            .create_proxy(&body, CreateRetry::WhenNotApplied)
            .await
    }

    async fn delete(
        &self,
        client: &Session,
        name: &str,
        _seen: Option<&portal::Proxy>,
    ) -> Result<(), PortalError> {
        Htx(client).delete_proxy(name).await
    }

    fn check_parameters(&self) -> Result<(), Error> {
        no_owned_parameters(self.spec.parameters.as_ref(), &["type"])
    }

    /// The portal lists proxies but has no route to ask about one.
    const LOOK_UP: Option<LookUp<portal::Proxy>> = None;

    fn remote_name(remote: &portal::Proxy) -> &str {
        &remote.name
    }

    fn remote_id(remote: &portal::Proxy) -> &str {
        &remote.id
    }

    fn remote_state(remote: &portal::Proxy) -> &str {
        &remote.status
    }

    fn describe(&self) -> String {
        format!("({})", self.spec.proxy_type.unwrap_or_default().as_str())
    }

    fn drift(&self, remote: &portal::Proxy) -> Vec<String> {
        let mut problems = Vec::new();
        let wanted = self.spec.proxy_type.unwrap_or_default().as_str();
        if let Some(kind) = &remote.kind
            && kind != wanted
        {
            problems.push(format!(
                "type is '{kind}' at the portal but the spec asks for '{wanted}'"
            ));
        }
        problems.extend(parameter_drift(
            self.spec.parameters.as_ref(),
            &remote.extra,
        ));
        problems
    }

    fn connection(remote: &portal::Proxy) -> Option<Map<String, Value>> {
        let host = remote.host.clone()?;
        let port = remote.port?;
        let mut details = Map::new();
        details.insert("host".into(), Value::from(host.clone()));
        details.insert("port".into(), Value::from(port));
        let mut userinfo = String::new();
        if let Some(username) = &remote.username {
            details.insert("username".into(), Value::from(username.clone()));
            userinfo = percent_encode(username);
            if let Some(password) = &remote.password {
                details.insert("password".into(), Value::from(password.clone()));
                userinfo = format!("{userinfo}:{}", percent_encode(password));
            }
            userinfo.push('@');
        }
        details.insert(
            "url".into(),
            Value::from(format!("socks5://{userinfo}{host}:{port}")),
        );
        Some(details)
    }

    fn mirrored(remote: &portal::Proxy, managed: ManagedStatus) -> ProxyStatus {
        ProxyStatus {
            managed,
            proxy_type: remote.kind.clone(),
            host: remote.host.clone(),
            port: remote.port,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_make_a_socks5_url() {
        let remote = portal::Proxy {
            host: Some("p1.example".into()),
            port: Some(1080),
            username: Some("u".into()),
            password: Some("p@ss:w/rd".into()),
            ..portal::Proxy::default()
        };
        let details = Proxy::connection(&remote).unwrap();
        assert_eq!(details["url"], "socks5://u:p%40ss%3Aw%2Frd@p1.example:1080");
        assert_eq!(details["port"], 1080);
        assert_eq!(details["password"], "p@ss:w/rd");
    }

    #[test]
    fn no_host_no_connection() {
        assert!(Proxy::connection(&portal::Proxy::default()).is_none());
    }
}
