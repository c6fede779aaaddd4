//! telegram channel
