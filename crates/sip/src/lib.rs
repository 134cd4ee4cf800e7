//! Parley's SIP edge (IO): the adapter over the SIP stack and the shell that drives the core's switch,
//! carrying out its commands with the media plane (`parley-rtp`), the store and the prompt set.
#![warn(missing_docs)]

pub mod adapter;
pub mod prompts;
pub mod server;

pub use adapter::TransportLimits;
pub use parley_core::switch::status::{snapshot, Status, StatusHandle};
pub use parley_core::switch::Control;
pub use server::{run, spawn, Limits, SipConfig, SwitchConfig, VmSettings};
