//! Every shell example in README.md and docs/*.md, run as written: a page cannot drift
//! from the code (a route renamed, a flag removed, an answer changed) without this test
//! failing.
//!
//! A page's fenced blocks are found by a small parser (a line opening with three or more
//! backticks, indented or not, up to the line closing it). The fence's info string says
//! how a block is run:
//!
//! | Info string | What this test does |
//! |---|---|
//! | `sh` | runs it in bash with `set -euo pipefail`; it must exit 0 |
//! | `sh background` | starts it (a grid, a device: something that runs until Ctrl-C), waits until it prints its first line (at most 30 s), checks a second later that it is still running, leaves it running for the page's later blocks and stops it at the page's end |
//! | `sh aws`, `sh lambda` | does not run it (it needs an AWS account, or cargo-lambda and moto); [`NOT_RUN_HERE`] must name the block and what runs it instead, or why nothing can |
//! | anything else (`text`, `json`, …) | not a shell example; a fence without an info string is refused |
//!
//! Each page runs in a fresh directory, its blocks in order, each in a bash of its own
//! that starts with the shell variables the page's earlier blocks set (so a block can use
//! `$CONSUMER_KEY` captured by the one before, as a reader's terminal would). `GRID` is
//! the address of a grid this test started for the page (`gridctl serve --dev-ledger` on a
//! free port, with `PORTAL_TOKEN` set), `cargo run --release -p gridctl --` and a bare
//! `gridctl` both run this test's binary, and `GRID_LISTEN` is `127.0.0.1:0`, so a
//! `serve` in a page never takes a fixed port. The one command not run, by name, is
//! [`EXEMPT_COMMANDS`]' `make test`: it runs this test.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The prefix the pages write for `gridctl`, as a reader in a clone runs it.
const CARGO_RUN: &str = "cargo run --release -p gridctl --";

/// Commands a page may show that this test never runs, each with the reason.
const EXEMPT_COMMANDS: &[(&str, &str)] = &[("make test", "it runs every test of the workspace, this one among them")];

/// A block this test does not run: the page, its tag, its first line (as written), and
/// the test or harness that runs it instead, or why nothing can here.
struct NotRunHere {
    page: &'static str,
    tag: &'static str,
    first_line: &'static str,
    instead: &'static str,
}

const NOT_RUN_HERE: &[NotRunHere] = &[
    NotRunHere {
        page: "docs/lambda-local.md",
        tag: "lambda",
        first_line: "make tools && source .venv/bin/activate",
        instead: "needs moto and cargo-lambda (make tools); functions/tests/lambda.rs drives the same functions \
                  through cargo-lambda's emulator over moto: the_http_functions_register_store_list_and_delete_\
                  through_the_lambda_path and each_job_function_takes_its_schedule_and_the_poller_an_sqs_batch",
    },
    NotRunHere {
        page: "docs/lambda-local.md",
        tag: "lambda",
        first_line: "LAMBDA='http://[::1]:9000'",
        instead: "needs the watcher above; the_http_functions_register_store_list_and_delete_through_the_lambda_path \
                  registers a consumer and stores with its return channel's key through the same functions, and \
                  each_job_function_takes_its_schedule_and_the_poller_an_sqs_batch invokes the same events",
    },
    NotRunHere {
        page: "docs/lambda-local.md",
        tag: "lambda",
        first_line: "cargo lambda invoke poller --data-file tests/events/sqs-batch.json",
        instead: "each_job_function_takes_its_schedule_and_the_poller_an_sqs_batch (functions/tests/lambda.rs) \
                  invokes the poller with this fixture and expects exactly this batchItemFailures answer",
    },
    NotRunHere {
        page: "docs/lambda-local.md",
        tag: "lambda",
        first_line: "python3 - > work-batch.json <<'PY'",
        instead: "needs the watcher above (cargo-lambda over moto); no test builds a work message by hand yet: \
                  followed by hand on 2026-12-05",
    },
    NotRunHere {
        page: "docs/performance.md",
        tag: "lambda",
        first_line: "git worktree add /tmp/before HEAD~1 && (cd /tmp/before && cargo build --release -p gridctl)",
        instead: "make bench builds the arm64 Lambda zips with cargo-lambda, starts moto and runs for tens of \
                  minutes; it is a measurement, run by hand (docs/performance.md), never part of make test",
    },
    NotRunHere {
        page: "docs/deploy.md",
        tag: "aws",
        first_line: "aws ssm put-parameter --region us-east-1 --name /energy-grid-dev/portal-token \\",
        instead: "a real AWS account only; make deploy-rehearsal (scripts/deploy_rehearsal.py) rehearses the \
                  deploy against moto",
    },
    NotRunHere {
        page: "docs/deploy.md",
        tag: "aws",
        first_line: "sam build",
        instead: "a real AWS account only; make deploy-rehearsal runs sam build for real and sam deploy against moto",
    },
    NotRunHere {
        page: "docs/deploy.md",
        tag: "aws",
        first_line: "for table in registrations readings accounts settlements batches channel-messages leases rejections; do",
        instead: "a real AWS account only: it deletes a stack's retained tables, bucket and parameter",
    },
    NotRunHere {
        page: "docs/deploy.md",
        tag: "aws",
        first_line: "aws ssm put-parameter --name /energy-grid-dev/portal-token --type SecureString --overwrite \\",
        instead: "a real AWS account only: it rotates a deployed stack's portal token",
    },
];

