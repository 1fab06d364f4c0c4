//! `infra/template.yaml` against the code: the same functions, routes, variables,
//! tables, indexes and queues, so a deployment never drifts from what the code reads.

use std::collections::{BTreeMap, BTreeSet};

use grid_app::GridConfig;
use grid_app::lambda::Trigger;
use grid_app::openapi::ApiDoc;
use grid_store::resources::{MAX_RECEIVES, QUEUES, TABLES, resource_variables};
use serde_norway::Value;
use serde_norway::value::TaggedValue;
use utoipa::OpenApi;

const BINARIES: [&str; 7] = ["registration", "storage", "channels", "portal", "poller", "settlement", "batch-monitor"];
const JOBS: [&str; 3] = ["poller", "settlement", "batch-monitor"];

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/template.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).expect("the template exists")).expect("the template is YAML")
}

fn resources(template: &Value) -> BTreeMap<String, Value> {
    let map = template["Resources"].as_mapping().expect("Resources");
    map.iter().map(|(k, v)| (k.as_str().unwrap().to_owned(), v.clone())).collect()
}

fn of_type(template: &Value, kind: &str) -> BTreeMap<String, Value> {
    resources(template).into_iter().filter(|(_, r)| r["Type"].as_str() == Some(kind)).collect()
}

