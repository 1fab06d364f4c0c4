//! The one mapping from what went wrong to an HTTP status and a JSON body.
//!
//! Every handler returns [`ApiError`]; domain and store errors convert into it, and
//! [`ApiError::status`] is the only place that decides the status code. The Lambda
//! functions and `gridctl serve` run the same routers, so they answer identically.
//! Faults (5xx) are logged with their whole cause chain and answered with a generic
//! message, so internals never leak to callers; refusals (4xx) tell the caller
//! exactly what was wrong.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use grid_client::channels::{ChannelClientError, ChannelError};
use grid_core::books::{StatementOverflow, StatementRangeError};
use grid_core::channel::{EnvelopeError, MessageAddressError};
use grid_core::{
    AccessError, ChannelRootError, IdError, ItemNameError, ItemTypeError, JsonItemError, PagingError, SideKeyError,
};
use grid_http::{Ack, Refusal};
use grid_store::StoreError;

use crate::registry::RegistrationError;
use crate::telemetry::cause_chain;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Id(#[from] IdError),
    #[error(transparent)]
    SideKey(#[from] SideKeyError),
    #[error(transparent)]
    ChannelRoot(#[from] ChannelRootError),
    #[error(transparent)]
    ItemType(#[from] ItemTypeError),
    #[error(transparent)]
    ItemName(#[from] ItemNameError),
    #[error(transparent)]
    Paging(#[from] PagingError),
    #[error(transparent)]
    Item(#[from] JsonItemError),
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error(transparent)]
    MessageAddress(#[from] MessageAddressError),
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A side key was needed, or the one presented does not fit.
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error(transparent)]
    StatementRange(#[from] StatementRangeError),
    #[error(transparent)]
    Statement(#[from] StatementOverflow),
    /// The request body is not what the route expects.
    #[error("{0}")]
    BadBody(String),
    /// A missing item or route.
    #[error("{0}")]
    NotFound(String),
    /// A write-once address that is already written.
    #[error("{0}")]
    Taken(String),
    /// A refusal decided at the HTTP edge (a path, query or body axum could not take)
    /// or with its own status.
    #[error(transparent)]
    Rejected(#[from] Refusal),
}

impl ApiError {
    /// The status this error is answered with.
    pub fn status(&self) -> StatusCode {
        use RegistrationError as R;
        match self {
            Self::Id(_)
            | Self::SideKey(_)
            | Self::ChannelRoot(_)
            | Self::ItemType(_)
            | Self::ItemName(_)
            | Self::Paging(_)
            | Self::Item(_)
            | Self::MessageAddress(_)
            | Self::StatementRange(_)
            | Self::BadBody(_) => StatusCode::BAD_REQUEST,
            Self::Access(e) => grid_http::access_status(e),
            Self::Statement(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Envelope(EnvelopeError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Envelope(_) => StatusCode::BAD_REQUEST,
            Self::Registration(e) => match e {
                R::NotFound(_) => StatusCode::NOT_FOUND,
                R::Removed(_) | R::TypeChange { .. } | R::Concurrent(_) | R::ChannelTaken | R::Lookalike { .. } => {
                    StatusCode::CONFLICT
                }
                R::NoHello(_) => StatusCode::BAD_REQUEST,
                R::NotAProducer(_) | R::OwnChannel | R::ClaimedByAnother { .. } => StatusCode::CONFLICT,
                R::TooManySources { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                R::NotClaimed { .. } => StatusCode::NOT_FOUND,
                R::Channel(ChannelError::Client(ChannelClientError::Failed(_))) => StatusCode::INTERNAL_SERVER_ERROR,
                R::Channel(_) => StatusCode::SERVICE_UNAVAILABLE,
                R::Access(e) => grid_http::access_status(e),
                R::Store(e) => store_status(e),
            },
            Self::Store(e) => store_status(e),
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Taken(_) => StatusCode::CONFLICT,
            Self::Rejected(refusal) => refusal.status,
        }
    }
}

fn store_status(e: &StoreError) -> StatusCode {
    match e {
        StoreError::Conflict(_) => StatusCode::CONFLICT,
        StoreError::OverQuota(_) => StatusCode::PAYLOAD_TOO_LARGE,
        StoreError::Corrupt(_) | StoreError::OutOfRange(_) => StatusCode::INTERNAL_SERVER_ERROR,
        StoreError::Backend(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        // 507 is a refusal too (the node or its disk holds all it may), said in full.
        let message = if status.is_server_error() && status != StatusCode::INSUFFICIENT_STORAGE {
            tracing::error!(%status, error = %cause_chain(&self), "request failed");
            match status {
                StatusCode::SERVICE_UNAVAILABLE => {
                    "the grid's store or channel node is unavailable; retry later".to_owned()
                }
                _ => "internal error; the grid operator can find the cause in the logs".to_owned(),
            }
        } else {
            tracing::info!(%status, error = %self, "request refused");
            self.to_string()
        };
        (status, Json(Ack { success: false, message })).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_answer_with_a_generic_message_and_refusals_with_the_reason() {
        let fault = ApiError::Store(StoreError::Corrupt("secret internals".into()));
        assert_eq!(fault.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = body_text(fault.into_response());
        assert!(!body.contains("secret"), "{body}");
        assert!(body.contains(r#""success":false"#));

        let refusal = ApiError::BadBody("itemType is missing".into());
        assert_eq!(refusal.status(), StatusCode::BAD_REQUEST);
        assert!(body_text(refusal.into_response()).contains("itemType is missing"));
    }

    #[test]
    fn side_key_problems_map_to_401_and_403() {
        let status = |e: AccessError| ApiError::from(RegistrationError::Access(e)).status();
        assert_eq!(status(AccessError::SideKeyRequired("producer")), StatusCode::UNAUTHORIZED);
        assert_eq!(status(AccessError::WrongSideKey), StatusCode::FORBIDDEN);
        assert_eq!(status(AccessError::NoSideKey), StatusCode::FORBIDDEN);
    }

    fn body_text(response: Response) -> String {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let bytes = rt.block_on(axum::body::to_bytes(response.into_body(), usize::MAX)).unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }
}
