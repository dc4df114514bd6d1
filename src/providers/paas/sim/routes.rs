//! The API's routes, as the document writes them, and what each one does.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodRouter, delete, get, patch, post, put};

use super::auth::Access;
use super::config::Area;
use super::error::detail_response;
use super::extract::{Body, Caller, OptionalBody, Reply, deleted};
use super::gate::gate;
use super::handle::Shared;
use super::model::Kind;
use super::stats::Effect;

pub(crate) const PROJECTS: &str = "/api/projects";
pub(crate) const PROJECT: &str = "/api/projects/{project_id}";
pub(crate) const SECRETS: &str = "/api/projects/{project_id}/secrets";
pub(crate) const SECRETS_BULK: &str = "/api/projects/{project_id}/secrets/bulk";
pub(crate) const SECRET: &str = "/api/projects/{project_id}/secrets/{secret_id}";
pub(crate) const SECRET_REVEAL: &str = "/api/projects/{project_id}/secrets/{secret_id}/reveal";
pub(crate) const SERVICES: &str = "/api/web-services";
pub(crate) const SERVICE: &str = "/api/web-services/{web_service_id}";
pub(crate) const SERVICE_START: &str = "/api/web-services/{web_service_id}/start";
pub(crate) const SERVICE_STOP: &str = "/api/web-services/{web_service_id}/stop";
pub(crate) const SERVICE_RESTART: &str = "/api/web-services/{web_service_id}/restart";
pub(crate) const LOGS: &str = "/api/web-services/{web_service_id}/logs";
pub(crate) const DEPLOYMENTS: &str = "/api/web-services/{web_service_id}/deployments";
pub(crate) const DEPLOYMENT: &str =
    "/api/web-services/{web_service_id}/deployments/{deployment_id}";
pub(crate) const CANCEL: &str =
    "/api/web-services/{web_service_id}/deployments/{deployment_id}/cancel";
pub(crate) const ROLLBACK: &str =
    "/api/web-services/{web_service_id}/deployments/{deployment_id}/rollback";
pub(crate) const ENV: &str = "/api/web-services/{web_service_id}/env";
pub(crate) const ENV_REVEAL_ALL: &str = "/api/web-services/{web_service_id}/env/reveal-all";
pub(crate) const ENV_BULK: &str = "/api/web-services/{web_service_id}/env/bulk";
pub(crate) const ENV_VAR: &str = "/api/web-services/{web_service_id}/env/{var_id}";
pub(crate) const ENV_VAR_REVEAL: &str = "/api/web-services/{web_service_id}/env/{var_id}/reveal";
pub(crate) const BINDINGS: &str = "/api/web-services/{web_service_id}/secret-bindings";
pub(crate) const BINDINGS_RESOLVED: &str =
    "/api/web-services/{web_service_id}/secret-bindings/resolved";
pub(crate) const BINDINGS_BULK: &str = "/api/web-services/{web_service_id}/secret-bindings/bulk";
pub(crate) const BINDING: &str = "/api/web-services/{web_service_id}/secret-bindings/{binding_id}";
pub(crate) const DATABASES: &str = "/api/databases";
pub(crate) const DATABASE: &str = "/api/databases/{database_id}";
pub(crate) const DATABASE_START: &str = "/api/databases/{database_id}/start";
pub(crate) const DATABASE_STOP: &str = "/api/databases/{database_id}/stop";
pub(crate) const DATABASE_STATUS: &str = "/api/databases/{database_id}/status";
pub(crate) const REDIS_ALL: &str = "/api/redis";
pub(crate) const REDIS: &str = "/api/redis/{redis_id}";
pub(crate) const REDIS_START: &str = "/api/redis/{redis_id}/start";
pub(crate) const REDIS_STOP: &str = "/api/redis/{redis_id}/stop";
pub(crate) const REDIS_STATUS: &str = "/api/redis/{redis_id}/status";
pub(crate) const TENANT: &str = "/api/storage/tenant";
pub(crate) const BUCKETS: &str = "/api/storage/buckets";
pub(crate) const BUCKET: &str = "/api/storage/buckets/{bucket_id}";
pub(crate) const PRESIGN: &str = "/api/storage/buckets/{bucket_id}/presign";
pub(crate) const KEYS: &str = "/api/storage/keys";
pub(crate) const KEY: &str = "/api/storage/keys/{key_id}";