/// The target of `!Ref X` or `!GetAtt X.Attr`.
fn reference(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(tagged) => {
            let TaggedValue { tag, value } = tagged.as_ref();
            let target = value.as_str()?;
            match tag.to_string().as_str() {
                "!Ref" => Some(target.to_owned()),
                "!GetAtt" => Some(target.split('.').next()?.to_owned()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The text of `!Sub "…"`.
fn sub(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "!Sub" => tagged.value.as_str().map(str::to_owned),
        _ => None,
    }
}

/// Function logical id → binary name.
fn functions(template: &Value) -> BTreeMap<String, String> {
    of_type(template, "AWS::Serverless::Function")
        .into_iter()
        .map(|(id, f)| (id, f["Metadata"]["BuildProperties"]["Binary"].as_str().expect("a Binary").to_owned()))
        .collect()
}

#[test]
fn there_is_one_function_per_binary_built_the_cargo_lambda_way() {
    let template = template();
    let binaries: BTreeSet<String> = functions(&template).into_values().collect();
    assert_eq!(binaries, BINARIES.iter().map(|b| b.to_string()).collect());
    for (id, function) in of_type(&template, "AWS::Serverless::Function") {
        assert_eq!(function["Metadata"]["BuildMethod"].as_str(), Some("rust-cargolambda"), "{id}");
        assert_eq!(function["Properties"]["CodeUri"].as_str(), Some("../functions"), "{id}");
    }
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(globals["Handler"].as_str(), Some("bootstrap"));
    assert_eq!(reference(&globals["Architectures"][0]).as_deref(), Some("Architecture"));
    assert_eq!(template["Parameters"]["Architecture"]["Default"].as_str(), Some("arm64"));
    let memory = globals["MemorySize"].as_u64().unwrap();
    assert!((128..=256).contains(&memory), "{memory} MB");
}

#[test]
fn every_variable_the_template_sets_is_one_the_code_reads_and_every_resource_is_named() {
    let template = template();
    let known: BTreeSet<&str> = GridConfig::VARIABLES.iter().copied().chain(resource_variables()).collect();
    let mut set = BTreeMap::new();
    let globals = template["Globals"]["Function"]["Environment"]["Variables"].as_mapping().unwrap();
    set.extend(globals.iter().map(|(k, v)| (k.as_str().unwrap().to_owned(), v.clone())));
    for (id, function) in of_type(&template, "AWS::Serverless::Function") {
        if let Some(own) = function["Properties"]["Environment"]["Variables"].as_mapping() {
            for name in own.keys() {
                assert!(known.contains(name.as_str().unwrap()), "{id} sets {name:?}, which the code never reads");
            }
        }
    }
    for name in set.keys() {
        assert!(known.contains(name.as_str()), "the template sets {name}, which the code never reads");
    }
    assert_eq!(set["GRID_STORE"].as_str(), Some("aws"));

    let resources = resources(&template);
    for spec in TABLES {
        let target = reference(&set[spec.env]).unwrap_or_else(|| panic!("{} must be a !Ref", spec.env));
        let table = &resources[&target];
        assert_eq!(table["Type"].as_str(), Some("AWS::DynamoDB::Table"), "{}", spec.env);
        let name = sub(&table["Properties"]["TableName"]).unwrap();
        assert_eq!(name, format!("${{AWS::StackName}}-{}", spec.name.replace('_', "-")), "{}", spec.env);
    }
    let bucket = reference(&set["STORAGE_BUCKET"]).unwrap();
    assert_eq!(resources[&bucket]["Type"].as_str(), Some("AWS::S3::Bucket"));
    for (design, env, dead_letters, dead_letters_env) in QUEUES {
        for (design, env) in [(design, env), (dead_letters, dead_letters_env)] {
            let queue = reference(&set[*env]).unwrap();
            assert_eq!(resources[&queue]["Type"].as_str(), Some("AWS::SQS::Queue"), "{env}");
            assert_eq!(
                sub(&resources[&queue]["Properties"]["QueueName"]).unwrap(),
                format!("${{AWS::StackName}}-{design}")
            );
        }
        let queue = reference(&set[*env]).unwrap();
        let target = reference(&resources[&queue]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]);
        assert_eq!(target, reference(&set[*dead_letters_env]), "{dead_letters_env} names {env}'s dead-letter queue");
    }
}

#[test]
fn the_tables_have_the_keys_indexes_and_expiry_the_adapters_use() {
    let template = template();
    let tables = of_type(&template, "AWS::DynamoDB::Table");
    assert_eq!(tables.len(), TABLES.len(), "one table per design table, no more");
    for spec in TABLES {
        let wanted = format!("${{AWS::StackName}}-{}", spec.name.replace('_', "-"));
        let (id, table) = tables
            .iter()
            .find(|(_, t)| sub(&t["Properties"]["TableName"]).as_deref() == Some(wanted.as_str()))
            .unwrap_or_else(|| panic!("no table {wanted}"));
        let properties = &table["Properties"];
        let types: BTreeMap<&str, &str> = properties["AttributeDefinitions"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|a| (a["AttributeName"].as_str().unwrap(), a["AttributeType"].as_str().unwrap()))
            .collect();
        let keys = |schema: &Value| -> Vec<(String, String)> {
            schema
                .as_sequence()
                .unwrap()
                .iter()
                .map(|k| (k["AttributeName"].as_str().unwrap().to_owned(), k["KeyType"].as_str().unwrap().to_owned()))
                .collect()
        };
        let expected_keys = |hash: &str, range: Option<&str>| {
            let mut keys = vec![(hash.to_owned(), "HASH".to_owned())];
            keys.extend(range.map(|r| (r.to_owned(), "RANGE".to_owned())));
            keys
        };
        assert_eq!(keys(&properties["KeySchema"]), expected_keys(spec.hash.name, spec.range.map(|r| r.name)), "{id}");
        let mut key_attributes = vec![spec.hash];
        key_attributes.extend(spec.range);
        for index in spec.indexes {
            key_attributes.push(index.hash);
            key_attributes.extend(index.range);
            let gsi = properties["GlobalSecondaryIndexes"]
                .as_sequence()
                .and_then(|s| s.iter().find(|g| g["IndexName"].as_str() == Some(index.name)))
                .unwrap_or_else(|| panic!("{id} lacks the index {}", index.name));
            assert_eq!(keys(&gsi["KeySchema"]), expected_keys(index.hash.name, index.range.map(|r| r.name)), "{id}");
            match index.include {
                None => assert_eq!(gsi["Projection"]["ProjectionType"].as_str(), Some("ALL"), "{id}"),
                Some(attributes) => {
                    assert_eq!(gsi["Projection"]["ProjectionType"].as_str(), Some("INCLUDE"), "{id}");
                    let carried: Vec<&str> = gsi["Projection"]["NonKeyAttributes"]
                        .as_sequence()
                        .unwrap()
                        .iter()
                        .map(|a| a.as_str().unwrap())
                        .collect();
                    assert_eq!(carried, attributes, "{id}.{}", index.name);
                }
            }
        }
        for key in key_attributes {
            assert_eq!(types.get(key.name).copied(), Some(if key.number { "N" } else { "S" }), "{id}.{}", key.name);
        }
        assert_eq!(
            types.len(),
            {
                let mut names: Vec<&str> =
                    spec.indexes.iter().flat_map(|i| [Some(i.hash.name), i.range.map(|r| r.name)]).flatten().collect();
                names.push(spec.hash.name);
                names.extend(spec.range.map(|r| r.name));
                names.sort();
                names.dedup();
                names.len()
            },
            "{id} defines attributes no key uses"
        );
        assert_eq!(properties["TimeToLiveSpecification"]["AttributeName"].as_str(), spec.ttl, "{id}");
        assert_eq!(properties["BillingMode"].as_str(), Some("PAY_PER_REQUEST"), "{id}");
        assert_eq!(properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(), Some(true));
    }
}

/// Every HTTP API route of the template: (method, path) → function binary.
fn routes(template: &Value) -> BTreeMap<(String, String), String> {
    let binaries = functions(template);
    let mut routes = BTreeMap::new();
    for (id, function) in of_type(template, "AWS::Serverless::Function") {
        for event in function["Properties"]["Events"].as_mapping().into_iter().flat_map(|m| m.values()) {
            if event["Type"].as_str() == Some("HttpApi") {
                let method = event["Properties"]["Method"].as_str().unwrap().to_lowercase();
                let path = event["Properties"]["Path"].as_str().unwrap().to_owned();
                assert_eq!(reference(&event["Properties"]["ApiId"]).as_deref(), Some("GridApi"));
                assert!(routes.insert((method, path), binaries[&id].clone()).is_none(), "a route is mapped twice");
            }
        }
    }
    routes
}

#[test]
fn every_route_the_code_serves_is_routed_to_its_function_and_nothing_else_is() {
    let template = template();
    let routes = routes(&template);
    let document = serde_json::to_value(ApiDoc::openapi()).unwrap();
    let mut served = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            served.insert((method.clone(), path.clone()));
        }
    }
    let proxy = |prefix: &str| ("any".to_owned(), format!("/{prefix}/{{proxy+}}"));
    for route in &served {
        // The portal's API and the members' statements live under the portal function's
        // catch-all routes.
        let caught = ["portal", "members"].into_iter().find(|prefix| route.1.starts_with(&format!("/{prefix}/")));
        let function = routes
            .get(route)
            .or_else(|| caught.and_then(|prefix| routes.get(&proxy(prefix))))
            .unwrap_or_else(|| panic!("{route:?} is served but not routed"));
        let expected = match route.1.split('/').nth(1) {
            Some("registration") => "registration",
            Some("storage") => "storage",
            Some("channels") => "channels",
            _ => "portal",
        };
        assert_eq!(function, expected, "{route:?}");
    }
    for (route, function) in &routes {
        let portal_pages = function == "portal"
            && route.0 == "any"
            && (route.1.starts_with("/portal") || route.1.starts_with("/members"));
        assert!(served.contains(route) || portal_pages, "{route:?} is routed to {function} but nothing serves it");
    }
}

