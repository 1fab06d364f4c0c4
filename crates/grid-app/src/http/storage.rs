//! The storage API: JSON items per registration and context (seed-compatible paths).
//!
//! Every route requires an active registration. Items are any JSON document; the
//! text is kept exactly as sent.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::{delete, get, put};
use grid_core::{ItemId, JsonItem, PageRequest, RegistrationId, StorageContext};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::AppState;
use super::extract::{ApiBody, ApiPath, ApiQuery};
use crate::error::{Ack, ApiError};
use grid_store::ItemKey;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/storage/item/{registrationId}/{context}/{id}", put(put_item))
        .route("/storage/{registrationId}/{context}/{id}", put(put_item_short).get(get_item).delete(delete_item))
        .route("/storage/{registrationId}/{context}", get(list_items).delete(delete_context))
        .route("/storage/{registrationId}", delete(delete_all))
}

/// An item with its key (`GET`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ItemReply {
    success: bool,
    message: String,
    /// The stored JSON document.
    #[schema(value_type = Object)]
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

/// Paging parameters; `pageSize` may also be spelled `page-size`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page number, from 0 (default 0).
    page: Option<String>,
    /// Items per page, 1–100 (default 10).
    #[serde(rename = "pageSize")]
    #[param(rename = "pageSize")]
    page_size: Option<String>,
    /// The seed's other spelling of `pageSize`.
    #[serde(rename = "page-size")]
    #[param(rename = "page-size")]
    page_size_alias: Option<String>,
}

/// Parses the path of one item and checks that its registration is active.
async fn item_key(
    state: &AppState,
    (registration, context, id): (String, String, String),
) -> Result<ItemKey, ApiError> {
    let key = ItemKey {
        registration: RegistrationId::parse(registration)?,
        context: StorageContext::parse(context)?,
        id: ItemId::parse(id)?,
    };
    state.registry.active(&key.registration).await?;
    Ok(key)
}

async fn store_item(state: AppState, path: (String, String, String), body: ApiBody) -> Result<Json<Ack>, ApiError> {
    let key = item_key(&state, path).await?;
    let item = JsonItem::parse(&body.0)?;
    state.items.put(&key, &item).await?;
    Ok(Json(Ack::ok(format!("item {}/{} stored", key.context, key.id))))
}

/// Store an item (creates or replaces it).
#[utoipa::path(put, path = "/storage/item/{registrationId}/{context}/{id}", tag = "storage",
    params(("registrationId" = String, Path), ("context" = String, Path), ("id" = String, Path)),
    request_body(content = Object, description = "Any JSON document"),
    responses(
        (status = 200, body = Ack),
        (status = 400, description = "Malformed id or not JSON", body = Ack),
        (status = 404, description = "Unknown registration", body = Ack),
        (status = 413, description = "Body too large", body = Ack),
    ))]
pub(super) async fn put_item(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<(String, String, String)>,
    body: ApiBody,
) -> Result<Json<Ack>, ApiError> {
    store_item(state, path, body).await
}

/// Store an item (the short path; same as `PUT /storage/item/…`).
#[utoipa::path(put, path = "/storage/{registrationId}/{context}/{id}", tag = "storage",
    params(("registrationId" = String, Path), ("context" = String, Path), ("id" = String, Path)),
    request_body(content = Object, description = "Any JSON document"),
    responses(
        (status = 200, body = Ack),
        (status = 400, description = "Malformed id or not JSON", body = Ack),
        (status = 404, description = "Unknown registration", body = Ack),
        (status = 413, description = "Body too large", body = Ack),
    ))]
pub(super) async fn put_item_short(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<(String, String, String)>,
    body: ApiBody,
) -> Result<Json<Ack>, ApiError> {
    store_item(state, path, body).await
}

/// Read an item.
#[utoipa::path(get, path = "/storage/{registrationId}/{context}/{id}", tag = "storage",
    params(("registrationId" = String, Path), ("context" = String, Path), ("id" = String, Path)),
    responses(
        (status = 200, body = ItemReply),
        (status = 400, description = "Malformed id", body = Ack),
        (status = 404, description = "Unknown registration or item", body = Ack),
    ))]
