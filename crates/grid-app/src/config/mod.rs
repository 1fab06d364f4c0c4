//! Configuration from environment variables, the same for Lambda and `gridctl serve`.
//!
//! Every value is parsed once at start; a bad one stops the process with a message
//! naming the variable, instead of surfacing as a strange failure later. Command-line
//! flags override variables by being written over them before parsing, so there is
//! one parser and one set of rules (DESIGN.md §8).

mod portal_token;

pub use portal_token::{PortalToken, PortalTokenError, Session};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use grid_core::books::GridWallet;
use grid_core::channel::UnclaimedChannels;
use grid_core::ledger::Dialect;
use grid_core::market::{
    ConsensusStrategy, FeeBps, PeriodLength, PeriodStart, PriceSchedule, SettlementPolicy, SettlementRules, Tariff,
    TariffZone,
};
use grid_core::{AccountKey, Iota, Price, QuotaError, StorageQuota};
use grid_store::StoreBackend;

use crate::server::ServerLimits;

/// A configuration variable has a value the grid cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    Pretty,
    /// One JSON object per line, for CloudWatch and log shippers.
    Json,
}

/// The grid's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridConfig {
    /// `GRID_STORE`: `sqlite` (default) or `aws`.
    pub store: StoreBackend,
    /// `GRID_DATA_DIR`: where the SQLite database lives (default `./grid-data`).
    pub data_dir: PathBuf,
    /// `GRID_LISTEN`: the address `gridctl serve` binds (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// `GRID_BODY_LIMIT_BYTES`: the largest request body accepted (default 256 KiB).
    pub body_limit_bytes: usize,
    /// `GRID_REQUEST_TIMEOUT_SECS`: how long one request may take, body included (default 30).
    pub request_timeout: Duration,
    /// `GRID_LOG_FORMAT`: `pretty` or `json` (default `json` on Lambda, else `pretty`).
    pub log_format: LogFormat,
    /// `GRID_STACK`: the stack's name, which the template sets: the `Stack` dimension of
    /// the functions' metrics (default `energy-grid`).
    pub stack: String,
    /// `GRID_MAX_CONNECTIONS`, `GRID_MAX_CONNECTIONS_PER_CLIENT`, `GRID_HEADER_TIMEOUT_SECS`,
    /// `GRID_IDLE_TIMEOUT_SECS` and `GRID_SHUTDOWN_GRACE_SECS`: the edges of `gridctl
    /// serve`'s socket.
    pub server: ServerLimits,
    /// How the market runs: periods, prices, fees, polling.
    pub market: MarketConfig,
    /// `LEDGER_URL` and `LEDGER_DIALECT` (`sawtooth` or `splinter`): the ledger the grid
    /// pays through. Unset, `gridctl serve` runs a development ledger at `/ledger`.
    pub ledger: Option<LedgerConfig>,
    /// `PORTAL_TOKEN`: what opens the operator portal. Unset, the portal refuses
    /// everyone (`gridctl serve` then makes one up and prints it).
    pub portal_token: Option<PortalToken>,
    /// `PORTAL_TOKEN_PARAMETER`: a Parameter Store SecureString holding the token, read
    /// once at start (on AWS, instead of `PORTAL_TOKEN`; docs/deploy.md).
    pub portal_token_parameter: Option<String>,
    /// `GRID_OPEN_STORAGE` (default `false`): storage writes without a key for
    /// registrations that have no channel of their own, as the seed had them.
    pub open_storage: bool,
    /// `GRID_STORAGE_QUOTA_ITEMS` and `GRID_STORAGE_QUOTA_BYTES` (defaults 10,000 items
    /// and 16 MiB): what one registration may keep in storage.
    pub storage_quota: StorageQuota,
    /// `GRID_UNCLAIMED_CHANNELS_PER_DAY` (default 10,000): how many new channels nobody
    /// has claimed the node opens a day.
    pub unclaimed_channels: UnclaimedChannels,
    /// `GRID_WRITE_RATE_PER_CLIENT` (default 200 a second) and `GRID_MIN_FREE_DISK_MB`
    /// (default 256): `gridctl serve`'s write guard.
    pub writes: WriteLimits,
}

/// The write guard's settings (`GridConfig::writes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteLimits {
    /// `GRID_WRITE_RATE_PER_CLIENT`: writes a second one client address may sustain.
    pub rate_per_client: NonZeroU32,
    /// `GRID_MIN_FREE_DISK_MB`: free space below which writes are refused (0: never).
    pub min_free_disk_mb: u64,
    /// Where the data lives (`GRID_DATA_DIR`); `None` when it is not on this machine.
    pub data_dir: Option<PathBuf>,
}

