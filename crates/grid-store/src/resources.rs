//! The AWS resources the adapters expect, as plain data: DESIGN.md §5's tables, the
//! bucket and the queues, with the environment variables that carry their deployed
//! names. `infra/template.yaml` must match this (a test compares them), and
//! `aws::schema::provision` creates the same resources on an emulator.

/// Where each kind of state lives: table, bucket and queue names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsNames {
    pub registrations_table: String,
    pub readings_table: String,
    pub accounts_table: String,
    pub settlements_table: String,
    pub batches_table: String,
    pub channel_messages_table: String,
    pub leases_table: String,
    pub rejections_table: String,
    pub bucket: String,
    pub poll_work_queue_url: String,
    pub poll_work_dead_letter_url: String,
    pub completions_queue_url: String,
    pub completions_dead_letter_url: String,
}

/// A variable that names an AWS resource is missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} must be set when GRID_STORE=aws")]
pub struct MissingResource(pub &'static str);

impl AwsNames {
    /// Reads every resource name from the variables `get` knows.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, MissingResource> {
        let need = |name: &'static str| get(name).filter(|v| !v.is_empty()).ok_or(MissingResource(name));
        Ok(Self {
            registrations_table: need("REGISTRATIONS_TABLE")?,
            readings_table: need("READINGS_TABLE")?,
            accounts_table: need("ACCOUNTS_TABLE")?,
            settlements_table: need("SETTLEMENTS_TABLE")?,
            batches_table: need("BATCHES_TABLE")?,
            channel_messages_table: need("CHANNEL_MESSAGES_TABLE")?,
            leases_table: need("LEASES_TABLE")?,
            rejections_table: need("REJECTIONS_TABLE")?,
            bucket: need(BUCKET_ENV)?,
            poll_work_queue_url: need("POLL_WORK_QUEUE_URL")?,
            poll_work_dead_letter_url: need("POLL_WORK_DLQ_URL")?,
            completions_queue_url: need("COMPLETIONS_QUEUE_URL")?,
            completions_dead_letter_url: need("COMPLETIONS_DLQ_URL")?,
        })
    }

    /// The names as environment variables (what a Lambda function is given).
    pub fn to_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("REGISTRATIONS_TABLE", self.registrations_table.clone()),
            ("READINGS_TABLE", self.readings_table.clone()),
            ("ACCOUNTS_TABLE", self.accounts_table.clone()),
            ("SETTLEMENTS_TABLE", self.settlements_table.clone()),
            ("BATCHES_TABLE", self.batches_table.clone()),
            ("CHANNEL_MESSAGES_TABLE", self.channel_messages_table.clone()),
            ("LEASES_TABLE", self.leases_table.clone()),
            ("REJECTIONS_TABLE", self.rejections_table.clone()),
            (BUCKET_ENV, self.bucket.clone()),
            ("POLL_WORK_QUEUE_URL", self.poll_work_queue_url.clone()),
            ("POLL_WORK_DLQ_URL", self.poll_work_dead_letter_url.clone()),
            ("COMPLETIONS_QUEUE_URL", self.completions_queue_url.clone()),
            ("COMPLETIONS_DLQ_URL", self.completions_dead_letter_url.clone()),
        ]
    }
}

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

