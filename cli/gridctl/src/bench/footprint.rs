//! The functions' footprint: each arm64 zip's size (from `make lambda`), and each
//! function's cold start — from starting its binary to its first handled event — next
//! to a minimal `lambda_runtime` function built the same way. Each function answers a
//! real first request (its store on moto), then the same request warm; the difference
//! is what starting costs.
//!
//! Cold starts are timed against a Lambda Runtime API emulated here (the same three
//! routes Lambda serves a bootstrap), with the functions' stores on the moto server
//! `make bench` starts. The timed binaries are the functions and `hello` built for
//! this machine with the release profile (the Lambda one): on an arm64 host those are
//! the zips' bootstraps themselves. Elsewhere the bootstraps also run, under
//! `qemu-user`, to show that they start and answer; their times are printed without a
//! target, because emulation translates every instruction the first time it runs, so
//! a cold start there costs in proportion to the code it touches, which is not how an
//! arm64 CPU spends it (docs/performance.md).

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{Figure, PORTAL_TOKEN};

/// Cold starts per function on this machine (a few milliseconds each), and under
/// emulation (a few hundred); the median is reported.
const RUNS: usize = 31;
const EMULATED_RUNS: usize = 5;
const ZIP_LIMIT_MB: f64 = 5.0;
/// The minimal function the others are set beside.
const BASELINE: &str = "hello";

/// Where the bench finds what `make bench` built.
#[derive(Debug, Clone)]
pub struct Builds {
    /// `target/lambda`: one `<function>/bootstrap.zip` each, and `hello/bootstrap.zip`.
    pub zips: PathBuf,
    /// The functions and `hello` built for this machine (`target/release`).
    pub native: PathBuf,
    /// The program that provisions the grid's resources on moto and prints their names.
    pub provision: PathBuf,
    /// What runs an arm64 binary here; `None` on an arm64 host, where the host builds
    /// are the bootstraps.
    pub emulator: Option<Vec<String>>,
}

pub async fn run(builds: &Builds) -> anyhow::Result<Vec<Figure>> {
    let mut figures = zip_sizes(&builds.zips)?;
    figures.extend(cold_starts(builds).await?);
    Ok(figures)
}

fn zip_sizes(dir: &Path) -> anyhow::Result<Vec<Figure>> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("no Lambda zips in {}; run `make lambda`", dir.display()))?;
    let mut zips: Vec<(String, u64)> = Vec::new();
    for entry in entries {
        let entry = entry?;
        if entry.file_name() == BASELINE {
            continue;
        }
        if let Ok(meta) = std::fs::metadata(entry.path().join("bootstrap.zip")) {
            zips.push((entry.file_name().to_string_lossy().into_owned(), meta.len()));
        }
    }
    if zips.is_empty() {
        bail!("no Lambda zips in {}; run `make lambda`", dir.display());
    }
    zips.sort();
    Ok(zips
        .into_iter()
        .map(|(name, bytes)| {
            Figure::new(format!("arm64 zip, {name}"), bytes as f64 / 1_000_000.0, "MB").at_most(ZIP_LIMIT_MB)
        })
        .collect())
}

/// The events the emulated Runtime API hands out, one per poll, and the answers.
struct Pending {
    events: std::collections::VecDeque<Value>,
    /// When the latest event was handed out.
    handed_out: Instant,
    answers: Option<mpsc::UnboundedSender<(Instant, Result<(), String>)>>,
}

type Runtime = Arc<Mutex<Pending>>;

async fn next(State(runtime): State<Runtime>) -> (HeaderMap, String) {
    let event = {
        let mut pending = runtime.lock().expect("not poisoned");
        pending.handed_out = Instant::now();
        pending.events.pop_front()
    };
    let Some(event) = event else {
        // Nothing more for this process: it waits until it is stopped.
        std::future::pending::<()>().await;
        unreachable!("a pending future never completes");
    };
    let mut headers = HeaderMap::new();
    let deadline = (std::time::SystemTime::now() + Duration::from_secs(60))
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    headers.insert("lambda-runtime-aws-request-id", "bench-request-0001".parse().expect("a header value"));
    headers.insert("lambda-runtime-deadline-ms", deadline.to_string().parse().expect("a header value"));
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:bench".parse().expect("a header value"),
    );
    (headers, event.to_string())
}

fn answer(runtime: &Runtime, outcome: Result<(), String>) {
    if let Some(answers) = &runtime.lock().expect("not poisoned").answers {
        let _ = answers.send((Instant::now(), outcome));
    }
}

