//! The operator console's state kept in the database: staff sessions and sign-in locks
//! ([`sessions`]). The pages are in `web::console`.

pub mod sessions;
