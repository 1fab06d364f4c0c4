//! `GET /members/{registrationId}/statement?from=&to=`: a member's statement, as JSON
//! or (`Accept: text/csv`) as CSV, one row per period.
//!
//! It opens with the registration's side key in `X-Side-Key` (401 without, 403 with any
//! other, compared in constant time, failures throttled as the portal's sign-in is). It
//! reads that registration's statement lines and account: nothing of anyone else's, and
//! never a period's whole report. (The member page's download is `/members/statement.csv`,
//! with the member's session.)

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use grid_core::books::{StatementLine, StatementRange, StatementTotals};
use grid_core::{AccessError, EpochMs, ItemType, RegistrationId};
use grid_http::extract::{ApiPath, ApiQuery, ClientAddress, PresentedSideKey};
use grid_http::{Ack, Refusal};
use serde::{Deserialize, Serialize};

use super::MembersState;
use crate::error::ApiError;
use crate::schema;
use crate::sign_in::{Throttle, Throttled};

/// The periods asked for, epoch ms: those starting at or after `from` and before `to`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct Range {
    /// Default: 30 days before `to`.
    #[param(value_type = Option<schema::EpochMillis>)]
    from: Option<u64>,
    /// Default: now. At most 366 days after `from`.
    #[param(value_type = Option<schema::EpochMillis>)]
    to: Option<u64>,
}

impl Range {
    pub(super) fn parse(&self, now: EpochMs) -> Result<StatementRange, ApiError> {
        let at = |ms: Option<u64>, name: &str| {
            ms.map(|ms| {
                i64::try_from(ms)
                    .ok()
                    .and_then(|ms| EpochMs::parse(ms).ok())
                    .ok_or_else(|| ApiError::BadBody(format!("{name} is not a time the grid can hold")))
            })
            .transpose()
        };
        Ok(StatementRange::parse(at(self.from, "from")?, at(self.to, "to")?, now)?)
    }
}

/// A member's statement: its figures in each settled period of the range, and their sums
/// beside its account.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    success: bool,
    message: String,
    pub registration_id: String,
    #[schema(value_type = schema::ItemType)]
    pub kind: ItemType,
    pub from: u64,
    pub to: u64,
    /// Its rows of each period's report, by period.
    #[schema(value_type = Vec<Object>)]
    pub periods: Vec<StatementLine>,
    #[schema(value_type = Object)]
    pub totals: StatementTotals,
}

impl Statement {
    /// `registration`'s statement over `range`, from the store.
    pub(super) async fn read(
        state: &MembersState,
        registration: &grid_core::Registration,
        range: StatementRange,
    ) -> Result<Self, ApiError> {
        let lines = state.stores.accounts.statement_lines(&registration.id, range).await?;
        let account = state.stores.accounts.get(&registration.id).await?.unwrap_or_default();
        let totals = StatementTotals::of(&lines, &account)?;
        Ok(Self {
            success: true,
            message: format!("{} settled periods", lines.len()),
            registration_id: registration.id.to_string(),
            kind: registration.item_type,
            from: range.from(),
            to: range.to(),
            periods: lines,
            totals,
        })
    }

