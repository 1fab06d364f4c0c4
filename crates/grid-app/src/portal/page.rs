//! The portal's pages, rendered on the server (maud). Tables carry their numbers in
//! `data-value` so the script can sort them; everything works without the script too.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use grid_core::{EpochMs, RegistrationId};
use grid_http::extract::ApiPath;
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use super::PortalState;
use super::charts;
use super::data::{
    BatchRow, ConsumerRow, Detail, HeartbeatRow, MessageRow, Overview, PeriodPoint, ProducerRow, RejectionRow,
};
use crate::error::ApiError;

const STYLESHEET: &str = include_str!("assets/portal.css");
const SCRIPT: &str = include_str!("assets/portal.js");

pub(super) async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], STYLESHEET)
        .into_response()
}

pub(super) async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], SCRIPT)
        .into_response()
}

fn layout(title: &str, signed_in: bool, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · energy-grid" }
                link rel="stylesheet" href="/portal/static/portal.css";
                script src="/portal/static/portal.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/portal" { "energy-grid" span { " operator portal" } }
                    @if signed_in {
                        nav aria-label="Portal" {
                            a href="/portal" { "Overview" }
                            a href="/portal/api/overview" { "JSON" }
                            form method="post" action="/portal/logout" { button type="submit" { "Sign out" } }
                        }
                    }
                }
                main #main { (body) }
            }
        }
    }
    .into_string()
}

/// A page that only says something (errors, a closed portal).
pub(super) fn message_page(title: &str, message: &str) -> String {
    layout(title, false, html! { h1 { (title) } p { (message) } })
}

pub(super) fn login_page(error: Option<&str>) -> String {
    layout(
        "Sign in",
        false,
        html! {
            h1 { "Sign in" }
            p { "Enter the portal token (" code { "PORTAL_TOKEN" } "; " code { "gridctl serve" } " prints one when none is set)." }
            form.login method="post" action="/portal/login" {
                @if let Some(error) = error { p.error role="alert" { (error) } }
                label for="token" { "Access token" }
                input #token type="password" name="token" autocomplete="current-password" required autofocus;
                button type="submit" { "Sign in" }
            }
        },
    )
}

fn time(ms: u64) -> String {
    if ms == 0 {
        return "–".to_owned();
    }
    EpochMs::parse(ms as i64).map(EpochMs::utc_minute).unwrap_or_else(|_| ms.to_string())
}

fn kwh(wh: u64) -> String {
    format!("{:.3}", wh as f64 / 1000.0)
}

/// A numeric cell: shown as `shown`, sorted by `value`.
fn num(value: u64, shown: String) -> Markup {
    html! { td.num data-value=(value) { (shown) } }
}

fn iota(value: u64) -> Markup {
    num(value, value.to_string())
}

/// A searchable, sortable table.
fn table(id: &str, caption: &str, headers: &[&str], rows: Markup, empty: bool) -> Markup {
    html! {
        section.card aria-labelledby=(format!("{id}-caption")) {
            div.table-head {
                h2 #(format!("{id}-caption")) { (caption) }
                label.search {
                    span.visually-hidden { "Search " (caption) }
                    input type="search" placeholder="Search" data-filter=(id);
                }
            }
            @if empty {
                p.empty { "Nothing yet." }
            } @else {
                div.scroll {
                    table.sortable #(id) {
                        thead { tr { @for h in headers { th scope="col" { button type="button" { (h) } } } } }
                        tbody { (rows) }
                    }
                }
            }
        }
    }
}

fn tile(label: &str, key: &str, value: String, note: Option<String>) -> Markup {
    html! {
        div.tile {
            dt { (label) }
            dd data-overview=(key) { (value) }
            @if let Some(note) = note { dd.note { (note) } }
        }
    }
}

