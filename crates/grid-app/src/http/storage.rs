//! The storage API: JSON items per registration and context (seed-compatible paths).
//!
//! Every route requires an active registration. Items are any JSON document; the
//! text is kept exactly as sent. Reads are open, as the seed has them (whoever wants
//! privacy encrypts before storing); writes and deletes need the registration's side key
//! in `X-Side-Key` once it has one (a departure from the seed: docs/decisions.md).
//! A trailing slash names the same folder (`DELETE /storage/ABC123/`, the seed's example).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::{get, put};
use grid_core::{ItemId, JsonItem, PageRequest, RegistrationId, StorageContext, count};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::ApiState;
use crate::schema::{self, Bounded, PageNumber, SideKeyHeader};
use grid_http::Ack;
use grid_http::extract::{ApiBody, ApiPath, ApiQuery, PresentedSideKey};

use crate::error::ApiError;
use grid_store::ItemKey;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/storage/item/{registrationId}/{context}/{id}", put(put_item))
        .route("/storage/{registrationId}/{context}/{id}", put(put_item).get(get_item).delete(delete_item))
        .route("/storage/{registrationId}/{context}", get(list_items).delete(delete_context))
        .route("/storage/{registrationId}/{context}/", get(list_items).delete(delete_context))
        .route("/storage/{registrationId}", get(list_all).delete(delete_all))
        .route("/storage/{registrationId}/", get(list_all).delete(delete_all))
}

/// An item with its key (`GET`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ItemReply {
    success: bool,
    message: String,
    /// The stored JSON document.
    #[schema(value_type = serde_json::Value)]
    item: JsonItem,
}

/// How many items a delete removed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeletedReply {
    success: bool,
    message: String,
    deleted: u64,
}

/// One page of a context's items, in id order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListReply<'a> {
    success: bool,
    message: String,
    #[schema(value_type = Vec<String>)]
    ids: Vec<&'a str>,
    #[schema(value_type = Vec<Object>)]
    items: Vec<&'a RawValue>,
    page: u64,
    page_size: u32,
    total_pages: u64,
    total_items: u64,
}

/// Items per page of a storage listing, as `PageRequest::parse` bounds them.
type PageSize = Bounded<{ PageRequest::DEFAULT_SIZE as usize }, { PageRequest::MAX_SIZE as usize }>;

/// Paging parameters; `pageSize` may also be spelled `page-size`. They are read as text
/// and parsed by `PageRequest::parse`, so the message names the parameter; the document
/// gives the numbers it accepts.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page number, from 0.
    #[param(value_type = Option<PageNumber>, inline)]
    page: Option<String>,
    /// Items per page.
    #[serde(rename = "pageSize")]
    #[param(rename = "pageSize", value_type = Option<PageSize>, inline)]
    page_size: Option<String>,
    /// The seed's other spelling of `pageSize`; when both are given they must agree.
    #[serde(rename = "page-size")]
    #[param(rename = "page-size", value_type = Option<PageSize>, inline)]
    page_size_alias: Option<String>,
}

/// Parses the path of one item and checks that its registration is active.
fn parse_key((registration, context, id): (String, String, String)) -> Result<ItemKey, ApiError> {
    Ok(ItemKey {
        registration: RegistrationId::parse(registration)?,
        context: StorageContext::parse(context)?,
        id: ItemId::parse(id)?,
    })
}

// Also served at the short path `/storage/{registrationId}/{context}/{id}`, which the
// OpenAPI document lists as a copy of this operation (`openapi::StorageShortPath`).
/// Store an item (creates or replaces it).
#[utoipa::path(put, path = "/storage/item/{registrationId}/{context}/{id}", tag = "storage",
    params(("registrationId" = schema::RegistrationId, Path), ("context" = schema::StorageContext, Path), ("id" = schema::ItemId, Path), SideKeyHeader),
    request_body(content = serde_json::Value, description = "Any JSON document (nested at most 128 deep, no key twice in an object), within the grid's body limit (`GRID_BODY_LIMIT_BYTES`)"),
    responses(
        (status = 200, body = Ack),
        (status = 400, description = "Malformed id or not JSON", body = Ack),
        (status = 401, description = "The registration has a side key and none was sent", body = Ack),
        (status = 403, description = "The side key does not match", body = Ack),
        (status = 404, description = "Unknown registration", body = Ack),
        (status = 413, description = "Body too large, or the registration's storage quota reached", body = Ack),
    ))]
