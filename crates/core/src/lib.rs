//! Parley's phone-system logic, free of IO: SIP messages and digest auth, the registrar, SDP offer/answer,
//! B2BUA call control, voicemail menus, and the switch that composes them. Time and randomness come in as arguments; outputs are drained by the shell.
#![warn(missing_docs)]

pub mod call;
pub mod conference;
pub mod endpoint;
pub mod extension;
pub mod guard;
pub mod ids;
pub mod limits;
pub mod ma;
pub mod registrar;
pub mod routing;
pub mod sdes;
pub mod sdp;
pub mod sip;
pub mod switch;
pub mod target;
pub mod text;
pub mod trunk;
pub mod vm;

/// A fixed starting instant for tests (the only place the core reads the clock: tests need one `Instant`).
#[cfg(test)]
#[allow(clippy::disallowed_methods)]
pub(crate) fn test_epoch() -> std::time::Instant {
    std::time::Instant::now()
}
