//! Portal sessions as an attacker meets them: a session is new on every
//! sign-in and dies at logout, the token never travels in a URL, sign-ins are
//! throttled per client, and the form's own rejections are the grid's JSON.

use std::net::{IpAddr, Ipv4Addr};

use grid_tests::TestGrid;

use super::{post_form, session_of};
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
    post_form(http, grid, "/portal/login", format!("token={token}")).await
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
    for attempt in 1..=grid_app::sign_in::SIGN_IN_LIMIT {
        assert_eq!(sign_in(&attacker, &grid, "a-wrong-guess-0000").await.status(), 401, "attempt {attempt}");
    }
    let throttled = sign_in(&attacker, &grid, TOKEN).await;
    assert_eq!(throttled.status(), 429, "even the right token waits out the window");
    let wait: u64 = throttled.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=300).contains(&wait), "{wait}");
    assert!(throttled.headers().get("set-cookie").is_none());
    let body: Value = throttled.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert!(body["message"].as_str().unwrap().contains("too many failed sign-ins"), "{body}");

    let operator = client(Ipv4Addr::new(127, 0, 0, 8));
    assert_eq!(sign_in(&operator, &grid, TOKEN).await.status(), 303, "another client is not held back");
}

/// Found by an attacker: the form counted successes too (the eleventh correct sign-in got
/// 429), and wrong bearer tokens were never throttled (30.4k guesses a second, all 401).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_failed_sign_ins_count_and_a_success_forgets_them() {
    let grid = grid().await;
    let operator = client(Ipv4Addr::new(127, 0, 0, 9));
    for n in 0..(grid_app::sign_in::SIGN_IN_LIMIT * 2) {
        assert_eq!(sign_in(&operator, &grid, TOKEN).await.status(), 303, "correct sign-in {n}");
    }
    // Failures up to one short of the limit, a success, and as many failures again.
    for _ in 0..2 {
        for _ in 1..grid_app::sign_in::SIGN_IN_LIMIT {
            assert_eq!(sign_in(&operator, &grid, "a-wrong-guess-0000").await.status(), 401);
        }
        assert_eq!(sign_in(&operator, &grid, TOKEN).await.status(), 303, "a success resets the count");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_bearer_tokens_and_forged_cookies_count_as_failed_sign_ins() {
    let grid = grid().await;
    let guesser = client(Ipv4Addr::new(127, 0, 0, 10));
    let api = format!("{}/portal/api/overview", grid.base);
    for n in 0..grid_app::sign_in::SIGN_IN_LIMIT {
        let guess = if n % 2 == 0 {
            guesser.get(&api).bearer_auth(format!("a-wrong-guess-{n:04}"))
        } else {
            guesser.get(&api).header("cookie", format!("grid_portal=v1.forged{n}.1.00"))
        };
        assert_eq!(guess.send().await.unwrap().status(), 401, "guess {n}");
    }
    let throttled = guesser.get(&api).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(throttled.status(), 429, "past the limit even the right token waits");
    assert!(throttled.headers().get("retry-after").is_some());
    let body: Value = throttled.json().await.unwrap();
    assert_eq!(body["success"], false, "{body}");
    // A live session still opens the portal from that address: it cannot be guessed.
    let operator = client(Ipv4Addr::new(127, 0, 0, 11));
    let session = session_of(&sign_in(&operator, &grid, TOKEN).await);
    assert_eq!(overview_status(&guesser, &grid, &session).await, 200);
    // No credential at all is no attempt.
    let anonymous = client(Ipv4Addr::new(127, 0, 0, 12));
    for _ in 0..(grid_app::sign_in::SIGN_IN_LIMIT * 2) {
        assert_eq!(anonymous.get(&api).send().await.unwrap().status(), 401);
    }
    assert_eq!(anonymous.get(&api).bearer_auth(TOKEN).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_forms_own_rejections_are_json() {
    let grid = grid().await;
    let http = client(Ipv4Addr::LOCALHOST);
    let url = format!("{}/portal/login", grid.base);
    let not_a_form = http.post(&url).header("content-type", "application/json").body("{}").send().await.unwrap();
    let twice = post_form(&http, &grid, "/portal/login", "token=a&token=b".to_owned()).await;
    for (response, status) in [(not_a_form, 415), (twice, 422)] {
        assert_eq!(response.status(), status);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["success"], false, "{body}");
        assert!(!body["message"].as_str().unwrap().is_empty(), "{body}");
    }
}
