//! What the PaaS document (`seeds/paas-public-api.txt`) leaves unsaid, and how the client reads
//! it: tolerantly, never relying on the convenient answer. The simulator takes the least
//! convenient reading of each (`providers::paas::sim`'s `assumed`).
//!
//! - **Address.** No base URL is documented: [`DEFAULT_URL`] is a placeholder that a
//!   ProviderConfig's `url` or `--provider-default Paas:…,url=…` replaces.
//! - **Lists.** `GET /api/projects` and the other lists may answer a bare array or an object
//!   holding one (`items`, `data`, or the collection's own name): both are read ([`Listed`]).
//!   Elements without an `id` are skipped.
//! - **Names.** Nothing says names are unique, so they are taken not to be: every create is
//!   recorded before it is sent, sent once (repeated only when it certainly did not arrive), and
//!   found again by name (and project) after an answer that was lost.
//! - **Errors.** `{"detail": "text"}`; only 400, 401, 403, 404 and 429 are documented. A 400 is a
//!   refusal whatever its text (a bad body, a taken key, a wrong state); 5xx are the portal's
//!   failures and are retried.
//! - **Rate limit.** None is documented: 60 requests a minute per key by default, and a 429
//!   pauses the key for its `Retry-After` (or the default pause).
//! - **Probe.** `GET /api/projects` is taken as readable by any valid key.
//! - **Secret values.** They read masked: the operator never reads one back, nor calls the
//!   reveal routes. What it wrote is known by a keyed hash kept in status.
//! - **Env bulk PUT.** The document does not say whether `PUT …/env/bulk` replaces the set or
//!   merges into it, and a secret value reads masked: the operator never calls it. It writes
//!   each variable by key, and with `envPolicy: Exclusive` deletes the others one DELETE each.
//! - **Secret bindings.** A binding is listed with `id`, `project_secret_id` and `alias_key`;
//!   there is no route to change one, so one to change is deleted and made again. Nothing says
//!   whether a second binding of a variable is refused or made: the operator never sends one
//!   while the list shows the variable bound.

//! - **Data stores.** The document gives the routes of databases and redis but no bodies. A
//!   create sends `name`, `project_id` and the object's `parameters` as they are; the settings
//!   a PATCH takes are [`updatable`] (the rest is reported, not applied). The connection
//!   details (`host`, `port`, `username`, `password`, `database`, `uri`) are read from the
//!   detail (`GET …/{id}`) under `connection`, once the data store runs; a delete answers
//!   before the data store is gone. A stopped data store reads `stopped`.

/// The placeholder address (see above).
pub const DEFAULT_URL: &str = "https://paas.vinacis.com";

/// The default budget of one key, a minute (see above).
pub const DEFAULT_RATE_PER_MINUTE: u32 = 60;

/// The settings of a data store a PATCH changes in place (see above).
pub fn updatable(flavor: super::routes::Flavor) -> &'static [&'static str] {
    match flavor {
        super::routes::Flavor::Database => &["plan", "storage_gb"],
        super::routes::Flavor::Redis => &["plan", "maxmemory_policy"],
    }
}

/// Words that begin the API keys: masked in any text the portal sends back.
pub const KEY_PREFIXES: &[&str] = &["ak_"];
