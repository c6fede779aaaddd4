//! email channel
