//! Parley's SIP edge (IO): the adapter over the SIP stack, the shell that drives the core's switch, the
//! anchored RTP relay and Parley's own media end.
#![warn(missing_docs)]

pub mod adapter;
pub mod media;
pub mod prompts;
pub mod relay;
pub mod server;
pub mod status;

pub use adapter::TransportLimits;
pub use parley_core::switch::status::{snapshot, Status, StatusHandle};
pub use parley_core::switch::Control;
pub use server::{run, spawn, Limits, SipConfig, VmSettings};
