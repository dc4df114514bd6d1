//! The providers: each one a portal API with its client (routes, models, what its answers mean),
//! its simulator and the glue of its kinds to the shared reconcile, in a folder of its own. A
//! provider is known to the rest of the operator only through [`ProviderModule`], and adding one
//! is its folder plus its line in [`ALL`].

pub mod htx;
pub mod paas;
pub mod ways;

use std::any::{Any, TypeId};
use std::collections::HashMap;

use futures::future::BoxFuture;

use crate::api::Provider;
use crate::controller::{Scope, WakeRouter};
use crate::http::{Dialect, PortalError, Session};
use crate::reconcile::Timing;

/// Every provider the operator serves.
pub const ALL: &[&dyn ProviderModule] =
    &[&htx::HtxProvider, &ways::WaysProvider, &paas::PaasProvider];

/// What a provider brings to the operator.
pub trait ProviderModule: Send + Sync + 'static {
    /// Its name in `ProviderConfig.spec.provider`.
    fn provider(&self) -> Provider;

    /// How its API speaks.
    fn dialect(&self) -> &'static dyn Dialect;

    /// Its portal's documented address.
    fn default_url(&self) -> &'static str;

    /// The requests per minute one credential may make there, by default (below the portal's
    /// own limit, leaving room for other clients of the credential).
    fn default_rate_per_minute(&self) -> u32;

    /// One cheap authenticated read: proves a credential works (a ProviderConfig's Ready).
    fn probe<'a>(&self, session: &'a Session) -> BoxFuture<'a, Result<(), PortalError>>;

    /// What its kinds' reconciles share in one operator process (lists of its products …).
    fn state(&self, timing: &Timing) -> Box<dyn ProviderState>;

    /// The controllers of its kinds in one scope.
    fn controllers(&self, scope: &Scope<'_>, wakes: &mut WakeRouter)
    -> Vec<BoxFuture<'static, ()>>;
}

/// What one provider's reconciles share, let go of what nobody can use any more once a minute.
pub trait ProviderState: Any + Send + Sync {
    fn forget_stale(&self);
}

/// The state of every provider, found by its type.
pub struct ProviderStates {
    states: HashMap<TypeId, Box<dyn ProviderState>>,
}

impl ProviderStates {
    pub fn new(timing: &Timing) -> Self {
        let states = ALL
            .iter()
            .map(|module| {
                let state = module.state(timing);
                ((*state).type_id(), state)
            })
            .collect();
        Self { states }
    }

    /// The state of type `S` (a provider's own).
    pub fn get<S: ProviderState>(&self) -> &S {
        let state: &dyn Any = self
            .states
            .get(&TypeId::of::<S>())
            .map(|state| &**state as &dyn Any)
            .expect("every provider's state is made at start");
        state.downcast_ref().expect("stored under its own type")
    }

    pub fn forget_stale(&self) {
        for state in self.states.values() {
            state.forget_stale();
        }
    }
}

/// The module of a provider.
pub fn module(provider: Provider) -> &'static dyn ProviderModule {
    *ALL.iter()
        .find(|module| module.provider() == provider)
        .expect("every provider of the API has a module")
}
