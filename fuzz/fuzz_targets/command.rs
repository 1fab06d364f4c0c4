//! Command parsing never panics, and a parsed command survives its own JSON unchanged.
#![no_main]

use grid_core::channel::Command;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(command) = Command::parse(data) {
        assert_eq!(Command::parse(command.to_json().as_bytes()), Ok(command));
    }
});
