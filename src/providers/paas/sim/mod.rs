//! The PaaS API simulator (work in progress).

mod assumed;
mod body;
mod datastores;
mod deployments;
mod env;
mod error;
mod lifecycle;
mod model;
mod projects;
mod services;
mod storage;
mod store;
#[cfg(test)]
mod store_tests;