/// How long a background block may take to print its first line (to be ready).
const BACKGROUND_READY: Duration = Duration::from_secs(30);
/// How long it must run on after that before the next block runs.
const BACKGROUND_GRACE: Duration = Duration::from_secs(1);
/// How long one block may run.
const BLOCK_TIMEOUT: Duration = Duration::from_secs(300);
/// The portal token of the grid each page runs against (its examples read `$PORTAL_TOKEN`).
const PORTAL_TOKEN: &str = "docs-examples-portal-token";

#[test]
fn every_shell_example_in_the_readme_runs() {
    let page = Page::read("README.md");
    let exempted = page.run();
    assert_eq!(exempted, vec!["make test".to_owned()], "the README's first block shows `make test`, exempted by name");
}

#[test]
fn every_shell_example_in_the_docs_folder_runs() {
    for page in docs_pages() {
        let exempted = page.run();
        assert!(exempted.is_empty(), "{}: only the README may show an exempted command: {exempted:?}", page.name);
    }
}

#[test]
fn every_fence_says_how_it_is_run_and_every_block_not_run_is_accounted_for() {
    let mut pages = docs_pages();
    pages.push(Page::read("README.md"));
    let mut skipped: Vec<(String, &str, String)> = Vec::new();
    for page in &pages {
        for block in &page.blocks {
            let mode = Mode::of(&block.info).unwrap_or_else(|e| panic!("{}:{}: {e}", page.name, block.line));
            match mode {
                Mode::Skip(tag) => skipped.push((page.name.clone(), tag, block.first_line().to_owned())),
                Mode::Run | Mode::Background => {
                    if let Err(e) = script_lines(&block.body) {
                        panic!("{}:{}: {e}", page.name, block.line);
                    }
                }
                Mode::NotShell => {}
            }
        }
    }
    for (page, tag, first_line) in &skipped {
        let listed = NOT_RUN_HERE.iter().filter(|n| n.page == page && n.tag == *tag && n.first_line == first_line);
        assert_eq!(
            listed.count(),
            1,
            "{page}: the `sh {tag}` block starting `{first_line}` is not run here, so NOT_RUN_HERE must name it \
             once, with what runs it instead"
        );
    }
    for entry in NOT_RUN_HERE {
        assert!(
            skipped.iter().any(|(page, tag, line)| page == entry.page && *tag == entry.tag && line == entry.first_line),
            "NOT_RUN_HERE names a block no page has any more: {} `sh {}` `{}`",
            entry.page,
            entry.tag,
            entry.first_line
        );
        assert!(!entry.instead.is_empty());
    }
}

