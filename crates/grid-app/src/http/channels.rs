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
use grid_core::channel::{AHEAD_OF_HEAD, Envelope, MessageAddress};
use grid_core::{EpochMs, count};
use grid_store::{MAX_BATCH_GET, Received};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::ApiState;
use crate::schema;
use grid_http::extract::{ApiBody, ApiPath};
use grid_http::{Ack, Refusal};

use crate::error::ApiError;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/channels/messages/{address}",
            put(put_message).get(get_message).layer(DefaultBodyLimit::max(Envelope::MAX_BYTES)),
        )
        .route("/channels/messages/batch-get", post(batch_get))
        .route("/channels/messages/batch-put", post(batch_put).layer(DefaultBodyLimit::max(MAX_BATCH_PUT_BYTES)))
}

/// Envelopes one batch-put takes (as many as a batch-get returns).
const MAX_BATCH_PUT: usize = MAX_BATCH_GET;
/// A full batch of the largest envelopes, with their addresses and the JSON around them.
const MAX_BATCH_PUT_BYTES: usize = MAX_BATCH_PUT * (Envelope::MAX_BYTES + 256);

/// An envelope, as stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageReply {
    success: bool,
    message: String,
    #[schema(value_type = schema::Envelope)]
    envelope: Box<RawValue>,
}

/// Which addresses to fetch.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchGetBody {
    #[schema(schema_with = batch_addresses)]
    addresses: Vec<String>,
}

/// The envelopes found, by address; missing addresses are absent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchGetReply {
    success: bool,
    message: String,
    /// Envelopes by their address.
    #[schema(value_type = HashMap<String, schema::Envelope>)]
    messages: HashMap<MessageAddress, Box<RawValue>>,
}

/// Envelopes to attach, each at its address.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchPutBody {
    #[schema(schema_with = batch_messages)]
    messages: Vec<BatchPutMessage>,
}

/// One envelope and where it goes.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchPutMessage {
    #[schema(value_type = schema::MessageAddress)]
    address: String,
    #[schema(value_type = schema::Envelope)]
    envelope: Box<RawValue>,
}

/// Which addresses took their envelope, which were taken already, and which envelopes
/// were refused for an index too far past their channel's head.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchPutReply {
    success: bool,
    message: String,
    #[schema(value_type = Vec<String>)]
    stored: Vec<MessageAddress>,
    #[schema(value_type = Vec<String>)]
    taken: Vec<MessageAddress>,
    /// Not stored: the node takes indexes up to `AHEAD_OF_HEAD` (1,000) past the head,
    /// and on a channel nobody claimed only its first 16.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    too_far: Vec<MessageAddress>,
    /// Not stored: their channels are claimed by nobody, and the node opened as many
    /// such channels today as it may (`GRID_UNCLAIMED_CHANNELS_PER_DAY`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    full: Vec<MessageAddress>,
}

/// The refusal of an envelope too far past its channel's head.
fn too_far(index: u64, limit: u64) -> ApiError {
    ApiError::BadBody(format!(
        "index {index} is too far past its channel's head: the node takes indexes below {limit} on it now \
         (at most {AHEAD_OF_HEAD} past the highest it holds)"
    ))
}

fn full(state: &ApiState) -> ApiError {
    ApiError::Rejected(Refusal::new(
        StatusCode::INSUFFICIENT_STORAGE,
        format!(
            "the node opened {} new channels nobody has claimed today, as many as it may; register this channel \
             (or have its producer claim it) and send again",
            state.unclaimed.per_day()
        ),
    ))
}

fn batch_addresses() -> utoipa::openapi::Array {
    schema::at_most::<schema::MessageAddress>(MAX_BATCH_GET).description(Some("The addresses to read.")).build()
}

fn batch_messages() -> utoipa::openapi::Array {
    schema::at_most::<BatchPutMessage>(MAX_BATCH_PUT)
        .description(Some("The messages to attach, each at another address."))
        .build()
}

fn raw(envelope: &Envelope) -> Box<RawValue> {
    RawValue::from_string(envelope.to_json()).expect("an envelope serialises to valid JSON")
}

/// Attach an envelope at an address (write-once).
#[utoipa::path(put, path = "/channels/messages/{address}", tag = "channels",
    params(("address" = schema::MessageAddress, Path)),
    request_body(content = schema::Envelope, description = "An envelope (DESIGN.md §3), at most 16 KiB"),
    responses(
        (status = 201, description = "Stored", body = Ack),
        (status = 400, description = "Malformed address or envelope, its root or signature do not verify, or its index is too far past its channel's head (or past the first 16 of a channel nobody claimed)", body = Ack),
        (status = 409, description = "The address is taken", body = Ack),
        (status = 413, description = "Envelope over 16 KiB", body = Ack),
        (status = 507, description = "Its channel is claimed by nobody and the node opened as many such channels today as it may", body = Ack),
    ))]
pub(crate) async fn put_message(
    State(state): State<ApiState>,
    ApiPath(address): ApiPath<String>,
    body: ApiBody,
) -> Result<(StatusCode, Json<Ack>), ApiError> {
    let address = MessageAddress::parse(address)?;
    let envelope = Envelope::parse(&body.0)?;
    envelope.verify_binding()?;
    let (root, index) = (envelope.root(), envelope.index());
    let received =
        state.channel_messages.receive(&[(address.clone(), envelope)], EpochMs::now(), state.unclaimed).await?;
    match received.first() {
        Some(Received::Stored { turned_unread }) => {
            state.doorbell.ring(1, turned_unread.then_some(root).into_iter().collect()).await;
            Ok((StatusCode::CREATED, Json(Ack::ok(format!("message stored at {address}")))))
        }
        Some(Received::TooFar { limit }) => Err(too_far(index, *limit)),
        Some(Received::Full) => Err(full(&state)),
        _ => Err(ApiError::Taken(format!("address {address} is taken"))),
    }
}