async fn emulator() -> anyhow::Result<(String, Runtime)> {
    let runtime: Runtime =
        Arc::new(Mutex::new(Pending { events: Default::default(), handed_out: Instant::now(), answers: None }));
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(|State(r): State<Runtime>| async move { answer(&r, Ok(())) }),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            post(|State(r): State<Runtime>, body: String| async move { answer(&r, Err(body)) }),
        )
        .route(
            "/2018-06-01/runtime/init/error",
            post(|State(r): State<Runtime>, body: String| async move { answer(&r, Err(body)) }),
        )
        .with_state(runtime.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?.to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((address, runtime))
}

/// An API Gateway (HTTP API, payload 2.0) request.
fn http_event(method: &str, path: &str, headers: Value) -> Value {
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": headers, "isBase64Encoded": false,
        "requestContext": {
            "accountId": "123456789012", "apiId": "bench", "domainName": "localhost", "domainPrefix": "localhost",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
            "requestId": "bench", "routeKey": "$default", "stage": "$default",
            "time": "23/Nov/2026:00:00:00 +0000", "timeEpoch": 1_795_392_000_000u64
        }
    })
}

/// What each function is asked first: a real request that reaches its store (for
/// `registration`, removing a registration that is not there: one read, then 404).
fn first_events() -> Vec<(&'static str, Value)> {
    let schedule = |job: &str| json!({"job": job, "scheduledTime": "2026-11-23T00:00:00Z"});
    vec![
        (
            "registration",
            http_event("DELETE", "/registration/bench-nobody/benchSideKey0123456789", json!({"host": "localhost"})),
        ),
        ("storage", http_event("GET", "/storage/bench-nobody/notes/first", json!({"host": "localhost"}))),
        (
            "channels",
            http_event("GET", &format!("/channels/messages/{}", "0".repeat(64)), json!({"host": "localhost"})),
        ),
        (
            "portal",
            http_event(
                "GET",
                "/portal/api/overview",
                json!({"host": "localhost", "authorization": format!("Bearer {PORTAL_TOKEN}")}),
            ),
        ),
        ("poller", schedule("poller")),
        ("settlement", schedule("settlement")),
        ("batch-monitor", schedule("batch-monitor")),
    ]
}