#[test]
fn the_fence_parser_finds_indented_blocks_their_info_strings_and_nothing_outside() {
    let text = "Some `inline` code.\n\n```sh\necho one\n```\n\n1. A step:\n\n   ```sh background\n   serve\n     \
                --flag\n   ```\n\n````text\n```\ninner\n```\n````\n";
    let blocks = fenced_blocks(text);
    let found: Vec<(usize, &str, &str)> = blocks.iter().map(|b| (b.line, b.info.as_str(), b.body.as_str())).collect();
    assert_eq!(
        found,
        vec![(3, "sh", "echo one\n"), (9, "sh background", "serve\n  --flag\n"), (14, "text", "```\ninner\n```\n")]
    );
    assert_eq!(Mode::of("sh"), Ok(Mode::Run));
    assert_eq!(Mode::of("sh background"), Ok(Mode::Background));
    assert_eq!(Mode::of("sh lambda"), Ok(Mode::Skip("lambda")));
    assert_eq!(Mode::of("json"), Ok(Mode::NotShell));
    assert!(Mode::of("").is_err(), "a fence must say what it holds");
    assert!(Mode::of("sh maybe").is_err(), "an unknown way to run a shell block");
    assert!(Mode::of("bash").is_err(), "shell blocks are `sh …`");
    assert_eq!(script_lines("cargo run --release -p gridctl -- demo  # x\n").unwrap(), "gridctl demo  # x\n");
    assert!(script_lines("curl \"$GRID/registration/x\" -H 'X-Side-Key: K…'\n").is_err(), "a placeholder");
    assert!(script_lines("cargo run -p grid-core --example worked_example\n").is_err(), "another cargo command");
}

// ---------------------------------------------------------------------------------------

/// How a fenced block is run, from its info string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Run,
    Background,
    Skip(&'static str),
    NotShell,
}

impl Mode {
    fn of(info: &str) -> Result<Self, String> {
        let words: Vec<&str> = info.split_whitespace().collect();
        match words.as_slice() {
            [] => {
                Err("a fence needs an info string: `sh` (and how to run it) for shell, else `text`, `json`, …".into())
            }
            ["sh"] => Ok(Self::Run),
            ["sh", "background"] => Ok(Self::Background),
            ["sh", "aws"] => Ok(Self::Skip("aws")),
            ["sh", "lambda"] => Ok(Self::Skip("lambda")),
            [first, ..] if ["sh", "bash", "shell", "console", "zsh"].contains(first) => Err(format!(
                "unknown shell fence `{info}`: use `sh`, `sh background`, `sh aws` or `sh lambda` (cli/gridctl/tests/docs.rs)"
            )),
            _ => Ok(Self::NotShell),
        }
    }
}

/// One fenced block: the line its fence opens on (from 1), its info string and its
/// lines, without the fence's indentation.
#[derive(Debug)]
struct Block {
    line: usize,
    info: String,
    body: String,
}

impl Block {
    fn first_line(&self) -> &str {
        self.body.lines().next().unwrap_or_default()
    }
}

fn fenced_blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    // The open block: its fence's indentation and length, and the block so far.
    let mut open: Option<(usize, usize, Block)> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let ticks = trimmed.len() - trimmed.trim_start_matches('`').len();
        match &mut open {
            None if ticks >= 3 => {
                let info = trimmed[ticks..].trim().to_owned();
                open = Some((indent, ticks, Block { line: n + 1, info, body: String::new() }));
            }
            None => {}
            Some((_, fence, _)) if ticks >= *fence && trimmed[ticks..].trim().is_empty() => {
                blocks.push(open.take().expect("a block is open").2);
            }
            Some((indent, _, block)) => {
                let strip = line.len() - line.trim_start().len();
                block.body.push_str(&line[strip.min(*indent)..]);
                block.body.push('\n');
            }
        }
    }
    assert!(open.is_none(), "a fence is never closed");
    blocks
}

/// A block's lines as this test runs them: `cargo run --release -p gridctl --` becomes
/// `gridctl`. Refused: a placeholder (`…`) outside a comment, which no shell can run, and
/// any other cargo command, which would build in the middle of a test.
fn script_lines(body: &str) -> Result<String, String> {
    let script = body.replace(CARGO_RUN, "gridctl");
    for line in script.lines() {
        let code = line.split(" #").next().unwrap_or_default();
        if code.trim_start().starts_with('#') {
            continue;
        }
        if code.contains('…') {
            return Err(format!("a placeholder in `{line}`: capture the value into a shell variable instead"));
        }
        if code.split_whitespace().any(|word| word == "cargo") {
            return Err(format!("`{line}` runs cargo: only `{CARGO_RUN}` is run here; tag the block or drop it"));
        }
    }
    Ok(script)
}

