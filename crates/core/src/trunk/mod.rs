//! Outside lines: SIP trunks to carriers. A trunk is another kind of leg for the switch, not a special
//! case in the shell. So far: [`registration`], Parley registering to a carrier with digest, without
//! IO. Routing calls through trunks, inbound numbers and the toll-fraud guards build on it.

pub mod registration;

pub use registration::{RegState, Registration, RegistrationConfig};
