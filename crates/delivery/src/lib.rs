//! Varsel's delivery channels. Email today; each channel is a module.

pub mod email;