fn tiles(o: &Overview) -> Markup {
    let last = o.last_settled.as_ref();
    html! {
        dl.tiles aria-label="The grid now" {
            (tile("Producers", "producers", o.producers.active.to_string(), Some(format!("{} removed", o.producers.removed))))
            (tile("Consumers", "consumers", o.consumers.active.to_string(), Some(format!("{} removed", o.consumers.removed))))
            (tile("Prosumers", "prosumers", o.prosumers.active.to_string(),
                Some(format!("{} removed · listed as sellers and as buyers", o.prosumers.removed))))
            (tile("Current period", "currentPeriod", time(o.current_period), Some(format!("{} min periods", o.period_secs / 60))))
            (tile("Last settled", "lastSettled", last.map_or("none yet".to_owned(), |p| time(p.start)), None))
            (tile("Price (last period)", "price", last.map_or("–".to_owned(), |p| format!("{} IOTA/kWh", p.price)),
                last.map(|p| format!("{} · {}", p.strategy.as_deref().unwrap_or(&p.rules), p.price_source))))
            (tile("Matched (last period)", "matched", last.map_or("–".to_owned(), |p| format!("{} kWh", kwh(p.matched_wh))),
                last.map(|p| format!("imported {} · exported {} kWh", kwh(p.imported_wh), kwh(p.exported_wh)))))
            (tile("Revenue (last period)", "revenue", last.map_or("–".to_owned(), |p| format!("{} IOTA", p.revenue)),
                last.map(|p| format!("fee {} · unallocated {}", p.fee, p.unallocated))))
            (tile("Tariff now", "tariff", format!("{} IOTA/kWh", o.cap_now),
                Some(format!("feed-in {} IOTA/kWh · {}", o.feed_in_now, o.tariff_zone))))
            (tile("Self-sufficiency (last period)", "selfSufficiency", last.map_or("–".to_owned(), |p| percent(p.self_sufficiency_bps)),
                last.map(|p| format!("self-consumption {} · self-consumed {} kWh", percent(p.self_consumption_bps), kwh(p.self_consumed_wh)))))
            (tile("Savings", "savings", format!("{} IOTA", o.savings),
                Some(format!("buyers, against the cap, over all periods{}", last.map_or(String::new(), |p| format!(" · {} IOTA in the last", p.savings))))))
            (tile("Gains", "gains", format!("{} IOTA", o.gains),
                Some(format!("sellers, against the feed-in, over all periods{}", last.map_or(String::new(), |p| format!(" · {} IOTA in the last", p.gains))))))
            (tile("Paid in by consumers", "paidIn", format!("{} IOTA", o.paid_in), None))
            (tile("Fees", "fees", format!("{} IOTA", o.fees), None))
            (tile("Paid out to producers", "payouts", format!("{} IOTA", o.payouts), None))
            (tile("Cash held", "cashHeld", format!("{} IOTA", o.cash_held), None))
            (tile("Owed to producers", "owedToProducers", format!("{} IOTA", o.owed_to_producers), None))
            (tile("Batches pending", "batchesPending", o.batches_pending.to_string(),
                Some(format!("{} stalled · {} failed", o.batches_stalled, o.batches_failed))))
            (tile("Dead letters", "deadLetters", o.dead_letters.to_string(),
                Some("work messages given up on after every retry".to_owned())))
            (tile("Late readings", "lateReadings", o.late_readings.as_ref().map_or("none".to_owned(), |l| l.late.to_string()),
                o.late_readings.as_ref().map(|l| format!("in the poll of {} UTC", time(l.at)))))
        }
    }
}

/// Basis points as a percentage with one decimal.
fn percent(bps: u64) -> String {
    format!("{}.{} %", bps / 100, bps % 100 / 10)
}

/// A span of time for people: seconds, minutes or hours (the script says it the same way).
fn span(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs} s"),
        120..7_200 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3_600),
    }
}

fn health_item(key: &str, label: &str, value: String, alarm: bool, rule: String) -> Markup {
    html! {
        li class=(if alarm { "alarm" } else { "ok" }) data-health=(key) {
            span.state { (if alarm { "Alarm" } else { "OK" }) }
            span.label { (label) }
            strong data-health-value { (value) }
            span.rule { (rule) }
        }
    }
}

