//! The operator console's state kept in the database: staff sessions and sign-in locks
//! ([`sessions`]), and working together on tickets ([`work`]). The pages are in `web::console`.

pub mod sessions;
pub mod work;
