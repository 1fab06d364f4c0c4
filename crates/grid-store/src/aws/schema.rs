//! The AWS resources the adapters expect, as data: the one description that
//! `infra/template.yaml` must match (a test compares them) and that tests and local
//! development use to create the same resources on an emulator.

use std::time::Duration;

use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType,
};
use aws_sdk_sqs::types::QueueAttributeName;

use super::{AwsClients, AwsNames, backend};
use crate::StoreError;

/// A key attribute: its name and whether it is a string or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyAttribute {
    pub name: &'static str,
    pub number: bool,
}

const fn string(name: &'static str) -> KeyAttribute {
    KeyAttribute { name, number: false }
}

const fn number(name: &'static str) -> KeyAttribute {
    KeyAttribute { name, number: true }
}

/// A global secondary index (all attributes projected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: &'static str,
    pub hash: KeyAttribute,
    pub range: Option<KeyAttribute>,
}

/// A DynamoDB table of DESIGN.md §5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSpec {
    /// The design's name, also the suffix of the deployed table's name.
    pub name: &'static str,
    /// The environment variable that carries the deployed table's name.
    pub env: &'static str,
    pub hash: KeyAttribute,
    pub range: Option<KeyAttribute>,
    pub indexes: &'static [IndexSpec],
    /// The attribute DynamoDB expires items by, if any.
    pub ttl: Option<&'static str>,
}

/// Every table, in the order of DESIGN.md §5.
pub const TABLES: &[TableSpec] = &[
    TableSpec {
        name: "registrations",
        env: "REGISTRATIONS_TABLE",
        hash: string("id"),
        range: None,
        indexes: &[],
        ttl: None,
    },
    // pk = period#shard (one period spread over READING_SHARDS partitions), sk = registrationId#kind#startTime.
    TableSpec {
        name: "readings",
        env: "READINGS_TABLE",
        hash: string("pk"),
        range: Some(string("sk")),
        indexes: &[],
        ttl: None,
    },
    TableSpec { name: "accounts", env: "ACCOUNTS_TABLE", hash: string("id"), range: None, indexes: &[], ttl: None },
    TableSpec {
        name: "settlements",
        env: "SETTLEMENTS_TABLE",
        hash: number("period"),
        range: None,
        indexes: &[],
        ttl: None,
    },
    // pk = serviceId#batchId; pending batches (and only those) carry `pending`, so the index is sparse.
    TableSpec {
        name: "batches",
        env: "BATCHES_TABLE",
        hash: string("pk"),
        range: None,
        indexes: &[IndexSpec {
            name: "pending-by-last-check",
            hash: string("pending"),
            range: Some(number("lastChecked")),
        }],
        ttl: None,
    },
    TableSpec {
        name: "channel_messages",
        env: "CHANNEL_MESSAGES_TABLE",
        hash: string("address"),
        range: None,
        indexes: &[],
        ttl: None,
    },
    TableSpec {
        name: "leases",
        env: "LEASES_TABLE",
        hash: string("job"),
        range: None,
        indexes: &[],
        ttl: Some("expiresAt"),
    },
];

/// The bucket for storage items and archived period reports.
pub const BUCKET_ENV: &str = "STORAGE_BUCKET";

/// The queues: design name, URL variable, and its dead-letter queue's design name.
pub const QUEUES: &[(&str, &str, &str)] = &[
    ("poll-work", "POLL_WORK_QUEUE_URL", "poll-work-dlq"),
    ("completions", "COMPLETIONS_QUEUE_URL", "completions-dlq"),
];

/// How often a message is received before SQS moves it to the dead-letter queue.
pub const MAX_RECEIVES: u32 = 5;

/// Every environment variable that names an AWS resource.
pub fn resource_variables() -> Vec<&'static str> {
    let mut vars: Vec<&str> = TABLES.iter().map(|t| t.env).collect();
    vars.push(BUCKET_ENV);
    vars.extend(QUEUES.iter().map(|(_, env, _)| *env));
    vars
}

