//! `gridctl serve`: the grid's APIs on one socket, until Ctrl-C or SIGTERM.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use std::sync::Arc;

use dev_ledger::{AccountOwners, GridAccounts, LedgerOptions, LedgerStore, Proof};
use grid_app::assembly::app_state_waking;
use grid_app::config::LedgerConfig;
use grid_app::jobs::{BatchMonitor, Jobs, Poller, Settler};
use grid_app::{GridConfig, Stores, open_stores, telemetry};
use grid_core::ledger::Dialect;
use grid_core::{AccountKey, PaymentAddress};
use grid_http::shutdown_signal;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// Flags override the environment variables named in their help.
#[derive(clap::Args, Debug, Default)]
pub struct ServeArgs {
    /// Address to listen on [env: GRID_LISTEN, default 127.0.0.1:8080]; port 0 picks a free one.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Directory of the SQLite database [env: GRID_DATA_DIR, default ./grid-data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Log format, pretty or json [env: GRID_LOG_FORMAT].
    #[arg(long)]
    pub log_format: Option<String>,
    /// Serve a development ledger at /ledger and pay through it (instead of LEDGER_URL).
    /// For development only: anyone who reaches the server can fund accounts with it.
    #[arg(long)]
    pub dev_ledger: bool,
}

impl ServeArgs {
    /// The configuration: the environment with these flags written over it.
    pub fn config(&self) -> anyhow::Result<GridConfig> {
        let mut vars: HashMap<String, String> = std::env::vars().collect();
        let mut set = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                vars.insert(name.to_owned(), value);
            }
        };
        set("GRID_LISTEN", self.listen.map(|a| a.to_string()));
        set("GRID_DATA_DIR", self.data_dir.as_ref().map(|d| d.display().to_string()));
        set("GRID_LOG_FORMAT", self.log_format.clone());
        GridConfig::from_vars(&vars).context("bad configuration")
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = args.config()?;
    telemetry::init(config.log_format, "info");
    let made_up = ensure_portal_token(&mut config);
    let server = Server::start(&config, args.dev_ledger.then(LedgerOptions::default)).await?;
    // Whoever started us may stop reading stdout after the first line: a closed pipe
    // must not take the server down, so these lines ignore write errors.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "energy-grid listening on http://{}", server.addr);
    let _ = writeln!(out, "{}", portal_line(&server, &config, made_up));
    let _ = out.flush();
    drop(out);
    server.run_until_shutdown().await
}

/// Gives the portal a fresh token when `PORTAL_TOKEN` is unset; `true` if it did.
pub fn ensure_portal_token(config: &mut GridConfig) -> bool {
    let made_up = config.portal_token.is_none();
    if made_up {
        config.portal_token = Some(grid_app::config::PortalToken::generate());
    }
    made_up
}

/// Where the operator signs in, and with a made-up token the token itself (never in
/// the link: a URL ends up in logs and browser history).
pub fn portal_line(server: &Server, config: &GridConfig, made_up: bool) -> String {
    let host = if server.addr.ip().is_unspecified() { "127.0.0.1".to_owned() } else { server.addr.ip().to_string() };
    let base = format!("http://{host}:{}/portal", server.addr.port());
    match (&config.portal_token, made_up) {
        (Some(token), true) => format!(
            "operator portal: {base} (sign in with the token {}, made up for this run; set PORTAL_TOKEN to keep one)",
            token.expose()
        ),
        _ => format!("operator portal: {base} (sign in with PORTAL_TOKEN)"),
    }
}

/// A bound, ready grid server with its jobs.
pub struct Server {
    pub addr: SocketAddr,
    /// The ledger the jobs use: `LEDGER_URL`, or the development ledger at `/ledger`.
    pub ledger_url: String,
    pub stores: Stores,
    pub jobs: Jobs,
    listener: TcpListener,
    app: axum::Router,
    limits: grid_app::server::ServerLimits,
}