pub(crate) async fn put_item(
    State(state): State<ApiState>,
    ApiPath(path): ApiPath<(String, String, String)>,
    presented: PresentedSideKey,
    body: ApiBody,
) -> Result<Json<Ack>, ApiError> {
    let key = parse_key(path)?;
    let item = JsonItem::parse(&body.0)?;
    state.registry.owned(&key.registration, presented.as_deref()).await?;
    state.items.put(&key, &item, state.storage_quota).await?;
    Ok(Json(Ack::ok(format!("item {}/{} stored", key.context, key.id))))
}

/// Read an item.
#[utoipa::path(get, path = "/storage/{registrationId}/{context}/{id}", tag = "storage",
    params(("registrationId" = schema::RegistrationId, Path), ("context" = schema::StorageContext, Path), ("id" = schema::ItemId, Path)),
    responses(
        (status = 200, body = ItemReply),
        (status = 400, description = "Malformed id", body = Ack),
        (status = 404, description = "Unknown registration or item", body = Ack),
    ))]
pub(crate) async fn get_item(
    State(state): State<ApiState>,
    ApiPath(path): ApiPath<(String, String, String)>,
) -> Result<Json<ItemReply>, ApiError> {
    let key = parse_key(path)?;
    state.registry.active(&key.registration).await?;
    let item = state
        .items
        .get(&key)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("item {}/{} not found", key.context, key.id)))?;
    Ok(Json(ItemReply { success: true, message: "item found".to_owned(), item }))
}

/// Delete an item.
#[utoipa::path(delete, path = "/storage/{registrationId}/{context}/{id}", tag = "storage",
    params(("registrationId" = schema::RegistrationId, Path), ("context" = schema::StorageContext, Path), ("id" = schema::ItemId, Path), SideKeyHeader),
    responses(
        (status = 200, body = DeletedReply),
        (status = 400, description = "Malformed id", body = Ack),
        (status = 401, description = "The registration has a side key and none was sent", body = Ack),
        (status = 403, description = "The side key does not match", body = Ack),
        (status = 404, description = "Unknown registration or item", body = Ack),
    ))]
pub(crate) async fn delete_item(
    State(state): State<ApiState>,
    ApiPath(path): ApiPath<(String, String, String)>,
    presented: PresentedSideKey,
) -> Result<Json<DeletedReply>, ApiError> {
    let key = parse_key(path)?;
    state.registry.owned(&key.registration, presented.as_deref()).await?;
    if !state.items.delete(&key).await? {
        return Err(ApiError::NotFound(format!("item {}/{} not found", key.context, key.id)));
    }
    Ok(Json(DeletedReply { success: true, message: format!("item {}/{} deleted", key.context, key.id), deleted: 1 }))
}

/// Delete every item of a context.
#[utoipa::path(delete, path = "/storage/{registrationId}/{context}", tag = "storage",
    params(("registrationId" = schema::RegistrationId, Path), ("context" = schema::StorageContext, Path), SideKeyHeader),
    responses(
        (status = 200, body = DeletedReply),
        (status = 400, description = "Malformed id", body = Ack),
        (status = 401, description = "The registration has a side key and none was sent", body = Ack),
        (status = 403, description = "The side key does not match", body = Ack),
        (status = 404, description = "Unknown registration", body = Ack),
    ))]
