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
        ("/registration/{registrationId}/sources/{root}", "put"),
        ("/registration/{registrationId}/sources/{root}", "delete"),
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
        ("/members/{registrationId}/statement", "get"),
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

/// Every parameter states its rule machine-readably (a pattern with lengths, an
/// enumeration, or bounds), not only in prose, and the request bodies are closed where
/// the server refuses unknown fields.
#[tokio::test]
async fn the_openapi_document_states_the_rules_of_every_parameter_and_body() {
    let grid = TestGrid::start().await;
    let doc: serde_json::Value =
        grid.http.get(format!("{}/openapi.json", grid.base)).send().await.unwrap().json().await.unwrap();
    let resolve = |schema: &serde_json::Value| match schema["$ref"].as_str() {
        Some(name) => doc["components"]["schemas"][name.trim_start_matches("#/components/schemas/")].clone(),
        None => schema.clone(),
    };
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let schema = resolve(&parameter["schema"]);
                let name = format!("{method} {path} {}", parameter["name"]);
                match schema["type"].as_str() {
                    Some("string") if schema["enum"].is_array() => {}
                    Some("string") => {
                        let pattern = schema["pattern"].as_str().unwrap_or_else(|| panic!("{name}: no pattern"));
                        assert!(
                            pattern.starts_with('^') && pattern.ends_with('$'),
                            "{name}: {pattern} is not anchored"
                        );
                        assert!(schema["minLength"].is_u64() && schema["maxLength"].is_u64(), "{name}: no lengths");
                    }
                    Some("integer") => {
                        assert!(schema["minimum"].is_u64() && schema["maximum"].is_u64(), "{name}: no bounds");
                    }
                    other => panic!("{name}: a parameter of type {other:?}"),
                }
            }
        }
    }
    let schemas = &doc["components"]["schemas"];
    for closed in ["BatchGetBody", "BatchPutBody", "BatchPutMessage", "Envelope"] {
        assert_eq!(schemas[closed]["additionalProperties"], false, "{closed}");
    }
    for branch in schemas["RegistrationBody"]["anyOf"].as_array().unwrap() {
        assert_eq!(branch["additionalProperties"], false, "{branch}");
    }
    assert_eq!(schemas["ItemType"]["enum"], serde_json::json!(["producer", "consumer", "prosumer"]));
    assert_eq!(schemas["BatchGetBody"]["properties"]["addresses"]["maxItems"], 100);
}

/// What changes a registration or its storage names the `X-Side-Key` header and the
/// answers to its absence (401) and to a wrong one (403).
#[tokio::test]
async fn the_openapi_document_gives_the_side_key_header_where_the_server_reads_it() {
    let grid = TestGrid::start().await;
    let doc: serde_json::Value =
        grid.http.get(format!("{}/openapi.json", grid.base)).send().await.unwrap().json().await.unwrap();
    let guarded = [
        ("/registration/{registrationId}", "put"),
        ("/storage/item/{registrationId}/{context}/{id}", "put"),
        ("/storage/{registrationId}/{context}/{id}", "put"),
        ("/storage/{registrationId}/{context}/{id}", "delete"),
        ("/storage/{registrationId}/{context}", "delete"),
        ("/storage/{registrationId}", "delete"),
    ];
    for (path, method) in guarded {
        let operation = &doc["paths"][path][method];
        let header = operation["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "X-Side-Key")
            .unwrap_or_else(|| panic!("{method} {path} has no X-Side-Key"));
        assert_eq!((&header["in"], &header["required"]), (&"header".into(), &false.into()), "{method} {path}");
        assert_eq!(header["schema"]["$ref"], "#/components/schemas/SideKey", "{method} {path}");
        for status in ["401", "403"] {
            assert!(operation["responses"][status].is_object(), "{method} {path} does not document {status}");
        }
    }
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
