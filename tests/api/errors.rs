//! Every error from every route is the grid's JSON: `{"success": false,
//! "message": …}` with a real status, the framework's own refusals included. One table:
//! each route, with the ways a client gets it wrong.

use grid_tests::TestGrid;
use serde_json::Value;

const TOKEN: &str = "portal-token-for-errors";
const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

/// (method, path, content type, body, the status it must get)
const TABLE: &[(&str, &str, &str, &str, u16)] = &[
    // meta
    ("POST", "/", JSON, "{}", 405),
    ("DELETE", "/openapi.json", JSON, "", 405),
    ("GET", "/no/such/route", JSON, "", 404),
    // registration
    ("PUT", "/registration/bad%20id", JSON, r#"{"itemType":"consumer"}"#, 400),
    ("PUT", "/registration/consumer-0001", JSON, "not json", 400),
    ("PUT", "/registration/consumer-0001", JSON, "[1,2]", 400),
    ("PUT", "/registration/consumer-0001", JSON, r#"{"itemType":"consumer","Root":"x"}"#, 400),
    // The APIs read JSON whatever the declared type (`curl -d` declares a form).
    ("PUT", "/registration/consumer-0001", FORM, "itemType=consumer", 400),
    ("GET", "/registration/consumer-0001", JSON, "", 405),
    ("DELETE", "/registration/nobody-00001/SideKeyThatIsLongEnough1", JSON, "", 404),
    ("DELETE", "/registration/bad%20id/key", JSON, "", 400),
    // storage
    ("PUT", "/storage/item/bad%20id/ctx/item-1", JSON, "{}", 400),
    ("PUT", "/storage/nobody-00001/ctx/item-1", JSON, "{}", 404),
    ("PUT", "/storage/nobody-00001/ctx/item-1", JSON, "not json", 400),
    ("PUT", "/storage/nobody-00001/ctx/item-1", FORM, "a=b", 400),
    ("GET", "/storage/nobody-00001/ctx/item-1", JSON, "", 404),
    ("GET", "/storage/nobody-00001/ctx?pageSize=0", JSON, "", 400),
    ("GET", "/storage/nobody-00001/ctx/?page=x", JSON, "", 400),
    ("GET", "/storage/nobody-00001?pageSize=100000", JSON, "", 400),
    ("DELETE", "/storage/nobody-00001/ctx/item-1", JSON, "", 404),
    ("DELETE", "/storage/nobody-00001/ctx", JSON, "", 404),
    ("DELETE", "/storage/nobody-00001/", JSON, "", 404),
    ("POST", "/storage/nobody-00001/ctx/item-1", JSON, "{}", 405),
    // channels
    ("PUT", "/channels/messages/not-an-address", JSON, "{}", 400),
    ("GET", "/channels/messages/not-an-address", JSON, "", 400),
    ("POST", "/channels/messages/batch-get", JSON, "not json", 400),
    ("POST", "/channels/messages/batch-get", FORM, "a=b", 400),
    ("POST", "/channels/messages/batch-put", JSON, "{}", 400),
    ("GET", "/channels/messages/batch-put", JSON, "", 405),
    // the portal: its API without the token, its forms with the wrong body
    ("GET", "/portal/api/overview", JSON, "", 401),
    ("GET", "/portal/api/periods", JSON, "", 401),
    ("GET", "/portal/api/periods/1", JSON, "", 401),
    ("GET", "/portal/api/periods/1/report.csv", JSON, "", 401),
    ("GET", "/portal/api/producers", JSON, "", 401),
    ("GET", "/portal/api/consumers", JSON, "", 401),
    ("GET", "/portal/api/batches", JSON, "", 401),
    ("GET", "/portal/api/rejections", JSON, "", 401),
    ("GET", "/portal/api/heartbeats", JSON, "", 401),
    ("GET", "/portal/api/registrations/consumer-0001", JSON, "", 401),
    ("POST", "/portal/login", JSON, "{}", 415),
    ("POST", "/portal/login", FORM, "token=a&token=b", 422),
    ("POST", "/portal/login", FORM, "token=wrong-token", 401),
    ("GET", "/portal/logout", JSON, "", 405),
    ("PUT", "/portal/static/portal.css", JSON, "", 405),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_every_mistake_with_the_grids_json() {
    let grid = TestGrid::start_with(&[("PORTAL_TOKEN", TOKEN)]).await;
    let http = reqwest::Client::new();
    let mut wrong = Vec::new();
    for &(method, path, content_type, body, expected) in TABLE {
        let response = http
            .request(method.parse().unwrap(), format!("{}{path}", grid.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let media = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let text = response.text().await.unwrap();
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let shaped = json["success"] == false && json["message"].as_str().is_some_and(|m| !m.is_empty());
        if status != expected || !media.starts_with(JSON) || !shaped {
            wrong.push(format!("{method} {path} ({content_type}): {status} {media} {text:.200}, expected {expected}"));
        }
    }
    assert!(wrong.is_empty(), "answers that are not the grid's JSON error:\n{}", wrong.join("\n"));
}
