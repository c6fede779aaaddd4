//! Tickets: what a ticket is ([`model`]), how one is registered ([`intake`], with
//! [`numbers`], [`contacts`] and [`threading`]; [`registrar`] commits them in batches),
//! what operators do ([`actions`]), how tickets are read ([`queries`]), what goes out
//! ([`outbound`]), their files ([`attachments`]) and their audit log ([`audit`]).

pub mod actions;
pub mod answered;
pub mod attachments;
pub mod audit;
pub mod contacts;
pub mod domain;
pub mod intake;
pub mod model;
pub mod numbers;
pub mod outbound;
pub mod queries;
pub mod registrar;
pub mod threading;

pub use actions::*;
pub use attachments::*;
pub use audit::*;
pub use model::*;
pub use outbound::*;
pub use queries::*;
