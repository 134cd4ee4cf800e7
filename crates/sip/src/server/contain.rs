//! Containment of a fault while one input is handled: a panic in the code that handles one SIP message,
//! one media event or one timer is caught at the actor's loop, logged with what was being handled, and
//! costs only that input (its request gets a 500; a call or session that faulted is forgotten). Every
//! other registration, call and session lives on, because the actor's state is never torn down.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;

/// Run one handler; `Some(message)` when it panicked.
pub(super) async fn contained<F: Future<Output = ()>>(f: F) -> Option<String> {
    match AssertUnwindSafe(f).catch_unwind().await {
        Ok(()) => None,
        Err(payload) => Some(panic_text(payload.as_ref())),
    }
}

/// Run one synchronous handler; `Some(message)` when it panicked.
pub(super) fn contained_sync<F: FnOnce()>(f: F) -> Option<String> {
    std::panic::catch_unwind(AssertUnwindSafe(f))
        .err()
        .map(|payload| panic_text(payload.as_ref()))
}

/// The text of a panic payload (`panic!` with a literal or a formatted message).
fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic without a message".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_is_contained_and_the_next_one_runs() {
        let mut state = vec![1];
        let fault = contained(async {
            state.push(2);
            let s = String::from("%€");
            let _ = &s[..2];
        })
        .await;
        assert!(fault.is_some_and(|m| m.contains("char boundary")));
        assert_eq!(contained(async { state.push(3) }).await, None);
        assert_eq!(state, vec![1, 2, 3]);
    }
}
