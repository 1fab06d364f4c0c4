//! The segments of a storage path (`/storage/{registration}/{context}/{item}`) and a
//! work message never panic their parsers, and an accepted segment is the text given,
//! never a dot segment and never carrying a separator or NUL.
#![no_main]

use grid_core::{ItemId, RegistrationId, StorageContext, WorkMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for segment in text.split('/') {
        let accepted = [
            RegistrationId::parse(segment).ok().map(|id| id.as_str().to_owned()),
            StorageContext::parse(segment).ok().map(|c| c.as_str().to_owned()),
            ItemId::parse(segment).ok().map(|i| i.as_str().to_owned()),
        ];
        for value in accepted.into_iter().flatten() {
            assert_eq!(value, segment);
            // Dots are fine inside an id (`v1.2`); a segment that is only dots is not.
            assert!(value != "." && value != "..", "{value:?}");
            assert!(!value.contains(['/', '\\', '\0']), "{value:?}");
        }
    }
    let _ = WorkMessage::parse(text);
});
