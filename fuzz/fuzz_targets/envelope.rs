//! Envelope parsing, canonical re-serialisation and opening never panic, and a
//! parsed envelope always survives its own canonical text unchanged.
#![no_main]

use grid_core::channel::{ChannelAccess, Envelope};
use grid_core::{ChannelRoot, SideKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = Envelope::parse(data) {
        let text = envelope.to_json();
        assert_eq!(Envelope::parse(text.as_bytes()).as_ref(), Ok(&envelope));
        let _ = envelope.verify_binding();
        let access = ChannelAccess::new(envelope.root(), SideKey::parse("FuzzSideKey000000").unwrap());
        let _ = access.open(envelope.index(), &envelope);
        let _ = ChannelRoot::parse(envelope.root().as_str()).unwrap();
    }
});
