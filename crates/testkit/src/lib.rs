//! Servers that stand in for the outside world in Varsel's tests and speak its real
//! protocols. Each records what it receives and can be told to fail or misbehave:
//! [`smtp::SmtpFault`] for SMTP, [`fault::Misbehaviour`] (shared by every HTTP server)
//! next to each provider's own error answers.

pub mod apns;
pub mod client;
pub mod fault;
pub mod fcm;
pub mod pg;
pub mod push;
pub mod slack;
pub mod smtp;
pub mod teams;