fn attribute_type(key: KeyAttribute) -> ScalarAttributeType {
    if key.number { ScalarAttributeType::N } else { ScalarAttributeType::S }
}

fn key_schema(hash: KeyAttribute, range: Option<KeyAttribute>) -> Result<Vec<KeySchemaElement>, StoreError> {
    let mut schema =
        vec![KeySchemaElement::builder().attribute_name(hash.name).key_type(KeyType::Hash).build().map_err(backend)?];
    if let Some(range) = range {
        schema.push(
            KeySchemaElement::builder().attribute_name(range.name).key_type(KeyType::Range).build().map_err(backend)?,
        );
    }
    Ok(schema)
}

/// Creates every table, the bucket and the queues, named `{prefix}-{name}`, and
/// returns their names. For tests and local development on an emulator; deployments
/// get the same resources from `infra/template.yaml`.
pub async fn provision(clients: &AwsClients, prefix: &str) -> Result<AwsNames, StoreError> {
    let table = |spec: &TableSpec| format!("{prefix}-{}", spec.name.replace('_', "-"));
    for spec in TABLES {
        let mut keys: Vec<KeyAttribute> = vec![spec.hash];
        keys.extend(spec.range);
        for index in spec.indexes {
            keys.push(index.hash);
            keys.extend(index.range);
        }
        keys.sort_by_key(|k| k.name);
        keys.dedup();
        let definitions = keys
            .iter()
            .map(|k| {
                AttributeDefinition::builder()
                    .attribute_name(k.name)
                    .attribute_type(attribute_type(*k))
                    .build()
                    .map_err(backend)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let indexes = spec
            .indexes
            .iter()
            .map(|index| {
                GlobalSecondaryIndex::builder()
                    .index_name(index.name)
                    .set_key_schema(Some(key_schema(index.hash, index.range)?))
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()
                    .map_err(backend)
            })
            .collect::<Result<Vec<_>, _>>()?;
        clients
            .dynamodb
            .create_table()
            .table_name(table(spec))
            .set_attribute_definitions(Some(definitions))
            .set_key_schema(Some(key_schema(spec.hash, spec.range)?))
            .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map_err(backend)?;
    }
    for spec in TABLES {
        clients
            .dynamodb
            .wait_until_table_exists()
            .table_name(table(spec))
            .wait(Duration::from_secs(120))
            .await
            .map_err(backend)?;
    }

    let bucket = format!("{prefix}-storage").to_lowercase();
    clients.s3.create_bucket().bucket(&bucket).send().await.map_err(backend)?;

    let mut urls = Vec::new();
    for (name, _, dead_letters) in QUEUES {
        let dlq_url = create_queue(clients, &format!("{prefix}-{dead_letters}"), None).await?;
        let dlq_arn = clients
            .sqs
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(backend)?
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .ok_or_else(|| StoreError::Backend("SQS returned no queue ARN".into()))?;
        let redrive = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{MAX_RECEIVES}"}}"#);
        urls.push(create_queue(clients, &format!("{prefix}-{name}"), Some(redrive)).await?);
    }

    let name = |design: &str| format!("{prefix}-{}", design.replace('_', "-"));
    Ok(AwsNames {
        registrations_table: name("registrations"),
        readings_table: name("readings"),
        accounts_table: name("accounts"),
        settlements_table: name("settlements"),
        batches_table: name("batches"),
        channel_messages_table: name("channel_messages"),
        leases_table: name("leases"),
        bucket,
        poll_work_queue_url: urls[0].clone(),
        completions_queue_url: urls[1].clone(),
    })
}

async fn create_queue(clients: &AwsClients, name: &str, redrive: Option<String>) -> Result<String, StoreError> {
    let mut request = clients.sqs.create_queue().queue_name(name);
    if let Some(redrive) = redrive {
        request = request.attributes(QueueAttributeName::RedrivePolicy, redrive);
    }
    let output = request.send().await.map_err(backend)?;
    output.queue_url().map(str::to_owned).ok_or_else(|| StoreError::Backend("SQS returned no queue URL".into()))
}