impl Server {
    /// Opens the store and binds the socket; nothing is served until `run…` is called.
    /// The jobs pay through `LEDGER_URL`, or through a development ledger served at
    /// `/ledger` with these options (`serve --dev-ledger`, the demo): one or the other.
    pub async fn start(config: &GridConfig, dev_ledger: Option<LedgerOptions>) -> anyhow::Result<Self> {
        let stores = open_stores(config)
            .await
            .with_context(|| format!("cannot open the store in {}", config.data_dir.display()))?;
        // `GET /metrics` renders what this process records from here on.
        if let Err(e) = grid_app::metrics::collect_for_prometheus() {
            tracing::warn!(error = %e, "metrics are collected elsewhere in this process; /metrics will not show them");
        }
        let woken = Arc::new(Notify::new());
        let state = app_state_waking(&stores, config, woken.clone());
        let state_registry = state.api.registry.clone();
        let mut app = grid_app::router(state, config);
        let listener =
            TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let ledger = match (&config.ledger, dev_ledger) {
            (Some(ledger), None) => ledger.clone(),
            (Some(_), Some(_)) => {
                anyhow::bail!("LEDGER_URL is set: a development ledger (--dev-ledger) would not be used")
            }
            (None, None) => anyhow::bail!(
                "no ledger to pay through: set LEDGER_URL, or pass --dev-ledger for a development ledger at /ledger"
            ),
            (None, Some(dev_ledger)) => {
                let dir = config.data_dir.join("dev-ledger");
                let store = LedgerStore::open(&dir).with_context(|| format!("cannot open {}", dir.display()))?;
                // The grid's accounts there are spent with a key made up for this run.
                let wallet = PaymentAddress::parse(config.market.wallet.name()).context("GRID_WALLET")?;
                let grid = GridAccounts { wallet, key: AccountKey::generate() };
                let ledger =
                    LedgerConfig { url: String::new(), dialect: Dialect::Sawtooth, key: Some(grid.key.clone()) };
                // The grid's own limits (body, deadline) and its registrations as proof of
                // who may claim an account.
                let owners: Arc<dyn AccountOwners> = Arc::new(RegisteredOwners(state_registry));
                let api = dev_ledger::router_with_owners(
                    store,
                    LedgerOptions { grid: Some(grid), ..dev_ledger },
                    Some(owners),
                );
                app = app.nest("/ledger", grid_http::with_limits(api, config.body_limit_bytes, config.request_timeout));
                let host = if addr.ip().is_unspecified() { "127.0.0.1".to_owned() } else { addr.ip().to_string() };
                let url = format!("http://{host}:{}/ledger", addr.port());
                tracing::info!(%url, "serving a development ledger");
                LedgerConfig { url, ..ledger }
            }
        };
        let ledger_url = ledger.url.clone();
        let ledger = grid_app::assembly::ledger(&ledger);
        let jobs = Jobs {
            poller: Poller::new(&stores, config),
            settler: Settler::new(&stores, config),
            monitor: BatchMonitor::new(&stores, config, ledger),
            interval: config.market.poll_interval,
            woken,
        };
        Ok(Self { addr, ledger_url, stores, jobs, listener, app, limits: config.server })
    }

    /// Splits off the jobs, for a caller that drives them itself; the rest serves, until
    /// Ctrl-C or SIGTERM.
    pub fn into_jobs_and_server(self) -> (Jobs, impl std::future::Future<Output = ()>) {
        (self.jobs, grid_app::server::serve(self.listener, self.app, self.limits, shutdown_signal()))
    }

    /// Serves, and runs the poller, settlement and the batch monitor every
    /// `POLL_INTERVAL_SECS`, until Ctrl-C or SIGTERM; then lets requests in flight and a
    /// job round under way finish, for `GRID_SHUTDOWN_GRACE_SECS` at most.
    pub async fn run_until_shutdown(self) -> anyhow::Result<()> {
        let (stopping, mut stopped) = tokio::sync::watch::channel(false);
        let jobs = tokio::spawn(self.jobs.run_every_interval(self.limits.shutdown_grace, async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }));
        grid_app::server::serve(self.listener, self.app, self.limits, async move {
            shutdown_signal().await;
            let _ = stopping.send(true);
        })
        .await;
        jobs.await.context("the jobs stopped unexpectedly")?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The development ledger's proof of who may claim an account: the side key of the
/// registration it is named after (`{id}`, or `wallet-{id}` for a producer's payouts).
struct RegisteredOwners(grid_app::registry::Registry);

#[async_trait::async_trait]
impl AccountOwners for RegisteredOwners {
    async fn proves(&self, address: &PaymentAddress, side_key: &str) -> Result<Proof, String> {
        let named = [Some(address.as_str()), address.as_str().strip_prefix("wallet-")];
        for id in named.into_iter().flatten() {
            let Ok(id) = grid_core::RegistrationId::parse(id) else { continue };
            match self.0.active(&id).await {
                Ok(registration) if registration.is_proven_by(side_key) => return Ok(Proof::Proven),
                Ok(_) => return Ok(Proof::Wrong),
                Err(grid_app::registry::RegistrationError::NotFound(_)) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(Proof::NoOwner)
    }
}
