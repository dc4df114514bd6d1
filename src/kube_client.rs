//! The Kubernetes client of every part of the operator: kube's default stack (config from the
//! cluster or KUBECONFIG), plus a count of the requests it sends, by verb, in the metrics.

use std::task::{Context, Poll};

use http::{Method, Request};
use kube::client::ClientBuilder;
use tower_layer::layer_fn;
use tower_service::Service;

/// A client from the in-cluster config or KUBECONFIG, counting its requests.
pub async fn connect() -> Result<kube::Client, kube::Error> {
    let config = kube::Config::infer()
        .await
        .map_err(kube::Error::InferConfig)?;
    let client = ClientBuilder::try_from(config)?
        .with_layer(&layer_fn(|inner| Counted { inner }))
        .build();
    Ok(client)
}

/// Counts each request in [`crate::metrics`] as it is sent.
#[derive(Clone)]
struct Counted<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for Counted<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        crate::metrics::global().kube_request(verb(&request));
        self.inner.call(request)
    }
}

/// The API verb of a request, as far as the method and the query tell it.
fn verb<B>(request: &Request<B>) -> &'static str {
    let watch = request.uri().query().is_some_and(|query| {
        query
            .split('&')
            .any(|pair| pair == "watch=true" || pair == "watch=1")
    });
    match *request.method() {
        Method::GET if watch => "watch",
        Method::GET => "get",
        Method::POST => "create",
        Method::PATCH => "patch",
        Method::PUT => "update",
        Method::DELETE => "delete",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, uri: &str) -> Request<()> {
        Request::builder().method(method).uri(uri).body(()).unwrap()
    }

    #[test]
    fn verbs_from_method_and_query() {
        let databases = "/apis/htx.vinacis.com/v1alpha1/namespaces/a/databases";
        assert_eq!(verb(&request(Method::GET, databases)), "get");
        let watch = format!("{databases}?resourceVersion=5&watch=true&timeoutSeconds=290");
        assert_eq!(verb(&request(Method::GET, &watch)), "watch");
        let not_watch = format!("{databases}?watch=false");
        assert_eq!(verb(&request(Method::GET, &not_watch)), "get");
        let status = format!("{databases}/db/status?fieldManager=htx-operator&force=true");
        assert_eq!(verb(&request(Method::PATCH, &status)), "patch");
        assert_eq!(
            verb(&request(
                Method::POST,
                "/apis/events.k8s.io/v1/namespaces/a/events"
            )),
            "create"
        );
        assert_eq!(verb(&request(Method::DELETE, databases)), "delete");
        assert_eq!(verb(&request(Method::PUT, databases)), "update");
        assert_eq!(verb(&request(Method::HEAD, databases)), "other");
    }
}