/// What a request does: the area and access its key needs, and its effect when it succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Op {
    pub area: Area,
    pub access: Access,
    pub effect: Option<Effect>,
}

pub(crate) fn classify(method: &Method, route: &str) -> Op {
    let area = [
        ("/api/projects", Area::Projects),
        ("/api/web-services", Area::WebServices),
        ("/api/databases", Area::Databases),
        ("/api/redis", Area::Redis),
    ]
    .into_iter()
    .find(|(prefix, _)| route.starts_with(prefix))
    .map_or(Area::Storage, |(_, area)| area);
    let access = match *method {
        Method::GET if route.ends_with("/reveal") || route.ends_with("/reveal-all") => {
            Access::Reveal
        }
        Method::GET => Access::Read,
        _ => Access::Write,
    };
    Op {
        area,
        access,
        effect: effect(method, route),
    }
}

fn effect(method: &Method, route: &str) -> Option<Effect> {
    use Effect::*;
    let kind_of = |route: &str| match route {
        SECRETS | SECRETS_BULK | SECRET => Kind::ProjectSecrets,
        BINDINGS | BINDINGS_BULK | BINDING => Kind::SecretBindings,
        CANCEL => Kind::Deployments,
        r if r.starts_with("/api/projects") => Kind::Projects,
        r if r.starts_with("/api/web-services") => Kind::WebServices,
        r if r.starts_with("/api/databases") => Kind::Databases,
        r if r.starts_with("/api/redis") => Kind::Redis,
        r if r.starts_with(KEYS) => Kind::StorageKeys,
        _ => Kind::Buckets,
    };
    let kind = kind_of(route);
    Some(match (method.as_str(), route) {
        ("POST", DEPLOYMENTS) => Deploy,
        ("POST", ROLLBACK) => Rollback,
        ("POST", ENV) | ("PATCH", ENV_VAR) | ("PUT", ENV_BULK) | ("DELETE", ENV_VAR) => EnvUpdate,
        (
            "POST",
            SERVICE_START | SERVICE_STOP | SERVICE_RESTART | DATABASE_START | DATABASE_STOP
            | REDIS_START | REDIS_STOP,
        ) => Action(kind),
        (
            "POST",
            PROJECTS | SECRETS | SERVICES | BINDINGS | DATABASES | REDIS_ALL | BUCKETS | KEYS,
        ) => Create(kind),
        ("POST", CANCEL) | ("PATCH", _) | ("PUT", _) => Update(kind),
        ("DELETE", _) => Delete(kind),
        _ => return None,
    })
}

type St = State<Arc<Shared>>;
type Id = Path<String>;
type Ids = Path<(String, String)>;

/// Puts the gate in front of a route and answers other methods with a counted 405.
fn portal(
    shared: &Arc<Shared>,
    route: &'static str,
    methods: MethodRouter<Arc<Shared>>,
) -> MethodRouter<Arc<Shared>> {
    methods
        .route_layer(from_fn_with_state((shared.clone(), route), gate))
        .fallback(move |State(s): St, method: Method| async move {
            s.stats.requests().record(&method, route, 405);
            detail_response(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("method {method} is not allowed on {route}"),
            )
        })
}

