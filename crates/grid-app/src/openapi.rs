//! `GET /` (what is running) and `GET /openapi.json` (what it offers).

use std::sync::LazyLock;

use axum::Json;
use axum::Router;
use axum::routing::get;
use grid_http::Ack;
use serde::Serialize;
use utoipa::OpenApi;

use crate::http::{channels, registration, storage};
use crate::members::statement as members;
use crate::portal::api as portal;
use crate::schema;

pub(crate) fn routes() -> Router {
    Router::new().route("/", get(about)).route("/openapi.json", get(openapi))
}

/// The OpenAPI document of every HTTP route.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "energy-grid",
        description = "A peer-to-peer energy grid: registration, storage and channel node APIs, and the operator portal's read API."
    ),
    paths(
        about,
        openapi,
        registration::put_registration,
        registration::delete_registration,
        registration::claim_source,
        registration::release_source,
        storage::put_item,
        storage::get_item,
        storage::delete_item,
        storage::delete_context,
        storage::delete_all,
        storage::list_items,
        storage::list_all,
        channels::put_message,
        channels::get_message,
        channels::batch_get,
        channels::batch_put,
        portal::overview,
        portal::periods,
        portal::period,
        portal::period_csv,
        portal::producers,
        portal::consumers,
        portal::batches,
        portal::rejections,
        portal::heartbeats,
        portal::registration,
        members::statement,
    ),
    // The shared rules, by name (what the handlers' annotations refer to), and the
    // schemas only a hand-written schema mentions.
    components(schemas(
        Ack,
        About,
        schema::RegistrationId,
        schema::StorageContext,
        schema::ItemId,
        schema::SideKey,
        schema::ChannelRoot,
        schema::MessageAddress,
        schema::ItemName,
        schema::ItemType,
        schema::BatchStatus,
        schema::PeriodStart,
        schema::EpochMillis,
        schema::Envelope,
        channels::BatchPutMessage,
    )),
    modifiers(&PortalSecurity, &StorageShortPath)
)]
pub struct ApiDoc;

/// The portal's bearer token, as the document's security scheme.
struct PortalSecurity;

impl utoipa::Modify for PortalSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("portal", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// `PUT /storage/{registrationId}/{context}/{id}`: the same handler as
/// `PUT /storage/item/…`, so the same operation under its own id (utoipa documents one
/// path per handler).
struct StorageShortPath;

impl utoipa::Modify for StorageShortPath {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let paths = &mut openapi.paths.paths;
        let long = paths.get("/storage/item/{registrationId}/{context}/{id}").and_then(|item| item.put.clone());
        if let (Some(mut put), Some(short)) = (long, paths.get_mut("/storage/{registrationId}/{context}/{id}")) {
            put.operation_id = Some("put_item_short".to_owned());
            put.summary = Some("Store an item (the short path; same as `PUT /storage/item/…`).".to_owned());
            put.description = None;
            short.put = Some(put);
        }
    }
}

/// Name and version of the running grid.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct About {
    success: bool,
    message: String,
    name: &'static str,
    version: &'static str,
}

#[utoipa::path(get, path = "/", tag = "meta", responses((status = 200, body = About)))]
async fn about() -> Json<About> {
    Json(About {
        success: true,
        message: "energy-grid is running".to_owned(),
        name: "energy-grid",
        version: env!("CARGO_PKG_VERSION"),
    })
}

static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);

#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "This OpenAPI document", content_type = "application/json")))]
async fn openapi() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(&DOCUMENT)
}