// ---------------------------------------------------------------------------------------

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A Markdown page of the project and its fenced blocks.
struct Page {
    name: String,
    blocks: Vec<Block>,
}

impl Page {
    fn read(name: &str) -> Self {
        let text = std::fs::read_to_string(root().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        Self { name: name.to_owned(), blocks: fenced_blocks(&text) }
    }

    /// Runs the page's shell blocks in order; the exempted commands it showed.
    fn run(&self) -> Vec<String> {
        let runnable: Vec<(&Block, Mode)> = self
            .blocks
            .iter()
            .map(|b| (b, Mode::of(&b.info).unwrap_or_else(|e| panic!("{}:{}: {e}", self.name, b.line))))
            .filter(|(_, mode)| matches!(mode, Mode::Run | Mode::Background))
            .collect();
        if runnable.is_empty() {
            return Vec::new();
        }
        let grid = Grid::start();
        let session = Session::new(&grid.url);
        let mut exempted = Vec::new();
        let mut background = Background(Vec::new());
        let runs = runnable.len();
        for (n, (block, mode)) in runnable.into_iter().enumerate() {
            let at = format!("{}:{}", self.name, block.line);
            let mut script = script_lines(&block.body).unwrap_or_else(|e| panic!("{at}: {e}"));
            for (command, _why) in EXEMPT_COMMANDS {
                let kept: Vec<&str> = script
                    .lines()
                    .filter(|line| {
                        let exempt = line.split(" #").next().unwrap_or_default().trim() == *command;
                        if exempt {
                            exempted.push((*command).to_owned());
                        }
                        !exempt
                    })
                    .collect();
                script = kept.join("\n") + "\n";
            }
            match mode {
                Mode::Run => session.run(&at, n, &script),
                Mode::Background => background.0.push(session.start(&at, n, &script)),
                _ => unreachable!("only runnable blocks"),
            }
        }
        eprintln!("{}: {} blocks run, {} of them in the background", self.name, runs, background.0.len());
        drop(background);
        exempted
    }
}

fn docs_pages() -> Vec<Page> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    names.sort();
    names.iter().map(|name| Page::read(name)).collect()
}

/// `gridctl serve --dev-ledger` on a free port over a fresh directory, for one page.
struct Grid {
    url: String,
    child: Child,
    _data: tempfile::TempDir,
}

