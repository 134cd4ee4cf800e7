//! Parley's SIP edge (IO): the adapter over the SIP stack, the server shell that drives the core's
//! registrar and calls, the anchored RTP relay, and the status snapshot.
#![warn(missing_docs)]

pub mod adapter;
pub mod media;
pub mod prompts;
pub mod relay;
pub mod server;
pub mod status;

pub use adapter::TransportLimits;
pub use server::{run, snapshot, spawn, Control, Limits, SipConfig, VmSettings};
pub use status::{Status, StatusHandle};