pub(super) async fn get_item(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<(String, String, String)>,
) -> Result<Json<ItemReply>, ApiError> {
    let key = item_key(&state, path).await?;
    let item = state
        .items
        .get(&key)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("item {}/{} not found", key.context, key.id)))?;
    Ok(Json(ItemReply { success: true, message: "item found".to_owned(), item }))
}

/// Delete an item.
#[utoipa::path(delete, path = "/storage/{registrationId}/{context}/{id}", tag = "storage",
    params(("registrationId" = String, Path), ("context" = String, Path), ("id" = String, Path)),
    responses(
        (status = 200, body = DeletedReply),
        (status = 400, description = "Malformed id", body = Ack),
        (status = 404, description = "Unknown registration or item", body = Ack),
    ))]
pub(super) async fn delete_item(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<(String, String, String)>,
) -> Result<Json<DeletedReply>, ApiError> {
    let key = item_key(&state, path).await?;
    if !state.items.delete(&key).await? {
        return Err(ApiError::NotFound(format!("item {}/{} not found", key.context, key.id)));
    }
    Ok(Json(DeletedReply { success: true, message: format!("item {}/{} deleted", key.context, key.id), deleted: 1 }))
}

/// Parses a registration id and checks it is active.
async fn active_registration(state: &AppState, registration: String) -> Result<RegistrationId, ApiError> {
    let id = RegistrationId::parse(registration)?;
    state.registry.active(&id).await?;
    Ok(id)
}

/// Delete every item of a context.
#[utoipa::path(delete, path = "/storage/{registrationId}/{context}", tag = "storage",
    params(("registrationId" = String, Path), ("context" = String, Path)),
    responses(
        (status = 200, body = DeletedReply),
        (status = 400, description = "Malformed id", body = Ack),
        (status = 404, description = "Unknown registration", body = Ack),
    ))]
pub(super) async fn delete_context(
    State(state): State<AppState>,
    ApiPath((registration, context)): ApiPath<(String, String)>,
) -> Result<Json<DeletedReply>, ApiError> {
    let context = StorageContext::parse(context)?;
    let id = active_registration(&state, registration).await?;
    let deleted = state.items.delete_context(&id, &context).await?;
    Ok(Json(DeletedReply { success: true, message: format!("{deleted} items of {context} deleted"), deleted }))
}

/// Delete every item of a registration (the registration itself stays).
#[utoipa::path(delete, path = "/storage/{registrationId}", tag = "storage",
    params(("registrationId" = String, Path)),
    responses(
        (status = 200, body = DeletedReply),
        (status = 400, description = "Malformed id", body = Ack),
        (status = 404, description = "Unknown registration", body = Ack),
    ))]
pub(super) async fn delete_all(
    State(state): State<AppState>,
    ApiPath(registration): ApiPath<String>,
) -> Result<Json<DeletedReply>, ApiError> {
    let id = active_registration(&state, registration).await?;
    let deleted = state.items.delete_registration(&id).await?;
    Ok(Json(DeletedReply { success: true, message: format!("{deleted} items deleted"), deleted }))
}

/// List a context's items, one page at a time.
#[utoipa::path(get, path = "/storage/{registrationId}/{context}", tag = "storage",
    params(("registrationId" = String, Path), ("context" = String, Path), PageQuery),
    responses(
        (status = 200, body = ListReply),
        (status = 400, description = "Malformed id or paging", body = Ack),
        (status = 404, description = "Unknown registration", body = Ack),
    ))]
pub(super) async fn list_items(
    State(state): State<AppState>,
    ApiPath((registration, context)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let context = StorageContext::parse(context)?;
    let request =
        PageRequest::parse(query.page.as_deref(), query.page_size.as_deref(), query.page_size_alias.as_deref())?;
    let id = active_registration(&state, registration).await?;
    let page = state.items.page(&id, &context, request).await?;
    let reply = ListReply {
        success: true,
        message: format!("{} of {} items", page.items.len(), page.total_items),
        ids: page.items.iter().map(|(id, _)| id.as_str()).collect(),
        items: page.items.iter().map(|(_, item)| item.as_raw()).collect(),
        page: request.page(),
        page_size: request.size(),
        total_pages: request.total_pages(page.total_items),
        total_items: page.total_items,
    };
    Ok(Json(reply).into_response())
}
