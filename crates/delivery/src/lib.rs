//! Varsel's delivery channels: each channel is a module; [`channel::Channel`] is the
//! interface they share.

pub mod channel;
pub mod email;
