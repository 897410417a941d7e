//! Errors as the API shows them: RFC 9457 `application/problem+json` with a stable `code`.
//!
//! [`ApiError`] is what handlers return. A [`Problem`] is public: its text is meant for the client.
//! An internal error keeps its cause and the place it was raised, goes to the log, and leaves as an
//! opaque 500 that only names the request id. `http::problems` renders both, and every error poem or
//! poem-openapi raises, into the same body.

use std::fmt;
use std::panic::Location;

use poem::http::{HeaderName, HeaderValue, StatusCode};
use serde::Serialize;

/// One offending field or parameter of a request.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldError {
    /// JSON pointer into the request body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// Name of the query, path or header parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    pub message: String,
}

/// A public error.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The database does not answer: retry soon (the server asks it again every half second).
    pub fn database_unavailable() -> Self {
        const RETRY_AFTER_SECS: u32 = 1;
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            format!("the database does not answer; retry in {RETRY_AFTER_SECS} s"),
        )
        .with_header(
            poem::http::header::RETRY_AFTER,
            HeaderValue::from(RETRY_AFTER_SECS),
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} does not exist"),
        )
    }

    pub fn unauthorized(detail: impl Into<String>, token_given: bool) -> Self {
        let challenge = if token_given {
            r#"Bearer realm="hoverbot", error="invalid_token""#
        } else {
            r#"Bearer realm="hoverbot""#
        };
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail).with_header(
            poem::http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        )
    }

    pub fn forbidden(scope: &str) -> Self {
        let challenge =
            format!(r#"Bearer realm="hoverbot", error="insufficient_scope", scope="{scope}""#);
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this operation needs the `{scope}` scope"),
        )
        .with_header(
            poem::http::header::WWW_AUTHENTICATE,
            HeaderValue::from_str(&challenge).expect("scope names are header-safe"),
        )
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_request", detail)
    }

    pub fn bad_parameter(parameter: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut problem = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            format!("parameter `{parameter}`: {message}"),
        );
        problem.errors.push(FieldError {
            pointer: None,
            parameter: Some(parameter.to_string()),
            message,
        });
        problem
    }

    /// A schema-valid body field the server refuses for its own reason (`code`): 422 pointing at it.
    pub fn refused_field(code: &'static str, pointer: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut problem = Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message.clone());
        problem.errors.push(FieldError {
            pointer: Some(pointer.to_string()),
            parameter: None,
            message,
        });
        problem
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => one.message.clone(),
            many => format!("the request body has {} invalid fields", many.len()),
        };
        Self {
            errors,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                detail,
            )
        }
    }

    /// A title for the status, as RFC 9457 suggests for `about:blank`-like problems.
    pub fn title(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("Error")
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.status.as_u16(),
            self.code,
            self.detail
        )
    }
}

impl std::error::Error for Problem {}

/// An internal failure: the cause and where it was raised, for the log only.
#[derive(Debug)]
pub struct Internal {
    pub cause: anyhow::Error,
    pub location: &'static Location<'static>,
}

/// What handlers and the layers below them fail with.
#[derive(Debug)]
pub enum ApiError {
    Public(Problem),
    Internal(Internal),
}

impl ApiError {
    #[track_caller]
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::Internal(Internal {
            cause: cause.into(),
            location: Location::caller(),
        })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Public(problem) => problem.fmt(f),
            Self::Internal(internal) => write!(
                f,
                "internal error at {}: {:#}",
                internal.location, internal.cause
            ),
        }
    }
}

impl std::error::Error for ApiError {}

impl From<Problem> for ApiError {
    fn from(problem: Problem) -> Self {
        Self::Public(problem)
    }
}

impl From<sea_orm::DbErr> for ApiError {
    #[track_caller]
    fn from(err: sea_orm::DbErr) -> Self {
        match err {
            // No connection could be had or made in time: the database is away, not the request
            // at fault, and a retry may well succeed.
            sea_orm::DbErr::ConnectionAcquire(_) | sea_orm::DbErr::Conn(_) => {
                tracing::warn!("the database did not answer: {err}");
                Self::Public(Problem::database_unavailable())
            }
            err => Self::internal(err),
        }
    }
}

impl From<sea_orm::TransactionError<ApiError>> for ApiError {
    #[track_caller]
    fn from(err: sea_orm::TransactionError<ApiError>) -> Self {
        match err {
            sea_orm::TransactionError::Connection(err) => Self::internal(err),
            sea_orm::TransactionError::Transaction(err) => err,
        }
    }
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Public(problem) => problem.status,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl poem::error::ResponseError for Problem {
    fn status(&self) -> StatusCode {
        self.status
    }
}

/// Handlers' result type.
pub type ApiResult<T> = Result<T, ApiError>;