impl WriteLimits {
    pub const DEFAULT_RATE: u32 = 200;
    pub const DEFAULT_MIN_FREE_DISK_MB: u64 = 256;
}

/// Where the ledger is and how it speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerConfig {
    pub url: String,
    pub dialect: Dialect,
    /// `LEDGER_KEY`: the key that spends from the grid's accounts, sent with every batch
    /// (`X-Account-Key`; the development ledger requires it, docs/decisions.md).
    pub key: Option<AccountKey>,
}

/// The money engine's settings (DESIGN.md §6, §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketConfig {
    /// `SETTLEMENT_PERIOD_SECS` (default 900): the length of a settlement period.
    pub period: PeriodLength,
    /// `SETTLEMENT_GRACE_SECS` (default 120): how long after its end a period settles.
    pub grace_secs: u64,
    /// `GRID_FEE_BPS`, `CONSENSUS_STRATEGY`, `DEFAULT_PRICE` (defaults 2000, clearing and
    /// 100 IOTA/kWh).
    pub rules: SettlementRules,
    /// `PRICE_CAP` and `FEED_IN_PRICE` (each a number or a day schedule; defaults 1000
    /// and 0 IOTA/kWh), read in `TARIFF_TIMEZONE` (default UTC).
    pub tariff: Tariff,
    /// `MIN_PAYOUT` (default 1 IOTA): smaller payouts wait for the next run.
    pub min_payout: Iota,
    /// `POLL_INTERVAL_SECS` (default 5): how often `serve` sweeps for unread channels
    /// and settles.
    pub poll_interval: Duration,
    /// `POLL_FULL_SWEEP_SECS` (default 3600): how often `serve` polls every registration,
    /// for what neither a notification nor a channel's head showed.
    pub full_sweep: Duration,
    /// `JOB_INTERVAL_SECS` (default `POLL_INTERVAL_SECS`): the longest interval of the
    /// scheduled jobs (on Lambda, the template's `JobIntervalSeconds`); the portal shows a
    /// job that has not run for three of them as stopped, as its alarm would.
    pub job_interval: Duration,
    /// `READING_SHARDS` (default 4): DynamoDB partitions per period of readings.
    pub reading_shards: u32,
    /// `POLL_CONCURRENCY`: channels one poll worker reads at once (default 16 over
    /// SQLite; 1 on AWS, where concurrent poller invocations are the parallelism).
    pub poll_concurrency: usize,
    /// `GRID_WALLET` (default `grid-wallet`): the grid's payment addresses are
    /// `{GRID_WALLET}-{n}`, a new `n` for every settled period.
    pub wallet: GridWallet,
    /// How the batch monitor follows ledger batches.
    pub monitor: MonitorConfig,
}

/// The batch monitor's settings (DESIGN.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorConfig {
    /// `DLT_CONNECTION_POOL` (default 4): status requests in flight at once.
    pub connection_pool: usize,
    /// `DLT_IDS_PER_REQUEST` (default 15): batch ids per status request.
    pub ids_per_request: usize,
    /// `MAX_CHECKS` (default 200): checks after which a pending batch is marked stalled.
    pub max_checks: u64,
    /// `MAX_PENDING_AGE_SECS` (default 86400): age after which a pending batch is stalled.
    pub max_pending_age: Duration,
    /// `RESEND_AFTER_SECS` (default 120): a payout still not final this long after it
    /// was submitted is sent again, identically.
    pub resend_after: Duration,
    /// `MONITOR_BUDGET_SECS` (default 50): how long one run keeps polling while there is
    /// work (the Lambda function's timeout is 60 s).
    pub budget: Duration,
}

