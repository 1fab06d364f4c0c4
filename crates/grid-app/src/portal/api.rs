//! `/portal/api/…`: the portal's data as JSON, for scripts and for the page's refresh.

use axum::Json;
use axum::extract::State;
use grid_core::{EpochMs, RegistrationId};
use serde::Deserialize;

use super::PortalState;
use super::data::{
    BatchRow, ConsumerRow, Detail, HeartbeatRow, Overview, Page, PeriodPoint, ProducerRow, RejectionRow,
};
use crate::error::ApiError;
use crate::http::extract::{ApiPath, ApiQuery};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Paging {
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
pub(super) struct Limit {
    limit: Option<usize>,
    status: Option<String>,
}

fn limit(value: Option<usize>, default: usize, max: usize) -> Result<usize, ApiError> {
    match value.unwrap_or(default) {
        n if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::BadBody(format!("limit must be between 1 and {max}"))),
    }
}

pub(super) async fn overview(State(state): State<PortalState>) -> Result<Json<Overview>, ApiError> {
    Ok(Json(state.data.overview(EpochMs::now()).await?))
}

pub(super) async fn periods(
    State(state): State<PortalState>,
    ApiQuery(query): ApiQuery<Limit>,
) -> Result<Json<Vec<PeriodPoint>>, ApiError> {
    Ok(Json(state.data.periods(limit(query.limit, 24, 96)?).await?))
}

pub(super) async fn producers(
    State(state): State<PortalState>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Page<ProducerRow>>, ApiError> {
    let (page, size) = paging.get()?;
    Ok(Json(state.data.producers(page, size).await?))
}

pub(super) async fn consumers(
    State(state): State<PortalState>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Page<ConsumerRow>>, ApiError> {
    let (page, size) = paging.get()?;
    Ok(Json(state.data.consumers(page, size).await?))
}

/// The statuses a batch can be listed by.
const STATUSES: [&str; 6] = ["pending", "stalled", "committed", "invalid", "verified", "rejected"];

pub(super) async fn batches(
    State(state): State<PortalState>,
    ApiQuery(query): ApiQuery<Limit>,
) -> Result<Json<Vec<BatchRow>>, ApiError> {
    if let Some(status) = &query.status
        && !STATUSES.contains(&status.as_str())
    {
        return Err(ApiError::BadBody(format!("status must be one of {}", STATUSES.join(", "))));
    }
    Ok(Json(state.data.batches(query.status.as_deref(), limit(query.limit, 100, 1_000)?).await?))
}

pub(super) async fn rejections(
    State(state): State<PortalState>,
    ApiQuery(query): ApiQuery<Limit>,
) -> Result<Json<Vec<RejectionRow>>, ApiError> {
    Ok(Json(state.data.rejections(limit(query.limit, 50, 500)?).await?))
}

pub(super) async fn heartbeats(State(state): State<PortalState>) -> Result<Json<Vec<HeartbeatRow>>, ApiError> {
    Ok(Json(state.data.heartbeats().await?))
}

pub(super) async fn registration(
    State(state): State<PortalState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Detail>, ApiError> {
    let id = RegistrationId::parse(id)?;
    match state.data.detail(&id).await? {
        Some(detail) => Ok(Json(detail)),
        None => Err(ApiError::NotFound(format!("registration {id} not found"))),
    }
}
