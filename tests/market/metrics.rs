//! Metrics: after three periods traded, polled and settled, what `GET /metrics` counts
//! is what the books hold, and only the portal token may read it.

use grid_core::EpochMs;
use grid_tests::TestGrid;

use super::helpers::{CONFIG, LENGTH_MS, readings_counted_in, traded_once};

/// The sum of every series of `name` in a Prometheus text exposition.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|line| line.strip_prefix(name).is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' ')))
        .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64)
        .sum()
}

/// What `GET /metrics` counts after three periods traded, polled and settled is what the
/// books hold: readings stored, messages the node stored, periods settled, their revenue,
/// fee and energy; and requests by route template.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_trading_the_metrics_count_what_the_books_hold() {
    use grid_app::metrics::*;
    const TOKEN: &str = "metrics-test-token-0001";
    collect_for_prometheus().unwrap();
    let grid = TestGrid::start_with(&[CONFIG, &[("PORTAL_TOKEN", TOKEN)]].concat()).await;
    let (_, _, first) = traded_once(&grid).await;
    grid.poll().await;
    let settled = grid.settler().run(EpochMs::now()).await.unwrap();

    let scrape = grid.http.get(format!("{}/metrics", grid.base)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(scrape.status(), 200);
    let text = scrape.text().await.unwrap();
    let mut stored = 0;
    for period in (0..6).map(|i| first + i * LENGTH_MS) {
        stored += readings_counted_in(&grid, period).await as u64;
    }
    assert_eq!((metric(&text, READINGS_INGESTED), stored), (11, 11), "{text}");
    assert_eq!(metric(&text, MESSAGES_ATTACHED), 5 + 11, "five hellos and eleven readings through the node");
    assert_eq!(metric(&text, READINGS_REJECTED), 0);
    assert_eq!(metric(&text, PERIODS_SETTLED), settled.len() as u64);
    let sum = |f: fn(&grid_core::market::SettlementRecord) -> u64| settled.iter().map(f).sum::<u64>();
    assert!(sum(|r| r.revenue.get()) > 0, "the periods traded");
    assert_eq!(metric(&text, REVENUE), sum(|r| r.revenue.get()));
    assert_eq!(metric(&text, FEE), sum(|r| r.fee.get()));
    assert_eq!(metric(&text, MATCHED), sum(|r| r.matched.get()));
    assert_eq!(metric(&text, IMPORTED), sum(|r| r.imported.get()));
    assert_eq!(metric(&text, EXPORTED), sum(|r| r.exported.get()));
    // Settled up to the last due period: its end is less than a period and a second behind.
    assert!(text.lines().any(|line| line.starts_with(SETTLEMENT_LAG)), "{text}");
    assert!(metric(&text, SETTLEMENT_LAG) <= LENGTH_MS / 1000 + 1, "{text}");
    assert!(
        text.contains(r#"http_requests{route="/registration/{registrationId}",status="2xx"} 5"#),
        "requests counted by route template, never by path: {text}"
    );

    // The sweep's gauges: nothing unread, nothing dead.
    let swept = grid.poller().sweep().await.unwrap();
    let text = grid.http.get(format!("{}/metrics", grid.base)).bearer_auth(TOKEN).send().await.unwrap();
    let text = text.text().await.unwrap();
    assert_eq!((swept.lag_seconds, metric(&text, POLL_LAG)), (0, 0), "{text}");
    assert!(text.contains(r#"dead_letters{queue="poll-work"} 0"#), "{text}");
    assert!(text.contains(r#"dead_letters{queue="completions"} 0"#), "the sweep counts both queues: {text}");

    let stranger = grid.get("/metrics").await.expect(401);
    assert!(stranger.message().contains("PORTAL_TOKEN"), "{}", stranger.body);
}
