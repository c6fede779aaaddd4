//! The administrator's pages: users and roles, queues, the calendar's days, the
//! registry, templates preview.

use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;

use super::{ConsoleError, Staff};
use crate::web::AppData;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/console/admin", web::get().to(index));
}

/// `GET /console/admin`: the portal's first page.
async fn index(app: AppData, req: HttpRequest, staff: Staff) -> Result<HttpResponse, ConsoleError> {
    staff.page(&app, &req, "console/admin/index.html", context! {})
}
