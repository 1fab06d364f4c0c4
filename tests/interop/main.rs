//! The channel protocol against an independent implementation.
//!
//! `channel_interop.py` implements DESIGN.md §3 from the text alone, in Python with
//! the `cryptography` package (installed into `.venv` by `make test`). These tests
//! check it against the committed vectors and exchange channels in both directions.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use grid_core::channel::{ChannelAccess, ChannelSecrets, ChannelSeed, Command, Envelope, random_nonce};
use grid_core::{ChannelRoot, SideKey};
use serde_json::{Value, json};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The venv's Python when `make tools` made one, else `python3` from PATH.
fn python(args: &[&str]) -> (bool, String) {
    let venv = workspace().join(".venv/bin/python");
    let interpreter = if venv.exists() { venv } else { PathBuf::from("python3") };
    let script = workspace().join("tests/interop/channel_interop.py");
    let output = Process::new(&interpreter)
        .arg(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; run `make tools` first", interpreter.display()));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("No module named"),
        "the interop check needs `make tools` (Python cryptography): {stderr}"
    );
    (output.status.success(), format!("{}{stderr}", String::from_utf8_lossy(&output.stdout)))
}

#[test]
fn an_independent_implementation_reproduces_every_vector_and_rejection() {
    let vectors = workspace().join("crates/grid-core/tests/vectors/channel-v1.json");
    let (ok, output) = python(&["check", vectors.to_str().unwrap()]);
    assert!(ok, "{output}");
    let report: Value = serde_json::from_str(output.trim()).unwrap();
    assert_eq!(report["failures"], json!([]));
    assert_eq!(report["checked"], 8);
}

#[test]
fn a_channel_written_in_python_is_read_by_the_rust_reader() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("python-channel.json");
    let (ok, output) = python(&["write", file.to_str().unwrap()]);
    assert!(ok, "{output}");
    let channel: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let access = ChannelAccess::new(
        ChannelRoot::parse(channel["root"].as_str().unwrap()).unwrap(),
        SideKey::parse(channel["sideKey"].as_str().unwrap()).unwrap(),
    );
    let mut commands = Vec::new();
    for message in channel["messages"].as_array().unwrap() {
        let index = message["index"].as_u64().unwrap();
        assert_eq!(access.address(index).as_str(), message["address"].as_str().unwrap());
        let envelope = Envelope::parse(message["envelope"].as_str().unwrap().as_bytes()).unwrap();
        envelope.verify_binding().expect("the node would accept it");
        commands.push(Command::parse(&access.open(index, &envelope).unwrap()).unwrap().name());
    }
    assert_eq!(commands, ["hello", "usage", "goodbye"]);
}

#[test]
fn a_channel_written_in_rust_is_read_by_the_python_reader() {
    let secrets =
        ChannelSecrets::new(&ChannelSeed::generate(), SideKey::parse("RustWrittenSideKey0123456789").unwrap());
    let plaintexts = [
        r#"{"command":"hello"}"#.to_owned(),
        r#"{"command":"output","startTime":1795860000000,"endTime":1795860900000,"output":0.5}"#.to_owned(),
        r#"{"command":"payment","batchId":"b-1","amount":12}"#.to_owned(),
        r#"{"command":"goodbye"}"#.to_owned(),
    ];
    let messages: Vec<Value> = plaintexts
        .iter()
        .enumerate()
        .map(|(n, text)| {
            let envelope = secrets.seal(n as u64, text.as_bytes(), random_nonce()).unwrap();
            json!({"index": n, "address": secrets.access().address(n as u64).as_str(), "envelope": envelope.to_json()})
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rust-channel.json");
    let channel =
        json!({"root": secrets.root().as_str(), "sideKey": "RustWrittenSideKey0123456789", "messages": messages});
    std::fs::write(&file, channel.to_string()).unwrap();
    let (ok, output) = python(&["read", file.to_str().unwrap()]);
    assert!(ok, "{output}");
    let read: Vec<String> = serde_json::from_str(output.trim()).unwrap();
    assert_eq!(read, plaintexts);
}
