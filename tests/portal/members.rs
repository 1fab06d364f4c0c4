//! The member page (`/members`) as a member and an attacker meet it: a member signs in
//! with its registration id and one of its side keys and gets a session bound to that
//! registration; logout revokes it; guesses are throttled per client like the portal's;
//! no secret is taken from a URL; and the pages carry the strict CSP.

use std::net::{IpAddr, Ipv4Addr};

use grid_tests::TestGrid;

use super::{post_form, session_of};
use serde_json::json;

fn client(source: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(IpAddr::V4(source))
        .build()
        .unwrap()
}

/// A consumer registered over HTTP: its id and the side key the grid answered.
async fn member(grid: &TestGrid, id: &str) -> (String, String) {
    let reply = grid.put(&format!("/registration/{id}"), &json!({"itemType": "consumer"})).await.expect(201);
    (id.to_owned(), reply.body["sideKey"].as_str().unwrap().to_owned())
}

async fn sign_in(http: &reqwest::Client, grid: &TestGrid, id: &str, key: &str) -> reqwest::Response {
    post_form(http, grid, "/members/login", format!("registrationId={id}&sideKey={key}")).await
}

async fn page(http: &reqwest::Client, grid: &TestGrid, cookie: &str) -> String {
    let page = http.get(format!("{}/members", grid.base)).header("cookie", cookie).send().await.unwrap();
    assert_eq!(page.status(), 200);
    page.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_signs_in_sees_only_its_own_statement_and_logout_revokes_the_session() {
    let grid = TestGrid::start().await;
    let (alice, alice_key) = member(&grid, "consumer-alice").await;
    let (bob, _) = member(&grid, "consumer-bob01").await;
    let http = client(Ipv4Addr::LOCALHOST);

    let signed_in = sign_in(&http, &grid, &alice, &alice_key).await;
    assert_eq!(signed_in.status(), 303);
    let set = signed_in.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/members", "Max-Age=43200"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains(&alice_key), "no key in the cookie");
    let session = session_of(&signed_in);
    let mine = page(&http, &grid, &session).await;
    assert!(mine.contains("consumer-alice") && !mine.contains(&bob), "{mine}");
    assert!(mine.contains("Download CSV"));
    let csv = http.get(format!("{}/members/statement.csv", grid.base)).header("cookie", &session).send().await.unwrap();
    assert_eq!(csv.status(), 200);
    assert!(csv.text().await.unwrap().starts_with("period_start_ms,kind,"));

    // The cookie edited to name another member opens the sign-in form, not Bob's page.
    let forged = session.replace("consumer-alice", "consumer-bob01");
    assert!(page(&http, &grid, &forged).await.contains("name=\"sideKey\""));

    let out = http.post(format!("{}/members/logout", grid.base)).header("cookie", &session).send().await.unwrap();
    assert_eq!(out.status(), 303);
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert!(page(&http, &grid, &session).await.contains("name=\"sideKey\""), "a logged-out copy opens nothing");
    let csv = http.get(format!("{}/members/statement.csv", grid.base)).header("cookie", &session).send().await.unwrap();
    assert_eq!(csv.status(), 401);
    let body: serde_json::Value = csv.json().await.unwrap();
    assert_eq!(body["success"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_at_a_members_key_are_throttled_per_client_by_the_form_and_the_api_alike() {
    let grid = TestGrid::start().await;
    let (alice, alice_key) = member(&grid, "consumer-alice").await;
    let guesser = client(Ipv4Addr::new(127, 0, 0, 31));
    for attempt in 1..=grid_app::sign_in::SIGN_IN_LIMIT {
        let refused = if attempt % 2 == 0 {
            sign_in(&guesser, &grid, &alice, "NotTheKeyOfAlice0001").await.status()
        } else {
            let url = format!("{}/members/{alice}/statement", grid.base);
            guesser.get(url).header("x-side-key", "NotTheKeyOfAlice0001").send().await.unwrap().status()
        };
        assert!(refused == 401 || refused == 403, "attempt {attempt}: {refused}");
    }
    // Past the limit even the right key waits, by either door, with Retry-After.
    let throttled = sign_in(&guesser, &grid, &alice, &alice_key).await;
    assert_eq!(throttled.status(), 429);
    assert!(throttled.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() > 0);
    let url = format!("{}/members/{alice}/statement", grid.base);
    let api = guesser.get(&url).header("x-side-key", &alice_key).send().await.unwrap();
    assert_eq!(api.status(), 429);
    // Another client is not held back.
    let other = client(Ipv4Addr::new(127, 0, 0, 32));
    assert_eq!(sign_in(&other, &grid, &alice, &alice_key).await.status(), 303);
    assert_eq!(other.get(&url).header("x-side-key", &alice_key).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_member_pages_are_served_under_a_strict_csp_and_take_no_secret_from_a_url() {
    let grid = TestGrid::start().await;
    let (alice, alice_key) = member(&grid, "consumer-alice").await;
    let http = client(Ipv4Addr::LOCALHOST);
    let form = http.get(format!("{}/members?registrationId={alice}&sideKey={alice_key}", grid.base)).send().await;
    let form = form.unwrap();
    assert_eq!(form.status(), 400, "a page takes no key from its URL");
    let form = http.get(format!("{}/members", grid.base)).send().await.unwrap();
    let csp = form.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(form.headers().get("set-cookie").is_none());
    let css = http.get(format!("{}/members/static/members.css", grid.base)).send().await.unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    let unknown = sign_in(&http, &grid, "consumer-nobody", &alice_key).await;
    let wrong = sign_in(&http, &grid, &alice, "NotTheKeyOfAlice0001").await;
    assert_eq!((unknown.status().as_u16(), wrong.status().as_u16()), (401, 401));
    let (unknown, wrong) = (unknown.text().await.unwrap(), wrong.text().await.unwrap());
    assert_eq!(unknown, wrong, "the form does not say which ids exist");
}
