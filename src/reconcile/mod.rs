//! Reconcilers: observe (token, portal snapshot) → plan (pure) → act → report (status, Events).

mod conditions;
mod plan;
