//! The agency portal: a body's users see the forwards addressed to their body, and
//! nothing else, answer or decline them with attachments, and see their deadlines.

use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;

use super::{ConsoleError, Staff};
use crate::web::AppData;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/console/agency", web::get().to(index));
}

/// `GET /console/agency`: the portal's first page.
async fn index(
    app: web::Data<AppData>,
    req: HttpRequest,
    staff: Staff,
) -> Result<HttpResponse, ConsoleError> {
    staff.page(&app, &req, "console/agency/index.html", context! {})
}
