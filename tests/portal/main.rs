//! The operator portal over HTTP: every read endpoint with and without the token, on a
//! grid with settled periods, the sign-in flow, the pages, and the security headers.

use grid_core::channel::{Command, Reading};
use grid_core::market::{Period, PeriodLength};
use grid_core::{EpochMs, PaymentAddress, RegistrationId, Wh};
mod members;
mod sessions;

use grid_tests::{TestGrid, channel};
use serde_json::{Value, json};

const TOKEN: &str = "portal-token-for-tests";
const CONFIG: &[(&str, &str)] = &[
    ("SETTLEMENT_PERIOD_SECS", "60"),
    ("SETTLEMENT_GRACE_SECS", "0"),
    ("GRID_WALLET", "grid"),
    ("PORTAL_TOKEN", TOKEN),
];

fn reading(start: u64, wh: u64) -> Reading {
    let at = |ms: u64| EpochMs::parse(ms as i64).unwrap();
    Reading { start: at(start), end: at(start + 30_000), energy: Wh::new(wh) }
}

/// A grid where producer-0001 sold to consumer-0001 over two settled periods, the
/// consumer claimed a payment the ledger never saw, and the producer sent one message
/// the grid refused.
/// Posts `body` to `path` as a sign-in form does.
async fn post_form(http: &reqwest::Client, grid: &TestGrid, path: &str, body: String) -> reqwest::Response {
    http.post(format!("{}{path}", grid.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// The session a sign-in answered: its cookie's `name=value`.
fn session_of(response: &reqwest::Response) -> String {
    response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned()
}

async fn traded() -> TestGrid {
    let grid = TestGrid::start_with(CONFIG).await;
    let producer = channel(41, "SideKeyOfProducer0001");
    let consumer = channel(42, "SideKeyOfConsumer0001");
    for (id, kind, c) in [("producer-0001", "producer", &producer), ("consumer-0001", "consumer", &consumer)] {
        grid.open_channel(c).await;
        let body = json!({"itemType": kind, "itemName": format!("The {kind}"), "root": c.root().as_str(),
                          "sideKey": c.access().side_key().expose()});
        grid.put(&format!("/registration/{id}"), &body).await.expect(201);
    }
    let first = Period::containing(EpochMs::now(), PeriodLength::from_secs(60).unwrap()).start().get() - 5 * 60_000;
    let wallet = PaymentAddress::parse("wallet-producer-0001").unwrap();
    let offers: Vec<Command> = [(first, 2000), (first + 60_000, 1000)]
        .into_iter()
        .map(|(start, wh)| Command::ProducerOutput {
            reading: reading(start, wh),
            price: grid_core::Price::parse(100).unwrap(),
            payment_address: wallet.clone(),
        })
        .chain([Command::Usage(reading(first, 5))]) // a producer does not send usage: refused
        .collect();
    grid.publish(&producer, 1, &offers).await;
    let claim = Command::parse(br#"{"command":"payment","batchId":"pay-nowhere","amount":3}"#).unwrap();
    grid.publish(
        &consumer,
        1,
        &[Command::Usage(reading(first, 1500)), Command::Usage(reading(first + 60_000, 500)), claim],
    )
    .await;
    let polled = grid.poll().await;
    assert_eq!((polled.stored, polled.rejected), (4, 1), "{polled:?}");
    grid.settler().run(EpochMs::now()).await.unwrap();
    grid
}

async fn get(grid: &TestGrid, path: &str, token: Option<&str>) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = reqwest::Client::new().get(format!("{}{path}", grid.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, response.json().await.unwrap_or(Value::Null))
}

const ENDPOINTS: [&str; 8] = [
    "/portal/api/overview",
    "/portal/api/periods",
    "/portal/api/producers",
    "/portal/api/consumers",
    "/portal/api/batches",
    "/portal/api/rejections",
    "/portal/api/heartbeats",
    "/portal/api/registrations/producer-0001",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_endpoint_needs_the_token_and_answers_with_it() {
    let grid = traded().await;
    for path in ENDPOINTS {
        let (status, headers, body) = get(&grid, path, None).await;
        assert_eq!(status, 401, "{path}");
        assert_eq!(headers["www-authenticate"], "Bearer realm=\"portal\"");
        assert_eq!((body["success"].as_bool(), body["message"].as_str().is_some()), (Some(false), true), "{path}");
        assert_eq!(get(&grid, path, Some("portal-token-for-test")).await.0, 401, "{path}: a wrong token");
        let (status, headers, body) = get(&grid, path, Some(TOKEN)).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(!body.is_null(), "{path}");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert!(headers["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_api_tells_what_the_books_say() {
    let grid = traded().await;
    let token = Some(TOKEN);
    let overview = get(&grid, "/portal/api/overview", token).await.2;
    assert_eq!(
        (overview["producers"]["active"].as_u64(), overview["consumers"]["active"].as_u64()),
        (Some(1), Some(1))
    );
    let totals = grid.stores.accounts.totals().await.unwrap();
    assert_eq!(overview["fees"].as_u64(), Some(totals.fees.get()));
    assert_eq!(overview["batchesPending"], 1, "the unbacked claim waits on the ledger");
    let latest = grid.stores.settlements.head().await.unwrap().latest.unwrap();
    assert_eq!(overview["lastSettled"]["start"].as_u64(), Some(latest.get()));

    let periods = get(&grid, "/portal/api/periods?limit=96", token).await.2;
    let periods = periods.as_array().unwrap();
    let produced: u64 = periods.iter().map(|p| p["producedWh"].as_u64().unwrap()).sum();
    let used: u64 = periods.iter().map(|p| p["usedWh"].as_u64().unwrap()).sum();
    assert_eq!((produced, used), (3000, 2000));
    assert!(periods.windows(2).all(|w| w[0]["start"].as_u64() < w[1]["start"].as_u64()), "oldest first");
    assert!(periods.iter().any(|p| p["producedBy"]["producer-0001"] == 2000));

    let producers = get(&grid, "/portal/api/producers", token).await.2;
    let p = &producers["items"][0];
    let account = grid.stores.accounts.get(&"producer-0001".parse().unwrap()).await.unwrap().unwrap();
    assert_eq!((p["id"].as_str(), p["producedWh"].as_u64()), (Some("producer-0001"), Some(3000)));
    assert_eq!(
        (p["earned"].as_u64(), p["owed"].as_u64()),
        (Some(account.entitled.get()), Some(account.entitled.get()))
    );
    assert_eq!(p["lastReading"]["wh"], 1000);
    assert_eq!((producers["totalItems"].as_u64(), producers["totalPages"].as_u64()), (Some(1), Some(1)));

    let consumers = get(&grid, "/portal/api/consumers?page=0&pageSize=10", token).await.2;
    let c = &consumers["items"][0];
    assert_eq!((c["usedWh"].as_u64(), c["pending"].as_u64()), (Some(2000), Some(3)));
    assert_eq!(c["outstanding"].as_u64(), Some(c["billed"].as_u64().unwrap() - 3));

    let batches = get(&grid, "/portal/api/batches?status=pending", token).await.2;
    assert_eq!((batches[0]["id"].as_str(), batches[0]["kind"].as_str()), (Some("pay-nowhere"), Some("claim")));
    assert_eq!(get(&grid, "/portal/api/batches?status=committed", token).await.2, json!([]));

    let rejections = get(&grid, "/portal/api/rejections", token).await.2;
    assert_eq!(rejections[0]["registration"], "producer-0001");
    assert_eq!(rejections[0]["reason"], "a producer does not send usage");

    let jobs = get(&grid, "/portal/api/heartbeats", token).await.2;
    let ran: Vec<&str> =
        jobs.as_array().unwrap().iter().filter(|j| !j["at"].is_null()).map(|j| j["job"].as_str().unwrap()).collect();
    assert_eq!(ran, ["poller-dispatch", "poller", "settlement"], "the monitor has not run, nor a sweep");
    // The poller's heartbeat is its last work message's (the node queues one per write).
    let poller = jobs.as_array().unwrap().iter().find(|j| j["job"] == "poller").unwrap();
    assert!(poller["report"]["stored"].is_u64() && poller["report"]["rejected"].is_u64(), "{poller}");

    let detail = get(&grid, "/portal/api/registrations/consumer-0001", token).await.2;
    assert_eq!(detail["itemType"], "consumer");
    assert_eq!(detail["readings"].as_array().unwrap().len(), 2);
    let said: Vec<&str> = detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["command"]["command"].as_str().unwrap_or("usage"))
        .collect();
    assert_eq!(said, ["payment", "usage", "usage", "hello"], "newest first");
    let told: Vec<&str> = detail["returnMessages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["command"]["command"].as_str().unwrap())
        .collect();
    assert_eq!(told.last(), Some(&"hello"));
    assert!(told.contains(&"payment-request"));
    assert_eq!(detail["payments"][0]["id"], "pay-nowhere");
    assert!(detail.to_string().find("SideKeyOf").is_none(), "no side key leaves the grid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_questions_get_a_400_that_says_what_is_wrong() {
    let grid = traded().await;
    for (path, says) in [
        ("/portal/api/producers?pageSize=0", "pageSize"),
        ("/portal/api/consumers?pageSize=501", "pageSize"),
        ("/portal/api/consumers?page=-1", "page"),
        ("/portal/api/periods?limit=1000", "limit"),
        ("/portal/api/batches?status=lost", "status must be pending, stalled"),
        ("/portal/api/batches?colour=red", "colour"),
        ("/portal/api/registrations/bad%20id", ""),
    ] {
        let (status, _, body) = get(&grid, path, Some(TOKEN)).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["message"].as_str().unwrap().contains(says), "{path}: {body}");
    }
    assert_eq!(get(&grid, "/portal/api/registrations/nobody-00001", Some(TOKEN)).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_sign_in_with_a_form_and_get_pages_under_a_strict_policy() {
    let grid = traded().await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = http.get(format!("{}/portal", grid.base)).send().await.unwrap();
    assert_eq!((page.status().as_u16(), page.headers()["location"].to_str().unwrap()), (303, "/portal/login"));

    let login = |token: &'static str| post_form(&http, &grid, "/portal/login", format!("token={token}"));
    let refused = login("not-the-token-at-all").await;
    assert_eq!(refused.status(), 401);
    assert!(refused.text().await.unwrap().contains("That token does not open this portal."));
    let signed_in = login(TOKEN).await;
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/portal"));
    assert!(!cookie.contains(TOKEN), "the cookie is not the token");
    let session = session_of(&signed_in);

    let page = http.get(format!("{}/portal", grid.base)).header("cookie", &session).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = page.text().await.unwrap();
    for expected in ["producer-0001", "consumer-0001", "pay-nowhere", "a producer does not send usage", "<svg"] {
        assert!(html.contains(expected), "the overview shows {expected}");
    }
    assert!(!html.contains("<script>") && !html.contains("style="), "no inline script or style");
    let detail = http
        .get(format!("{}/portal/registrations/producer-0001", grid.base))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(detail.status(), 200);
    assert!(detail.text().await.unwrap().contains("wallet-producer-0001"), "its offers, as its channel says them");

    let out = http.post(format!("{}/portal/logout", grid.base)).header("cookie", &session).send().await.unwrap();
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    for asset in ["/portal/static/portal.css", "/portal/static/portal.js"] {
        assert_eq!(http.get(format!("{}{asset}", grid.base)).send().await.unwrap().status(), 200, "{asset}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_configured_token_the_portal_opens_for_nobody() {
    let grid = TestGrid::start().await;
    let (status, _, body) = get(&grid, "/portal/api/overview", Some("anything-at-all-123")).await;
    assert_eq!(status, 403);
    assert!(body["message"].as_str().unwrap().contains("no PORTAL_TOKEN"), "{body}");
    let page = reqwest::get(format!("{}/portal", grid.base)).await.unwrap();
    assert_eq!(page.status(), 403);
}

#[tokio::test]
async fn a_page_far_past_the_end_is_empty_not_an_error() {
    let grid = TestGrid::start_with(&[("PORTAL_TOKEN", "portal-token-for-tests")]).await;
    let reply = grid
        .send(
            "GET",
            &format!("/portal/api/producers?page={}&pageSize=500", usize::MAX),
            None,
            &[("authorization", "Bearer portal-token-for-tests")],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["items"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_settled_period_has_its_report_a_page_and_a_csv_behind_the_token() {
    let grid = traded().await;
    let periods = get(&grid, "/portal/api/periods?limit=96", Some(TOKEN)).await.2;
    let traded: Vec<&Value> = periods.as_array().unwrap().iter().filter(|p| p["producedWh"] != 0).collect();
    // Period one: 2 kWh offered at 100 against 1.5 kWh used; period two: 1 kWh against 0.5.
    let expected = [(2000, 1500, 1500, 0, 500, 150, 30, 120), (1000, 500, 500, 0, 500, 50, 10, 40)];
    assert_eq!(traded.len(), 2, "{periods}");
    for (point, (produced, used, matched, imported, exported, revenue, fee, allocation)) in traded.iter().zip(expected)
    {
        let start = point["start"].as_u64().unwrap();
        assert_eq!(
            (&point["matchedWh"], &point["importedWh"], &point["exportedWh"], &point["rules"], &point["strategy"]),
            (&json!(matched), &json!(imported), &json!(exported), &json!("local"), &json!("clearing"))
        );
        let path = format!("/portal/api/periods/{start}");
        assert_eq!(get(&grid, &path, None).await.0, 401);
        let (status, _, report) = get(&grid, &path, Some(TOKEN)).await;
        assert_eq!(status, 200, "{report}");
        let figures: Vec<&Value> = ["produced", "used", "matched", "imported", "exported", "revenue", "fee"]
            .iter()
            .map(|k| &report[*k])
            .collect();
        assert_eq!(
            figures,
            [
                &json!(produced),
                &json!(used),
                &json!(matched),
                &json!(imported),
                &json!(exported),
                &json!(revenue),
                &json!(fee)
            ]
        );
        assert_eq!(report["producers"][0]["allocation"], allocation);
        assert_eq!(report["producers"][0]["paymentAddress"], "wallet-producer-0001");
        assert_eq!(report["consumers"][0]["local"], matched);

        let client = reqwest::Client::new();
        let csv = client.get(format!("{}{path}/report.csv", grid.base)).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(csv.status(), 200);
        assert!(csv.headers()["content-disposition"].to_str().unwrap().contains(&format!("period-{start}.csv")));
        let text = csv.text().await.unwrap();
        assert_eq!(text.lines().count(), 3, "a header, the producer, the consumer: {text}");
        assert!(
            text.contains(&format!("{start},consumer,consumer-0001,100,,,,,,,,{used},{matched},{imported},{revenue}")),
            "{text}"
        );

        let page = client.get(format!("{}/portal/periods/{start}", grid.base)).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        for shown in
            ["Producers: matched and exported", "Consumers: local and imported", "Download CSV", "wallet-producer-0001"]
        {
            assert!(html.contains(shown), "{shown}: {html}");
        }
    }
    // The overview links each period to its page and draws the market's energy.
    let overview = reqwest::Client::new().get(format!("{}/portal", grid.base)).bearer_auth(TOKEN).send().await.unwrap();
    let html = overview.text().await.unwrap();
    assert!(html.contains(&format!("/portal/periods/{}", traded[0]["start"])), "{html}");
    assert!(html.contains("matched, imported and exported"), "{html}");

    // Not a period, not settled, not a number: said in JSON.
    let first = traded[0]["start"].as_u64().unwrap();
    for (path, status) in [
        (format!("/portal/api/periods/{}", first + 1), 404),
        (format!("/portal/api/periods/{}", first + 3_600_000), 404),
        (format!("/portal/api/periods/{}/report.csv", first + 3_600_000), 404),
        ("/portal/api/periods/soon".to_owned(), 400),
        ("/portal/api/periods/99999999999999999999999".to_owned(), 400),
    ] {
        let (got, _, body) = get(&grid, &path, Some(TOKEN)).await;
        assert_eq!((got, body["success"].as_bool()), (status, Some(false)), "{path}: {body}");
        assert!(!body["message"].as_str().unwrap().is_empty(), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_that_arrive_after_their_period_settled_are_shown_on_the_overview() {
    let grid = TestGrid::start_with(CONFIG).await;
    let producer = channel(61, "SideKeyOfProducer0061");
    grid.open_channel(&producer).await;
    let body = json!({"itemType": "producer", "root": producer.root().as_str(),
                      "sideKey": producer.access().side_key().expose()});
    grid.put("/registration/producer-0061", &body).await.expect(201);
    let first = Period::containing(EpochMs::now(), PeriodLength::from_secs(60).unwrap()).start().get() - 5 * 60_000;
    let offer = |start, wh| Command::ProducerOutput {
        reading: reading(start, wh),
        price: grid_core::Price::parse(100).unwrap(),
        payment_address: PaymentAddress::parse("wallet-producer-0061").unwrap(),
    };
    grid.publish(&producer, 1, &[offer(first, 1000)]).await;
    assert_eq!(grid.poll().await.late, 0);
    grid.settler().run(EpochMs::now()).await.unwrap();
    let (_, _, overview) = get(&grid, "/portal/api/overview", Some(TOKEN)).await;
    assert!(overview["lateReadings"].is_null(), "nothing late yet: {overview}");

    // The same period's second half comes after it settled, as a too-short grace makes them.
    grid.publish(&producer, 2, &[offer(first + 30_000, 500)]).await;
    assert_eq!(grid.poll().await.late, 1);
    let (_, _, overview) = get(&grid, "/portal/api/overview", Some(TOKEN)).await;
    assert_eq!((&overview["lateReadings"]["late"], &overview["lateReadings"]["recent"]), (&json!(1), &json!(true)));
    let page = reqwest::Client::new()
        .get(format!("{}/portal", grid.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("data-late-readings") && page.contains("Raise SETTLEMENT_GRACE_SECS"), "the notice");
}

/// The overview's health strip item `key`: its class (`ok` or `alarm`) in the page.
fn health_class<'a>(page: &'a str, key: &str) -> &'a str {
    let at = page.find(&format!(r#"data-health="{key}""#)).unwrap_or_else(|| panic!("no {key} in the strip"));
    let open = page[..at].rfind("<li").unwrap();
    let class = &page[open..at];
    let start = class.find(r#"class=""#).unwrap() + 7;
    &class[start..start + class[start..].find('"').unwrap()]
}

async fn overview_page(grid: &TestGrid) -> String {
    let page = reqwest::Client::new().get(format!("{}/portal", grid.base)).bearer_auth(TOKEN).send().await.unwrap();
    page.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_strip_shows_what_the_alarms_watch_red_where_one_would_fire() {
    use grid_store::resources::MAX_RECEIVES;
    let grid = TestGrid::start_with(&[CONFIG, &[("JOB_INTERVAL_SECS", "60")]].concat()).await;

    // A grid where nothing has run yet: every job's alarm breaches on missing data.
    let (_, _, overview) = get(&grid, "/portal/api/overview", Some(TOKEN)).await;
    let health = &overview["health"];
    let jobs: Vec<(&str, bool)> =
        health["jobs"].as_array().unwrap().iter().map(|j| (j["job"].as_str().unwrap(), j["stopped"] == true)).collect();
    assert_eq!(jobs, [("poller-sweep", true), ("settlement", true), ("batch-monitor", true)], "{health}");
    assert_eq!((&health["settlementLagSecs"], &health["deadLetters"]), (&Value::Null, &json!(0)), "{health}");
    let page = overview_page(&grid).await;
    assert_eq!(health_class(&page, "job-settlement"), "alarm");
    assert_eq!(health_class(&page, "deadLetters"), "ok");
    assert_eq!(health_class(&page, "settlementLag"), "ok", "nothing settled is no lag");

    // A producer's offer of ten minutes ago, settled as of eight minutes ago: the books
    // are more than two periods behind. Its next message was written as long ago, and its
    // notification was lost: the sweep finds its reader ten minutes behind.
    let producer = channel(71, "SideKeyOfProducer0071");
    grid.open_channel(&producer).await;
    let body = json!({"itemType": "producer", "root": producer.root().as_str(),
                      "sideKey": producer.access().side_key().expose()});
    grid.put("/registration/producer-0071", &body).await.expect(201);
    let now = EpochMs::now().get();
    let first = Period::containing(EpochMs::now(), PeriodLength::from_secs(60).unwrap()).start().get() - 10 * 60_000;
    let offer = |start| Command::ProducerOutput {
        reading: reading(start, 1000),
        price: grid_core::Price::parse(100).unwrap(),
        payment_address: PaymentAddress::parse("wallet-producer-0071").unwrap(),
    };
    grid.publish(&producer, 1, &[offer(first)]).await;
    grid.poll().await;
    grid.settler().run(EpochMs::parse((first + 2 * 60_000) as i64).unwrap()).await.unwrap();
    let ten_minutes_ago = EpochMs::parse((now - 10 * 60_000) as i64).unwrap();
    grid.receive_unannounced(&producer, 2, &offer(first + 60_000), ten_minutes_ago).await;
    // A work message no worker can take, delivered until it dies.
    grid.stores.poll_work.send(&["poison".to_owned()]).await.unwrap();
    for _ in 0..MAX_RECEIVES + 1 {
        grid.stores.poll_work.receive(10, std::time::Duration::ZERO).await.unwrap();
    }
    // The sweep finds the channel unread for ten minutes and counts the dead letter.
    grid.poller().sweep().await.unwrap();
    grid.poller().drain(EpochMs::now()).await.unwrap();
    // A claimed payment the ledger keeps not knowing: stalled.
    let claim = grid_core::books::PaymentClaim {
        registration: grid_core::RegistrationId::parse("consumer-0071").unwrap(),
        batch_id: grid_core::BatchId::parse("pay-stalled").unwrap(),
        amount: grid_core::Iota::new(5),
        channel_index: 1,
        claimed: EpochMs::now(),
    };
    grid.stores.accounts.claim_payment(&claim).await.unwrap();
    grid.stores
        .accounts
        .checked(
            &grid_store::Watched::Claim(claim),
            EpochMs::now(),
            EpochMs::now().plus(std::time::Duration::from_secs(60)).unwrap(),
            true,
        )
        .await
        .unwrap();

    let (_, _, overview) = get(&grid, "/portal/api/overview", Some(TOKEN)).await;
    let health = &overview["health"];
    let lag = health["settlementLagSecs"].as_u64().unwrap();
    // Eight minutes and however far into its minute the test ran (it can be 540 s).
    assert!((7 * 60..10 * 60).contains(&lag) && health["settlementBehind"] == true, "{health}");
    let poll_lag = health["pollLagSecs"].as_u64().unwrap();
    assert!((600..660).contains(&poll_lag) && health["pollingBehind"] == true, "{health}");
    assert_eq!((&health["deadLetters"], &health["batchesStalled"]), (&json!(1), &json!(1)), "{health}");
    let stopped: Vec<bool> = health["jobs"].as_array().unwrap().iter().map(|j| j["stopped"] == true).collect();
    assert_eq!(stopped, [false, false, true], "the sweep and settlement ran; the monitor never did: {health}");
    let page = overview_page(&grid).await;
    for (key, class) in [
        ("settlementLag", "alarm"),
        ("pollLag", "alarm"),
        ("deadLetters", "alarm"),
        ("batchesStalled", "alarm"),
        ("job-poller-sweep", "ok"),
        ("job-settlement", "ok"),
        ("job-batch-monitor", "alarm"),
    ] {
        assert_eq!(health_class(&page, key), class, "{key}");
    }
}

/// The registration store, counting the registrations each read hands back.
struct Counting {
    inner: std::sync::Arc<dyn grid_store::RegistrationStore>,
    read: std::sync::atomic::AtomicUsize,
}

impl Counting {
    fn saw(&self, rows: usize) {
        self.read.fetch_add(rows, std::sync::atomic::Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl grid_store::RegistrationStore for Counting {
    async fn insert(&self, r: &grid_core::Registration) -> Result<(), grid_store::StoreError> {
        self.inner.insert(r).await
    }
    async fn id_owner(&self, id: &RegistrationId) -> Result<Option<RegistrationId>, grid_store::StoreError> {
        self.inner.id_owner(id).await
    }
    async fn get(&self, id: &RegistrationId) -> Result<Option<Versioned>, grid_store::StoreError> {
        let found = self.inner.get(id).await?;
        self.saw(found.iter().count());
        Ok(found)
    }
    async fn replace(&self, r: &grid_core::Registration, version: u64) -> Result<u64, grid_store::StoreError> {
        self.inner.replace(r, version).await
    }
    async fn channel_owner(
        &self,
        root: &grid_core::ChannelRoot,
    ) -> Result<Option<RegistrationId>, grid_store::StoreError> {
        self.inner.channel_owner(root).await
    }
    async fn advance_cursor(
        &self,
        id: &RegistrationId,
        root: &grid_core::ChannelRoot,
        from: grid_core::ChannelCursor,
        to: grid_core::ChannelCursor,
        tally: grid_core::intake::ReadingTally,
    ) -> Result<(), grid_store::StoreError> {
        self.inner.advance_cursor(id, root, from, to, tally).await
    }
    async fn list(
        &self,
        after: Option<&grid_store::RegistrationCursor>,
        limit: usize,
    ) -> Result<grid_store::RegistrationPage, grid_store::StoreError> {
        let page = self.inner.list(after, limit).await?;
        self.saw(page.registrations.len());
        Ok(page)
    }
    async fn counts(&self) -> Result<grid_store::RegistrationCounts, grid_store::StoreError> {
        self.inner.counts().await
    }
    async fn of_type(
        &self,
        item_type: grid_core::ItemType,
        skip: usize,
        limit: usize,
    ) -> Result<Vec<grid_core::Registration>, grid_store::StoreError> {
        let page = self.inner.of_type(item_type, skip, limit).await?;
        self.saw(page.len());
        Ok(page)
    }
}

type Versioned = grid_store::Versioned<grid_core::Registration>;

/// 20,000 registrations (a removed one among them), answering the overview and a page of
/// producers through `stores`: the figures, and how many registrations were read.
async fn twenty_thousand_registrations(
    mut stores: grid_store::Stores,
    load: impl AsyncFnOnce(&[grid_core::Registration]),
) -> usize {
    use grid_core::{ChannelCredentials, ItemType, Registration, SideKey};
    let at = EpochMs::parse(1_700_000_000_000).unwrap();
    let registrations: Vec<Registration> = (0..20_000)
        .map(|i| {
            let item_type = if i % 4 == 0 { ItemType::Producer } else { ItemType::Consumer };
            let root = grid_core::ChannelRoot::parse(format!("{i:064x}")).unwrap();
            let channel = ChannelCredentials { root, side_key: SideKey::parse("SideKeyOfTheCrowd0").unwrap() };
            let mut r = Registration::new(
                RegistrationId::parse(format!("party-{i:05}")).unwrap(),
                item_type,
                None,
                Some(channel),
                at,
            );
            if i == 4 {
                r.status = grid_core::RegistrationStatus::Removed { at };
            }
            r
        })
        .collect();
    load(&registrations).await;
    let counting = std::sync::Arc::new(Counting { inner: stores.registrations.clone(), read: Default::default() });
    stores.registrations = counting.clone();
    let config = grid_app::GridConfig::from_vars(&[("PORTAL_TOKEN".to_owned(), TOKEN.to_owned())].into()).unwrap();
    let data = grid_app::app_state(&stores, &config).portal.data.clone();
    let overview = data.overview(EpochMs::now()).await.unwrap();
    assert_eq!((overview.producers.active, overview.producers.removed), (4_999, 1));
    assert_eq!((overview.consumers.active, overview.consumers.removed), (15_000, 0));
    let page = data.producers(3, 10).await.unwrap();
    assert_eq!((page.total_items, page.total_pages), (5_000, 500));
    let ids: Vec<&str> = page.items.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids.first().copied(), Some("party-00120"), "the 31st producer in id order");
    assert_eq!(page.items.len(), 10);
    counting.read.load(std::sync::atomic::Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_store_the_overview_of_20000_registrations_reads_only_the_page_it_shows() {
    let dir = tempfile::tempdir().unwrap();
    let db = grid_store::sqlite::SqliteDb::open(dir.path()).await.unwrap();
    let stores = grid_store::Stores::on_sqlite(&db);
    let target = stores.registrations.clone();
    let read = twenty_thousand_registrations(stores, async |all| {
        for r in all {
            target.insert(r).await.unwrap();
        }
    })
    .await;
    assert_eq!(read, 10, "the page's ten producers, and no other registration");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_dynamodb_the_overview_of_20000_registrations_reads_only_the_page_it_shows() {
    let moto = grid_store::contract::moto::Moto::start();
    let (_, names) = moto.fresh_resources().await;
    let counter = grid_store::aws::RequestCounter::default();
    let clients = grid_store::aws::AwsClients::counted(&moto.sdk_config(), &counter);
    let stores = grid_store::Stores::on_aws(&clients, &names, 4);
    let loader = grid_store::aws::DynamoRegistrationStore::new(&clients, &names.registrations_table);
    let loaded = &counter;
    let read = twenty_thousand_registrations(stores, async |all| {
        loader.load_unchecked(all).await.unwrap();
        loaded.take();
    })
    .await;
    assert_eq!(read, 10, "the page's ten producers, and no other registration");
    // The counts are a page of keys per type (twice: the overview, the page's total);
    // the page one query of keys and one batch read, then each producer's own reads
    // (readings, account). Scans there are of the empty accounts and batches tables.
    let requests = counter.take();
    let total: u64 = requests.values().map(|c| c.requests).sum();
    assert!(total <= 60, "{total} requests: {requests:?}");
}
