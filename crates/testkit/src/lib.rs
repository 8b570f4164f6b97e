//! Servers that stand in for the outside world in Varsel's tests and speak its real
//! protocols.

pub mod smtp;
