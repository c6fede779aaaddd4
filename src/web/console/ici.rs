//! The ICI operator's portal: declare, reschedule, cancel and complete outages, see each
//! recipient's delivery proof, and see and answer ICT forwards.

use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;

use super::{ConsoleError, Staff};
use crate::web::AppData;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/console/ici", web::get().to(index));
}

/// `GET /console/ici`: the portal's first page.
async fn index(
    app: web::Data<AppData>,
    req: HttpRequest,
    staff: Staff,
) -> Result<HttpResponse, ConsoleError> {
    staff.page(&app, &req, "console/ici/index.html", context! {})
}
