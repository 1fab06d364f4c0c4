//! `GET /`, `/openapi.json`, and what happens off the map.

use grid_tests::TestGrid;

#[tokio::test]
async fn the_root_names_the_service_and_its_version() {
    let grid = TestGrid::start().await;
    let reply = grid.get("/").await.expect(200);
    assert_eq!(reply.body["name"], "energy-grid");
    assert_eq!(reply.body["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_with_its_methods() {
    let grid = TestGrid::start().await;
    let response = grid.http.get(format!("{}/openapi.json", grid.base)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let doc: serde_json::Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let expected = [
        ("/", "get"),
        ("/openapi.json", "get"),
        ("/registration/{registrationId}", "put"),
        ("/registration/{registrationId}/{sideKey}", "delete"),
        ("/storage/item/{registrationId}/{context}/{id}", "put"),
        ("/storage/{registrationId}/{context}/{id}", "put"),
        ("/storage/{registrationId}/{context}/{id}", "get"),
        ("/storage/{registrationId}/{context}/{id}", "delete"),
        ("/storage/{registrationId}/{context}", "get"),
        ("/storage/{registrationId}/{context}", "delete"),
        ("/storage/{registrationId}", "delete"),
        ("/storage/{registrationId}", "get"),
        ("/channels/messages/{address}", "put"),
        ("/channels/messages/{address}", "get"),
        ("/channels/messages/batch-get", "post"),
        ("/channels/messages/batch-put", "post"),
        ("/portal/api/overview", "get"),
        ("/portal/api/periods", "get"),
        ("/portal/api/periods/{periodStart}", "get"),
        ("/portal/api/periods/{periodStart}/report.csv", "get"),
        ("/portal/api/producers", "get"),
        ("/portal/api/consumers", "get"),
        ("/portal/api/batches", "get"),
        ("/portal/api/rejections", "get"),
        ("/portal/api/heartbeats", "get"),
        ("/portal/api/registrations/{registrationId}", "get"),
    ];
    for (path, method) in expected {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} missing from the OpenAPI document");
    }
    assert_eq!(doc["paths"]["/portal/api/overview"]["get"]["security"][0]["portal"], serde_json::json!([]));
    assert_eq!(doc["components"]["securitySchemes"]["portal"]["scheme"], "bearer");
    assert!(doc["components"]["schemas"]["ProducerRow"].is_object(), "the portal's shapes are described");
    let documented: usize = doc["paths"].as_object().unwrap().values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(documented, expected.len(), "the document lists a route the test does not know");
}

#[tokio::test]
async fn an_unknown_route_is_a_json_404() {
    let grid = TestGrid::start().await;
    let reply = grid.get("/no/such/route").await.expect(404);
    assert_eq!(reply.message(), "no route for GET /no/such/route");
}

#[tokio::test]
async fn a_known_route_with_the_wrong_method_is_a_json_405() {
    let grid = TestGrid::start().await;
    let reply = grid.send("POST", "/registration/producer-0001", None, &[]).await.expect(405);
    assert!(reply.message().contains("POST"), "{}", reply.body);
}

#[tokio::test]
async fn responses_forbid_content_sniffing() {
    let grid = TestGrid::start().await;
    let response = grid.http.get(format!("{}/", grid.base)).send().await.unwrap();
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}
