//! The API's errors and the one place that maps them to HTTP statuses and
//! JSON bodies: `{"error": "what is wrong", "code": "not_found"}`, plus
//! `"location": {"file", "line", "column"}` when a module is at fault.

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::Full;

use crate::store::StoreError;
use crate::validate::{Location, Refusal};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed request: bad JSON, bad name, bad query.
    #[error("{0}")]
    BadRequest(String),
    /// No token, or an unknown one.
    #[error("{0}")]
    Unauthorized(String),
    /// The token's scope does not cover the request.
    #[error("{0}")]
    Forbidden(String),
    /// No such deployment, version, environment, secret or endpoint.
    #[error("{0}")]
    NotFound(String),
    /// The endpoint exists but not with this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The request does not apply to the current state.
    #[error("{0}")]
    Conflict(String),
    /// The body, a file or the bundle is over a limit.
    #[error("{0}")]
    TooLarge(String),
    /// The bundle is refused by validation.
    #[error("{message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// Where, for module errors.
        location: Option<Location>,
    },
    /// The control plane failed (store, signing); details are in its log.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status and the `code` string of the JSON body.
    pub fn status(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_bundle"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// The error as a JSON response.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let (status, code) = self.status();
        let mut body = serde_json::json!({ "error": self.to_string(), "code": code });
        if let ApiError::Invalid {
            location: Some(loc), ..
        } = &self
        {
            body["location"] = serde_json::json!(loc);
        }
        let mut response = super::json_response(status, &body);
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoDeployment(_) | StoreError::NoVersion { .. } | StoreError::NoEnvironment { .. } => {
                ApiError::NotFound(e.to_string())
            }
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::Corrupt(_) | StoreError::Backend(_) => {
                tracing::error!(error = %e, "store failure");
                ApiError::Internal(format!("the control plane's store failed: {e}"))
            }
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::TooLarge(m) => ApiError::TooLarge(m),
            Refusal::Invalid { message, location } => ApiError::Invalid { message, location },
        }
    }
}
