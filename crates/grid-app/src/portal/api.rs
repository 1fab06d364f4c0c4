//! `/portal/api/…`: the portal's data as JSON, for scripts and for the page's refresh.

use axum::Json;
use axum::extract::State;
use grid_core::books::BatchState;
use grid_core::{EpochMs, RegistrationId};
use serde::Deserialize;

use super::PortalState;
use super::data::{
    BatchRow, ConsumerRow, Detail, HeartbeatRow, Overview, Page, PeriodPoint, ProducerRow, RejectionRow,
};
use crate::error::{Ack, ApiError};
use crate::http::extract::{ApiPath, ApiQuery};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Paging {
    page: Option<usize>,
    page_size: Option<usize>,
}

impl Paging {
    fn get(&self) -> Result<(usize, usize), ApiError> {
        let size = self.page_size.unwrap_or(50);
        if !(1..=500).contains(&size) {
            return Err(ApiError::BadBody("pageSize must be between 1 and 500".to_owned()));
        }
        Ok((self.page.unwrap_or(0), size))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Limit {
    limit: Option<usize>,
    status: Option<String>,
}

fn limit(value: Option<usize>, default: usize, max: usize) -> Result<usize, ApiError> {
    match value.unwrap_or(default) {
        n if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::BadBody(format!("limit must be between 1 and {max}"))),
    }
}

/// The grid now: registrations, the last settled period, money, batches.
#[utoipa::path(get, path = "/portal/api/overview", tag = "portal", security(("portal" = [])),
    responses((status = 200, body = Overview),
        (status = 401, description = "No or a wrong token", body = Ack),
        (status = 403, description = "The portal has no PORTAL_TOKEN", body = Ack),
    ))]
pub(crate) async fn overview(State(state): State<PortalState>) -> Result<Json<Overview>, ApiError> {
    Ok(Json(state.data.overview(EpochMs::now()).await?))
}

/// The latest settled periods, oldest first.
#[utoipa::path(get, path = "/portal/api/periods", tag = "portal", security(("portal" = [])),
    params(("limit" = Option<usize>, Query, description = "How many periods, 1–96 (default 24)")),
    responses((status = 200, body = Vec<PeriodPoint>), (status = 400, description = "A bad limit", body = Ack),
        (status = 401, description = "No or a wrong token", body = Ack),
        (status = 403, description = "The portal has no PORTAL_TOKEN", body = Ack),
    ))]
pub(crate) async fn periods(
    State(state): State<PortalState>,
    ApiQuery(query): ApiQuery<Limit>,
) -> Result<Json<Vec<PeriodPoint>>, ApiError> {
    Ok(Json(state.data.periods(limit(query.limit, 24, 96)?).await?))
}

/// Producers: what each produced, earned, was paid and is owed.
#[utoipa::path(get, path = "/portal/api/producers", tag = "portal", security(("portal" = [])),
    params(("page" = Option<usize>, Query, description = "From 0"), ("pageSize" = Option<usize>, Query, description = "1–500 (default 50)")),
    responses((status = 200, body = Page<ProducerRow>), (status = 400, description = "Bad paging", body = Ack),
        (status = 401, description = "No or a wrong token", body = Ack),
        (status = 403, description = "The portal has no PORTAL_TOKEN", body = Ack),
    ))]
pub(crate) async fn producers(
    State(state): State<PortalState>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Page<ProducerRow>>, ApiError> {
    let (page, size) = paging.get()?;
    Ok(Json(state.data.producers(page, size).await?))
}

/// Consumers: what each used, was billed and paid, and still owes.
#[utoipa::path(get, path = "/portal/api/consumers", tag = "portal", security(("portal" = [])),
    params(("page" = Option<usize>, Query, description = "From 0"), ("pageSize" = Option<usize>, Query, description = "1–500 (default 50)")),
    responses((status = 200, body = Page<ConsumerRow>), (status = 400, description = "Bad paging", body = Ack),
        (status = 401, description = "No or a wrong token", body = Ack),
        (status = 403, description = "The portal has no PORTAL_TOKEN", body = Ack),
    ))]
pub(crate) async fn consumers(
    State(state): State<PortalState>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Page<ConsumerRow>>, ApiError> {
    let (page, size) = paging.get()?;
    Ok(Json(state.data.consumers(page, size).await?))
}

/// Ledger batches, newest first, optionally of one status.
#[utoipa::path(get, path = "/portal/api/batches", tag = "portal", security(("portal" = [])),
    params(("status" = Option<String>, Query, description = "pending, stalled, committed, invalid, verified or rejected"),
           ("limit" = Option<usize>, Query, description = "1–1000 (default 100)")),
    responses((status = 200, body = Vec<BatchRow>), (status = 400, description = "A bad status or limit", body = Ack),
        (status = 401, description = "No or a wrong token", body = Ack),
        (status = 403, description = "The portal has no PORTAL_TOKEN", body = Ack),
    ))]
pub(crate) async fn batches(
    State(state): State<PortalState>,
    ApiQuery(query): ApiQuery<Limit>,
) -> Result<Json<Vec<BatchRow>>, ApiError> {
    let status = query.status.as_deref().map(BatchState::parse).transpose().map_err(|e| ApiError::BadBody(e.to_string()))?;
    Ok(Json(state.data.batches(status, limit(query.limit, 100, 1_000)?).await?))
}

/// Channel messages the grid refused, newest first.
#[utoipa::path(get, path = "/portal/api/rejections", tag = "portal", security(("portal" = [])),
    params(("limit" = Option<usize>, Query, description = "1–500 (default 50)")),
    responses((status = 200, body = Vec<RejectionRow>), (status = 400, description = "A bad limit", body = Ack),
        (status = 401, description = "No or a wrong token", body = Ack),
        (status = 403, description = "The portal has no PORTAL_TOKEN", body = Ack),
    ))]
pub(crate) async fn rejections(
    State(state): State<PortalState>,
    ApiQuery(query): ApiQuery<Limit>,
) -> Result<Json<Vec<RejectionRow>>, ApiError> {
    Ok(Json(state.data.rejections(limit(query.limit, 50, 500)?).await?))
}

/// When each job last ran and what it did.
#[utoipa::path(get, path = "/portal/api/heartbeats", tag = "portal", security(("portal" = [])),
    responses((status = 200, body = Vec<HeartbeatRow>),
        (status = 401, description = "No or a wrong token", body = Ack),
        (status = 403, description = "The portal has no PORTAL_TOKEN", body = Ack),
    ))]
pub(crate) async fn heartbeats(State(state): State<PortalState>) -> Result<Json<Vec<HeartbeatRow>>, ApiError> {
    Ok(Json(state.data.heartbeats().await?))
}

/// Everything about one registration: account, readings, channels, payments, rejections.
#[utoipa::path(get, path = "/portal/api/registrations/{registrationId}", tag = "portal", security(("portal" = [])),
    params(("registrationId" = String, Path, description = "8–128 characters of [A-Za-z0-9._-]")),
    responses((status = 200, body = Detail), (status = 400, description = "A malformed id", body = Ack),
        (status = 404, description = "No such registration", body = Ack),
        (status = 401, description = "No or a wrong token", body = Ack),
        (status = 403, description = "The portal has no PORTAL_TOKEN", body = Ack),
    ))]
pub(crate) async fn registration(
    State(state): State<PortalState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Detail>, ApiError> {
    let id = RegistrationId::parse(id)?;
    match state.data.detail(&id).await? {
        Some(detail) => Ok(Json(detail)),
        None => Err(ApiError::NotFound(format!("registration {id} not found"))),
    }
}
