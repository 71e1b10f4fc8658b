//! Small helpers for answering like the real services.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// A JSON response with `status`.
pub fn json(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// `{"message": …}` with `status`, the shape Marathon and Metronome use.
pub fn message(status: StatusCode, text: impl Into<String>) -> Response {
    json(status, serde_json::json!({ "message": text.into() }))
}

/// Admin Router's 401: an HTML page and `WWW-Authenticate: acsjwt`.
pub fn admin_router_unauthorized() -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/html"))],
        "<html>\n<head><title>401 Authorization Required</title></head>\n<body bgcolor=\"white\">\n\
         <center><h1>401 Authorization Required</h1></center>\n<hr><center>openresty</center>\n</body>\n</html>\n",
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("acsjwt"));
    response
}
