//! The registration API: `PUT /registration/{id}` and `DELETE /registration/{id}/{sideKey}`,
//! and a producer's claims on its sources' channels, `PUT` and `DELETE
//! /registration/{id}/sources/{root}`.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, put};
use grid_core::{ChannelCredentials, ChannelRoot, EpochMs, ItemName, ItemType, RegistrationId, SideKey};
use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AdditionalProperties, AnyOfBuilder, ObjectBuilder, Schema};

use super::ApiState;
use crate::schema::{self, SideKeyHeader};
use grid_http::Ack;
use grid_http::extract::{ApiBody, ApiPath, PresentedSideKey};

use crate::error::ApiError;
use crate::registry::{Registered, RegistrationRequest};
use grid_store::Claim;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/registration/{registrationId}", put(put_registration))
        .route("/registration/{registrationId}/{sideKey}", delete(delete_registration))
        .route("/registration/{registrationId}/sources/{root}", put(claim_source).delete(release_source))
}

/// The body of `PUT /registration/{registrationId}` (seed-compatible).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistrationBody {
    /// A display name.
    item_name: Option<String>,
    /// `producer` or `consumer`.
    item_type: String,
    /// The root of the entity's own channel.
    root: Option<String>,
    /// The side key of that channel.
    side_key: Option<String>,
}

/// Written out rather than derived: `root` and `sideKey` come together or not at all
/// (each absent or null), which a derived schema cannot say; unknown fields are refused.
impl utoipa::PartialSchema for RegistrationBody {
    fn schema() -> RefOr<Schema> {
        let body = |root: RefOr<Schema>, side_key: RefOr<Schema>| {
            ObjectBuilder::new()
                .property("itemName", schema::nullable::<schema::ItemName>())
                .property("itemType", schema::reference::<schema::ItemType>())
                .required("itemType")
                .property("root", root)
                .property("sideKey", side_key)
                .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        };
        let with_channel = body(schema::reference::<schema::ChannelRoot>(), schema::reference::<schema::SideKey>())
            .required("root")
            .required("sideKey")
            .title(Some("With its channel"))
            .description(Some("The entity's own channel, which must carry `hello` at index 0."));
        let without_channel = body(schema::null(), schema::null()).title(Some("Without a channel")).description(Some(
            "No channel yet: the grid answers a management key (`sideKey`), which every later change needs.",
        ));
        let either = AnyOfBuilder::new()
            .item(with_channel)
            .item(without_channel)
            .description(Some("A registration, with the entity's own channel or without one."));
        Schema::from(either.build()).into()
    }
}

impl utoipa::ToSchema for RegistrationBody {}

/// The answer to a registration.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationReply {
    success: bool,
    message: String,
    /// For a consumer: the root of the return channel the grid writes payment requests to.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<schema::ChannelRoot>)]
    root: Option<String>,
    /// For a consumer: the side key of that return channel. For a registration made
    /// without any channel: its management key. Either is the key its later changes,
    /// its removal and its storage writes need.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<schema::SideKey>)]
    side_key: Option<String>,
}

/// The answer to a removal.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemovalReply {
    success: bool,
    message: String,
    /// How many storage items were deleted with the registration.
    items_deleted: u64,
}

impl RegistrationBody {
    fn into_request(self, id: RegistrationId) -> Result<RegistrationRequest, ApiError> {
        let channel = match (self.root, self.side_key) {
            (Some(root), Some(side_key)) => {
                Some(ChannelCredentials { root: ChannelRoot::parse(root)?, side_key: SideKey::parse(side_key)? })
            }
            (None, None) => None,
            _ => return Err(ApiError::BadBody("root and sideKey must be given together".to_owned())),
        };
        Ok(RegistrationRequest {
            id,
            item_type: ItemType::parse(&self.item_type)?,
            name: self.item_name.map(ItemName::parse).transpose()?,
            channel,
        })
    }
}

/// Register a producer or consumer, or update an active registration.
///
/// A given channel must already carry `hello` at index 0. A consumer gets a return
/// channel (root and side key in the reply) on which the grid sends payment requests;
/// a registration with neither channel gets a management key (`sideKey`). Every
/// registration is owned from its creation: changing it requires one of its keys in the
/// `X-Side-Key` header (or the same channel in the body, for a repeated request).
#[utoipa::path(
    put,
    path = "/registration/{registrationId}",
    tag = "registration",
    params(("registrationId" = schema::RegistrationId, Path), SideKeyHeader),
    request_body = RegistrationBody,
    responses(
        (status = 201, description = "Registered", body = RegistrationReply),
        (status = 200, description = "Updated", body = RegistrationReply),
        (status = 400, description = "Malformed id or body, or the channel does not start with hello", body = Ack),
        (status = 401, description = "The registration exists and no side key was sent", body = Ack),
        (status = 403, description = "The side key does not match, or the registration has no key", body = Ack),
        (status = 409, description = "Removed id, type change or concurrent update", body = Ack),
        (status = 413, description = "Body too large", body = Ack),
        (status = 503, description = "The store or channel node is unavailable", body = Ack),
    )
)]
pub(crate) async fn put_registration(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    presented: PresentedSideKey,
    body: ApiBody,
) -> Result<(StatusCode, Json<RegistrationReply>), ApiError> {
    let id = RegistrationId::parse(id)?;
    let request = body.json::<RegistrationBody>("the registration body")?.into_request(id)?;
    let (status, registration, verb) =
        match state.registry.register(request, presented.as_deref(), EpochMs::now()).await? {
            Registered::Created(r) => (StatusCode::CREATED, r, "registered"),
            Registered::Updated(r) => (StatusCode::OK, r, "updated"),
        };
    tracing::info!(registration = %registration.id, item_type = %registration.item_type, verb, "registration");
    // What its channel already carries is read now, not at the next scheduled run.
    if registration.is_polled() {
        state.doorbell.poll(vec![registration.id.clone()]).await;
    }
    // A consumer learns its return channel here, a registration without any channel its
    // management key; the caller has proven it may know them (it made the registration or
    // holds a key of it).
    let root = registration.return_channel.as_ref().map(|channel| channel.secrets().root().to_string());
    let side_key = registration.issued_key().map(|key| key.expose().to_owned());
    let reply = RegistrationReply {
        success: true,
        message: format!("{} {} {verb}", registration.item_type, registration.id),
        root,
        side_key,
    };
    Ok((status, Json(reply)))
}

