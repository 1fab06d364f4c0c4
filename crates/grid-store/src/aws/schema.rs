//! Creating the resources of [`crate::resources`] on an emulator (tests, local
//! development); deployments get them from `infra/template.yaml`.

use std::time::Duration;

use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType,
};
use aws_sdk_sqs::types::QueueAttributeName;

use super::{AwsClients, backend};
use crate::StoreError;
use crate::resources::{AwsNames, KeyAttribute, MAX_RECEIVES, QUEUES, TABLES, TableSpec};

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
                    .projection(match index.include {
                        None => Projection::builder().projection_type(ProjectionType::All).build(),
                        Some(attributes) => Projection::builder()
                            .projection_type(ProjectionType::Include)
                            .set_non_key_attributes(Some(attributes.iter().map(|a| (*a).to_owned()).collect()))
                            .build(),
                    })
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
    for (name, _, dead_letters, _) in QUEUES {
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
        urls.push((create_queue(clients, &format!("{prefix}-{name}"), Some(redrive)).await?, dlq_url));
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
        rejections_table: name("rejections"),
        bucket,
        poll_work_queue_url: urls[0].0.clone(),
        poll_work_dead_letter_url: urls[0].1.clone(),
        completions_queue_url: urls[1].0.clone(),
        completions_dead_letter_url: urls[1].1.clone(),
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