pub(crate) fn router(sh: &Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route(
            PROJECTS,
            portal(
                sh,
                PROJECTS,
                get(
                    |c: Caller| async move { c.run(|st, a, _| Ok(Reply::Ok(st.list_projects(a)))) },
                )
                .post(|c: Caller, Body(b): Body| async move {
                    c.create(Kind::Projects, &b, |st, a, now| {
                        st.create_project(a, &b, now)
                    })
                }),
            ),
        )
        .route(
            PROJECT,
            portal(
                sh,
                PROJECT,
                get(|c: Caller, Path(p): Id| async move {
                    c.run(|st, a, _| st.get_project(a, &p).map(Reply::Ok))
                }),
            ),
        )
        .route(
            SECRETS,
            portal(
                sh,
                SECRETS,
                get(|c: Caller, Path(p): Id| async move {
                    c.run(|st, a, _| st.list_secrets(a, &p).map(Reply::Ok))
                })
                .post(|c: Caller, Path(p): Id, Body(b): Body| async move {
                    c.create(Kind::ProjectSecrets, &b, |st, a, now| {
                        st.create_secret(a, &p, &b, now)
                    })
                }),
            ),
        )
        .route(
            SECRETS_BULK,
            portal(
                sh,
                SECRETS_BULK,
                put(|c: Caller, Path(p): Id, Body(b): Body| async move {
                    c.run(|st, a, now| st.bulk_secrets(a, &p, &b, now).map(Reply::Ok))
                }),
            ),
        )
        .route(
            SECRET,
            portal(
                sh,
                SECRET,
                patch(|c: Caller, Path((p, s)): Ids, Body(b): Body| async move {
                    c.run(|st, a, now| st.patch_secret(a, &p, &s, &b, now).map(Reply::Ok))
                })
                .delete(|c: Caller, Path((p, s)): Ids| async move {
                    c.run(|st, a, _| st.delete_secret(a, &p, &s).map(deleted))
                }),
            ),
        )
        .route(
            SECRET_REVEAL,
            portal(
                sh,
                SECRET_REVEAL,
                get(|c: Caller, Path((p, s)): Ids| async move {
                    c.run(|st, a, _| st.reveal_secret(a, &p, &s).map(Reply::Ok))
                }),
            ),
        )
        .merge(services(sh))
        .merge(env(sh))
        .merge(datastores(
            sh,
            Kind::Databases,
            [
                DATABASES,
                DATABASE,
                DATABASE_START,
                DATABASE_STOP,
                DATABASE_STATUS,
            ],
        ))
        .merge(datastores(
            sh,
            Kind::Redis,
            [REDIS_ALL, REDIS, REDIS_START, REDIS_STOP, REDIS_STATUS],
        ))
        .merge(storage(sh))
}

