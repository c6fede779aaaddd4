//! The dashboard portal's pages (src/web/console/dashboard.rs), on both backends.