impl GridConfig {
    /// Every variable the grid reads (besides the AWS resource names of
    /// `grid_store::resources` and the SDK's own `AWS_*`), for documentation and for the
    /// test that keeps `infra/template.yaml` in step.
    pub const VARIABLES: &'static [&'static str] = &[
        "GRID_STORE",
        "GRID_DATA_DIR",
        "GRID_LISTEN",
        "GRID_BODY_LIMIT_BYTES",
        "GRID_REQUEST_TIMEOUT_SECS",
        "GRID_LOG_FORMAT",
        "GRID_STACK",
        "GRID_MAX_CONNECTIONS",
        "GRID_MAX_CONNECTIONS_PER_CLIENT",
        "GRID_HEADER_TIMEOUT_SECS",
        "GRID_IDLE_TIMEOUT_SECS",
        "GRID_SHUTDOWN_GRACE_SECS",
        "RUST_LOG",
        "SETTLEMENT_PERIOD_SECS",
        "SETTLEMENT_GRACE_SECS",
        "GRID_FEE_BPS",
        "CONSENSUS_STRATEGY",
        "PRICE_CAP",
        "FEED_IN_PRICE",
        "TARIFF_TIMEZONE",
        "DEFAULT_PRICE",
        "MIN_PAYOUT",
        "POLL_INTERVAL_SECS",
        "POLL_FULL_SWEEP_SECS",
        "JOB_INTERVAL_SECS",
        "READING_SHARDS",
        "POLL_CONCURRENCY",
        "GRID_WALLET",
        "LEDGER_URL",
        "LEDGER_DIALECT",
        "LEDGER_KEY",
        "DLT_CONNECTION_POOL",
        "DLT_IDS_PER_REQUEST",
        "MAX_CHECKS",
        "MAX_PENDING_AGE_SECS",
        "RESEND_AFTER_SECS",
        "MONITOR_BUDGET_SECS",
        "PORTAL_TOKEN",
        "PORTAL_TOKEN_PARAMETER",
        "GRID_OPEN_STORAGE",
        "GRID_UNCLAIMED_CHANNELS_PER_DAY",
        "GRID_STORAGE_QUOTA_ITEMS",
        "GRID_STORAGE_QUOTA_BYTES",
        "GRID_WRITE_RATE_PER_CLIENT",
        "GRID_MIN_FREE_DISK_MB",
    ];
    pub const DEFAULT_BODY_LIMIT: usize = 256 * 1024;
    const MAX_BODY_LIMIT: usize = 16 * 1024 * 1024;

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&std::env::vars().collect())
    }

    /// Reads the configuration from a set of variables (the environment, with any
    /// command-line overrides already written over it).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |name: &str| vars.get(name).map(String::as_str).filter(|v| !v.is_empty());
        let on_lambda = get("AWS_LAMBDA_FUNCTION_NAME").is_some();
        let store = StoreBackend::from_vars(|name| get(name).map(str::to_owned))
            .map_err(|e| ConfigError { variable: e.variable, reason: e.reason })?;
        let market = MarketConfig::from_vars(&get, &store)?;
        let data_dir = PathBuf::from(get("GRID_DATA_DIR").unwrap_or("./grid-data"));
        Ok(Self {
            data_dir: data_dir.clone(),
            listen: parse(get("GRID_LISTEN"), "GRID_LISTEN", "127.0.0.1:8080".parse().unwrap())?,
            body_limit_bytes: bounded(
                parse(get("GRID_BODY_LIMIT_BYTES"), "GRID_BODY_LIMIT_BYTES", Self::DEFAULT_BODY_LIMIT)?,
                "GRID_BODY_LIMIT_BYTES",
                1024..=Self::MAX_BODY_LIMIT,
            )?,
            request_timeout: Duration::from_secs(bounded(
                parse(get("GRID_REQUEST_TIMEOUT_SECS"), "GRID_REQUEST_TIMEOUT_SECS", 30)?,
                "GRID_REQUEST_TIMEOUT_SECS",
                1..=900,
            )?),
            server: {
                let secs = |name: &'static str, default: u64, range| -> Result<Duration, ConfigError> {
                    Ok(Duration::from_secs(bounded(parse(get(name), name, default)?, name, range)?))
                };
                let defaults = ServerLimits::default();
                ServerLimits {
                    max_connections: bounded(
                        parse(get("GRID_MAX_CONNECTIONS"), "GRID_MAX_CONNECTIONS", defaults.max_connections)?,
                        "GRID_MAX_CONNECTIONS",
                        1..=100_000,
                    )?,
                    max_connections_per_client: bounded(
                        parse(
                            get("GRID_MAX_CONNECTIONS_PER_CLIENT"),
                            "GRID_MAX_CONNECTIONS_PER_CLIENT",
                            defaults.max_connections_per_client,
                        )?,
                        "GRID_MAX_CONNECTIONS_PER_CLIENT",
                        1..=100_000,
                    )?,
                    header_timeout: secs("GRID_HEADER_TIMEOUT_SECS", defaults.header_timeout.as_secs(), 1..=300)?,
                    idle_timeout: secs("GRID_IDLE_TIMEOUT_SECS", defaults.idle_timeout.as_secs(), 1..=3_600)?,
                    shutdown_grace: secs("GRID_SHUTDOWN_GRACE_SECS", defaults.shutdown_grace.as_secs(), 1..=300)?,
                }
            },
            log_format: match get("GRID_LOG_FORMAT") {
                // Lambda's LoggingConfig says which, when the template sets one.
                None if get("AWS_LAMBDA_LOG_FORMAT") == Some("Text") => LogFormat::Pretty,
                None if on_lambda => LogFormat::Json,
                None | Some("pretty") => LogFormat::Pretty,
                Some("json") => LogFormat::Json,
                Some(other) => return Err(invalid("GRID_LOG_FORMAT", other, "must be \"pretty\" or \"json\"")),
            },
            stack: match get("GRID_STACK") {
                None => "energy-grid".to_owned(),
                // CloudFormation's rule for stack names.
                Some(name)
                    if name.len() <= 128
                        && name.starts_with(|c: char| c.is_ascii_alphabetic())
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
                {
                    name.to_owned()
                }
                Some(other) => return Err(invalid("GRID_STACK", other, "must be a stack name (letters, digits, -)")),
            },
            market,
            ledger: {
                // Checked even without a URL: a typo should not wait for the day the URL is set.
                let dialect = match get("LEDGER_DIALECT") {
                    None => Dialect::Sawtooth,
                    Some(raw) => Dialect::parse(raw)
                        .ok_or_else(|| invalid("LEDGER_DIALECT", raw, "must be sawtooth or splinter"))?,
                };
                // Never echo a key back, even a bad one.
                let key = get("LEDGER_KEY")
                    .map(AccountKey::parse)
                    .transpose()
                    .map_err(|e| ConfigError { variable: "LEDGER_KEY", reason: e.to_string() })?;
                match get("LEDGER_URL") {
                    None => None,
                    Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                        Some(LedgerConfig { url: url.trim_end_matches('/').to_owned(), dialect, key })
                    }
                    Some(other) => return Err(invalid("LEDGER_URL", other, "must be an http:// or https:// URL")),
                }
            },
            portal_token: match get("PORTAL_TOKEN") {
                None => None,
                // Never echo a token back, even a bad one.
                Some(raw) => Some(
                    PortalToken::parse(raw)
                        .map_err(|e| ConfigError { variable: "PORTAL_TOKEN", reason: e.to_string() })?,
                ),
            },
            portal_token_parameter: match (get("PORTAL_TOKEN_PARAMETER"), get("PORTAL_TOKEN")) {
                (None, _) => None,
                (Some(_), Some(_)) => {
                    return Err(ConfigError {
                        variable: "PORTAL_TOKEN_PARAMETER",
                        reason: "set PORTAL_TOKEN or PORTAL_TOKEN_PARAMETER, not both".to_owned(),
                    });
                }
                // Parameter Store's names: a path of [A-Za-z0-9_.-] segments, at most 1011 characters.
                (Some(name), None)
                    if name.len() <= 1011 && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c)) =>
                {
                    Some(name.to_owned())
                }
                (Some(other), None) => {
                    return Err(invalid("PORTAL_TOKEN_PARAMETER", other, "is not a Parameter Store name"));
                }
            },
            open_storage: match get("GRID_OPEN_STORAGE") {
                None | Some("false") => false,
                Some("true") => true,
                Some(other) => return Err(invalid("GRID_OPEN_STORAGE", other, "must be \"true\" or \"false\"")),
            },
            storage_quota: {
                let items =
                    parse(get("GRID_STORAGE_QUOTA_ITEMS"), "GRID_STORAGE_QUOTA_ITEMS", StorageQuota::DEFAULT_ITEMS)?;
                let bytes =
                    parse(get("GRID_STORAGE_QUOTA_BYTES"), "GRID_STORAGE_QUOTA_BYTES", StorageQuota::DEFAULT_BYTES)?;
                StorageQuota::new(items, bytes).map_err(|e| match e {
                    QuotaError::Items { .. } => {
                        ConfigError { variable: "GRID_STORAGE_QUOTA_ITEMS", reason: e.to_string() }
                    }
                    QuotaError::Bytes { .. } => {
                        ConfigError { variable: "GRID_STORAGE_QUOTA_BYTES", reason: e.to_string() }
                    }
                })?
            },
            unclaimed_channels: UnclaimedChannels::new(parse(
                get("GRID_UNCLAIMED_CHANNELS_PER_DAY"),
                "GRID_UNCLAIMED_CHANNELS_PER_DAY",
                UnclaimedChannels::DEFAULT_PER_DAY,
            )?)
            .map_err(|e| ConfigError { variable: "GRID_UNCLAIMED_CHANNELS_PER_DAY", reason: e.to_string() })?,
            writes: WriteLimits {
                rate_per_client: NonZeroU32::new(bounded(
                    parse(get("GRID_WRITE_RATE_PER_CLIENT"), "GRID_WRITE_RATE_PER_CLIENT", WriteLimits::DEFAULT_RATE)?,
                    "GRID_WRITE_RATE_PER_CLIENT",
                    1..=100_000_000,
                )?)
                .expect("bounded from 1"),
                min_free_disk_mb: bounded(
                    parse(
                        get("GRID_MIN_FREE_DISK_MB"),
                        "GRID_MIN_FREE_DISK_MB",
                        WriteLimits::DEFAULT_MIN_FREE_DISK_MB,
                    )?,
                    "GRID_MIN_FREE_DISK_MB",
                    0..=1 << 40,
                )?,
                data_dir: matches!(store, StoreBackend::Sqlite).then(|| data_dir.clone()),
            },
            store,
        })
    }
}