fn services(sh: &Arc<Shared>) -> Router<Arc<Shared>> {
    let action = |route: &'static str, action: &'static str| {
        portal(
            sh,
            route,
            post(move |c: Caller, Path(s): Id| async move {
                c.run(|st, a, now| st.service_action(a, &s, action, now).map(Reply::Ok))
            }),
        )
    };
    Router::new()
        .route(
            SERVICES,
            portal(
                sh,
                SERVICES,
                get(|c: Caller| async move {
                    c.run(|st, a, now| Ok(Reply::Ok(st.list_services(a, now))))
                })
                .post(|c: Caller, Body(b): Body| async move {
                    c.create(Kind::WebServices, &b, |st, a, now| {
                        st.create_service(a, &b, now)
                    })
                }),
            ),
        )
        .route(
            SERVICE,
            portal(
                sh,
                SERVICE,
                get(|c: Caller, Path(s): Id| async move {
                    c.run(|st, a, now| st.get_service(a, &s, now).map(Reply::Ok))
                })
                .patch(|c: Caller, Path(s): Id, Body(b): Body| async move {
                    c.run(|st, a, now| st.patch_service(a, &s, &b, now).map(Reply::Ok))
                })
                .delete(|c: Caller, Path(s): Id| async move {
                    c.run(|st, a, _| st.delete_service(a, &s).map(deleted))
                }),
            ),
        )
        .route(SERVICE_START, action(SERVICE_START, "start"))
        .route(SERVICE_STOP, action(SERVICE_STOP, "stop"))
        .route(SERVICE_RESTART, action(SERVICE_RESTART, "restart"))
        .route(
            LOGS,
            portal(
                sh,
                LOGS,
                get(|c: Caller, Path(s): Id, RawQuery(q): RawQuery| async move {
                    c.run(|st, a, now| {
                        st.service_logs(a, &s, q.as_deref().unwrap_or_default(), now)
                            .map(Reply::Ok)
                    })
                }),
            ),
        )
        .route(
            DEPLOYMENTS,
            portal(
                sh,
                DEPLOYMENTS,
                get(|c: Caller, Path(s): Id, RawQuery(q): RawQuery| async move {
                    c.run(|st, a, now| {
                        st.list_deployments(a, &s, q.as_deref().unwrap_or_default(), now)
                            .map(Reply::Ok)
                    })
                })
                .post(
                    |c: Caller, Path(s): Id, OptionalBody(b): OptionalBody| async move {
                        c.run(|st, a, now| st.create_deployment(a, &s, &b, now).map(Reply::Created))
                    },
                ),
            ),
        )
        .route(
            DEPLOYMENT,
            portal(
                sh,
                DEPLOYMENT,
                get(|c: Caller, Path((s, d)): Ids| async move {
                    c.run(|st, a, now| st.get_deployment(a, &s, &d, now).map(Reply::Ok))
                }),
            ),
        )
        .route(
            CANCEL,
            portal(
                sh,
                CANCEL,
                post(|c: Caller, Path((s, d)): Ids| async move {
                    c.run(|st, a, now| st.cancel_deployment(a, &s, &d, now).map(Reply::Ok))
                }),
            ),
        )
        .route(
            ROLLBACK,
            portal(
                sh,
                ROLLBACK,
                post(|c: Caller, Path((s, d)): Ids| async move {
                    c.run(|st, a, now| st.rollback_deployment(a, &s, &d, now).map(Reply::Created))
                }),
            ),
        )
}

fn env(sh: &Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route(
            ENV,
            portal(
                sh,
                ENV,
                get(|c: Caller, Path(s): Id| async move {
                    c.run(|st, a, _| st.list_env(a, &s, false).map(Reply::Ok))
                })
                .post(|c: Caller, Path(s): Id, Body(b): Body| async move {
                    c.run(|st, a, now| st.add_var(a, &s, &b, now).map(Reply::Created))
                }),
            ),
        )
        .route(
            ENV_REVEAL_ALL,
            portal(
                sh,
                ENV_REVEAL_ALL,
                get(|c: Caller, Path(s): Id| async move {
                    c.run(|st, a, _| st.list_env(a, &s, true).map(Reply::Ok))
                }),
            ),
        )
        .route(
            ENV_BULK,
            portal(
                sh,
                ENV_BULK,
                put(|c: Caller, Path(s): Id, Body(b): Body| async move {
                    c.run(|st, a, now| st.bulk_env(a, &s, &b, now).map(Reply::Ok))
                }),
            ),
        )
        .route(
            ENV_VAR,
            portal(
                sh,
                ENV_VAR,
                patch(|c: Caller, Path((s, v)): Ids, Body(b): Body| async move {
                    c.run(|st, a, now| st.patch_var(a, &s, &v, &b, now).map(Reply::Ok))
                })
                .delete(|c: Caller, Path((s, v)): Ids| async move {
                    c.run(|st, a, _| st.delete_var(a, &s, &v).map(deleted))
                }),
            ),
        )
        .route(
            ENV_VAR_REVEAL,
            portal(
                sh,
                ENV_VAR_REVEAL,
                get(|c: Caller, Path((s, v)): Ids| async move {
                    c.run(|st, a, _| st.reveal_var(a, &s, &v).map(Reply::Ok))
                }),
            ),
        )
        .route(
            BINDINGS,
            portal(
                sh,
                BINDINGS,
                get(|c: Caller, Path(s): Id| async move {
                    c.run(|st, a, _| st.list_bindings(a, &s).map(Reply::Ok))
                })
                .post(|c: Caller, Path(s): Id, Body(b): Body| async move {
                    c.create(Kind::SecretBindings, &b, |st, a, now| {
                        st.add_binding(a, &s, &b, now)
                    })
                }),
            ),
        )
        .route(
            BINDINGS_RESOLVED,
            portal(
                sh,
                BINDINGS_RESOLVED,
                get(|c: Caller, Path(s): Id| async move {
                    c.run(|st, a, _| st.resolved(a, &s).map(Reply::Ok))
                }),
            ),
        )
        .route(
            BINDINGS_BULK,
            portal(
                sh,
                BINDINGS_BULK,
                put(|c: Caller, Path(s): Id, Body(b): Body| async move {
                    c.run(|st, a, now| st.bulk_bindings(a, &s, &b, now).map(Reply::Ok))
                }),
            ),
        )
        .route(
            BINDING,
            portal(
                sh,
                BINDING,
                delete(|c: Caller, Path((s, b)): Ids| async move {
                    c.run(|st, a, _| st.delete_binding(a, &s, &b).map(deleted))
                }),
            ),
        )
}

