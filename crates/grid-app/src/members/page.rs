//! The member page (`/members`): sign in with a registration id and its side key, then
//! see that registration's statement as charts and tables, and download it as CSV.
//! Rendered on the server (maud) with inline SVG charts; no script, so it works with a
//! keyboard, a screen reader and a phone as plain HTML does.

use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use grid_core::books::StatementLine;
use grid_core::{EpochMs, Registration, RegistrationId};
use grid_http::Refusal;
use grid_http::extract::{ApiQuery, ClientAddress};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use super::session::MemberSession;
use super::statement::{Range, Statement};
use super::{COOKIE, MembersState};
use crate::error::ApiError;
use crate::portal::charts;
use crate::sign_in::{SESSION_LENGTH, Throttle, Throttled, session_expiry};

/// The portal's stylesheet, and a chart no wider than a phone turned sideways: a member's
/// page has one or two charts, where the portal's grid fills its width with several.
const STYLESHEET: &str = concat!(
    include_str!("../portal/assets/portal.css"),
    "\n.charts { grid-template-columns: repeat(auto-fit, minmax(320px, 560px)); }\n"
);

pub(super) async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], STYLESHEET)
        .into_response()
}

/// The registration a live, unrevoked session cookie opens, if the request has one.
async fn signed_in(
    state: &MembersState,
    headers: &HeaderMap,
    now: EpochMs,
) -> Result<Option<(Registration, MemberSession)>, ApiError> {
    let Some(value) = COOKIE.read(headers) else { return Ok(None) };
    let Some(id) = MemberSession::claimed_by(&value) else { return Ok(None) };
    let Ok(registration) = state.registration(&id).await else { return Ok(None) };
    let Some(session) = MemberSession::open(&registration, &value, now) else { return Ok(None) };
    if state.stores.sign_ins.is_revoked(&session.id, now).await? {
        return Ok(None);
    }
    Ok(Some((registration, session)))
}

/// The statement of the signed-in member, or the sign-in form.
pub(super) async fn home(
    State(state): State<MembersState>,
    headers: HeaderMap,
    ApiQuery(range): ApiQuery<Range>,
) -> Result<Response, ApiError> {
    let now = EpochMs::now();
    let Some((registration, _)) = signed_in(&state, &headers, now).await? else {
        return Ok(Html(login_page(None)).into_response());
    };
    let range = range.parse(now)?;
    let statement = Statement::read(&state, &registration, range).await?;
    Ok(Html(statement_page(&registration, &statement, now.get())).into_response())
}

/// The signed-in member's statement as CSV.
pub(super) async fn download(
    State(state): State<MembersState>,
    headers: HeaderMap,
    ApiQuery(range): ApiQuery<Range>,
) -> Result<Response, ApiError> {
    let now = EpochMs::now();
    let Some((registration, _)) = signed_in(&state, &headers, now).await? else {
        return Err(Refusal::new(StatusCode::UNAUTHORIZED, "sign in at /members first").into());
    };
    Statement::read(&state, &registration, range.parse(now)?).await?.csv_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Login {
    registration_id: Option<String>,
    side_key: Option<String>,
}

/// Signs a member in: the registration id and one of its side keys.
pub(super) async fn login(
    State(state): State<MembersState>,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    form: Result<Form<Login>, FormRejection>,
) -> Response {
    let Form(login) = match form {
        Ok(form) => form,
        Err(rejection) => return Refusal::new(rejection.status(), rejection.body_text()).into_response(),
    };
    let now = EpochMs::now();
    let throttle = Throttle::new(state.stores.sign_ins.as_ref(), &client, now, "members");
    let failures = match throttle.check().await {
        Ok(failures) => failures,
        Err(e) => return throttled(e),
    };
    // An unknown id fails as a wrong key does: the form does not say which ids exist.
    let id = login.registration_id.as_deref().map(str::trim).and_then(|id| RegistrationId::parse(id).ok());
    let registration = match id {
        Some(id) => state.registration(&id).await.ok(),
        None => None,
    };
    let key = login.side_key.unwrap_or_default();
    let Some(registration) = registration.filter(|r| r.is_proven_by(key.trim())) else {
        if let Err(e) = throttle.failed().await {
            return throttled(e);
        }
        let message = "That registration id and side key do not open a statement.";
        return (StatusCode::UNAUTHORIZED, Html(login_page(Some(message)))).into_response();
    };
    if let Err(e) = throttle.succeeded(failures).await {
        return ApiError::from(e).into_response();
    }
    let (_, value) = MemberSession::sign(&registration, session_expiry(now));
    let mut response = Redirect::to("/members").into_response();
    response.headers_mut().insert(header::SET_COOKIE, COOKIE.set(&value, SESSION_LENGTH, &headers));
    response
}

/// Signs out: the session is revoked in the store (a copied cookie dies with it) and
/// the browser's cookie cleared.
pub(super) async fn logout(State(state): State<MembersState>, headers: HeaderMap) -> Response {
    let now = EpochMs::now();
    match signed_in(&state, &headers, now).await {
        Ok(Some((_, session))) => {
            if let Err(e) = state.stores.sign_ins.revoke(&session.id, session.expires, now).await {
                return ApiError::from(e).into_response();
            }
        }
        Ok(None) => {}
        Err(e) => return e.into_response(),
    }
    let mut response = Redirect::to("/members").into_response();
    response.headers_mut().insert(header::SET_COOKIE, COOKIE.cleared());
    response
}

/// A throttled sign-in: the form with the wait (429, `Retry-After`), or the store's failure.
fn throttled(e: Throttled) -> Response {
    match e {
        Throttled::TooMany { wait_secs } => {
            let mut response = (StatusCode::TOO_MANY_REQUESTS, Html(login_page(Some(&e.to_string())))).into_response();
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait_secs));
            response
        }
        Throttled::Store(e) => ApiError::from(e).into_response(),
    }
}

