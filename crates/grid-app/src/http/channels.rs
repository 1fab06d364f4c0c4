//! The channel node's HTTP API: write-once envelopes by address.
//!
//! The node cannot read messages (it has no side keys), but it checks everything it
//! can before storing: the envelope's shape and size, that its root is its public
//! key's, and that its signature verifies. So nothing unsigned or malformed is ever
//! stored, and nobody can place a message claiming another writer's root.

use std::collections::HashMap;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{post, put};
use axum::{Json, Router};
use grid_core::channel::{Envelope, MessageAddress};
use grid_store::MAX_BATCH_GET;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::AppState;
use super::extract::{ApiBody, ApiPath};
use crate::error::{Ack, ApiError};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/channels/messages/{address}",
            put(put_message).get(get_message).layer(DefaultBodyLimit::max(Envelope::MAX_BYTES)),
        )
        .route("/channels/messages/batch-get", post(batch_get))
}

/// An envelope, as stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageReply {
    success: bool,
    message: String,
    /// `{"v":1,"root","index","publicKey","nonce","ciphertext","signature"}` (DESIGN.md §3).
    #[schema(value_type = Object)]
    envelope: Box<RawValue>,
}

/// Which addresses to fetch.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchGetBody {
    /// Up to 100 message addresses (64 lowercase hex characters each).
    addresses: Vec<String>,
}

/// The envelopes found, by address; missing addresses are absent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchGetReply {
    success: bool,
    message: String,
    #[schema(value_type = HashMap<String, Object>)]
    messages: HashMap<MessageAddress, Box<RawValue>>,
}

fn raw(envelope: &Envelope) -> Box<RawValue> {
    RawValue::from_string(envelope.to_json()).expect("an envelope serialises to valid JSON")
}

/// Attach an envelope at an address (write-once).
#[utoipa::path(put, path = "/channels/messages/{address}", tag = "channels",
    params(("address" = String, Path, description = "64 lowercase hex characters")),
    request_body(content = Object, description = "An envelope (DESIGN.md §3), at most 16 KiB"),
    responses(
        (status = 201, description = "Stored", body = Ack),
        (status = 400, description = "Malformed address or envelope, or its root or signature do not verify", body = Ack),
        (status = 409, description = "The address is taken", body = Ack),
        (status = 413, description = "Envelope over 16 KiB", body = Ack),
    ))]
pub(super) async fn put_message(
    State(state): State<AppState>,
    ApiPath(address): ApiPath<String>,
    body: ApiBody,
) -> Result<(StatusCode, Json<Ack>), ApiError> {
    let address = MessageAddress::parse(address)?;
    let envelope = Envelope::parse(&body.0)?;
    envelope.verify_binding()?;
    match state.channels.attach(&address, &envelope).await {
        Ok(()) => Ok((StatusCode::CREATED, Json(Ack::ok(format!("message stored at {address}"))))),
        Err(grid_store::StoreError::Conflict(_)) => Err(ApiError::Taken(format!("address {address} is taken"))),
        Err(other) => Err(other.into()),
    }
}

/// Read the envelope at an address.
#[utoipa::path(get, path = "/channels/messages/{address}", tag = "channels",
    params(("address" = String, Path, description = "64 lowercase hex characters")),
    responses(
        (status = 200, body = MessageReply),
        (status = 400, description = "Malformed address", body = Ack),
        (status = 404, description = "Nothing at this address", body = Ack),
    ))]
pub(super) async fn get_message(
    State(state): State<AppState>,
    ApiPath(address): ApiPath<String>,
) -> Result<Json<MessageReply>, ApiError> {
    let address = MessageAddress::parse(address)?;
    let envelope =
        state.channels.get(&address).await?.ok_or_else(|| ApiError::NotFound(format!("no message at {address}")))?;
    Ok(Json(MessageReply { success: true, message: "message found".to_owned(), envelope: raw(&envelope) }))
}

/// Read the envelopes at up to 100 addresses at once.
#[utoipa::path(post, path = "/channels/messages/batch-get", tag = "channels",
    request_body = BatchGetBody,
    responses(
        (status = 200, body = BatchGetReply),
        (status = 400, description = "Malformed body or address, or more than 100 addresses", body = Ack),
    ))]
pub(super) async fn batch_get(State(state): State<AppState>, body: ApiBody) -> Result<Json<BatchGetReply>, ApiError> {
    let request: BatchGetBody = body.json("the batch-get body")?;
    if request.addresses.len() > MAX_BATCH_GET {
        return Err(ApiError::BadBody(format!(
            "{} addresses asked for; at most {MAX_BATCH_GET} per request",
            request.addresses.len()
        )));
    }
    let addresses = request.addresses.into_iter().map(MessageAddress::parse).collect::<Result<Vec<_>, _>>()?;
    let found = state.channels.get_many(&addresses).await?;
    let messages: HashMap<MessageAddress, Box<RawValue>> = found.iter().map(|(a, e)| (a.clone(), raw(e))).collect();
    let message = format!("{} of {} addresses hold a message", messages.len(), addresses.len());
    Ok(Json(BatchGetReply { success: true, message, messages }))
}
