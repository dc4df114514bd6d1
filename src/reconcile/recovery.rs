//! Finding again what a request made when its answer was lost, for portal objects with ids the
//! server assigns (an HTX backup, a WaysCloud snapshot): the kind lists the candidates, and the
//! rule for what to make of them is this one, shared.

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// What to make of the candidates for a request whose answer was never recorded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Recovery<'a, T> {
    /// Exactly one: it is this object's.
    Found(&'a T),
    /// None, or several, while the portal's lists may still be catching up: look again.
    Wait,
    /// Still none, or still several: whether the request took effect cannot be told. Never
    /// asked again.
    Unknown,
}

pub fn recover<'a, T>(candidates: &[&'a T], within_lag: bool) -> Recovery<'a, T> {
    match candidates {
        [only] => Recovery::Found(only),
        _ if within_lag => Recovery::Wait,
        _ => Recovery::Unknown,
    }
}

/// The portal's lists may still not show what was asked for at `requested_at` (`--list-lag`).
pub fn within_lag(requested_at: Timestamp, list_lag: Duration) -> bool {
    let lag = SignedDuration::try_from(list_lag).unwrap_or_default();
    Timestamp::now().duration_since(requested_at) < lag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_found_none_or_several_wait_out_the_lag_then_are_unknown() {
        let (a, b) = (1, 2);
        assert_eq!(recover(&[&a], false), Recovery::Found(&a));
        assert_eq!(recover::<i32>(&[], true), Recovery::Wait);
        assert_eq!(recover::<i32>(&[], false), Recovery::Unknown);
        assert_eq!(recover(&[&a, &b], true), Recovery::Wait);
        assert_eq!(recover(&[&a, &b], false), Recovery::Unknown);
    }

    #[test]
    fn the_lag_counts_from_the_request() {
        let minute = Duration::from_secs(60);
        assert!(within_lag(Timestamp::now(), minute));
        let long_ago = Timestamp::now() - SignedDuration::from_secs(120);
        assert!(!within_lag(long_ago, minute));
    }
}
