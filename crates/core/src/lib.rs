//! Varsel's pure domain: the catalog of notification types, preferences and their
//! precedence, the decision of who is told on which channel and why, and rendering.
//! Nothing here does I/O or reads a clock.

pub mod catalog;
pub mod decide;
pub mod model;
pub mod plan;
pub mod prefs;
pub mod quiet;
pub mod render;
pub mod schedule;
pub mod sound;
pub mod view;

pub use catalog::{Catalog, TypeDef};
pub use decide::{Decision, Outcome, decide};
pub use model::{Channel, ObjectRef, Source, Tab, Tier, User};
pub use sound::Sound;
