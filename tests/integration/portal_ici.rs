//! The ici portal's pages (src/web/console/ici.rs), on both backends.
