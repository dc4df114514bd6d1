//! The stop signal is never lost: a SIGTERM that arrives before anything awaits the stop (as
//! between winning the leader Lease and the controllers' start) still stops the operator.
//! In a test binary of its own: the signal goes to this process.

use std::process::Command;
use std::time::Duration;

use htx_operator::shutdown::Shutdown;

fn sigterm_to_this_process() {
    let sent = Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
}

#[tokio::test]
async fn a_sigterm_before_anyone_waits_is_kept_for_every_waiter() {
    let shutdown = Shutdown::listen().expect("the signal handlers install");
    let before = shutdown.requested();
    sigterm_to_this_process();
    // Delivered while nothing polls the stop.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let guard = Duration::from_secs(30);
    tokio::time::timeout(guard, before)
        .await
        .expect("a waiter made before the signal sees it");
    tokio::time::timeout(guard, shutdown.clone().requested())
        .await
        .expect("a waiter made after the signal sees it too");
}

#[tokio::test]
async fn without_a_signal_nobody_stops() {
    let shutdown = Shutdown::listen().expect("the signal handlers install");
    let waited = tokio::time::timeout(Duration::from_millis(500), shutdown.requested()).await;
    assert!(waited.is_err(), "the stop resolved with no signal sent");
}

#[tokio::test]
async fn a_waiter_given_up_leaves_the_stop_unrequested() {
    let shutdown = Shutdown::listen().expect("the signal handlers install");
    tokio::select! {
        () = shutdown.requested() => panic!("no signal was sent"),
        () = tokio::time::sleep(Duration::from_millis(100)) => {}
    }
    let waited = tokio::time::timeout(Duration::from_millis(500), shutdown.requested()).await;
    assert!(waited.is_err(), "the stop resolved with no signal sent");
}
