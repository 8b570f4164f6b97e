//! Servers that stand in for the outside world in Varsel's tests and speak its real
//! protocols. Each records what it receives and can be told to fail; the HTTP servers
//! can also misbehave ([`fault::Misbehaviour`]).

pub mod apns;
pub mod fault;
pub mod fcm;
pub mod push;
pub mod slack;
pub mod smtp;
pub mod teams;