impl MarketConfig {
    /// How the period starting at `start` is settled: the rules, under the tariff in
    /// force then.
    pub fn policy_at(&self, start: PeriodStart) -> SettlementPolicy {
        self.rules.with(self.tariff.at(start.time()))
    }

    fn from_vars<'a>(get: &impl Fn(&str) -> Option<&'a str>, store: &StoreBackend) -> Result<Self, ConfigError> {
        let period_secs = parse(get("SETTLEMENT_PERIOD_SECS"), "SETTLEMENT_PERIOD_SECS", 900)?;
        let period = PeriodLength::from_secs(period_secs)
            .map_err(|e| ConfigError { variable: "SETTLEMENT_PERIOD_SECS", reason: e.to_string() })?;
        let fee = FeeBps::new(parse(get("GRID_FEE_BPS"), "GRID_FEE_BPS", 2000)?)
            .map_err(|e| ConfigError { variable: "GRID_FEE_BPS", reason: e.to_string() })?;
        let strategy = match get("CONSENSUS_STRATEGY") {
            None => ConsensusStrategy::default(),
            Some(raw) => {
                ConsensusStrategy::parse(raw).map_err(|e| invalid("CONSENSUS_STRATEGY", raw, &e.to_string()))?
            }
        };
        // A number or a day schedule; a bad one stops the process at start, named.
        let schedule = |variable: &'static str, default: u64| -> Result<PriceSchedule, ConfigError> {
            match get(variable) {
                None => Ok(PriceSchedule::flat(Price::parse(default).expect("a default price is within bounds"))),
                Some(text) => PriceSchedule::parse(text).map_err(|e| ConfigError { variable, reason: e.to_string() }),
            }
        };
        let price = |variable: &'static str, default: u64| -> Result<Price, ConfigError> {
            Price::parse(parse(get(variable), variable, default)?)
                .map_err(|e| ConfigError { variable, reason: e.to_string() })
        };
        let poll_interval =
            bounded(parse(get("POLL_INTERVAL_SECS"), "POLL_INTERVAL_SECS", 5)?, "POLL_INTERVAL_SECS", 1..=3_600)?;
        let wallet = get("GRID_WALLET").unwrap_or("grid-wallet");
        let wallet = GridWallet::parse(wallet, period).map_err(|e| invalid("GRID_WALLET", wallet, &e.to_string()))?;
        Ok(Self {
            period,
            grace_secs: bounded(
                parse(get("SETTLEMENT_GRACE_SECS"), "SETTLEMENT_GRACE_SECS", 120)?,
                "SETTLEMENT_GRACE_SECS",
                0..=86_400,
            )?,
            rules: SettlementRules { strategy, fee, default_price: price("DEFAULT_PRICE", 100)? },
            tariff: Tariff {
                cap: schedule("PRICE_CAP", 1000)?,
                feed_in: schedule("FEED_IN_PRICE", 0)?,
                zone: match get("TARIFF_TIMEZONE") {
                    None => TariffZone::utc(),
                    Some(name) => TariffZone::parse(name)
                        .map_err(|e| ConfigError { variable: "TARIFF_TIMEZONE", reason: e.to_string() })?,
                },
            },
            min_payout: Iota::new(parse(get("MIN_PAYOUT"), "MIN_PAYOUT", 1)?),
            poll_interval: Duration::from_secs(poll_interval),
            full_sweep: Duration::from_secs(bounded(
                parse(get("POLL_FULL_SWEEP_SECS"), "POLL_FULL_SWEEP_SECS", 3_600)?,
                "POLL_FULL_SWEEP_SECS",
                60..=7 * 86_400,
            )?),
            job_interval: Duration::from_secs(bounded(
                parse(get("JOB_INTERVAL_SECS"), "JOB_INTERVAL_SECS", poll_interval)?,
                "JOB_INTERVAL_SECS",
                1..=86_400,
            )?),
            reading_shards: bounded(parse(get("READING_SHARDS"), "READING_SHARDS", 4)?, "READING_SHARDS", 1..=256)?,
            // SQLite takes one writer at a time but reading and checking channels runs
            // on every core; on AWS each concurrent transaction would meet the others on
            // the settlement head, so one Lambda polls its channels one at a time.
            poll_concurrency: bounded(
                parse(
                    get("POLL_CONCURRENCY"),
                    "POLL_CONCURRENCY",
                    if matches!(store, StoreBackend::Sqlite) { 16 } else { 1 },
                )?,
                "POLL_CONCURRENCY",
                1..=64,
            )?,
            wallet,
            monitor: MonitorConfig {
                connection_pool: bounded(
                    parse(get("DLT_CONNECTION_POOL"), "DLT_CONNECTION_POOL", 4)?,
                    "DLT_CONNECTION_POOL",
                    1..=64,
                )?,
                ids_per_request: bounded(
                    parse(get("DLT_IDS_PER_REQUEST"), "DLT_IDS_PER_REQUEST", 15)?,
                    "DLT_IDS_PER_REQUEST",
                    1..=100,
                )?,
                max_checks: bounded(parse(get("MAX_CHECKS"), "MAX_CHECKS", 200)?, "MAX_CHECKS", 1..=1_000_000)?,
                max_pending_age: Duration::from_secs(bounded(
                    parse(get("MAX_PENDING_AGE_SECS"), "MAX_PENDING_AGE_SECS", 86_400)?,
                    "MAX_PENDING_AGE_SECS",
                    60..=30 * 86_400,
                )?),
                resend_after: Duration::from_secs(bounded(
                    parse(get("RESEND_AFTER_SECS"), "RESEND_AFTER_SECS", 120)?,
                    "RESEND_AFTER_SECS",
                    1..=86_400,
                )?),
                budget: Duration::from_secs(bounded(
                    parse(get("MONITOR_BUDGET_SECS"), "MONITOR_BUDGET_SECS", 50)?,
                    "MONITOR_BUDGET_SECS",
                    0..=900,
                )?),
            },
        })
    }
}

