//! htx-operator: keeps HTX Cloud services in step with Kubernetes objects.

pub mod portal;
pub mod sim;
