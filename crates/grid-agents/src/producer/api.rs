//! The producer's registration API for its sources: the grid's shapes (DESIGN.md §4),
//! `PUT /registration/{id}` with `itemType: "source"` and the source's channel, and
//! `DELETE /registration/{id}/{sideKey}`. Errors are the grid's JSON errors with the
//! grid's status codes (grid-http's edge, as the grid's own API has).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, put};
use grid_client::channels::{ChannelClient, ChannelReader};
use grid_core::channel::{ChannelAccess, Command};
use grid_core::{AccessError, ChannelRoot, ItemName, RegistrationId, SideKey};
use grid_http::extract::{ApiBody, ApiPath};
use grid_http::{Ack, Refusal};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::book::{SourceBook, SourceRecord};

/// Largest request body: a registration is a few hundred bytes.
const BODY_LIMIT: usize = 16 * 1024;
const DEADLINE: Duration = Duration::from_secs(30);

#[derive(Clone)]
struct ApiState {
    book: SourceBook,
    channel_client: Arc<dyn ChannelClient>,
}

/// The producer's API over its source book; sources' channels are checked on `channels`.
pub fn router(book: SourceBook, channel_client: Arc<dyn ChannelClient>) -> Router {
    let routes = Router::new()
        .route("/registration/{registrationId}", put(put_source))
        .route("/registration/{registrationId}/{sideKey}", delete(delete_source))
        .with_state(ApiState { book, channel_client });
    grid_http::with_layers(routes, BODY_LIMIT, DEADLINE)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SourceBody {
    item_name: Option<String>,
    item_type: String,
    root: Option<String>,
    side_key: Option<String>,
}

fn same_key(a: &SideKey, presented: &str) -> bool {
    a.expose().as_bytes().ct_eq(presented.as_bytes()).into()
}

async fn put_source(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: ApiBody,
) -> Result<(StatusCode, Json<Ack>), Refusal> {
    let id = RegistrationId::parse(id).map_err(Refusal::bad_request)?;
    let body = body.json::<SourceBody>("the registration body")?;
    if body.item_type != "source" {
        return Err(Refusal::bad_request(format!(
            "a producer registers sources: itemType must be \"source\", not {:?}",
            body.item_type.chars().take(32).collect::<String>()
        )));
    }
    let (Some(root), Some(side_key)) = (body.root, body.side_key) else {
        return Err(Refusal::bad_request("a source registers with its channel: root and sideKey are required"));
    };
    let name =
        body.item_name.map(ItemName::parse).transpose().map_err(Refusal::bad_request)?.map(|n| n.as_str().to_owned());
    let access = ChannelAccess::new(
        ChannelRoot::parse(root).map_err(Refusal::bad_request)?,
        SideKey::parse(side_key).map_err(Refusal::bad_request)?,
    );
    let presented = match headers.get("x-side-key") {
        None => None,
        Some(value) => {
            Some(value.to_str().map_err(|_| Refusal::bad_request("the X-Side-Key header is not printable ASCII"))?)
        }
    };

    let first = ChannelReader::new(access.clone(), state.channel_client.clone())
        .read(0, 1)
        .await
        .map_err(|e| Refusal::new(StatusCode::BAD_GATEWAY, format!("the channel node failed: {e}")))?;
    if first.messages.first().map(|m| &m.command) != Some(&Command::Hello) {
        return Err(Refusal::bad_request("the channel must start with a hello message at index 0"));
    }

    let mut sources = state.book.lock().await;
    let (status, record, verb) = match sources.get(&id) {
        None => (StatusCode::CREATED, SourceRecord { name, access }, "registered"),
        Some(current) if current.access == access => (StatusCode::OK, SourceRecord { name, access }, "updated"),
        Some(current) => {
            // A new channel for a known source: only its owner may move it.
            match presented {
                None => return Err(denied(AccessError::SideKeyRequired("source"))),
                Some(key) if !same_key(current.access.side_key(), key) => {
                    return Err(denied(AccessError::WrongSideKey));
                }
                Some(_) => (StatusCode::OK, SourceRecord { name, access }, "updated"),
            }
        }
    };
    state.book.put_locked(&mut sources, &id, record).await.map_err(unavailable)?;
    tracing::info!(source = %id, verb, "source registration");
    Ok((status, Json(Ack::ok(format!("source {id} {verb}")))))
}

async fn delete_source(
    State(state): State<ApiState>,
    ApiPath((id, side_key)): ApiPath<(String, String)>,
) -> Result<Json<Ack>, Refusal> {
    let id = RegistrationId::parse(id).map_err(Refusal::bad_request)?;
    let side_key = SideKey::parse(side_key).map_err(Refusal::bad_request)?;
    let mut sources = state.book.lock().await;
    let Some(current) = sources.get(&id) else {
        return Err(Refusal::not_found(format!("source {id} not found")));
    };
    if !same_key(current.access.side_key(), side_key.expose()) {
        return Err(denied(AccessError::WrongSideKey));
    }
    state.book.remove_locked(&mut sources, &id).await.map_err(unavailable)?;
    tracing::info!(source = %id, "source removed");
    Ok(Json(Ack::ok(format!("source {id} removed"))))
}

fn denied(e: AccessError) -> Refusal {
    Refusal::denied(&e)
}

/// The grid refused (a claim on the source's channel: another registration's, or the
/// producer holds as many as it may) or failed: the producer cannot take the source now.
fn unavailable(e: crate::AgentError) -> Refusal {
    if let crate::AgentError::Refused { status: status @ (409 | 413), message, .. } = &e
        && let Ok(status) = StatusCode::from_u16(*status)
    {
        return Refusal::new(status, format!("the grid refused the source's channel: {message}"));
    }
    tracing::warn!(error = %e, "the grid failed");
    Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "the grid is unavailable; retry")
}
