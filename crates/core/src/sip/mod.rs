//! SIP as the core sees it: messages, headers and URIs as checked values, plus digest authentication.
//! Parsing here is ours so that the core never names a type of the SIP stack behind the adapter.

pub mod digest;
pub mod header;
pub mod message;
pub mod screen;
pub mod status;
pub mod uri;

pub use header::{Headers, NameAddr, Via};
pub use message::{Message, Method, ParseError, Request, Response};
pub use status::StatusCode;
pub use uri::SipUri;
