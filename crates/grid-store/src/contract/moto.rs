//! Real AWS APIs for tests: the moto server, started on a free loopback port.
//!
//! `make test` starts one moto server for the whole run and passes its URL in
//! `GRID_TEST_MOTO_URL`; every test then provisions its own tables, bucket and
//! queues under a random prefix, so tests run in parallel without seeing each other.
//! Without that variable (a plain `cargo test`), each test starts a moto server of its
//! own (`moto_server` from `.venv`, installed by `make tools`) and stops it when done.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::Credentials;

use crate::aws::{AwsClients, schema};
use crate::resources::AwsNames;

/// A moto server this test uses (and owns, if it started it).
pub struct Moto {
    pub endpoint: String,
    child: Option<Child>,
}

impl Moto {
    /// The run's shared server if `make test` started one, else a new one.
    pub fn start() -> Self {
        if let Ok(endpoint) = std::env::var("GRID_TEST_MOTO_URL") {
            return Self { endpoint, child: None };
        }
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let child = Command::new(moto_server())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto_server ({e}); run `make tools` to install it"));
        let moto = Self { endpoint: format!("http://127.0.0.1:{port}"), child: Some(child) };
        moto.wait_until_ready();
        moto
    }

    fn wait_until_ready(&self) {
        let address = self.endpoint.trim_start_matches("http://").to_owned();
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(&address).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start within 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SDK configuration aimed at this server, with throwaway credentials.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(Credentials::for_tests()))
            .build()
    }

    /// Clients for this server and a fresh set of resources under a random prefix.
    pub async fn fresh_resources(&self) -> (AwsClients, AwsNames) {
        let clients = AwsClients::from_config(&self.sdk_config());
        let mut suffix = [0u8; 6];
        getrandom::fill(&mut suffix).expect("randomness");
        let prefix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
        let names = schema::provision(&clients, &format!("t{prefix}")).await.expect("provisioning on moto");
        (clients, names)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `moto_server` from the workspace's `.venv` if there is one, else from PATH.
fn moto_server() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server");
    if venv.exists() { venv } else { PathBuf::from("moto_server") }
}
