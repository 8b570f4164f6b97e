//! Varsel's server: the HTTP API, the real-time stream, authentication, the group-commit
//! ingest and the event processor.

pub mod app;
pub mod auth;
pub mod channels;
pub mod clock;
pub mod config;
pub mod demo;
pub mod dto;
pub mod edge;
pub mod error;
pub mod extract;
pub mod fanout;
pub mod hub;
pub mod ingest;
pub mod jobs;
pub mod limits;
pub mod links;
pub mod mailer;
pub mod openapi;
pub mod presence;
pub mod processor;
pub mod routes;
pub mod secrets;
pub mod sse_edge;
pub mod state;
pub mod ui;
