//! The channel codec: sealing and opening messages, one core and all cores, beside the
//! raw Ed25519 verification of the same crate, which bounds how fast opening one message
//! can be. Readers open a fetched window of a channel's messages together, their
//! signatures checked as one batch: that is timed too (windows of 100).

use std::time::Instant;

use ed25519_dalek::{Signer, SigningKey};
use grid_core::SideKey;
use grid_core::channel::{ChannelSecrets, ChannelSeed, Command, Envelope, Reading};
use grid_core::{EpochMs, Wh};

use super::Figure;

/// Runs `work(thread)` on `threads` threads at once; the operations per second of all.
fn rate(threads: usize, per_thread: usize, work: impl Fn(usize) + Sync) -> f64 {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let work = &work;
            scope.spawn(move || work(t));
        }
    });
    (threads * per_thread) as f64 / started.elapsed().as_secs_f64()
}

fn usage(i: u64) -> Vec<u8> {
    let at = |ms: u64| EpochMs::parse(ms as i64).unwrap();
    let start = 1_795_000_000_000 + i * 60_000;
    Command::Usage(Reading { start: at(start), end: at(start + 60_000), energy: Wh::new(1234) }).to_json().into_bytes()
}

/// Messages a reader opens together (its largest fetch window).
const WINDOW: usize = 100;

pub fn run(quick: bool) -> Vec<Figure> {
    let n = if quick { 2_000 } else { 20_000 };
    let cores = std::thread::available_parallelism().map(|c| c.get()).unwrap_or(1);
    let secrets =
        ChannelSecrets::new(&ChannelSeed::from_bytes([7; 32]), SideKey::parse("BenchSideKey000000001").unwrap());
    let plaintexts: Vec<Vec<u8>> = (0..n as u64).map(usage).collect();
    let envelopes: Vec<Envelope> =
        plaintexts.iter().enumerate().map(|(i, p)| secrets.seal(i as u64, p, [1; 12]).unwrap()).collect();
    // Each message is parsed from its JSON as the node and the reader get it.
    let wire: Vec<String> = envelopes.iter().map(Envelope::to_json).collect();

    let seal = |_: usize| {
        for (i, p) in plaintexts.iter().enumerate() {
            std::hint::black_box(secrets.seal(i as u64, p, [1; 12]).unwrap());
        }
    };
    let access = secrets.access().clone();
    let open = |_: usize| {
        for (i, json) in wire.iter().enumerate() {
            let envelope = Envelope::parse(json.as_bytes()).unwrap();
            std::hint::black_box(access.open(i as u64, &envelope).unwrap());
        }
    };
    let open_batched = |_: usize| {
        for (w, window) in wire.chunks(WINDOW).enumerate() {
            let envelopes: Vec<Envelope> =
                window.iter().map(|json| Envelope::parse(json.as_bytes()).unwrap()).collect();
            for opened in access.open_many((w * WINDOW) as u64, &envelopes) {
                std::hint::black_box(opened.unwrap());
            }
        }
    };
    let key = SigningKey::from_bytes(&[9; 32]);
    let verifying = key.verifying_key();
    let signed: Vec<(Vec<u8>, ed25519_dalek::Signature)> =
        plaintexts.iter().map(|p| (p.clone(), key.sign(p))).collect();
    let verify = |_: usize| {
        for (message, signature) in &signed {
            verifying.verify_strict(message, signature).unwrap();
        }
    };

    let seal_one = rate(1, n, seal);
    let seal_all = rate(cores, n, seal);
    let open_one = rate(1, n, open);
    let open_all = rate(cores, n, open);
    let batched_one = rate(1, n, open_batched);
    let batched_all = rate(cores, n, open_batched);
    let verify_one = rate(1, n, verify);
    let verify_all = rate(cores, n, verify);
    vec![
        Figure::new("seal, one core", seal_one, "msg/s"),
        Figure::new(format!("seal, {cores} cores"), seal_all, "msg/s"),
        Figure::new("open (parse + checks + verify + decrypt), one core", open_one, "msg/s"),
        Figure::new(format!("open, {cores} cores"), open_all, "msg/s"),
        Figure::new(format!("open {WINDOW} at a time (signatures as one batch), one core"), batched_one, "msg/s"),
        Figure::new(format!("open {WINDOW} at a time, {cores} cores"), batched_all, "msg/s"),
        Figure::new("raw Ed25519 verify_strict, one core", verify_one, "verify/s"),
        Figure::new(format!("raw Ed25519 verify_strict, {cores} cores"), verify_all, "verify/s"),
        Figure::new("open ÷ raw verify, one core", open_one / verify_one * 100.0, "%").at_least(70.0),
        Figure::new(format!("open ÷ raw verify, {cores} cores"), open_all / verify_all * 100.0, "%").at_least(70.0),
    ]
}
