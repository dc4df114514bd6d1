//! When a WaysDatabase's password is rotated, and what `CredentialsReady` says. The portal shows
//! a password only in the answers to a create and a rotation, so the operator knows one only
//! once it put it into the connection Secret. Pure: the IO is in [`super::database`].

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::api::{ManagementPolicy, Ownership};
use crate::reconcile::conditions::Wanted;

/// The condition type.
pub const CREDENTIALS_READY: &str = "CredentialsReady";

/// What the rotation decision reads.
#[derive(Debug, Clone, Copy)]
pub struct Password<'a> {
    /// The connection Secret the spec names.
    pub target: Option<&'a str>,
    /// The Secret the current password was put into (status).
    pub held_in: Option<&'a str>,
    /// When that password was set.
    pub set_at: Option<Timestamp>,
    /// `spec.credentials.rotationRequestedAt`, and the last value acted on.
    pub requested: Option<&'a str>,
    pub handled: Option<&'a str>,
    pub every: Option<Duration>,
    pub ownership: Ownership,
    pub policy: ManagementPolicy,
}

/// Why a rotation is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// A new `rotationRequestedAt`.
    Requested,
    /// `rotateEvery` has passed since the password was set.
    Scheduled,
    /// A database this object created (or set the password of) whose password is not in the
    /// Secret: the create's answer was lost, a rotation's outcome is unknown, the Secret is new.
    Lost,
}

impl Why {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Requested => "RotationRequested",
            Self::Scheduled => "RotationScheduled",
            Self::Lost => "PasswordRecovered",
        }
    }
}

impl Password<'_> {
    /// The Secret holds the current password.
    pub fn known(&self) -> bool {
        self.target.is_some() && self.held_in == self.target
    }

    pub fn rotation_due(&self, now: Timestamp) -> Option<Why> {
        if self.policy == ManagementPolicy::Observe {
            return None;
        }
        if self.requested.is_some() && self.requested != self.handled {
            return Some(Why::Requested);
        }
        // Ours: created by this object, or its password set by this object once.
        let ours = self.ownership == Ownership::Created || self.set_at.is_some();
        if !self.known() && self.target.is_some() && ours {
            return Some(Why::Lost);
        }
        let next = self.next_scheduled()?;
        (next <= now).then_some(Why::Scheduled)
    }

    /// When `rotateEvery` makes the next rotation due.
    pub fn next_scheduled(&self) -> Option<Timestamp> {
        if !self.known() {
            return None;
        }
        let every = SignedDuration::try_from(self.every?).ok()?;
        self.set_at?.checked_add(every).ok()
    }

    pub fn condition(&self) -> Wanted {
        if self.known() {
            let target = self.target.unwrap_or_default();
            let when = self
                .set_at
                .map(|at| format!(" (set at {at})"))
                .unwrap_or_default();
            return Wanted::new(
                CREDENTIALS_READY,
                true,
                "PasswordInSecret",
                format!("the Secret '{target}' holds the current password{when}"),
            );
        }
        if self.target.is_none() {
            return Wanted::new(
                CREDENTIALS_READY,
                false,
                "NoConnectionSecret",
                "no writeConnectionSecretToRef: the portal shows a password only at create and at rotation, and it is kept nowhere; name a Secret to receive one",
            );
        }
        let how = if self.policy == ManagementPolicy::Observe {
            "managementPolicy Observe never rotates it"
        } else {
            "set spec.credentials.rotationRequestedAt to a new value to rotate it (the old password stops working at once) and receive the new one"
        };
        Wanted::new(
            CREDENTIALS_READY,
            false,
            "PasswordUnknown",
            format!(
                "the password of a database this object did not create cannot be read from the portal: {how}"
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created<'a>() -> Password<'a> {
        Password {
            target: Some("orders-db"),
            held_in: Some("orders-db"),
            set_at: Some(Timestamp::UNIX_EPOCH),
            requested: None,
            handled: None,
            every: None,
            ownership: Ownership::Created,
            policy: ManagementPolicy::Manage,
        }
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    #[test]
    fn a_created_database_whose_password_was_lost_is_rotated_once() {
        let lost = Password {
            held_in: None,
            ..created()
        };
        assert_eq!(lost.rotation_due(at(10)), Some(Why::Lost));
        assert_eq!(created().rotation_due(at(10)), None);
        let adopted = Password {
            ownership: Ownership::Adopted,
            set_at: None,
            ..lost
        };
        assert_eq!(adopted.rotation_due(at(10)), None);
        assert_eq!(adopted.condition().reason, "PasswordUnknown");
        let rotated_once = Password {
            set_at: Some(at(5)),
            ..adopted
        };
        assert_eq!(
            rotated_once.rotation_due(at(10)),
            Some(Why::Lost),
            "a password this object set and then lost track of"
        );
        let new_secret = Password {
            target: Some("other-secret"),
            ..created()
        };
        assert_eq!(new_secret.rotation_due(at(10)), Some(Why::Lost));
    }

    #[test]
    fn a_new_request_rotates_once_and_observe_never() {
        let asked = Password {
            requested: Some("2026-12-01T10:00:00Z"),
            ownership: Ownership::Adopted,
            held_in: None,
            set_at: None,
            ..created()
        };
        assert_eq!(asked.rotation_due(at(10)), Some(Why::Requested));
        let handled = Password {
            handled: Some("2026-12-01T10:00:00Z"),
            ..asked
        };
        assert_eq!(handled.rotation_due(at(10)), None);
        let observed = Password {
            policy: ManagementPolicy::Observe,
            ..asked
        };
        assert_eq!(observed.rotation_due(at(10)), None);
        assert!(observed.condition().message.contains("Observe"));
    }

    #[test]
    fn rotate_every_counts_from_when_the_password_was_set() {
        let scheduled = Password {
            every: Some(Duration::from_secs(3600)),
            ..created()
        };
        assert_eq!(scheduled.next_scheduled(), Some(at(3600)));
        assert_eq!(scheduled.rotation_due(at(3599)), None);
        assert_eq!(scheduled.rotation_due(at(3600)), Some(Why::Scheduled));
        assert!(scheduled.condition().status);
        let no_secret = Password {
            target: None,
            held_in: None,
            ..scheduled
        };
        assert_eq!(no_secret.rotation_due(at(7200)), None);
        assert_eq!(no_secret.condition().reason, "NoConnectionSecret");
    }
}
