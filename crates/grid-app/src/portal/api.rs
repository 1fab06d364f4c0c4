//! `/portal/api/…`: the portal's data as JSON, for scripts and for the page's refresh.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use grid_core::books::BatchState;
use grid_core::market::{PeriodReport, PeriodStart};
use grid_core::{EpochMs, RegistrationId};
use grid_http::Ack;
use grid_http::extract::{ApiPath, ApiQuery};
use serde::Deserialize;

use super::PortalState;
use super::data::{
    BatchRow, ConsumerRow, Detail, HeartbeatRow, Overview, Page, PeriodPoint, ProducerRow, RejectionRow,
};

use crate::error::ApiError;
use crate::schema::{self, Bounded, PageNumber};

/// Rows per page of the producers and consumers.
type PageSize = Bounded<50, 500>;
/// How many periods `GET /portal/api/periods` gives.
type PeriodsLimit = Bounded<24, 96>;
/// How many batches `GET /portal/api/batches` gives.
type BatchesLimit = Bounded<100, 1_000>;
/// How many rejections `GET /portal/api/rejections` gives.
type RejectionsLimit = Bounded<50, 500>;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Paging {
    page: Option<usize>,
    page_size: Option<usize>,
}

impl Paging {
    fn get(&self) -> Result<(usize, usize), ApiError> {
        Ok((self.page.unwrap_or(0), PageSize::get(self.page_size, "pageSize")?))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Limit {
    limit: Option<usize>,
    status: Option<String>,
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
    params(("limit" = inline(Option<PeriodsLimit>), Query, description = "How many periods")),
    responses((status = 200, body = Vec<PeriodPoint>), (status = 400, description = "A bad limit", body = Ack),
        (status = 401, description = "No or a wrong token", body = Ack),
        (status = 403, description = "The portal has no PORTAL_TOKEN", body = Ack),
    ))]
pub(crate) async fn periods(
    State(state): State<PortalState>,
    ApiQuery(query): ApiQuery<Limit>,
) -> Result<Json<Vec<PeriodPoint>>, ApiError> {
    Ok(Json(state.data.periods(PeriodsLimit::get(query.limit, "limit")?).await?))
}

/// The period starting at `start`, if it is one of the grid's periods (else 404).
fn period_of(state: &PortalState, start: u64) -> Result<PeriodStart, ApiError> {
    state.data.period_start(start).ok_or_else(|| {
        ApiError::NotFound(format!(
            "{start} is not the start of a period (they start every {} s)",
            state.data.period.secs()
        ))
    })
}

/// A settled period's report (DESIGN.md §6): its price and strategy, energy produced,
/// admitted, used, matched, imported and exported (Wh), revenue, fee and unallocated
/// (IOTA), and every producer (`id, produced, ask, admitted, matched, exported,
/// allocation, paymentAddress`) and consumer (`id, used, local, imported, charge`).
/// Periods settled before the local market (`rules: "pool"`) keep the report they had.
#[utoipa::path(get, path = "/portal/api/periods/{periodStart}", tag = "portal", security(("portal" = [])),
    params(("periodStart" = schema::PeriodStart, Path)),
    responses((status = 200, description = "The report", body = Object),
        (status = 400, description = "Not a number", body = Ack),
        (status = 404, description = "Not a period, or not settled", body = Ack),
        (status = 401, description = "No or a wrong token", body = Ack),
        (status = 403, description = "The portal has no PORTAL_TOKEN", body = Ack),
    ))]
pub(crate) async fn period(
    State(state): State<PortalState>,
    ApiPath(start): ApiPath<u64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let period = period_of(&state, start)?;
    match state.data.period_report(period).await? {
        Some(report) => Ok(Json(report)),
        None => Err(ApiError::NotFound(format!("period {start} is not settled"))),
    }
}

/// One row of a period's CSV: a seller's columns or a buyer's, the others empty. The
/// columns after `charge_iota` came with the community market (2026-12-05), appended so
/// the earlier ones keep their places.
#[derive(serde::Serialize, Default)]
struct CsvRow<'a> {
    period_start: u64,
    role: &'static str,
    id: &'a str,
    price_iota_per_kwh: u64,
    produced_wh: Option<u64>,
    ask_iota_per_kwh: Option<u64>,
    admitted_wh: Option<u64>,
    matched_wh: Option<u64>,
    exported_wh: Option<u64>,
    allocation_iota: Option<u64>,
    payment_address: Option<&'a str>,
    used_wh: Option<u64>,
    local_wh: Option<u64>,
    imported_wh: Option<u64>,
    charge_iota: Option<u64>,
    kind: Option<&'static str>,
    cap_iota_per_kwh: u64,
    feed_in_iota_per_kwh: u64,
    self_consumed_wh: u64,
    offered_wh: Option<u64>,
    gain_iota: Option<i64>,
    demand_wh: Option<u64>,
    bid_iota_per_kwh: Option<u64>,
    savings_iota: Option<u64>,
}