    /// One row per period: energy in Wh, prices in IOTA/kWh, money in IOTA.
    pub(super) fn csv(&self) -> Result<Vec<u8>, csv::Error> {
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record([
            "period_start_ms",
            "kind",
            "price_iota_per_kwh",
            "cap_iota_per_kwh",
            "feed_in_iota_per_kwh",
            "self_consumed_wh",
            "used_wh",
            "local_wh",
            "imported_wh",
            "charge_iota",
            "bid_iota_per_kwh",
            "savings_iota",
            "produced_wh",
            "offered_wh",
            "matched_wh",
            "exported_wh",
            "allocation_iota",
            "ask_iota_per_kwh",
            "gain_iota",
        ])?;
        let price = |p: Option<grid_core::Price>| p.map(|p| p.get().to_string()).unwrap_or_default();
        for l in &self.periods {
            out.write_record([
                l.period.get().to_string(),
                l.kind.map(|k| k.as_str().to_owned()).unwrap_or_default(),
                l.price.get().to_string(),
                l.cap.get().to_string(),
                l.feed_in.get().to_string(),
                l.self_consumed.get().to_string(),
                l.used.get().to_string(),
                l.local.get().to_string(),
                l.imported.get().to_string(),
                l.charge.get().to_string(),
                price(l.bid),
                l.savings.get().to_string(),
                l.produced.get().to_string(),
                l.offered.get().to_string(),
                l.matched.get().to_string(),
                l.exported.get().to_string(),
                l.allocation.get().to_string(),
                price(l.ask),
                l.gain.to_string(),
            ])?;
        }
        out.into_inner().map_err(|e| e.into_error().into())
    }

    /// The statement as its caller asked: CSV if it accepts `text/csv`, else JSON.
    fn respond(self, headers: &HeaderMap) -> Result<Response, ApiError> {
        let csv =
            headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|accept| accept.contains("text/csv"));
        if csv { self.csv_response() } else { Ok(Json(self).into_response()) }
    }

    /// The statement as a CSV download.
    pub(super) fn csv_response(self) -> Result<Response, ApiError> {
        let body = self.csv().map_err(|e| grid_store::StoreError::Corrupt(format!("a statement: {e}")))?;
        let disposition =
            format!("attachment; filename=\"statement-{}-{}-{}.csv\"", self.registration_id, self.from, self.to);
        Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
            body,
        )
            .into_response())
    }
}

/// A member's statement.
#[utoipa::path(get, path = "/members/{registrationId}/statement", tag = "members",
    params(("registrationId" = schema::RegistrationId, Path), Range, schema::SideKeyHeader),
    responses((status = 200, body = Statement),
        (status = 200, description = "With Accept: text/csv, one row per period", content_type = "text/csv", body = String),
        (status = 400, description = "A bad range (from after to, longer than 366 days)", body = Ack),
        (status = 401, description = "No X-Side-Key (and no session of this member)", body = Ack),
        (status = 403, description = "Another key", body = Ack),
        (status = 404, description = "No such registration", body = Ack),
        (status = 429, description = "Too many wrong keys from this address; Retry-After says when to try again", body = Ack),
    ))]
pub(crate) async fn statement(
    State(state): State<MembersState>,
    ClientAddress(client): ClientAddress,
    ApiPath(id): ApiPath<RegistrationId>,
    ApiQuery(range): ApiQuery<Range>,
    PresentedSideKey(presented): PresentedSideKey,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let now = EpochMs::now();
    let range = range.parse(now)?;
    let registration = state.registration(&id).await?;
    let Some(presented) = presented else {
        return Err(ApiError::Access(AccessError::SideKeyRequired(registration.item_type.as_str())));
    };
    let throttle = Throttle::new(state.stores.sign_ins.as_ref(), &client, now, "members");
    let failures = match throttle.check().await {
        Ok(failures) => failures,
        Err(e) => return throttled(e),
    };
    if !registration.is_proven_by(&presented) {
        if let Err(e) = throttle.failed().await {
            return throttled(e);
        }
        return Err(ApiError::Access(AccessError::WrongSideKey));
    }
    throttle.succeeded(failures).await?;
    Statement::read(&state, &registration, range).await?.respond(&headers)
}

/// A throttled client's 429 (with `Retry-After`), or the store's failure.
pub(super) fn throttled(e: Throttled) -> Result<Response, ApiError> {
    match e {
        Throttled::TooMany { wait_secs } => {
            let mut response = Refusal::new(StatusCode::TOO_MANY_REQUESTS, e.to_string()).into_response();
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait_secs));
            Ok(response)
        }
        Throttled::Store(e) => Err(ApiError::Store(e)),
    }
}
