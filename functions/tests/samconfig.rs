//! `samconfig.toml`, read as the SAM CLI reads it: for a command in an environment, the
//! command's section over the environment's `global` one. The deploy rehearsal
//! (`make deploy-rehearsal`) shows these settings at work; this says why each is there.

use std::collections::BTreeMap;

use toml::{Table, Value};

const ENVIRONMENTS: [&str; 3] = ["default", "staging", "prod"];

fn samconfig() -> Table {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../samconfig.toml");
    std::fs::read_to_string(path).unwrap().parse().unwrap()
}

/// What `sam <command> --config-env <environment>` reads.
fn settings(config: &Table, environment: &str, command: &str) -> BTreeMap<String, Value> {
    let section = |name: &str| {
        config
            .get(environment)
            .and_then(|e| e.get(name))
            .and_then(|c| c.get("parameters"))
            .and_then(Value::as_table)
            .cloned()
            .unwrap_or_default()
    };
    let mut settings: BTreeMap<String, Value> = section("global").into_iter().collect();
    settings.extend(section(command));
    settings
}

#[test]
fn sam_deploy_deploys_what_sam_build_built_in_every_environment() {
    let config = samconfig();
    for environment in ENVIRONMENTS {
        let build = settings(&config, environment, "build");
        assert_eq!(build["template_file"].as_str(), Some("infra/template.yaml"), "{environment}");
        // With a template of its own, `sam deploy` (and `sam package`) would upload the
        // sources `CodeUri` names instead of .aws-sam/build's binaries.
        for command in ["deploy", "package"] {
            let settings = settings(&config, environment, command);
            assert!(
                !settings.contains_key("template_file"),
                "{environment}: sam {command} must read the built template"
            );
        }
    }
}

#[test]
fn builds_are_never_cached_nor_beta() {
    let config = samconfig();
    for environment in ENVIRONMENTS {
        let build = settings(&config, environment, "build");
        // SAM's cache key is each function's CodeUri (functions/), blind to crates/.
        assert_eq!(build.get("cached").and_then(Value::as_bool), Some(false), "{environment}");
        for command in ["build", "deploy", "package", "validate"] {
            let settings = settings(&config, environment, command);
            assert!(
                !settings.contains_key("beta_features"),
                "{environment}: sam {command} turns on every beta feature"
            );
        }
    }
}

#[test]
fn each_environment_is_its_own_stack_in_a_set_region_and_only_prod_asks_first() {
    let config = samconfig();
    let mut stacks = Vec::new();
    for environment in ENVIRONMENTS {
        let deploy = settings(&config, environment, "deploy");
        stacks.push(deploy["stack_name"].as_str().unwrap().to_owned());
        assert!(deploy.get("region").and_then(Value::as_str).is_some_and(|r| !r.is_empty()), "{environment}");
        let confirms = deploy.get("confirm_changeset").and_then(Value::as_bool).unwrap_or(false);
        assert_eq!(confirms, environment == "prod", "{environment}: only prod waits for a person");
        let capabilities = deploy["capabilities"].as_str().unwrap();
        assert!(capabilities.contains("CAPABILITY_IAM") && capabilities.contains("CAPABILITY_AUTO_EXPAND"));
    }
    assert_eq!(stacks, ["energy-grid-dev", "energy-grid-staging", "energy-grid-prod"]);
}

#[test]
fn every_parameter_an_environment_overrides_is_the_templates_and_a_value_it_allows() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/template.yaml");
    let template: serde_norway::Value = serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let config = samconfig();
    for environment in ENVIRONMENTS {
        let deploy = settings(&config, environment, "deploy");
        let overrides = deploy["parameter_overrides"].as_str().unwrap();
        // `Name="value"` pairs, space-separated, as SAM reads them.
        for pair in overrides.split_whitespace() {
            let (name, value) = pair.split_once('=').unwrap();
            let value = value.trim_matches('"');
            let parameter = &template["Parameters"][name];
            assert!(!parameter.is_null(), "{environment}: the template has no parameter {name}");
            if let Some(allowed) = parameter["AllowedValues"].as_sequence() {
                assert!(
                    allowed.iter().any(|a| a.as_str() == Some(value)),
                    "{environment}: {name}={value} is not one of {allowed:?}"
                );
            }
        }
    }
}
