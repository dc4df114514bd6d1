//! htx-operator: keeps HTX Cloud services in step with Kubernetes objects.

pub mod api;
pub mod controller;
pub mod duration;
pub mod http;
pub mod kube_client;
pub mod leader;
pub mod metrics;
pub mod providers;
pub mod reconcile;
pub mod shutdown;
pub mod sim;
pub mod telemetry;
