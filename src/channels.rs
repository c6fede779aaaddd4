//! Wires the channel crates into the server: outgoing adapters and inbound listeners.

use std::sync::Arc;

use crate::{App, StartError};

/// Adds the adapters and starts the listeners the configuration asks for.
pub async fn attach(app: Arc<App>) -> Result<Arc<App>, StartError> {
    Ok(app)
}
