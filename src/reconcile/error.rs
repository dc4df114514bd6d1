//! The reconcile layer's one error type, with the category that decides the requeue.

use crate::http::PortalError;

use super::plan::Taken;

use super::tokens::TokenError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Portal(#[from] PortalError),

    #[error(transparent)]
    Token(#[from] TokenError),

    #[error("the Kubernetes API failed: {0}")]
    Kube(#[from] kube::Error),

    /// Input the schema could not catch; waits for the object to change.
    #[error("{message}")]
    InvalidSpec {
        reason: &'static str,
        message: String,
    },

    #[error("{}", already_exists(name, *taken))]
    AlreadyExists { name: String, taken: Taken },

    #[error(
        "another object in this cluster already binds the portal {noun} '{name}' with these credentials, and a portal resource is bound by one object only: use that object, or pick another spec.externalName"
    )]
    AlreadyBound { noun: &'static str, name: String },

    #[error(
        "the operator's default credentials do not serve the namespace '{namespace}' (or it has none for this provider): name credentials of this namespace (spec.providerConfigRef, or spec.tokenSecretRef for HTX kinds)"
    )]
    NoCredentials { namespace: String },

    #[error(
        "the ProviderConfig '{name}' does not exist in this namespace: create it, or name another in spec.providerConfigRef"
    )]
    ProviderConfigMissing { name: String },

    #[error(
        "the ProviderConfig '{name}' is not Ready ({why}): see its status; this object goes on once it is"
    )]
    ProviderConfigNotReady { name: String, why: String },

    #[error(
        "the portal may or may not have made the {noun} '{name}' (a create's answer was lost, and its lists show {seen}): it takes several resources under one name, so the operator neither creates again nor guesses; look at the portal, then delete the extra one or this object's status.createRequestedAt"
    )]
    OutcomeUnknown {
        noun: &'static str,
        name: String,
        seen: &'static str,
    },

    #[error(
        "no portal resource named '{name}' exists to observe (managementPolicy: Observe never creates): create it at the portal or fix spec.externalName"
    )]
    NotFoundToObserve { name: String },

    #[error(
        "the portal accepted the backup request for database '{database}' without naming the backup, and does not list it yet: looking again"
    )]
    BackupNotListed { database: String },

    #[error(
        "the portal no longer lists backup {id} of database '{database}' (was the database deleted?)"
    )]
    BackupGone { id: String, database: String },
}

fn already_exists(name: &str, taken: Taken) -> String {
    let why = match taken {
        Taken::ByOther => "was not created by this object",
        Taken::Replaced => {
            "is not the one this object created (that one is gone, and another took its name)"
        }
        Taken::IntentExpired => {
            "appeared long after this object asked for a create whose answer never came, so it cannot be told to be that one"
        }
        Taken::RenameTarget => {
            return format!(
                "another portal resource is named '{name}' beside this object's, so this object's is not renamed to it (the portal would hold two of that name): pick another spec.externalName, or remove or rename that one at the portal"
            );
        }
        Taken::Several => {
            return format!(
                "several portal resources are named '{name}' and none was created by this object, so none can be taken over: pick another spec.externalName, or remove the extra ones at the portal"
            );
        }
    };
    format!(
        "a portal resource named '{name}' already exists and {why}: pick another spec.externalName, or set spec.adoptExisting: true to take it over"
    )
}

/// How the error policy treats an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Needs someone to act (a token, a quota, the spec): long, growing backoff.
    Waiting,
    /// The portal or the API server failed for now: short, growing backoff.
    Transient,
}

impl Error {
    /// A short, stable CamelCase word: the condition reason and the Event reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Portal(error) => error.reason(),
            Self::Token(error) => error.reason(),
            Self::Kube(_) => "KubernetesError",
            Self::InvalidSpec { reason, .. } => reason,
            Self::AlreadyExists { .. } => "AlreadyExists",
            Self::NotFoundToObserve { .. } => "NotFound",
            Self::OutcomeUnknown { .. } => "OutcomeUnknown",
            Self::AlreadyBound { .. } => "AlreadyBound",
            Self::NoCredentials { .. } => "NoCredentials",
            Self::ProviderConfigMissing { .. } => "ProviderConfigMissing",
            Self::ProviderConfigNotReady { .. } => "ProviderConfigNotReady",
            Self::BackupNotListed { .. } => "BackupNotListed",
            Self::BackupGone { .. } => "NotFound",
        }
    }

    /// A status write refused because the object changed since this reconcile read it: the
    /// reconcile decided on a stale copy and runs again.
    pub fn is_stale_copy(&self) -> bool {
        matches!(self, Self::Kube(kube::Error::Api(status)) if status.code == 409)
    }

    /// Fixed by a new token in the Secret: the object is woken when the Secret changes.
    pub fn waits_on_token(&self) -> bool {
        matches!(
            self,
            Self::Portal(PortalError::Unauthorized { .. } | PortalError::Forbidden { .. })
                | Self::Token(
                    TokenError::SecretMissing(_)
                        | TokenError::KeyMissing(_)
                        | TokenError::Invalid { .. }
                )
        )
    }

    pub fn category(&self) -> Category {
        match self {
            Self::Portal(error) if error.is_transient() => Category::Transient,
            Self::Portal(PortalError::Decode { .. }) => Category::Transient,
            Self::Token(TokenError::Unreadable(_)) => Category::Transient,
            Self::Kube(_) => Category::Transient,
            Self::BackupNotListed { .. } => Category::Transient,
            _ => Category::Waiting,
        }
    }
}