impl Grid {
    fn start() -> Self {
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_gridctl"))
            .args(["serve", "--dev-ledger", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path().join("grid"))
            .env_remove("RUST_LOG")
            .env("PORTAL_TOKEN", PORTAL_TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().expect("stdout is piped");
        let line = BufReader::new(stdout).lines().next().expect("serve prints its address").unwrap();
        let (_, url) = line.split_once(" listening on ").unwrap_or_else(|| panic!("unexpected first line: {line}"));
        Self { url: url.to_owned(), child, _data: data }
    }
}

impl Drop for Grid {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where a page's blocks run: its working directory (fresh), and beside it this test's
/// own files (the scripts, their output, the variables the blocks set, the `gridctl`
/// wrapper), out of the blocks' sight.
struct Session {
    work: tempfile::TempDir,
    files: tempfile::TempDir,
    env: BTreeMap<&'static str, String>,
}

impl Session {
    fn new(grid: &str) -> Self {
        let work = tempfile::tempdir().unwrap();
        let files = tempfile::tempdir().unwrap();
        let bin = files.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let wrapper = bin.join("gridctl");
        std::fs::write(&wrapper, format!("#!/bin/sh\nexec '{}' \"$@\"\n", env!("CARGO_BIN_EXE_gridctl"))).unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let env = BTreeMap::from([
            ("PATH", path),
            ("GRID", grid.to_owned()),
            ("PORTAL_TOKEN", PORTAL_TOKEN.to_owned()),
            ("GRID_LISTEN", "127.0.0.1:0".to_owned()),
            ("DOCS_EXAMPLE_STATE", files.path().join("state.sh").display().to_string()),
        ]);
        Self { work, files, env }
    }

    /// The script of block `n`: the variables of the blocks before, the block, and
    /// (unless it runs in the background) the variables it leaves for the next.
    fn script(&self, n: usize, body: &str, keeps_state: bool) -> PathBuf {
        let mut script = String::from(PRELUDE);
        if keeps_state {
            script.push_str("trap __docs_save EXIT\n");
        }
        script.push_str("set -euo pipefail\n");
        script.push_str(body);
        let path = self.files.path().join(format!("block-{n}.sh"));
        std::fs::write(&path, script).unwrap();
        path
    }

    fn command(&self, n: usize, script: &Path, what: &str) -> Command {
        let log = |stream: &str| std::fs::File::create(self.files.path().join(format!("block-{n}.{stream}"))).unwrap();
        let mut command = Command::new("bash");
        command
            .arg(script)
            .current_dir(self.work.path())
            .env_remove("RUST_LOG")
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(log(&format!("{what}.out")))
            .stderr(log(&format!("{what}.err")))
            // Its own process group, so that stopping it stops whatever it started.
            .process_group(0);
        command
    }

    fn output(&self, n: usize, what: &str) -> String {
        let read = |stream: &str| {
            std::fs::read_to_string(self.files.path().join(format!("block-{n}.{what}.{stream}"))).unwrap_or_default()
        };
        format!("--- stdout ---\n{}--- stderr ---\n{}", read("out"), read("err"))
    }

    /// Runs a block to its end; it must exit 0.
    fn run(&self, at: &str, n: usize, body: &str) {
        let script = self.script(n, body, true);
        let mut child = self.command(n, &script, "run").spawn().unwrap();
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > BLOCK_TIMEOUT {
                stop(&mut child);
                panic!("{at}: the block ran past {BLOCK_TIMEOUT:?}:\n{body}\n{}", self.output(n, "run"));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "{at}: the block failed ({status}):\n{body}\n{}", self.output(n, "run"));
    }

    /// Starts a block that runs until stopped. It is ready once it has printed something
    /// (a grid its address, a device its channel), or after [`BACKGROUND_READY`]; a
    /// moment later it must still run.
    fn start(&self, at: &str, n: usize, body: &str) -> Child {
        let script = self.script(n, body, false);
        let mut child = self.command(n, &script, "background").spawn().unwrap();
        let stdout = self.files.path().join(format!("block-{n}.background.out"));
        let started = Instant::now();
        let mut ready: Option<Instant> = None;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("{at}: the background block stopped ({status}):\n{body}\n{}", self.output(n, "background"));
            }
            let printed = std::fs::metadata(&stdout).is_ok_and(|m| m.len() > 0);
            if ready.is_none() && (printed || started.elapsed() > BACKGROUND_READY) {
                ready = Some(Instant::now());
            }
            if ready.is_some_and(|at| at.elapsed() > BACKGROUND_GRACE) {
                return child;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Shell functions and state every block's script starts with: the variables the
/// page's earlier blocks set, and `__docs_save`, which writes those this one set.
const PRELUDE: &str = r#"__docs_fresh=" $(compgen -v | tr '\n' ' ') "
__docs_save() {
    local __docs_v
    for __docs_v in $(compgen -v); do
        case "$__docs_fresh" in *" $__docs_v "*) continue ;; esac
        case "$__docs_v" in __docs* | BASH* | _ | OLDPWD | PIPESTATUS | COLUMNS | LINES) continue ;; esac
        declare -p "$__docs_v"
    done > "$DOCS_EXAMPLE_STATE"
}
if [ -f "$DOCS_EXAMPLE_STATE" ]; then source "$DOCS_EXAMPLE_STATE"; fi
"#;

/// The background blocks of a page, stopped (with all they started) when it ends.
struct Background(Vec<Child>);

impl Drop for Background {
    fn drop(&mut self) {
        for child in self.0.iter_mut().rev() {
            stop(child);
        }
    }
}

/// Stops a block's process group: SIGTERM, a few seconds' grace, then SIGKILL.
fn stop(child: &mut Child) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            // The group may outlive its leader: whatever is left goes too.
            let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
    let _ = child.wait();
}