/// A market period's report as CSV, one row per seller then per buyer (a prosumer has
/// one of each).
fn report_csv(report: &PeriodReport) -> Result<Vec<u8>, csv::Error> {
    let s = &report.settlement;
    let period = CsvRow {
        period_start: report.period_start.get(),
        price_iota_per_kwh: s.price.get(),
        cap_iota_per_kwh: s.cap.get(),
        feed_in_iota_per_kwh: s.feed_in.get(),
        ..CsvRow::default()
    };
    let mut out = csv::Writer::from_writer(Vec::new());
    for p in &s.producers {
        out.serialize(CsvRow {
            role: "producer",
            id: p.id.as_str(),
            kind: p.kind.map(|k| k.as_str()),
            produced_wh: Some(p.produced.get()),
            ask_iota_per_kwh: p.ask.map(|a| a.get()),
            admitted_wh: Some(p.admitted.get()),
            matched_wh: Some(p.matched.get()),
            exported_wh: Some(p.exported.get()),
            allocation_iota: Some(p.allocation.get()),
            payment_address: p.payment_address.as_ref().map(|a| a.as_str()),
            self_consumed_wh: p.self_consumed.get(),
            offered_wh: Some(p.offered.get()),
            gain_iota: Some(p.gain),
            ..period
        })?;
    }
    for c in &s.consumers {
        out.serialize(CsvRow {
            role: "consumer",
            id: c.id.as_str(),
            kind: c.kind.map(|k| k.as_str()),
            used_wh: Some(c.used.get()),
            local_wh: Some(c.local.get()),
            imported_wh: Some(c.imported.get()),
            charge_iota: Some(c.charge.get()),
            self_consumed_wh: c.self_consumed.get(),
            demand_wh: Some(c.demand.get()),
            bid_iota_per_kwh: c.bid.map(|b| b.get()),
            savings_iota: Some(c.savings.get()),
            ..period
        })?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

/// A settled period's report as CSV for accounting: `role` is `producer` or `consumer`;
/// energy in Wh, prices in IOTA/kWh, money in IOTA.
#[utoipa::path(get, path = "/portal/api/periods/{periodStart}/report.csv", tag = "portal", security(("portal" = [])),
    params(("periodStart" = schema::PeriodStart, Path)),
    responses((status = 200, description = "The report as CSV", content_type = "text/csv", body = String),
        (status = 400, description = "Not a number", body = Ack),
        (status = 404, description = "Not a period, not settled, or settled as a pool (no market figures)", body = Ack),
        (status = 401, description = "No or a wrong token", body = Ack),
        (status = 403, description = "The portal has no PORTAL_TOKEN", body = Ack),
    ))]
pub(crate) async fn period_csv(
    State(state): State<PortalState>,
    ApiPath(start): ApiPath<u64>,
) -> Result<Response, ApiError> {
    let period = period_of(&state, start)?;
    let Some(report) = state.data.market_report(period).await? else {
        return Err(ApiError::NotFound(format!(
            "period {start} has no market report (unsettled, or settled as a pool)"
        )));
    };
    let body = report_csv(&report).map_err(|e| grid_store::StoreError::Corrupt(format!("report of {start}: {e}")))?;
    let disposition = format!("attachment; filename=\"period-{start}.csv\"");
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        body,
    )
        .into_response())
}

/// Producers: what each produced, earned, was paid and is owed.
#[utoipa::path(get, path = "/portal/api/producers", tag = "portal", security(("portal" = [])),
    params(("page" = inline(Option<PageNumber>), Query), ("pageSize" = inline(Option<PageSize>), Query)),
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
    params(("page" = inline(Option<PageNumber>), Query), ("pageSize" = inline(Option<PageSize>), Query)),
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
    params(("status" = Option<schema::BatchStatus>, Query, description = "Only batches of this status"),
           ("limit" = inline(Option<BatchesLimit>), Query, description = "How many batches")),
    responses((status = 200, body = Vec<BatchRow>), (status = 400, description = "A bad status or limit", body = Ack),
        (status = 401, description = "No or a wrong token", body = Ack),
        (status = 403, description = "The portal has no PORTAL_TOKEN", body = Ack),
    ))]
pub(crate) async fn batches(
    State(state): State<PortalState>,
    ApiQuery(query): ApiQuery<Limit>,
) -> Result<Json<Vec<BatchRow>>, ApiError> {
    let status =
        query.status.as_deref().map(BatchState::parse).transpose().map_err(|e| ApiError::BadBody(e.to_string()))?;
    Ok(Json(state.data.batches(status, BatchesLimit::get(query.limit, "limit")?).await?))
}

/// Channel messages the grid refused, newest first.
#[utoipa::path(get, path = "/portal/api/rejections", tag = "portal", security(("portal" = [])),
    params(("limit" = inline(Option<RejectionsLimit>), Query, description = "How many rejections")),
    responses((status = 200, body = Vec<RejectionRow>), (status = 400, description = "A bad limit", body = Ack),
        (status = 401, description = "No or a wrong token", body = Ack),
        (status = 403, description = "The portal has no PORTAL_TOKEN", body = Ack),
    ))]
pub(crate) async fn rejections(
    State(state): State<PortalState>,
    ApiQuery(query): ApiQuery<Limit>,
) -> Result<Json<Vec<RejectionRow>>, ApiError> {
    Ok(Json(state.data.rejections(RejectionsLimit::get(query.limit, "limit")?).await?))
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
    params(("registrationId" = schema::RegistrationId, Path)),
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

/// The metrics this process collected, in Prometheus text (`gridctl serve`); on Lambda
/// they are in CloudWatch instead.
pub(crate) async fn metrics() -> Result<Response, ApiError> {
    let text = crate::metrics::render().ok_or_else(|| {
        ApiError::NotFound("this process collects no metrics here; on AWS they are in CloudWatch".into())
    })?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}