/// Read the envelope at an address.
#[utoipa::path(get, path = "/channels/messages/{address}", tag = "channels",
    params(("address" = schema::MessageAddress, Path)),
    responses(
        (status = 200, body = MessageReply),
        (status = 400, description = "Malformed address", body = Ack),
        (status = 404, description = "Nothing at this address", body = Ack),
    ))]
pub(crate) async fn get_message(
    State(state): State<ApiState>,
    ApiPath(address): ApiPath<String>,
) -> Result<Json<MessageReply>, ApiError> {
    let address = MessageAddress::parse(address)?;
    let envelope = state
        .channel_messages
        .get(&address)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no message at {address}")))?;
    Ok(Json(MessageReply { success: true, message: "message found".to_owned(), envelope: raw(&envelope) }))
}

/// Read the envelopes at many addresses at once.
#[utoipa::path(post, path = "/channels/messages/batch-get", tag = "channels",
    request_body = BatchGetBody,
    responses(
        (status = 200, body = BatchGetReply),
        (status = 400, description = "Malformed body or address, or more than 100 addresses", body = Ack),
    ))]
pub(crate) async fn batch_get(State(state): State<ApiState>, body: ApiBody) -> Result<Json<BatchGetReply>, ApiError> {
    let request: BatchGetBody = body.json("the batch-get body")?;
    if request.addresses.len() > MAX_BATCH_GET {
        return Err(ApiError::BadBody(format!(
            "{} addresses asked for; at most {MAX_BATCH_GET} per request",
            request.addresses.len()
        )));
    }
    let addresses = request.addresses.into_iter().map(MessageAddress::parse).collect::<Result<Vec<_>, _>>()?;
    let found = state.channel_messages.get_many(&addresses).await?;
    let messages: HashMap<MessageAddress, Box<RawValue>> = found.iter().map(|(a, e)| (a.clone(), raw(e))).collect();
    let message = format!("messages found at {} of {}", messages.len(), count(addresses.len() as u64, "address"));
    Ok(Json(BatchGetReply { success: true, message, messages }))
}

/// Attach many envelopes at once, each write-once. The whole batch is checked
/// first (addresses, envelopes, root bindings and signatures, the signatures as one
/// batch): one bad message refuses the request and stores nothing. Then each envelope
/// is stored, or reported taken like a single `PUT`'s 409.
#[utoipa::path(post, path = "/channels/messages/batch-put", tag = "channels",
    request_body = BatchPutBody,
    responses(
        (status = 200, description = "Every envelope was stored or its address was taken", body = BatchPutReply),
        (status = 400, description = "Malformed body, address or envelope, a root or signature that does not verify, an address twice, or more than 100 messages", body = Ack),
        (status = 413, description = "Body over the limit of 100 envelopes of 16 KiB", body = Ack),
    ))]
pub(crate) async fn batch_put(State(state): State<ApiState>, body: ApiBody) -> Result<Json<BatchPutReply>, ApiError> {
    let request: BatchPutBody = body.json("the batch-put body")?;
    if request.messages.len() > MAX_BATCH_PUT {
        return Err(ApiError::BadBody(format!(
            "{} messages sent; at most {MAX_BATCH_PUT} per request",
            request.messages.len()
        )));
    }
    let mut messages = Vec::with_capacity(request.messages.len());
    let mut seen = std::collections::HashSet::with_capacity(request.messages.len());
    for (i, message) in request.messages.into_iter().enumerate() {
        let at = |e: &dyn std::fmt::Display| ApiError::BadBody(format!("message {i}: {e}"));
        let address = MessageAddress::parse(message.address).map_err(|e| at(&e))?;
        if !seen.insert(address.clone()) {
            return Err(at(&format!("address {address} appears twice")));
        }
        let envelope = Envelope::parse(message.envelope.get().as_bytes()).map_err(|e| at(&e))?;
        messages.push((address, envelope));
    }
    for (i, verified) in Envelope::verify_bindings(messages.iter().map(|(_, e)| e)).into_iter().enumerate() {
        verified.map_err(|e| ApiError::BadBody(format!("message {i} ({}): {e}", messages[i].0)))?;
    }
    let received = state.channel_messages.receive(&messages, EpochMs::now(), state.unclaimed).await?;
    let (mut stored, mut taken, mut refused, mut unread) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut no_room = Vec::new();
    for ((address, envelope), received) in messages.into_iter().zip(received) {
        match received {
            Received::Stored { turned_unread } => {
                stored.push(address);
                if turned_unread {
                    unread.push(envelope.root());
                }
            }
            Received::Taken => taken.push(address),
            Received::TooFar { .. } => refused.push(address),
            Received::Full => no_room.push(address),
        }
    }
    state.doorbell.ring(stored.len(), unread).await;
    let mut message = format!("{} stored, {} taken", stored.len(), taken.len());
    if !refused.is_empty() {
        message += &format!(", {} too far past their channel's head (at most {AHEAD_OF_HEAD})", refused.len());
    }
    if !no_room.is_empty() {
        message += &format!(
            ", {} on new channels nobody has claimed, beyond today's {}",
            no_room.len(),
            state.unclaimed.per_day()
        );
    }
    Ok(Json(BatchPutReply { success: true, message, stored, taken, too_far: refused, full: no_room }))
}