/// What the alarms watch, red where one would fire (docs/operations.md).
fn health_strip(o: &Overview) -> Markup {
    let h = &o.health;
    let two_periods = format!("alarm beyond {}", span(2 * o.period_secs));
    let lag = |secs: Option<u64>, none: &str| secs.map_or_else(|| none.to_owned(), span);
    let stopped = format!("alarm after {} without a run", span(3 * h.job_interval_secs));
    html! {
        section.health aria-label="Health: what the alarms watch" {
            ul {
                (health_item("settlementLag", "Settlement lag", lag(h.settlement_lag_secs, "nothing settled"),
                    h.settlement_behind, two_periods.clone()))
                (health_item("pollLag", "Poll lag", lag(h.poll_lag_secs, "not swept yet"), h.polling_behind, two_periods))
                (health_item("deadLetters", "Dead letters", h.dead_letters.to_string(), h.dead_letters > 0,
                    "alarm above 0".to_owned()))
                (health_item("batchesStalled", "Stalled batches", h.batches_stalled.to_string(), h.batches_stalled > 0,
                    "alarm above 0".to_owned()))
                @for job in &h.jobs {
                    (health_item(&format!("job-{}", job.job), &format!("Last {} run", job.job),
                        job.last_ran.map_or_else(|| "never".to_owned(), |at| format!("{} ago", span(o.now.saturating_sub(at) / 1000))),
                        job.stopped, stopped.clone()))
                }
            }
        }
    }
}

/// Said at the top of the overview while readings keep arriving after their period
/// settled: the producers are paid, but in a later period than their energy's.
fn late_notice(o: &Overview) -> Markup {
    html! {
        @if let Some(late) = o.late_readings.as_ref().filter(|l| l.recent) {
            p.notice role="alert" data-late-readings {
                "Readings arrive late: " (late.late) " stored after their period had settled (last at "
                (time(late.at)) " UTC). They count in a later period. Raise SETTLEMENT_GRACE_SECS above the "
                "producers' --delay-secs plus POLL_INTERVAL_SECS."
            }
        }
    }
}

fn producer_rows(rows: &[ProducerRow]) -> Markup {
    html! {
        @for p in rows {
            tr {
                td { a href=(format!("/portal/registrations/{}", p.id)) { (p.id) } }
                td { (p.name.as_deref().unwrap_or("")) }
                td { (p.status) }
                (num(p.produced_wh, kwh(p.produced_wh)))
                (num(p.matched_wh, kwh(p.matched_wh)))
                (num(p.exported_wh, kwh(p.exported_wh)))
                (iota(p.earned)) (iota(p.paid_out)) (iota(p.payout_pending)) (iota(p.owed))
                @match &p.last_reading {
                    Some(r) => (num(r.start, format!("{} · {} kWh", time(r.start), kwh(r.wh)))),
                    None => td { "–" },
                }
            }
        }
    }
}

fn consumer_rows(rows: &[ConsumerRow]) -> Markup {
    html! {
        @for c in rows {
            tr {
                td { a href=(format!("/portal/registrations/{}", c.id)) { (c.id) } }
                td { (c.name.as_deref().unwrap_or("")) }
                td { (c.status) }
                (num(c.used_wh, kwh(c.used_wh)))
                (num(c.local_wh, kwh(c.local_wh)))
                (num(c.imported_wh, kwh(c.imported_wh)))
                (iota(c.billed)) (iota(c.paid)) (iota(c.pending)) (iota(c.outstanding))
            }
        }
    }
}

fn period_rows(rows: &[PeriodPoint]) -> Markup {
    html! {
        @for p in rows.iter().rev() {
            tr {
                td { a href=(format!("/portal/periods/{}", p.start)) { (time(p.start)) } }
                td { (p.strategy.as_deref().unwrap_or(&p.rules)) }
                (iota(p.price))
                (num(p.produced_wh, kwh(p.produced_wh)))
                (num(p.used_wh, kwh(p.used_wh)))
                (num(p.matched_wh, kwh(p.matched_wh)))
                (num(p.imported_wh, kwh(p.imported_wh)))
                (num(p.exported_wh, kwh(p.exported_wh)))
                (iota(p.revenue)) (iota(p.fee))
            }
        }
    }
}

fn batch_rows(rows: &[BatchRow]) -> Markup {
    html! {
        @for b in rows {
            tr.(format!("status-{}", b.status)) {
                td { code { (b.id) } }
                td { (b.kind) }
                td { a href=(format!("/portal/registrations/{}", b.registration)) { (b.registration) } }
                (iota(b.amount))
                td { span.badge { (b.status) } }
                (iota(b.times_checked))
                (num(b.last_checked, time(b.last_checked)))
                td { (b.reasons.join("; ")) }
            }
        }
    }
}

fn heartbeat_rows(rows: &[HeartbeatRow]) -> Markup {
    html! {
        @for h in rows {
            tr {
                td { (h.job) }
                (num(h.at.unwrap_or(0), h.at.map_or("never".to_owned(), time)))
                td { code.report { (compact(&serde_json::to_value(&h.report).unwrap_or_default())) } }
            }
        }
    }
}