fn layout(title: &str, signed_in: bool, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · energy-grid" }
                link rel="stylesheet" href="/members/static/members.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/members" { "energy-grid" span { " member" } }
                    @if signed_in {
                        nav aria-label="Member" {
                            form method="post" action="/members/logout" { button type="submit" { "Sign out" } }
                        }
                    }
                }
                main #main { (body) }
            }
        }
    }
    .into_string()
}

fn login_page(error: Option<&str>) -> String {
    layout(
        "Your statement",
        false,
        html! {
            h1 { "Your statement" }
            p { "Sign in with your registration id and its side key (the key your device or the grid gave you when you registered)." }
            form.login method="post" action="/members/login" {
                @if let Some(error) = error { p.error role="alert" { (error) } }
                label for="registrationId" { "Registration id" }
                input #registrationId type="text" name="registrationId" autocomplete="username" required autofocus;
                label for="sideKey" { "Side key" }
                input #sideKey type="password" name="sideKey" autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
        },
    )
}

fn kwh(wh: u64) -> String {
    format!("{:.3}", wh as f64 / 1000.0)
}

/// Lines grouped for the charts and the table: each period while there are at most 96
/// (a day of 15-minute periods), else each UTC day up to 62 days, else each month. The
/// grouping's name, and the groups.
fn buckets(lines: &[StatementLine], range: (u64, u64)) -> (&'static str, Vec<(String, Vec<&StatementLine>)>) {
    let (grouping, label_len) = if lines.len() <= 96 {
        ("period", 16)
    } else if range.1 - range.0 <= 62 * 86_400_000 {
        ("day", 10)
    } else {
        ("month", 7)
    };
    let mut out: Vec<(String, Vec<&StatementLine>)> = Vec::new();
    for line in lines {
        let minute = EpochMs::parse(line.period.get() as i64).map(EpochMs::utc_minute).unwrap_or_default();
        let label = minute[..label_len.min(minute.len())].to_owned();
        match out.last_mut() {
            Some((last, group)) if *last == label => group.push(line),
            _ => out.push((label, vec![line])),
        }
    }
    (grouping, out)
}

fn tile(label: &str, value: String, note: Option<String>) -> Markup {
    html! {
        div.tile {
            dt { (label) }
            dd { (value) }
            @if let Some(note) = note { dd.note { (note) } }
        }
    }
}

fn statement_page(registration: &Registration, s: &Statement, now: u64) -> String {
    let t = &s.totals;
    let buys = registration.item_type.buys();
    let sells = registration.item_type.sells();
    let (grouping, groups) = buckets(&s.periods, (s.from, s.to));
    let sum = |group: &[&StatementLine], f: fn(&StatementLine) -> u64| group.iter().map(|l| f(l)).sum::<u64>();
    // Each group's sums of `fields`: a chart's series.
    let series = |fields: [fn(&StatementLine) -> u64; 3]| -> Vec<(String, Vec<u64>)> {
        groups.iter().map(|(label, g)| (label.clone(), fields.iter().map(|f| sum(g, *f)).collect())).collect()
    };
    let used = series([|l| l.self_consumed.get(), |l| l.local.get(), |l| l.imported.get()]);
    let produced = series([|l| l.self_consumed.get(), |l| l.matched.get(), |l| l.exported.get()]);
    let day = 86_400_000;
    let ranges = [("Last 24 hours", day), ("7 days", 7 * day), ("30 days", 30 * day), ("365 days", 365 * day)];
    let when = |ms: u64| EpochMs::parse(ms as i64).map(EpochMs::utc_minute).unwrap_or_default();
    let title = match &registration.name {
        Some(name) => format!("{} ({})", name.as_str(), registration.id),
        None => registration.id.to_string(),
    };
    let body = html! {
        div.page-head {
            h1 { (title) }
            p.status { (registration.item_type.as_str()) " · " (when(s.from)) " to " (when(s.to)) " UTC · " (t.periods) " settled periods" }
        }
        nav.ranges aria-label="Periods" {
            @for (label, span) in ranges {
                a href=(format!("/members?from={}&to={now}", now.saturating_sub(span))) { (label) }
                " "
            }
            a href=(format!("/members/statement.csv?from={}&to={}", s.from, s.to)) download { "Download CSV" }
        }
        dl.tiles aria-label="Your figures" {
            @if buys {
                (tile("Used", format!("{} kWh", kwh(t.used.get())),
                    Some(format!("own panels {} · neighbours {} · utility {} kWh", kwh(t.self_consumed.get()), kwh(t.local.get()), kwh(t.imported.get())))))
                (tile("Charged", format!("{} IOTA", t.charge.get()), Some("for the energy from neighbours, these periods".to_owned())))
                (tile("Saved", format!("{} IOTA", t.savings.get()), Some("against your utility's price".to_owned())))
                (tile("Billed · paid · owed", format!("{} · {} · {} IOTA", t.billed.get(), t.paid.get(), t.owed.get()), Some("your account, every period".to_owned())))
            }
            @if sells {
                (tile("Produced", format!("{} kWh", kwh(t.produced.get())),
                    Some(format!("used yourself {} · sold to neighbours {} · exported {} kWh", kwh(t.self_consumed.get()), kwh(t.matched.get()), kwh(t.exported.get())))))
                (tile("Earned", format!("{} IOTA", t.allocation.get()), Some("these periods, after the grid's fee".to_owned())))
                (tile("Gained", format!("{} IOTA", t.gain), Some("against the feed-in tariff".to_owned())))
                (tile("Allocated · paid out", format!("{} · {} IOTA", t.allocated.get(), t.paid_out.get()), Some("your account, every period".to_owned())))
            }
        }
        section.charts aria-label="Charts" {
            @if buys {
                figure.card { figcaption { "Energy you used, by where it came from" }
                    (charts::stacked("used", "Energy used (kWh): own panels, neighbours, utility", &["own panels", "neighbours", "utility"], &used)) }
            }
            @if sells {
                figure.card { figcaption { "Energy you produced, by where it went" }
                    (charts::stacked("produced", "Energy produced (kWh): used yourself, sold, exported", &["used yourself", "sold to neighbours", "exported"], &produced)) }
            }
        }
        section.card aria-labelledby="lines-caption" {
            h2 #lines-caption { "By " (grouping) }
            @if groups.is_empty() {
                p.empty { "No settled period in this range yet." }
            } @else {
                div.scroll {
                    table #lines {
                        thead { tr {
                            th scope="col" { "When (UTC)" }
                            @if buys { th scope="col" { "Used kWh" } th scope="col" { "From neighbours kWh" } th scope="col" { "Imported kWh" } th scope="col" { "Charged" } th scope="col" { "Saved" } }
                            @if sells { th scope="col" { "Produced kWh" } th scope="col" { "Sold kWh" } th scope="col" { "Exported kWh" } th scope="col" { "Earned" } th scope="col" { "Gained" } }
                        } }
                        tbody {
                            @for (label, g) in &groups {
                                tr {
                                    td { (label) }
                                    @if buys {
                                        td.num { (kwh(sum(g, |l| l.used.get()))) }
                                        td.num { (kwh(sum(g, |l| l.local.get()))) }
                                        td.num { (kwh(sum(g, |l| l.imported.get()))) }
                                        td.num { (sum(g, |l| l.charge.get())) }
                                        td.num { (sum(g, |l| l.savings.get())) }
                                    }
                                    @if sells {
                                        td.num { (kwh(sum(g, |l| l.produced.get()))) }
                                        td.num { (kwh(sum(g, |l| l.matched.get()))) }
                                        td.num { (kwh(sum(g, |l| l.exported.get()))) }
                                        td.num { (sum(g, |l| l.allocation.get())) }
                                        td.num { (g.iter().map(|l| l.gain).sum::<i64>()) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout(&title, true, body)
}
