//! Parley's media plane, the IO side: RTP sockets drawn from a port range, the relay that anchors every
//! call's media between its two legs, and the socket task around Parley's own media end (voicemail and
//! the mailbox menus), which drives `parley_media`'s sans-IO [`parley_media::session::MediaSession`].
//! The signalling shell (`parley-sip`) opens, steers and closes these on the switch's commands; nothing
//! here decides what a call does. Kept apart from signalling so that the relay can become its own
//! event loop over all sockets, and later run beside signalling on other machines.
#![warn(missing_docs)]

pub mod conference;
pub mod media;
pub mod relay;