/// The environment the template gives the functions, over resources provisioned on
/// the moto server `make bench` started.
fn function_env(provision: &Path) -> anyhow::Result<HashMap<String, String>> {
    let endpoint = std::env::var("GRID_TEST_MOTO_URL").or_else(|_| std::env::var("AWS_ENDPOINT_URL")).context(
        "cold starts need an AWS emulator at GRID_TEST_MOTO_URL or AWS_ENDPOINT_URL; `make bench` starts one",
    )?;
    let output = Command::new(provision)
        .arg(format!("bench{}", std::process::id()))
        .env("AWS_ENDPOINT_URL", &endpoint)
        .envs(aws_env())
        .output()
        .with_context(|| format!("cannot run {}; `make bench` builds it", provision.display()))?;
    if !output.status.success() {
        bail!("provisioning failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let mut env: HashMap<String, String> = String::from_utf8(output.stdout)?
        .lines()
        .filter_map(|line| line.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    env.extend(aws_env());
    env.insert("PORTAL_TOKEN".to_owned(), PORTAL_TOKEN.to_owned());
    // Nothing is pending, so the monitor never calls it.
    env.insert("LEDGER_URL".to_owned(), "http://127.0.0.1:9".to_owned());
    env.insert("RUST_LOG".to_owned(), "error".to_owned());
    Ok(env)
}

fn aws_env() -> HashMap<String, String> {
    [("AWS_REGION", "us-east-1"), ("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Takes the `bootstrap` out of a function's zip, as Lambda does, into `dir`.
fn unpack(zips: &Path, name: &str, dir: &Path) -> anyhow::Result<PathBuf> {
    let zip = zips.join(name).join("bootstrap.zip");
    let file = std::fs::File::open(&zip).with_context(|| format!("no {}; `make bench` builds it", zip.display()))?;
    let mut archive = zip::ZipArchive::new(file).with_context(|| format!("{} is not a zip", zip.display()))?;
    let mut bootstrap =
        archive.by_name("bootstrap").with_context(|| format!("{} holds no bootstrap", zip.display()))?;
    let path = dir.join(name);
    let mut out = std::fs::File::create(&path)?;
    std::io::copy(&mut bootstrap, &mut out)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(path)
}

/// Kills the function when the measurement ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where functions are started: the emulated Runtime API and their environment.
struct Harness {
    env: HashMap<String, String>,
    runtime_api: String,
    runtime: Runtime,
}

impl Harness {
    /// One start of `binary` (through `runner` when there is one), handed `event` twice:
    /// from starting it to its first answer (cold), and from handing the event again to
    /// that answer (warm), in milliseconds.
    async fn start(&self, runner: &[String], binary: &Path, event: &Value) -> anyhow::Result<(f64, f64)> {
        let (answers, mut answered) = mpsc::unbounded_channel();
        {
            let mut pending = self.runtime.lock().expect("not poisoned");
            pending.events = [event.clone(), event.clone()].into();
            pending.answers = Some(answers);
        }
        let mut command = match runner.split_first() {
            Some((runner, args)) => {
                let mut command = Command::new(runner);
                command.args(args).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        let started = Instant::now();
        let _running = Running(
            command
                .env_clear()
                .envs(&self.env)
                .env("AWS_LAMBDA_RUNTIME_API", &self.runtime_api)
                .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
                .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .with_context(|| format!("cannot start {}", binary.display()))?,
        );
        let mut answer = async || match tokio::time::timeout(Duration::from_secs(30), answered.recv()).await {
            Ok(Some((at, Ok(())))) => Ok(at),
            Ok(Some((_, Err(error)))) => bail!("{} answered with an error: {error}", binary.display()),
            Ok(None) | Err(_) => bail!("{} did not answer within 30 s", binary.display()),
        };
        let first = answer().await?;
        let second = answer().await?;
        let handed_out = self.runtime.lock().expect("not poisoned").handed_out;
        Ok(((first - started).as_secs_f64() * 1000.0, (second - handed_out).as_secs_f64() * 1000.0))
    }

    /// `runs` starts of a function, each right after a start of the baseline, so that
    /// both are timed in the same minutes of a machine whose speed drifts (`hello`
    /// alone moved 1.4–2.5 ms within an hour here). Medians, in milliseconds.
    async fn beside_baseline(
        &self,
        runs: usize,
        runner: &[String],
        (baseline, function): (&Path, &Path),
        event: &Value,
    ) -> anyhow::Result<Starts> {
        let hello = json!({"hello": "world"});
        let (mut baselines, mut colds, mut warms, mut added) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            baselines.push(self.start(runner, baseline, &hello).await?.0);
            let (cold, warm) = self.start(runner, function, event).await?;
            colds.push(cold);
            warms.push(warm);
            added.push((cold - warm).max(0.0));
        }
        Ok(Starts { baseline: median(baselines), cold: median(colds), warm: median(warms), added: median(added) })
    }
}

/// A function's starts beside the baseline's, in milliseconds (medians).
struct Starts {
    /// The baseline's cold start to its first answer.
    baseline: f64,
    cold: f64,
    warm: f64,
    /// What starting costs: each process's cold answer less its warm one (the event's
    /// own work, moto's round trips included). Taken per process, so that a slow
    /// moment of moto's falls on both sides of one difference rather than on one median.
    added: f64,
}

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Each function's cold start beside the baseline's, built for this machine: what a
/// cold start adds must stay within twice the baseline's whole cold start, timed in
/// the same minutes. Then, off arm64, the zips' bootstraps under emulation, untargeted.
async fn cold_starts(builds: &Builds) -> anyhow::Result<Vec<Figure>> {
    let env = function_env(&builds.provision)?;
    let (runtime_api, runtime) = emulator().await?;
    let harness = Harness { env, runtime_api, runtime };
    let native = |name: &str| {
        let path = builds.native.join(name);
        anyhow::ensure!(path.is_file(), "no {}; `make bench` builds it", path.display());
        Ok(path)
    };
    let baseline = native(BASELINE)?;
    let mut figures = Vec::new();
    for (name, event) in first_events() {
        let starts = harness.beside_baseline(RUNS, &[], (&baseline, &native(name)?), &event).await?;
        figures.push(Figure::new(format!("  {name}: cold answer"), starts.cold, "ms"));
        figures.push(Figure::new(format!("  {name}: warm answer"), starts.warm, "ms"));
        figures.push(Figure::new(format!("  hello's cold answer beside {name}"), starts.baseline, "ms"));
        figures.push(
            Figure::new(format!("what a cold start adds, {name}"), starts.added, "ms").at_most(2.0 * starts.baseline),
        );
    }
    let Some(runner) = &builds.emulator else { return Ok(figures) };
    let unpacked = tempfile::tempdir()?;
    let bootstrap = |name: &str| unpack(&builds.zips, name, unpacked.path());
    let baseline = bootstrap(BASELINE)?;
    for (name, event) in first_events() {
        let starts = harness.beside_baseline(EMULATED_RUNS, runner, (&baseline, &bootstrap(name)?), &event).await?;
        figures.push(Figure::new(format!("  under qemu, hello's cold answer beside {name}"), starts.baseline, "ms"));
        figures.push(Figure::new(format!("  under qemu, what a cold start adds, {name}"), starts.added, "ms"));
    }
    Ok(figures)
}
