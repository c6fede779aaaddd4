//! The supervisor's dashboard of the service level: registered, answered on time,
//! overdue, by queue, operator, channel and day, with SVG charts; the overdue list; the
//! ratings; the analytics.

use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;

use super::{ConsoleError, Staff};
use crate::web::AppData;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/console/dashboard", web::get().to(index));
}

/// `GET /console/dashboard`: the portal's first page.
async fn index(
    app: web::Data<AppData>,
    req: HttpRequest,
    staff: Staff,
) -> Result<HttpResponse, ConsoleError> {
    staff.page(&app, &req, "console/dashboard/index.html", context! {})
}
