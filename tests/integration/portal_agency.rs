//! The agency portal's pages (src/web/console/agency.rs), on both backends.