fn rejection_rows(rows: &[RejectionRow]) -> Markup {
    html! {
        @for r in rows {
            tr {
                td { a href=(format!("/portal/registrations/{}", r.registration)) { (r.registration) } }
                (iota(r.channel_index))
                td { (r.reason) }
                (num(r.at, time(r.at)))
            }
        }
    }
}

/// A report or command as one short line.
fn compact(value: &Value) -> String {
    match value {
        Value::Object(map) => map
            .iter()
            .filter(|(_, v)| !matches!(v, Value::Null) && *v != &Value::from(0) && *v != &Value::from(false))
            .map(|(k, v)| format!("{k}: {}", if let Value::String(s) = v { s.clone() } else { v.to_string() }))
            .collect::<Vec<_>>()
            .join(" · "),
        Value::Null => "–".to_owned(),
        other => other.to_string(),
    }
}

pub(super) async fn overview(State(state): State<PortalState>) -> Result<Html<String>, ApiError> {
    let data = &state.data;
    let overview = data.overview(EpochMs::now()).await?;
    let periods = data.periods(24).await?;
    let producers = data.producers(0, 500).await?.items;
    let consumers = data.consumers(0, 500).await?.items;
    let batches = data.batches(None, 200).await?;
    let heartbeats = data.heartbeats().await?;
    let rejections = data.rejections(50).await?;
    let body = html! {
        div.page-head {
            h1 { "The grid" }
            p.status role="status" aria-live="polite" data-updated { "As of " (time(overview.now)) " UTC" }
        }
        (late_notice(&overview))
        (health_strip(&overview))
        (tiles(&overview))
        section.charts aria-label="Charts" {
            figure.card { figcaption { "The local market: matched, imported, exported" } (charts::market_energy(&periods)) }
            figure.card { figcaption { "Energy per period, by producer" } (charts::energy_by_producer(&periods)) }
            figure.card { figcaption { "Price" } (charts::price_over_time(&periods)) }
            figure.card { figcaption { "The community's own: self-sufficiency and self-consumption" } (charts::self_sufficiency(&periods)) }
            figure.card { figcaption { "Consumer balances" } (charts::consumer_balances(&consumers)) }
        }
        (table("periods", "Settled periods (each links to its report)",
            &["Period (UTC)", "Strategy", "Price", "Produced kWh", "Used kWh", "Matched kWh", "Imported kWh", "Exported kWh", "Revenue", "Fee"],
            period_rows(&periods), periods.is_empty()))
        (table("producers", "Producers",
            &["Producer", "Name", "Status", "Produced kWh", "Matched kWh", "Exported kWh", "Earned", "Paid out", "Payout pending", "Owed", "Last reading"],
            producer_rows(&producers), producers.is_empty()))
        (table("consumers", "Consumers",
            &["Consumer", "Name", "Status", "Used kWh", "Local kWh", "Imported kWh", "Billed", "Paid", "Pending", "Outstanding"],
            consumer_rows(&consumers), consumers.is_empty()))
        (table("batches", "Ledger batches",
            &["Batch", "Kind", "Registration", "Amount", "Status", "Checks", "Last checked", "Reasons"],
            batch_rows(&batches), batches.is_empty()))
        (table("jobs", "Jobs", &["Job", "Last ran (UTC)", "What it did"], heartbeat_rows(&heartbeats), false))
        (table("rejections", "Rejected channel messages", &["Registration", "Index", "Reason", "At (UTC)"],
            rejection_rows(&rejections), rejections.is_empty()))
    };
    Ok(Html(layout("Overview", true, body)))
}

fn message_rows(rows: &[MessageRow]) -> Markup {
    html! {
        @for m in rows {
            tr {
                (iota(m.index))
                td { (super::data::command_name(&m.command)) }
                td { code.report { (compact(&m.command)) } }
            }
        }
    }
}

pub(super) async fn registration(
    State(state): State<PortalState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = RegistrationId::parse(id)?;
    let Some(d) = state.data.detail(&id).await? else {
        let page = layout("Not found", true, html! { h1 { "Not found" } p { "No registration " code { (id) } "." } });
        return Ok((StatusCode::NOT_FOUND, Html(page)).into_response());
    };
    Ok(Html(layout(&d.id, true, detail(&d))).into_response())
}