/// Remove a registration. Its storage items are deleted, a consumer's return channel
/// ends with `goodbye`, and its financial history is kept.
#[utoipa::path(
    delete,
    path = "/registration/{registrationId}/{sideKey}",
    tag = "registration",
    params(
        ("registrationId" = schema::RegistrationId, Path, description = "The registration to remove"),
        ("sideKey" = schema::SideKey, Path, description = "Its side key"),
    ),
    responses(
        (status = 200, description = "Removed", body = RemovalReply),
        (status = 400, description = "Malformed id or side key", body = Ack),
        (status = 403, description = "The side key does not match", body = Ack),
        (status = 404, description = "No such registration", body = Ack),
        (status = 409, description = "Changed concurrently; retry", body = Ack),
    )
)]
pub(crate) async fn delete_registration(
    State(state): State<ApiState>,
    ApiPath((id, side_key)): ApiPath<(String, String)>,
) -> Result<Json<RemovalReply>, ApiError> {
    let id = RegistrationId::parse(id)?;
    let side_key = SideKey::parse(side_key)?;
    let removed = state.registry.remove(&id, side_key.expose(), EpochMs::now()).await?;
    tracing::info!(registration = %id, items_deleted = removed.items_deleted, "registration removed");
    let message = if removed.already_removed {
        format!("registration {id} was already removed")
    } else {
        format!("registration {id} removed")
    };
    Ok(Json(RemovalReply { success: true, message, items_deleted: removed.items_deleted }))
}

/// Claim a source's channel for the producer that reads it, so the node keeps all of it.
/// A channel nobody claimed takes only its first 16 indexes and expires a day after its
/// first envelope; a producer claims each source's channel when the source registers
/// with it (at most 1,000).
#[utoipa::path(
    put,
    path = "/registration/{registrationId}/sources/{root}",
    tag = "registration",
    params(
        ("registrationId" = schema::RegistrationId, Path, description = "The producer"),
        ("root" = schema::ChannelRoot, Path, description = "The root of its source's channel"),
        SideKeyHeader,
    ),
    responses(
        (status = 201, description = "Claimed", body = Ack),
        (status = 200, description = "The producer had claimed it already", body = Ack),
        (status = 400, description = "Malformed id or root", body = Ack),
        (status = 401, description = "No side key was sent", body = Ack),
        (status = 403, description = "The side key is not the producer's", body = Ack),
        (status = 404, description = "No such producer", body = Ack),
        (status = 409, description = "Not a producer, its own channel, or claimed by another registration", body = Ack),
        (status = 413, description = "The producer holds as many sources' channels as it may", body = Ack),
    )
)]
pub(crate) async fn claim_source(
    State(state): State<ApiState>,
    ApiPath((id, root)): ApiPath<(String, String)>,
    presented: PresentedSideKey,
) -> Result<(StatusCode, Json<Ack>), ApiError> {
    let (id, root) = (RegistrationId::parse(id)?, ChannelRoot::parse(root)?);
    let status = match state.registry.claim_source(&id, &root, presented.as_deref()).await? {
        Claim::Claimed => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    tracing::info!(producer = %id, %root, "source channel claimed");
    Ok((status, Json(Ack::ok(format!("channel {root} is claimed by producer {id}")))))
}

/// Release a source's channel: from now on it expires as a channel nobody claimed, a
/// day later; what it holds from while it was claimed stays.
#[utoipa::path(
    delete,
    path = "/registration/{registrationId}/sources/{root}",
    tag = "registration",
    params(
        ("registrationId" = schema::RegistrationId, Path, description = "The producer"),
        ("root" = schema::ChannelRoot, Path, description = "The root of its source's channel"),
        SideKeyHeader,
    ),
    responses(
        (status = 200, description = "Released", body = Ack),
        (status = 400, description = "Malformed id or root", body = Ack),
        (status = 401, description = "No side key was sent", body = Ack),
        (status = 403, description = "The side key is not the producer's", body = Ack),
        (status = 404, description = "No such producer, or it holds no claim on this channel", body = Ack),
        (status = 409, description = "Not a producer, or its own channel", body = Ack),
    )
)]
pub(crate) async fn release_source(
    State(state): State<ApiState>,
    ApiPath((id, root)): ApiPath<(String, String)>,
    presented: PresentedSideKey,
) -> Result<Json<Ack>, ApiError> {
    let (id, root) = (RegistrationId::parse(id)?, ChannelRoot::parse(root)?);
    state.registry.release_source(&id, &root, presented.as_deref(), EpochMs::now()).await?;
    tracing::info!(producer = %id, %root, "source channel released");
    Ok(Json(Ack::ok(format!("channel {root} is no longer claimed by producer {id}"))))
}
