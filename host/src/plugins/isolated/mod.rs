//! Isolated plugins: a plugin in a process of its own, so that whatever it
//! does (crash, hang, grow) the host lives on.
//!
//! The process is the `plinth` binary in its runner mode ([`runner`]): it
//! maps the same library through the same ABI and creates the plugin object
//! with a handle whose services are answered by the host. Between the two
//! runs a channel ([`frame`]s over a Unix socket, one [`peer`] at each end)
//! carrying the ABI's own messages, (method or service number, encoded
//! bytes), both ways: each call from the host runs on a [`lane`] of its
//! own, read by the calling thread, with the calls made back on the way; the
//! plugin's own threads call the host on the process's channel. The host holds the process as a [`child`] and the
//! plugin as an [`Isolated`] library whose objects are reached through the
//! same [`Transport`](crate::plugins::transport::Transport) seam as
//! in-process plugins: nothing above the seam knows the difference, except
//! that a call may come back as a [`Fault`](crate::plugins::transport::Fault).
//!
//! A second transport (Windows named pipes) would replace the socket in
//! [`child`], [`process`] and [`runner`]; frames and peers stay.

pub mod child;
pub mod frame;
pub mod in_flight;
pub mod lane;
pub mod library;
pub mod peer;
pub mod process;
pub mod runner;

pub use child::Limits;
pub use library::Isolated;