#[test]
fn the_jobs_run_on_schedules_whose_input_they_accept_and_the_poller_on_its_queue() {
    let template = template();
    let binaries = functions(&template);
    for (id, function) in of_type(&template, "AWS::Serverless::Function") {
        let binary = binaries[&id].as_str();
        let events: Vec<&Value> = function["Properties"]["Events"].as_mapping().unwrap().values().collect();
        let schedules: Vec<&&Value> = events.iter().filter(|e| e["Type"].as_str() == Some("ScheduleV2")).collect();
        if !JOBS.contains(&binary) {
            assert!(schedules.is_empty(), "{binary} is not a job");
            continue;
        }
        // The poller also runs a rare full sweep; every other job one schedule.
        let jobs: Vec<String> = match binary {
            "poller" => vec![binary.to_owned(), grid_app::lambda::FULL_SWEEP.to_owned()],
            _ => vec![binary.to_owned()],
        };
        assert_eq!(schedules.len(), jobs.len(), "{binary}'s schedules");
        for schedule in schedules {
            let input: serde_json::Value =
                serde_json::from_str(schedule["Properties"]["Input"].as_str().unwrap()).unwrap();
            let job = input["job"].as_str().unwrap().to_owned();
            assert!(matches!(Trigger::parse(&input), Ok(Trigger::Schedule { .. })), "{binary}: {input}");
            assert!(jobs.contains(&job), "{binary} runs {job}");
            // Schedule names are unique in an account and region: a second stack beside
            // this one (staging) needs its own.
            let name = sub(&schedule["Properties"]["Name"]);
            assert_eq!(name, Some(format!("${{AWS::StackName}}-{job}")), "{binary}'s schedule");
        }
        // Queue triggers are plain event source mappings (the SAM event would attach a
        // policy that reads every queue).
        assert!(events.iter().all(|e| e["Type"].as_str() != Some("SQS")), "{binary}");
    }
    let resources = resources(&template);
    let mappings = of_type(&template, "AWS::Lambda::EventSourceMapping");
    assert_eq!(mappings.len(), 1, "only the poller takes queue batches");
    let mapping = &mappings.values().next().expect("one mapping")["Properties"];
    assert_eq!(reference(&mapping["EventSourceArn"]).as_deref(), Some("PollWorkQueue"));
    assert_eq!(reference(&mapping["FunctionName"]).as_deref(), Some("PollerFunction"));
    assert_eq!(mapping["FunctionResponseTypes"][0].as_str(), Some("ReportBatchItemFailures"));
    for queue in ["PollWorkQueue", "CompletionsQueue"] {
        let redrive = &resources[queue]["Properties"]["RedrivePolicy"];
        assert_eq!(redrive["maxReceiveCount"].as_u64(), Some(u64::from(MAX_RECEIVES)), "{queue}");
        assert!(reference(&redrive["deadLetterTargetArn"]).is_some_and(|dlq| dlq.ends_with("DeadLetterQueue")));
    }
}