pub(crate) async fn delete_context(
    State(state): State<ApiState>,
    ApiPath((registration, context)): ApiPath<(String, String)>,
    presented: PresentedSideKey,
) -> Result<Json<DeletedReply>, ApiError> {
    let context = StorageContext::parse(context)?;
    let id = RegistrationId::parse(registration)?;
    state.registry.owned(&id, presented.as_deref()).await?;
    let deleted = state.items.delete_context(&id, &context).await?;
    Ok(Json(DeletedReply {
        success: true,
        message: format!("{} of {context} deleted", count(deleted, "item")),
        deleted,
    }))
}

/// Delete every item of a registration (the registration itself stays).
#[utoipa::path(delete, path = "/storage/{registrationId}", tag = "storage",
    params(("registrationId" = schema::RegistrationId, Path), SideKeyHeader),
    responses(
        (status = 200, body = DeletedReply),
        (status = 400, description = "Malformed id", body = Ack),
        (status = 401, description = "The registration has a side key and none was sent", body = Ack),
        (status = 403, description = "The side key does not match", body = Ack),
        (status = 404, description = "Unknown registration", body = Ack),
    ))]
pub(crate) async fn delete_all(
    State(state): State<ApiState>,
    ApiPath(registration): ApiPath<String>,
    presented: PresentedSideKey,
) -> Result<Json<DeletedReply>, ApiError> {
    let id = RegistrationId::parse(registration)?;
    state.registry.owned(&id, presented.as_deref()).await?;
    let deleted = state.items.delete_registration(&id).await?;
    Ok(Json(DeletedReply { success: true, message: format!("{} deleted", count(deleted, "item")), deleted }))
}

/// List a context's items, one page at a time.
#[utoipa::path(get, path = "/storage/{registrationId}/{context}", tag = "storage",
    params(("registrationId" = schema::RegistrationId, Path), ("context" = schema::StorageContext, Path), PageQuery),
    responses(
        (status = 200, body = ListReply),
        (status = 400, description = "Malformed id or paging", body = Ack),
        (status = 404, description = "Unknown registration", body = Ack),
    ))]
pub(crate) async fn list_items(
    State(state): State<ApiState>,
    ApiPath((registration, context)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<axum::response::Response, ApiError> {
    let context = StorageContext::parse(context)?;
    list(state, registration, Some(context), query).await
}

/// List every context's items, one page at a time; ids are `context/id`.
#[utoipa::path(get, path = "/storage/{registrationId}", tag = "storage",
    params(("registrationId" = schema::RegistrationId, Path), PageQuery),
    responses(
        (status = 200, body = ListReply),
        (status = 400, description = "Malformed id or paging", body = Ack),
        (status = 404, description = "Unknown registration", body = Ack),
    ))]
pub(crate) async fn list_all(
    State(state): State<ApiState>,
    ApiPath(registration): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<axum::response::Response, ApiError> {
    list(state, registration, None, query).await
}

async fn list(
    state: ApiState,
    registration: String,
    context: Option<StorageContext>,
    query: PageQuery,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let request =
        PageRequest::parse(query.page.as_deref(), query.page_size.as_deref(), query.page_size_alias.as_deref())?;
    let id = RegistrationId::parse(registration)?;
    state.registry.active(&id).await?;
    let page = state.items.page(&id, context.as_ref(), request).await?;
    let ids: Vec<String> = page
        .items
        .iter()
        .map(|(c, id, _)| if context.is_some() { id.as_str().to_owned() } else { format!("{c}/{id}") })
        .collect();
    let reply = ListReply {
        success: true,
        message: format!("{} of {}", page.items.len(), count(page.total_items, "item")),
        ids: ids.iter().map(String::as_str).collect(),
        items: page.items.iter().map(|(_, _, item)| item.as_raw()).collect(),
        page: request.page(),
        page_size: request.size(),
        total_pages: request.total_pages(page.total_items),
        total_items: page.total_items,
    };
    Ok(Json(reply).into_response())
}
