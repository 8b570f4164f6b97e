//! Servers that stand in for the outside world in Varsel's tests and speak its real
//! protocols.

pub mod apns;
pub mod fcm;
pub mod push;
pub mod slack;
pub mod smtp;
pub mod teams;
