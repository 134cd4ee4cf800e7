//! The status snapshot lives in core (the switch builds it); re-exported here for the binary.

pub use parley_core::switch::status::*;