fn detail(d: &Detail) -> Markup {
    html! {
        div.page-head {
            h1 { (d.id) @if let Some(name) = &d.name { span.sub { " · " (name) } } }
            p { (d.item_type) " · " (d.status) " · registered " (time(d.created)) " UTC" }
        }
        dl.tiles aria-label="Account" {
            @if let Some(p) = &d.producer {
                (tile("Produced", "producedWh", format!("{} kWh", kwh(p.produced_wh)),
                    Some(format!("matched {} · exported {} kWh", kwh(p.matched_wh), kwh(p.exported_wh)))))
                (tile("Earned", "earned", format!("{} IOTA", p.earned), None))
                (tile("Paid out", "paidOut", format!("{} IOTA", p.paid_out), Some(format!("{} pending", p.payout_pending))))
                (tile("Owed", "owed", format!("{} IOTA", p.owed), None))
            }
            @if let Some(c) = &d.consumer {
                (tile("Used", "usedWh", format!("{} kWh", kwh(c.used_wh)),
                    Some(format!("local {} · imported {} kWh", kwh(c.local_wh), kwh(c.imported_wh)))))
                (tile("Billed", "billed", format!("{} IOTA", c.billed), None))
                (tile("Paid", "paid", format!("{} IOTA", c.paid), Some(format!("{} pending", c.pending))))
                (tile("Outstanding", "outstanding", format!("{} IOTA", c.outstanding), None))
            }
            (tile("Channel read up to", "readUpTo", d.read_up_to.to_string(), d.root.as_ref().map(|r| format!("root {}…", &r[..16.min(r.len())]))))
        }
        (table("readings", "Readings", &["Kind", "Start (UTC)", "kWh", "Price", "Index", "Counted in"],
            html! {
                @for r in &d.readings {
                    tr {
                        td { (r.kind) }
                        (num(r.start, time(r.start)))
                        (num(r.wh, kwh(r.wh)))
                        (num(r.price.unwrap_or(0), r.price.map_or("–".to_owned(), |p| p.to_string())))
                        (iota(r.channel_index))
                        (num(r.counted_in, if r.counted_in == r.period { time(r.counted_in) } else { format!("{} (late)", time(r.counted_in)) }))
                    }
                }
            }, d.readings.is_empty()))
        (table("messages", "Its channel (latest messages)", &["Index", "Command", "Content"], message_rows(&d.messages), d.messages.is_empty()))
        @if !d.return_messages.is_empty() {
            (table("return-messages", "What the grid told it", &["Index", "Command", "Content"], message_rows(&d.return_messages), false))
        }
        (table("payments", "Payments", &["Batch", "Kind", "Registration", "Amount", "Status", "Checks", "Last checked", "Reasons"],
            batch_rows(&d.payments), d.payments.is_empty()))
        (table("rejected", "Rejected messages", &["Registration", "Index", "Reason", "At (UTC)"], rejection_rows(&d.rejections), d.rejections.is_empty()))
        p { a href="/portal" { "← Overview" } " · " a href=(format!("/portal/api/registrations/{}", d.id)) { "JSON" } }
    }
}

