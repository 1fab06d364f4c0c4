//! Portal sessions as an attacker meets them (issue 20): a session is new on every
//! sign-in and dies at logout, the token never travels in a URL, sign-ins are
//! throttled per client, and the form's own rejections are the grid's JSON.

use std::net::{IpAddr, Ipv4Addr};

use grid_tests::TestGrid;
use serde_json::Value;

const TOKEN: &str = "portal-token-for-tests";

async fn grid() -> TestGrid {
    TestGrid::start_with(&[("PORTAL_TOKEN", TOKEN)]).await
}

/// A client that does not follow redirects, from `source` (any 127/8 address reaches
/// the loopback listener, so each is a different client to the server).
fn client(source: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(IpAddr::V4(source))
        .build()
        .unwrap()
}

async fn sign_in(http: &reqwest::Client, grid: &TestGrid, token: &str) -> reqwest::Response {
    http.post(format!("{}/portal/login", grid.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap()
}

fn session_of(response: &reqwest::Response) -> String {
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

async fn overview_status(http: &reqwest::Client, grid: &TestGrid, session: &str) -> u16 {
    http.get(format!("{}/portal", grid.base)).header("cookie", session).send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sign_in_gets_a_new_signed_session_that_carries_its_expiry_and_logout_revokes_it() {
    let grid = grid().await;
    let http = client(Ipv4Addr::LOCALHOST);
    let first = session_of(&sign_in(&http, &grid, TOKEN).await);
    let second = session_of(&sign_in(&http, &grid, TOKEN).await);
    assert_ne!(first, second, "a new session on every sign-in");

    // `grid_portal=v1.{id}.{expires ms}.{hmac}`, expiring in twelve hours.
    let value = first.strip_prefix("grid_portal=").unwrap();
    let parts: Vec<&str> = value.split('.').collect();
    assert_eq!(parts.len(), 4, "{value}");
    let expires: u64 = parts[2].parse().unwrap();
    let now = grid_core::EpochMs::now().get();
    assert!((now + 11 * 3_600_000..=now + 12 * 3_600_000).contains(&expires), "expires at {expires}");
    let longer = format!("grid_portal={}.{}.{}.{}", parts[0], parts[1], expires + 86_400_000, parts[3]);
    assert_eq!(overview_status(&http, &grid, &longer).await, 303, "a changed expiry breaks the signature");

    assert_eq!(overview_status(&http, &grid, &first).await, 200);
    let out = http.post(format!("{}/portal/logout", grid.base)).header("cookie", &first).send().await.unwrap();
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(overview_status(&http, &grid, &first).await, 303, "a copy of a logged-out cookie opens nothing");
    let api = http.get(format!("{}/portal/api/overview", grid.base)).header("cookie", &first).send().await.unwrap();
    assert_eq!(api.status(), 401);
    assert_eq!(overview_status(&http, &grid, &second).await, 200, "logout ends that session only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_in_the_url_signs_nobody_in() {
    let grid = grid().await;
    let http = client(Ipv4Addr::LOCALHOST);
    let page = http.get(format!("{}/portal/login?token={TOKEN}", grid.base)).send().await.unwrap();
    assert_eq!(page.status(), 200, "the form, nothing more");
    assert!(page.headers().get("set-cookie").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_attempts_are_throttled_per_client() {
    let grid = grid().await;
    let attacker = client(Ipv4Addr::new(127, 0, 0, 7));
    for attempt in 1..=grid_app::portal::SIGN_IN_LIMIT {
        assert_eq!(sign_in(&attacker, &grid, "a-wrong-guess-0000").await.status(), 401, "attempt {attempt}");
    }
    let throttled = sign_in(&attacker, &grid, TOKEN).await;
    assert_eq!(throttled.status(), 429, "even the right token waits out the window");
    let wait: u64 = throttled.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=300).contains(&wait), "{wait}");
    assert!(throttled.headers().get("set-cookie").is_none());
    let body: Value = throttled.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert!(body["message"].as_str().unwrap().contains("too many sign-in attempts"), "{body}");

    let operator = client(Ipv4Addr::new(127, 0, 0, 8));
    assert_eq!(sign_in(&operator, &grid, TOKEN).await.status(), 303, "another client is not held back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_forms_own_rejections_are_json() {
    let grid = grid().await;
    let http = client(Ipv4Addr::LOCALHOST);
    let url = format!("{}/portal/login", grid.base);
    let not_a_form = http.post(&url).header("content-type", "application/json").body("{}").send().await.unwrap();
    let twice = http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=a&token=b")
        .send()
        .await
        .unwrap();
    for (response, status) in [(not_a_form, 415), (twice, 422)] {
        assert_eq!(response.status(), status);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["success"], false, "{body}");
        assert!(!body["message"].as_str().unwrap().is_empty(), "{body}");
    }
}