fn invalid(variable: &'static str, value: &str, rule: &str) -> ConfigError {
    let shown: String = value.chars().take(64).collect();
    ConfigError { variable, reason: format!("{shown:?} {rule}") }
}

fn parse<T: FromStr>(value: Option<&str>, variable: &'static str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match value {
        None => Ok(default),
        Some(raw) => raw.trim().parse().map_err(|e: T::Err| invalid(variable, raw, &format!("is not valid: {e}"))),
    }
}

fn bounded<T: PartialOrd + std::fmt::Display + Copy>(
    value: T,
    variable: &'static str,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError { variable, reason: format!("{value} is outside {}..={}", range.start(), range.end()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grid_core::PaymentAddress;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn an_empty_environment_gives_the_documented_defaults() {
        let config = GridConfig::from_vars(&HashMap::new()).unwrap();
        assert_eq!(
            config,
            GridConfig {
                store: StoreBackend::Sqlite,
                data_dir: PathBuf::from("./grid-data"),
                listen: "127.0.0.1:8080".parse().unwrap(),
                body_limit_bytes: 262_144,
                request_timeout: Duration::from_secs(30),
                log_format: LogFormat::Pretty,
                stack: "energy-grid".to_owned(),
                server: ServerLimits {
                    max_connections: 512,
                    max_connections_per_client: 64,
                    header_timeout: Duration::from_secs(10),
                    idle_timeout: Duration::from_secs(60),
                    shutdown_grace: Duration::from_secs(10),
                },
                market: MarketConfig {
                    period: PeriodLength::from_secs(900).unwrap(),
                    grace_secs: 120,
                    rules: SettlementRules {
                        strategy: ConsensusStrategy::Clearing,
                        fee: FeeBps::new(2000).unwrap(),
                        default_price: Price::parse(100).unwrap(),
                    },
                    tariff: Tariff::flat(Price::parse(1000).unwrap(), Price::ZERO),
                    min_payout: Iota::new(1),
                    poll_interval: Duration::from_secs(5),
                    full_sweep: Duration::from_secs(3_600),
                    job_interval: Duration::from_secs(5),
                    reading_shards: 4,
                    poll_concurrency: 16,
                    wallet: GridWallet::parse("grid-wallet", PeriodLength::from_secs(900).unwrap()).unwrap(),
                    monitor: MonitorConfig {
                        connection_pool: 4,
                        ids_per_request: 15,
                        max_checks: 200,
                        max_pending_age: Duration::from_secs(86_400),
                        resend_after: Duration::from_secs(120),
                        budget: Duration::from_secs(50),
                    },
                },
                ledger: None,
                portal_token: None,
                portal_token_parameter: None,
                open_storage: false,
                storage_quota: StorageQuota::default(),
                unclaimed_channels: UnclaimedChannels::default(),
                writes: WriteLimits {
                    rate_per_client: NonZeroU32::new(200).unwrap(),
                    min_free_disk_mb: 256,
                    data_dir: Some(PathBuf::from("./grid-data")),
                },
            }
        );
    }

    #[test]
    fn the_portal_token_comes_from_the_environment_or_from_parameter_store_not_both() {
        let config =
            GridConfig::from_vars(&vars(&[("PORTAL_TOKEN_PARAMETER", "/energy-grid-dev/portal-token")])).unwrap();
        assert_eq!(config.portal_token_parameter.as_deref(), Some("/energy-grid-dev/portal-token"));
        assert_eq!(config.portal_token, None);
        let both = GridConfig::from_vars(&vars(&[
            ("PORTAL_TOKEN_PARAMETER", "/energy-grid-dev/portal-token"),
            ("PORTAL_TOKEN", "a-token-of-sixteen-or-more"),
        ]))
        .unwrap_err();
        assert_eq!(both.variable, "PORTAL_TOKEN_PARAMETER");
        assert!(both.reason.contains("not both"), "{}", both.reason);
        for name in ["/grid/portal token", "/grid/tök", &"a".repeat(1012)] {
            let error = GridConfig::from_vars(&vars(&[("PORTAL_TOKEN_PARAMETER", name)])).unwrap_err();
            assert_eq!(error.variable, "PORTAL_TOKEN_PARAMETER", "{name:?}");
        }
    }

    #[test]
    fn market_settings_are_read_and_checked() {
        let config = GridConfig::from_vars(&vars(&[
            ("SETTLEMENT_PERIOD_SECS", "300"),
            ("GRID_FEE_BPS", "150"),
            ("CONSENSUS_STRATEGY", "median"),
            ("GRID_WALLET", "operator-7"),
        ]))
        .unwrap();
        assert_eq!(config.market.period.secs(), 300);
        assert_eq!(config.market.rules.fee.get(), 150);
        assert_eq!(config.market.rules.strategy, ConsensusStrategy::Median);
        let start = PeriodStart::parse(1_795_860_000_000).unwrap();
        assert_eq!(config.market.wallet.payment_address(start).as_str(), "operator-7-5986200");
        for (name, value) in [
            ("SETTLEMENT_PERIOD_SECS", "7"),
            ("GRID_FEE_BPS", "10001"),
            ("CONSENSUS_STRATEGY", "auction"),
            ("GRID_WALLET", "a/b"),
            ("LEDGER_URL", "ftp://ledger"),
            ("READING_SHARDS", "0"),
            ("POLL_CONCURRENCY", "0"),
            ("POLL_INTERVAL_SECS", "0"),
            ("DEFAULT_PRICE", "-3"),
            ("PRICE_CAP", "1000000000001"),
            ("PRICE_CAP", "18446744073709551615"),
            ("DEFAULT_PRICE", "1000000000001"),
            ("PRICE_CAP", "07:00=250"),
            ("PRICE_CAP", "00:00=100,25:00=1"),
            ("FEED_IN_PRICE", "00:00=1,06:00"),
            ("TARIFF_TIMEZONE", "Mars/Olympus_Mons"),
        ] {
            assert_eq!(GridConfig::from_vars(&vars(&[(name, value)])).unwrap_err().variable, name);
        }
    }

    #[test]
    fn a_tariff_schedule_is_read_on_its_zones_clock_at_each_periods_start() {
        let config = GridConfig::from_vars(&vars(&[
            ("PRICE_CAP", "00:00=120,07:00=250,21:00=120"),
            ("FEED_IN_PRICE", "60"),
            ("TARIFF_TIMEZONE", "Europe/Berlin"),
        ]))
        .unwrap();
        // 2026-12-07 06:00 UTC is 07:00 in Berlin (CET); 05:45 UTC is 06:45.
        let at = |ms: u64| config.market.policy_at(PeriodStart::parse(ms).unwrap());
        let seven = 1_796_623_200_000;
        assert_eq!((at(seven).cap.get(), at(seven).feed_in.get()), (250, 60));
        assert_eq!(at(seven - 900_000).cap.get(), 120);
        assert_eq!(at(seven).fee, config.market.rules.fee);
    }

    #[test]
    fn only_the_addresses_the_grid_writes_are_its_own() {
        let config =
            GridConfig::from_vars(&vars(&[("GRID_WALLET", "grid"), ("SETTLEMENT_PERIOD_SECS", "60")])).unwrap();
        let address = |a: &str| PaymentAddress::parse(a).unwrap();
        let start = PeriodStart::parse(29_938_052 * 60_000).unwrap();
        assert_eq!(config.market.wallet.address_period(&address("grid-29938052")), Some(start));
        for foreign in ["grid-029938052", "grid-00", "grid-999999999999999", "grid", "grid-", "gridx-1", "other-1"] {
            assert_eq!(config.market.wallet.address_period(&address(foreign)), None, "{foreign}");
        }
    }

    #[test]
    fn every_variable_is_read() {
        let config = GridConfig::from_vars(&vars(&[
            ("GRID_STORE", "sqlite"),
            ("GRID_DATA_DIR", "/var/lib/grid"),
            ("GRID_LISTEN", "0.0.0.0:9000"),
            ("GRID_BODY_LIMIT_BYTES", "4096"),
            ("GRID_REQUEST_TIMEOUT_SECS", "5"),
            ("GRID_LOG_FORMAT", "json"),
        ]))
        .unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/grid"));
        assert_eq!(config.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(config.body_limit_bytes, 4096);
        assert_eq!(config.request_timeout, Duration::from_secs(5));
        assert_eq!(config.log_format, LogFormat::Json);
    }

    #[test]
    fn the_aws_store_needs_every_resource_name() {
        let mut all: Vec<(String, String)> = grid_store::resources::resource_variables()
            .into_iter()
            .map(|name| (name.to_owned(), format!("grid-{}", name.to_lowercase())))
            .collect();
        all.push(("GRID_STORE".into(), "aws".into()));
        let vars: HashMap<String, String> = all.iter().cloned().collect();
        let StoreBackend::Aws(names) = GridConfig::from_vars(&vars).unwrap().store else { panic!("aws store") };
        assert_eq!(names.registrations_table, "grid-registrations_table");
        assert_eq!(GridConfig::from_vars(&vars).unwrap().market.poll_concurrency, 1, "one channel at a time on AWS");

        for missing in grid_store::resources::resource_variables() {
            let mut partial = vars.clone();
            partial.remove(missing);
            let err = GridConfig::from_vars(&partial).unwrap_err();
            assert_eq!(err.variable, missing);
        }
    }

    #[test]
    fn logs_default_to_json_on_lambda_unless_its_logging_config_says_text() {
        let config = GridConfig::from_vars(&vars(&[("AWS_LAMBDA_FUNCTION_NAME", "registration")])).unwrap();
        assert_eq!(config.log_format, LogFormat::Json);
        let text = [("AWS_LAMBDA_FUNCTION_NAME", "registration"), ("AWS_LAMBDA_LOG_FORMAT", "Text")];
        assert_eq!(GridConfig::from_vars(&vars(&text)).unwrap().log_format, LogFormat::Pretty);
        let json = [("AWS_LAMBDA_FUNCTION_NAME", "registration"), ("AWS_LAMBDA_LOG_FORMAT", "JSON")];
        assert_eq!(GridConfig::from_vars(&vars(&json)).unwrap().log_format, LogFormat::Json);
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for (name, value) in [
            ("GRID_STORE", "postgres"),
            ("GRID_LISTEN", "localhost"),
            ("GRID_BODY_LIMIT_BYTES", "lots"),
            ("GRID_BODY_LIMIT_BYTES", "10"),
            ("GRID_BODY_LIMIT_BYTES", "-1"),
            ("GRID_REQUEST_TIMEOUT_SECS", "0"),
            ("GRID_LOG_FORMAT", "xml"),
            ("GRID_MAX_CONNECTIONS", "0"),
            ("GRID_MAX_CONNECTIONS", "many"),
            ("GRID_HEADER_TIMEOUT_SECS", "0"),
            ("GRID_IDLE_TIMEOUT_SECS", "3601"),
            ("GRID_SHUTDOWN_GRACE_SECS", "301"),
        ] {
            let err = GridConfig::from_vars(&vars(&[(name, value)])).unwrap_err();
            assert_eq!(err.variable, name);
            assert!(err.to_string().starts_with(&format!("{name}: ")), "{err}");
        }
    }

    #[test]
    fn every_listed_variable_is_read() {
        let defaults = GridConfig::from_vars(&HashMap::new()).unwrap();
        for name in GridConfig::VARIABLES.iter().filter(|n| !n.starts_with("RUST_")) {
            // A nonsense value is either refused by name or changes the configuration.
            match GridConfig::from_vars(&vars(&[(name, "\u{1}nonsense")])) {
                Err(e) => assert_eq!(e.variable, *name),
                Ok(config) => assert_ne!(config, defaults, "{name} is listed but not read"),
            }
        }
    }

    #[test]
    fn an_empty_variable_counts_as_unset() {
        let config = GridConfig::from_vars(&vars(&[("GRID_LISTEN", "")])).unwrap();
        assert_eq!(config.listen.port(), 8080);
    }
}