pub(super) async fn period(
    State(state): State<PortalState>,
    ApiPath(start): ApiPath<u64>,
) -> Result<Response, ApiError> {
    let not_found = |why: &str| {
        let page =
            layout("Not found", true, html! { h1 { "Not found" } p { (why) } p { a href="/portal" { "← Overview" } } });
        Ok((StatusCode::NOT_FOUND, Html(page)).into_response())
    };
    let Some(period) = state.data.period_start(start) else {
        return not_found(&format!("{start} is not the start of a period."));
    };
    let Some(report) = state.data.market_report(period).await? else {
        return match state.data.period_report(period).await? {
            Some(pool) => {
                let body = html! {
                    h1 { "Period " (time(start)) " UTC" }
                    p { "Settled as a pool, before the local market: its report is kept as it was." }
                    pre.report { (serde_json::to_string_pretty(&pool).unwrap_or_default()) }
                    p { a href="/portal" { "← Overview" } }
                };
                Ok(Html(layout("Period", true, body)).into_response())
            }
            None => not_found(&format!("Period {} is not settled.", time(start))),
        };
    };
    let s = &report.settlement;
    let body = html! {
        div.page-head {
            h1 { "Period " (time(start)) " UTC" }
            p { (s.strategy) " · " (s.price.get()) " IOTA/kWh (" (s.price_source.as_str()) ") · consumers pay " code { (report.payment_address) } }
        }
        dl.tiles aria-label="The period" {
            (tile("Produced", "produced", format!("{} kWh", kwh(s.produced.get())), Some(format!("admitted {} kWh", kwh(s.admitted.get())))))
            (tile("Used", "used", format!("{} kWh", kwh(s.used.get())), None))
            (tile("Matched", "matched", format!("{} kWh", kwh(s.matched.get())), Some("traded locally".to_owned())))
            (tile("Imported", "imported", format!("{} kWh", kwh(s.imported.get())), Some("from the consumers' utility".to_owned())))
            (tile("Exported", "exported", format!("{} kWh", kwh(s.exported.get())), Some("to the producers' utility".to_owned())))
            (tile("Revenue", "revenue", format!("{} IOTA", s.revenue.get()), Some(format!("fee {} · unallocated {}", s.fee.get(), s.unallocated.get()))))
            (tile("Self-consumed", "selfConsumed", format!("{} kWh", kwh(s.self_consumed.get())), Some("used by prosumers from their own output".to_owned())))
            (tile("Self-sufficiency", "selfSufficiency", percent(s.self_sufficiency_bps), Some(format!("of use; self-consumption {} of output", percent(s.self_consumption_bps)))))
            (tile("Savings", "savings", format!("{} IOTA", s.savings.get()), Some(format!("buyers, against the cap of {} IOTA/kWh", s.cap.get()))))
            (tile("Gains", "gains", format!("{} IOTA", s.gains), Some(format!("sellers, against the feed-in of {} IOTA/kWh", s.feed_in.get()))))
        }
        (table("period-producers", "Producers: matched and exported",
            &["Seller", "Kind", "Produced kWh", "Self-consumed kWh", "Ask", "Admitted kWh", "Matched kWh", "Exported kWh", "Allocation", "Gain", "Paid to"],
            html! {
                @for p in &s.producers {
                    tr {
                        td { a href=(format!("/portal/registrations/{}", p.id)) { (p.id) } }
                        td { (p.kind.map_or("–", |k| k.as_str())) }
                        (num(p.produced.get(), kwh(p.produced.get())))
                        (num(p.self_consumed.get(), kwh(p.self_consumed.get())))
                        (num(p.ask.map_or(0, |a| a.get()), p.ask.map_or("–".to_owned(), |a| a.get().to_string())))
                        (num(p.admitted.get(), kwh(p.admitted.get())))
                        (num(p.matched.get(), kwh(p.matched.get())))
                        (num(p.exported.get(), kwh(p.exported.get())))
                        (iota(p.allocation.get()))
                        td.num { (p.gain) }
                        td { code { (p.payment_address.as_ref().map_or("–", |a| a.as_str())) } }
                    }
                }
            }, s.producers.is_empty()))
        (table("period-consumers", "Consumers: local and imported",
            &["Buyer", "Kind", "Used kWh", "Self-consumed kWh", "Bid", "Local kWh", "Imported kWh", "Charge", "Saved"],
            html! {
                @for c in &s.consumers {
                    tr {
                        td { a href=(format!("/portal/registrations/{}", c.id)) { (c.id) } }
                        td { (c.kind.map_or("–", |k| k.as_str())) }
                        (num(c.used.get(), kwh(c.used.get())))
                        (num(c.self_consumed.get(), kwh(c.self_consumed.get())))
                        (num(c.bid.map_or(0, |b| b.get()), c.bid.map_or("–".to_owned(), |b| b.get().to_string())))
                        (num(c.local.get(), kwh(c.local.get())))
                        (num(c.imported.get(), kwh(c.imported.get())))
                        (iota(c.charge.get()))
                        (iota(c.savings.get()))
                    }
                }
            }, s.consumers.is_empty()))
        p {
            a href="/portal" { "← Overview" } " · "
            a href=(format!("/portal/api/periods/{start}/report.csv")) download { "Download CSV" } " · "
            a href=(format!("/portal/api/periods/{start}")) { "JSON" }
        }
    };
    Ok(Html(layout("Period", true, body)).into_response())
}