/// An alarm's single metric (`Namespace`, `MetricName`, `Dimensions`) or, for metric
/// math, each metric it reads.
fn alarm_metrics(alarm: &Value) -> Vec<(String, String, BTreeMap<String, Value>)> {
    let properties = &alarm["Properties"];
    let dimensions = |list: &Value| -> BTreeMap<String, Value> {
        list.as_sequence()
            .into_iter()
            .flatten()
            .map(|d| (d["Name"].as_str().unwrap().to_owned(), d["Value"].clone()))
            .collect()
    };
    match properties["Metrics"].as_sequence() {
        None => vec![(
            properties["Namespace"].as_str().unwrap().to_owned(),
            properties["MetricName"].as_str().unwrap().to_owned(),
            dimensions(&properties["Dimensions"]),
        )],
        Some(queries) => queries
            .iter()
            .filter(|q| !q["MetricStat"].is_null())
            .map(|q| {
                let metric = &q["MetricStat"]["Metric"];
                (
                    metric["Namespace"].as_str().unwrap().to_owned(),
                    metric["MetricName"].as_str().unwrap().to_owned(),
                    dimensions(&metric["Dimensions"]),
                )
            })
            .collect(),
    }
}

#[test]
fn every_alarm_watches_a_metric_that_is_emitted_and_tells_the_alarm_topic() {
    let template = template();
    let resources = resources(&template);
    let alarms = of_type(&template, "AWS::CloudWatch::Alarm");
    let kind = |id: &str| resources[id]["Type"].as_str().unwrap().to_owned();
    let mut watched = BTreeSet::new();
    for (id, alarm) in &alarms {
        for action in ["AlarmActions", "OKActions"] {
            let targets: Vec<_> =
                alarm["Properties"][action].as_sequence().unwrap().iter().map(|t| reference(t).unwrap()).collect();
            assert_eq!(targets, ["AlarmTopic"], "{id}'s {action}");
        }
        for (namespace, name, dimensions) in alarm_metrics(alarm) {
            match namespace.as_str() {
                // The grid's own: the name and the dimensions the code emits it with.
                "EnergyGrid" => {
                    let (_, labels) = grid_app::metrics::EMITTED
                        .iter()
                        .find(|(emitted, _)| *emitted == name)
                        .unwrap_or_else(|| panic!("{id} watches {name}, which the code never emits"));
                    let mut expected: BTreeSet<&str> = labels.iter().copied().collect();
                    expected.insert(grid_app::metrics::STACK);
                    assert_eq!(dimensions.keys().map(String::as_str).collect::<BTreeSet<_>>(), expected, "{id}");
                    assert_eq!(reference(&dimensions["Stack"]).as_deref(), Some("AWS::StackName"), "{id}");
                    if let Some(job) = dimensions.get("job") {
                        let job = job.as_str().unwrap();
                        let exists = grid_app::jobs::Job::RUNS.iter().any(|run| run.as_str() == job);
                        assert!(exists, "{id} watches a job that does not exist: {job}");
                        watched.insert(format!("{name}/{job}"));
                    } else {
                        watched.insert(name.clone());
                    }
                }
                "AWS/SQS" => {
                    let queue = reference(&dimensions["QueueName"]).unwrap();
                    assert_eq!(kind(&queue), "AWS::SQS::Queue", "{id}");
                    watched.insert(format!("{name}/{queue}"));
                }
                "AWS/Lambda" => {
                    let function = reference(&dimensions["FunctionName"]).unwrap();
                    assert_eq!(kind(&function), "AWS::Serverless::Function", "{id}");
                    watched.insert(format!("{name}/{function}"));
                }
                "AWS/ApiGateway" => {
                    assert_eq!(reference(&dimensions["ApiId"]).as_deref(), Some("GridApi"), "{id}");
                    watched.insert(format!("api/{name}"));
                }
                "AWS/S3" => {
                    let bucket = reference(&dimensions["BucketName"]).unwrap();
                    assert_eq!(kind(&bucket), "AWS::S3::Bucket", "{id}");
                    watched.insert(format!("{name}/{bucket}"));
                }
                "AWS/DynamoDB" => {
                    let table = reference(&dimensions["TableName"]).unwrap();
                    assert_eq!(kind(&table), "AWS::DynamoDB::Table", "{id}");
                    watched.insert(format!("{name}/{table}"));
                }
                other => panic!("{id} watches {other}/{name}"),
            }
        }
    }
    // What must be watched, each by some alarm.
    let mut wanted: BTreeSet<String> = [
        "ApproximateNumberOfMessagesVisible/PollWorkDeadLetterQueue",
        "ApproximateNumberOfMessagesVisible/CompletionsDeadLetterQueue",
        "api/5xx",
        "api/Count",
        "ledger_batches_stalled",
        "ledger_batches_invalid",
        "settlement_lag_seconds",
        "poll_lag_seconds",
        "job_runs/poller-sweep",
        "job_runs/settlement",
        "job_runs/batch-monitor",
        // Growth that costs money before anything breaks.
        "BucketSizeBytes/StorageBucket",
        "ConsumedWriteCapacityUnits/ReadingsTable",
        "ConsumedWriteCapacityUnits/ChannelMessagesTable",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    for function in functions(&template).keys() {
        wanted.insert(format!("Errors/{function}"));
        wanted.insert(format!("Throttles/{function}"));
    }
    assert_eq!(watched, wanted);

    // Two periods behind (of the length the stack runs: the code's default) is too far.
    let period = GridConfig::from_vars(&Default::default()).unwrap().market.period.secs();
    for id in ["SettlementLagAlarm", "PollLagAlarm"] {
        assert_eq!(alarms[id]["Properties"]["Threshold"].as_u64(), Some(2 * period), "{id}");
    }
    // A stopped job breaches: no runs means no data.
    for id in ["PollerStoppedAlarm", "SettlementStoppedAlarm", "BatchMonitorStoppedAlarm"] {
        assert_eq!(alarms[id]["Properties"]["TreatMissingData"].as_str(), Some("breaching"), "{id}");
        assert_eq!(alarms[id]["Properties"]["EvaluationPeriods"].as_u64(), Some(3), "{id}");
    }
    // The e-mail subscription exists only when an address is given.
    let subscription = &resources["AlarmEmailSubscription"];
    assert_eq!(subscription["Condition"].as_str(), Some("HasAlarmEmail"));
    assert_eq!(reference(&subscription["Properties"]["TopicArn"]).as_deref(), Some("AlarmTopic"));
    assert_eq!(reference(&subscription["Properties"]["Endpoint"]).as_deref(), Some("AlarmEmail"));
}

/// Found by an attacker on AWS: one throttle bucket served the whole API, so one client
/// flooding writes denied everyone; deleted versions stayed 90 days; nothing watched
/// growth. Every route that writes has its own, lower throttle; old versions go within
/// a week; an optional edge puts a WAF rule per client address in front of the API.
#[test]
fn writes_are_throttled_per_route_below_reads_old_versions_expire_and_an_edge_limits_each_client() {
    let template = template();
    let resources = resources(&template);
    let parameters = &template["Parameters"];
    let default = |name: &str| parameters[name]["Default"].as_u64().unwrap();
    assert!(default("ApiWriteRateLimit") < default("ApiRateLimit"));
    assert!(default("ApiWriteBurstLimit") < default("ApiBurstLimit"));
    let api = &resources["GridApi"]["Properties"];
    let settings = api["RouteSettings"].as_mapping().expect("per-route throttles");
    let writes: BTreeSet<String> = routes(&template)
        .into_keys()
        .filter(|(method, path)| ["put", "post", "delete"].contains(&method.as_str()) && !path.ends_with("batch-get"))
        .filter(|(_, path)| !path.starts_with("/portal"))
        .map(|(method, path)| format!("{} {path}", method.to_uppercase()))
        .collect();
    let throttled: BTreeSet<String> = settings.keys().map(|k| k.as_str().unwrap().to_owned()).collect();
    assert_eq!(throttled, writes, "every write route, and only those, has its own throttle");
    for (route, throttle) in settings {
        assert_eq!(reference(&throttle["ThrottlingRateLimit"]).as_deref(), Some("ApiWriteRateLimit"), "{route:?}");
        assert_eq!(reference(&throttle["ThrottlingBurstLimit"]).as_deref(), Some("ApiWriteBurstLimit"), "{route:?}");
    }

    let rules = resources["StorageBucket"]["Properties"]["LifecycleConfiguration"]["Rules"].as_sequence().unwrap();
    let kept: Vec<u64> =
        rules.iter().filter_map(|r| r["NoncurrentVersionExpiration"]["NoncurrentDays"].as_u64()).collect();
    assert_eq!(kept, [7], "old versions are kept a week");

    let acl = &resources["EdgeWebAcl"];
    let edge = &resources["EdgeDistribution"];
    assert_eq!((acl["Condition"].as_str(), edge["Condition"].as_str()), (Some("UseEdge"), Some("UseEdge")));
    let rule = &acl["Properties"]["Rules"][0];
    assert_eq!(rule["Statement"]["RateBasedStatement"]["AggregateKeyType"].as_str(), Some("IP"));
    assert_eq!(
        reference(&rule["Statement"]["RateBasedStatement"]["Limit"]).as_deref(),
        Some("EdgeRequestsPer5Minutes")
    );
    assert_eq!(rule["Action"]["Block"]["CustomResponse"]["ResponseCode"].as_u64(), Some(429));
    let origin = sub(&edge["Properties"]["DistributionConfig"]["Origins"][0]["DomainName"]).unwrap();
    assert!(origin.starts_with("${GridApi}.execute-api."), "{origin}");
    let budget = &resources["MonthlyBudget"];
    assert_eq!(budget["Condition"].as_str(), Some("HasBudget"));
}

#[test]
fn the_api_logs_each_request_without_its_path_for_as_long_as_the_functions_logs() {
    let template = template();
    let resources = resources(&template);
    let settings = &resources["GridApi"]["Properties"]["AccessLogSettings"];
    let group = reference(&settings["DestinationArn"]).unwrap();
    assert_eq!(resources[&group]["Type"].as_str(), Some("AWS::Logs::LogGroup"));
    assert_eq!(reference(&resources[&group]["Properties"]["RetentionInDays"]).as_deref(), Some("LogRetentionDays"));
    let format: serde_json::Value = serde_json::from_str(settings["Format"].as_str().unwrap()).unwrap();
    let fields: Vec<&str> = format.as_object().unwrap().values().map(|v| v.as_str().unwrap()).collect();
    for wanted in ["$context.requestId", "$context.routeKey", "$context.status", "$context.responseLatency"] {
        assert!(fields.contains(&wanted), "the access log records {wanted}");
    }
    for path in ["$context.path", "$context.requestPath", "$context.rawPath"] {
        assert!(!fields.contains(&path), "a path carries ids and keys: {path}");
    }
}

#[test]
fn the_dashboard_shows_every_metric_the_code_emits_with_its_dimensions() {
    let template = template();
    let body = sub(&resources(&template)["Dashboard"]["Properties"]["DashboardBody"]).unwrap();
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut shown = BTreeSet::new();
    for widget in body["widgets"].as_array().unwrap() {
        for metric in widget["properties"]["metrics"].as_array().unwrap() {
            let parts = metric.as_array().unwrap();
            if parts[0] != "EnergyGrid" {
                continue;
            }
            let name = parts[1].as_str().unwrap();
            let (_, labels) = grid_app::metrics::EMITTED
                .iter()
                .find(|(emitted, _)| *emitted == name)
                .unwrap_or_else(|| panic!("the dashboard shows {name}, which the code never emits"));
            // Name-value pairs after the metric's name, then its options.
            let dimensions: BTreeMap<&str, &str> = parts[2..]
                .chunks(2)
                .filter_map(|pair| Some((pair.first()?.as_str()?, pair.get(1)?.as_str()?)))
                .collect();
            let mut expected: BTreeSet<&str> = labels.iter().copied().collect();
            expected.insert(grid_app::metrics::STACK);
            assert_eq!(dimensions.keys().copied().collect::<BTreeSet<_>>(), expected, "{name}");
            assert_eq!(dimensions["Stack"], "${AWS::StackName}", "{name}");
            shown.insert(name);
        }
    }
    let emitted: BTreeSet<&str> = grid_app::metrics::EMITTED.iter().map(|(name, _)| *name).collect();
    assert_eq!(shown, emitted, "every metric the code emits is on the dashboard");
}

#[test]
fn every_function_is_traced_by_x_ray() {
    let template = template();
    assert_eq!(template["Globals"]["Function"]["Tracing"].as_str(), Some("Active"));
    for (id, function) in of_type(&template, "AWS::Serverless::Function") {
        let own = &function["Properties"]["Tracing"];
        assert!(own.is_null() || own.as_str() == Some("Active"), "{id} turns tracing off");
    }
}
