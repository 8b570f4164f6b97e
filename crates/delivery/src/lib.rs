//! Varsel's delivery channels: each channel is a module; [`channel::Channel`] is the
//! interface they share.

pub mod apns;
pub mod channel;
pub mod email;
pub mod fcm;
pub mod guard;
pub mod slack;
mod smtp;
pub mod teams;
mod text;
pub mod webpush;
mod wire;