/// A global secondary index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: &'static str,
    pub hash: KeyAttribute,
    pub range: Option<KeyAttribute>,
    /// The attributes it carries besides the keys; `None`: all of them.
    pub include: Option<&'static [&'static str]>,
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
    // id = a registration's id, or `root#{root}` / `fold#{id}` for what it binds; the
    // registrations (and only those) carry `itemType`, so `by-type` lists and counts them
    // by type from their keys and `removed` alone, never reading the table.
    TableSpec {
        name: "registrations",
        env: "REGISTRATIONS_TABLE",
        hash: string("id"),
        range: None,
        indexes: &[IndexSpec {
            name: "by-type",
            hash: string("itemType"),
            range: Some(string("id")),
            include: Some(&["removed"]),
        }],
        ttl: None,
    },
    // pk = period#shard (one period spread over READING_SHARDS partitions), sk = registrationId#kind#startTime;
    // a registration's readings by start time for the operator (markers carry no registration: sparse).
    TableSpec {
        name: "readings",
        env: "READINGS_TABLE",
        hash: string("pk"),
        range: Some(string("sk")),
        indexes: &[IndexSpec {
            name: "by-registration",
            hash: string("registration"),
            range: Some(number("start")),
            include: None,
        }],
        ttl: None,
    },
    // Members' statement lines (and only those) carry `member`, so the index is sparse.
    TableSpec {
        name: "accounts",
        env: "ACCOUNTS_TABLE",
        hash: string("id"),
        range: None,
        indexes: &[IndexSpec {
            name: "statements",
            hash: string("member"),
            range: Some(number("period")),
            include: None,
        }],
        ttl: None,
    },
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
            include: None,
        }],
        ttl: None,
    },
    // address = a message's address, or `head#{root}` for a channel's head; heads with
    // unread messages (and only those) carry `unread`, so the index is sparse.
    TableSpec {
        name: "channel_messages",
        env: "CHANNEL_MESSAGES_TABLE",
        hash: string("address"),
        range: None,
        indexes: &[
            IndexSpec { name: "unread", hash: string("unread"), range: Some(string("address")), include: None },
            IndexSpec {
                name: "expiring",
                hash: string("expiring"),
                range: Some(number("unclaimedUntil")),
                include: None,
            },
        ],
        ttl: Some("expiresAt"),
    },
    TableSpec {
        name: "leases",
        env: "LEASES_TABLE",
        hash: string("job"),
        range: None,
        indexes: &[],
        ttl: Some("expiresAt"),
    },
    // Channel messages the poller refused, per registration, for the operator; every one
    // carries `log` (one value), so `recent` lists the newest of all registrations.
    TableSpec {
        name: "rejections",
        env: "REJECTIONS_TABLE",
        hash: string("registration"),
        range: Some(number("index")),
        indexes: &[IndexSpec { name: "recent", hash: string("log"), range: Some(number("at")), include: None }],
        ttl: None,
    },
];

/// The bucket for storage items and archived period reports.
pub const BUCKET_ENV: &str = "STORAGE_BUCKET";

/// The queues: design name and URL variable, then its dead-letter queue's. The
/// dead-letter queue's URL is given too (not looked up from the redrive policy), so
/// the portal counts dead letters with one request a queue.
pub const QUEUES: &[(&str, &str, &str, &str)] = &[
    ("poll-work", "POLL_WORK_QUEUE_URL", "poll-work-dlq", "POLL_WORK_DLQ_URL"),
    ("completions", "COMPLETIONS_QUEUE_URL", "completions-dlq", "COMPLETIONS_DLQ_URL"),
];

/// How often a message is received before SQS moves it to the dead-letter queue.
pub const MAX_RECEIVES: u32 = 5;

/// Every environment variable that names an AWS resource.
pub fn resource_variables() -> Vec<&'static str> {
    let mut vars: Vec<&str> = TABLES.iter().map(|t| t.env).collect();
    vars.push(BUCKET_ENV);
    vars.extend(QUEUES.iter().flat_map(|(_, env, _, dead_letters_env)| [*env, *dead_letters_env]));
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_resource_variable_is_read_and_written() {
        let written: Vec<&str> =
            AwsNames::from_vars(|name| Some(format!("x-{name}"))).unwrap().to_vars().iter().map(|(k, _)| *k).collect();
        assert_eq!(written, resource_variables());
    }

    #[test]
    fn a_missing_resource_is_named() {
        let err = AwsNames::from_vars(|name| (name != "LEASES_TABLE").then(|| "x".to_owned())).unwrap_err();
        assert_eq!(err.to_string(), "LEASES_TABLE must be set when GRID_STORE=aws");
    }
}
