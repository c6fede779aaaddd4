//! The admin portal's pages (src/web/console/admin.rs), on both backends.