/// The routes of databases or redis: list/create, one, start, stop, status.
fn datastores(
    sh: &Arc<Shared>,
    kind: Kind,
    [all, one, start, stop, status]: [&'static str; 5],
) -> Router<Arc<Shared>> {
    let action = |route: &'static str, action: &'static str| {
        portal(
            sh,
            route,
            post(move |c: Caller, Path(d): Id| async move {
                c.run(|st, a, now| st.datastore_action(a, kind, &d, action, now).map(Reply::Ok))
            }),
        )
    };
    Router::new()
        .route(
            all,
            portal(
                sh,
                all,
                get(move |c: Caller| async move {
                    c.run(|st, a, now| Ok(Reply::Ok(st.list_datastores(a, kind, now))))
                })
                .post(move |c: Caller, Body(b): Body| async move {
                    c.create(kind, &b, |st, a, now| st.create_datastore(a, kind, &b, now))
                }),
            ),
        )
        .route(
            one,
            portal(
                sh,
                one,
                get(move |c: Caller, Path(d): Id| async move {
                    c.run(|st, a, now| st.get_datastore(a, kind, &d, now).map(Reply::Ok))
                })
                .patch(move |c: Caller, Path(d): Id, Body(b): Body| async move {
                    c.run(|st, a, now| st.patch_datastore(a, kind, &d, &b, now).map(Reply::Ok))
                })
                .delete(move |c: Caller, Path(d): Id| async move {
                    c.run(|st, a, now| st.delete_datastore(a, kind, &d, now).map(Reply::Accepted))
                }),
            ),
        )
        .route(start, action(start, "start"))
        .route(stop, action(stop, "stop"))
        .route(
            status,
            portal(
                sh,
                status,
                get(move |c: Caller, Path(d): Id| async move {
                    c.run(|st, a, now| st.datastore_status(a, kind, &d, now).map(Reply::Ok))
                }),
            ),
        )
}

fn storage(sh: &Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route(
            TENANT,
            portal(
                sh,
                TENANT,
                get(|c: Caller| async move { c.run(|st, a, _| Ok(Reply::Ok(st.tenant(a)))) }),
            ),
        )
        .route(
            BUCKETS,
            portal(
                sh,
                BUCKETS,
                get(|c: Caller| async move {
                    c.run(|st, a, now| Ok(Reply::Ok(st.list_buckets(a, now))))
                })
                .post(|c: Caller, Body(b): Body| async move {
                    c.create(Kind::Buckets, &b, |st, a, now| st.create_bucket(a, &b, now))
                }),
            ),
        )
        .route(
            BUCKET,
            portal(
                sh,
                BUCKET,
                patch(|c: Caller, Path(b): Id, Body(body): Body| async move {
                    c.run(|st, a, now| st.patch_bucket(a, &b, &body, now).map(Reply::Ok))
                })
                .delete(|c: Caller, Path(b): Id| async move {
                    c.run(|st, a, _| st.delete_bucket(a, &b).map(deleted))
                }),
            ),
        )
        .route(
            PRESIGN,
            portal(
                sh,
                PRESIGN,
                post(|c: Caller, Path(b): Id, Body(body): Body| async move {
                    c.run(|st, a, now| st.presign(a, &b, &body, now).map(Reply::Ok))
                }),
            ),
        )
        .route(
            KEYS,
            portal(
                sh,
                KEYS,
                get(|c: Caller| async move { c.run(|st, a, _| Ok(Reply::Ok(st.list_keys(a)))) })
                    .post(|c: Caller, Body(b): Body| async move {
                        c.create(Kind::StorageKeys, &b, |st, a, now| {
                            st.create_key(a, &b, now)
                        })
                    }),
            ),
        )
        .route(
            KEY,
            portal(
                sh,
                KEY,
                delete(|c: Caller, Path(k): Id| async move {
                    c.run(|st, a, _| st.delete_key(a, &k).map(deleted))
                }),
            ),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let c = |m: Method, r: &str| classify(&m, r);
        let op = c(Method::GET, SECRET_REVEAL);
        assert_eq!(
            (op.area, op.access, op.effect),
            (Area::Projects, Access::Reveal, None)
        );
        assert_eq!(c(Method::GET, ENV_REVEAL_ALL).access, Access::Reveal);
        assert_eq!(c(Method::GET, ENV).access, Access::Read);
        let op = c(Method::POST, SERVICES);
        assert_eq!((op.area, op.access), (Area::WebServices, Access::Write));
        assert_eq!(op.effect, Some(Effect::Create(Kind::WebServices)));
        assert_eq!(
            c(Method::POST, SECRETS).effect,
            Some(Effect::Create(Kind::ProjectSecrets))
        );
        assert_eq!(
            c(Method::PUT, SECRETS_BULK).effect,
            Some(Effect::Update(Kind::ProjectSecrets))
        );
        assert_eq!(c(Method::POST, DEPLOYMENTS).effect, Some(Effect::Deploy));
        assert_eq!(
            c(Method::POST, CANCEL).effect,
            Some(Effect::Update(Kind::Deployments))
        );
        assert_eq!(c(Method::POST, ROLLBACK).effect, Some(Effect::Rollback));
        for (m, r) in [
            (Method::POST, ENV),
            (Method::PATCH, ENV_VAR),
            (Method::PUT, ENV_BULK),
            (Method::DELETE, ENV_VAR),
        ] {
            assert_eq!(c(m, r).effect, Some(Effect::EnvUpdate), "{r}");
        }
        assert_eq!(
            c(Method::PUT, BINDINGS_BULK).effect,
            Some(Effect::Update(Kind::SecretBindings))
        );
        assert_eq!(
            c(Method::DELETE, BINDING).effect,
            Some(Effect::Delete(Kind::SecretBindings))
        );
        assert_eq!(
            c(Method::POST, REDIS_STOP).effect,
            Some(Effect::Action(Kind::Redis))
        );
        assert_eq!(c(Method::POST, REDIS_STOP).area, Area::Redis);
        assert_eq!(
            c(Method::DELETE, DATABASE).effect,
            Some(Effect::Delete(Kind::Databases))
        );
        assert_eq!(
            c(Method::PATCH, BUCKET).effect,
            Some(Effect::Update(Kind::Buckets))
        );
        assert_eq!(
            c(Method::POST, KEYS).effect,
            Some(Effect::Create(Kind::StorageKeys))
        );
        assert_eq!(
            c(Method::DELETE, KEY).effect,
            Some(Effect::Delete(Kind::StorageKeys))
        );
        let op = c(Method::POST, PRESIGN);
        assert_eq!((op.area, op.effect), (Area::Storage, None));
        assert_eq!(c(Method::GET, TENANT).effect, None);
    }
}
