//! Properties of the channel protocol over arbitrary commands, keys and tampering.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use grid_core::channel::{ChannelAccess, ChannelSecrets, ChannelSeed, Command, Envelope, EnvelopeError, Reading};
use grid_core::{BatchId, ChannelRoot, EpochMs, Iota, PaymentAddress, Price, SideKey, Wh};
use proptest::prelude::*;
use serde_json::Value;

fn reading() -> impl Strategy<Value = Reading> {
    (0u64..4_000_000_000_000, 1u64..86_400_000, 0u64..=1_000_000_000).prop_map(|(start, length, wh)| Reading {
        start: EpochMs::parse(start as i64).unwrap(),
        end: EpochMs::parse((start + length) as i64).unwrap(),
        energy: Wh::new(wh),
    })
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-][A-Za-z0-9._-]{0,40}"
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        Just(Command::Hello),
        Just(Command::Goodbye),
        reading().prop_map(Command::SourceOutput),
        reading().prop_map(Command::Usage),
        (reading(), any::<u64>(), token()).prop_map(|(reading, price, address)| {
            // Any price a reading may carry: at most Price::MAX, and worth at most 2^64 − 1.
            let highest = (u64::MAX / reading.energy.get().max(1)).min(Price::MAX);
            Command::ProducerOutput {
                reading,
                price: Price::parse(price % (highest + 1)).unwrap(),
                payment_address: PaymentAddress::parse(address).unwrap(),
            }
        }),
        (any::<u64>(), 0u64..=1_000_000_000, token()).prop_map(|(owed, wh, address)| Command::PaymentRequest {
            owed: Iota::new(owed),
            usage: Wh::new(wh),
            payment_address: PaymentAddress::parse(address).unwrap(),
        }),
        (token(), 1u64..=Iota::SUPPLY).prop_map(|(batch, amount)| Command::Payment {
            batch_id: BatchId::parse(batch).unwrap(),
            amount: Iota::new(amount),
        }),
    ]
}

fn side_key() -> impl Strategy<Value = SideKey> {
    "[A-Za-z0-9]{16,128}".prop_map(|s| SideKey::parse(s).unwrap())
}

fn secrets() -> impl Strategy<Value = ChannelSecrets> {
    (any::<[u8; 32]>(), side_key()).prop_map(|(seed, key)| ChannelSecrets::new(&ChannelSeed::from_bytes(seed), key))
}

/// Flips the bits `mask` of byte `at` of one decoded field and re-encodes it.
fn flip_field(envelope: &Envelope, field: &str, at: usize, mask: u8) -> String {
    let mut object: Value = serde_json::from_str(&envelope.to_json()).unwrap();
    let text = object[field].as_str().unwrap().to_owned();
    let flipped = if field == "ciphertext" {
        let mut bytes = BASE64.decode(&text).unwrap();
        let i = at % bytes.len();
        bytes[i] ^= mask;
        BASE64.encode(bytes)
    } else {
        let mut bytes = hex::decode(&text).unwrap();
        let i = at % bytes.len();
        bytes[i] ^= mask;
        hex::encode(bytes)
    };
    object[field] = Value::String(flipped);
    object.to_string()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn sealing_then_opening_gives_back_any_command(
        secrets in secrets(), command in command(), index in 0u64..=Envelope::MAX_INDEX, nonce in any::<[u8; 12]>(),
    ) {
        let envelope = secrets.seal(index, command.to_json().as_bytes(), nonce).unwrap();
        let text = envelope.to_json();
        prop_assert!(text.len() <= Envelope::MAX_BYTES);
        let parsed = Envelope::parse(text.as_bytes()).unwrap();
        prop_assert_eq!(&parsed, &envelope);
        parsed.verify_binding().unwrap();
        let reader = ChannelAccess::new(secrets.root().clone(), secrets.access().side_key().clone());
        let plaintext = reader.open(index, &parsed).unwrap();
        prop_assert_eq!(Command::parse(&plaintext).unwrap(), command);
    }

    #[test]
    fn any_flipped_byte_in_any_field_is_rejected(
        secrets in secrets(), command in command(), index in 0u64..1000,
        field in prop::sample::select(vec!["root", "publicKey", "nonce", "ciphertext", "signature"]),
        at in any::<usize>(), mask in 1u8..,
    ) {
        let envelope = secrets.seal(index, command.to_json().as_bytes(), [7; 12]).unwrap();
        let tampered = flip_field(&envelope, field, at, mask);
        let result = Envelope::parse(tampered.as_bytes()).and_then(|e| secrets.access().open(index, &e));
        prop_assert!(result.is_err(), "flipping {} was accepted", field);
        // The node, which has no side key, refuses it too (except a changed root it cannot
        // tell apart from another channel's: that one the reader refuses).
        if let Ok(parsed) = Envelope::parse(tampered.as_bytes()) {
            prop_assert!(parsed.verify_binding().is_err(), "the node would store a tampered {}", field);
        }
    }

    #[test]
    fn any_flipped_byte_of_the_json_text_is_rejected_or_harmless(
        secrets in secrets(), command in command(), at in any::<usize>(), mask in 1u8..,
    ) {
        let plaintext = command.to_json();
        let envelope = secrets.seal(3, plaintext.as_bytes(), [9; 12]).unwrap();
        let mut bytes = envelope.to_json().into_bytes();
        let i = at % bytes.len();
        bytes[i] ^= mask;
        if let Ok(opened) = Envelope::parse(&bytes).and_then(|e| secrets.access().open(3, &e)) {
            prop_assert_eq!(opened, plaintext.into_bytes(), "a flipped byte changed the message");
        }
    }

    #[test]
    fn another_index_is_refused(secrets in secrets(), index in 0u64..1000, other in 0u64..1000) {
        prop_assume!(index != other);
        let envelope = secrets.seal(index, b"{\"command\":\"hello\"}", [1; 12]).unwrap();
        prop_assert_eq!(
            secrets.access().open(other, &envelope),
            Err(EnvelopeError::WrongIndex { expected: other, found: index })
        );
    }

    #[test]
    fn a_different_side_key_neither_finds_nor_opens_the_messages(
        secrets in secrets(), other_key in side_key(), index in 0u64..1000,
    ) {
        prop_assume!(other_key != *secrets.access().side_key());
        let outsider = ChannelAccess::new(secrets.root().clone(), other_key);
        prop_assert_ne!(outsider.address(index), secrets.access().address(index));
        let envelope = secrets.seal(index, b"{\"command\":\"goodbye\"}", [2; 12]).unwrap();
        prop_assert_eq!(outsider.open(index, &envelope), Err(EnvelopeError::Decrypt));
    }

    #[test]
    fn an_envelope_forged_with_another_key_for_the_same_address_is_rejected(
        victim in secrets(), forger_seed in any::<[u8; 32]>(), command in command(), index in 0u64..1000,
    ) {
        // The forger is a reader: it knows root and side key, so it can compute the
        // address and the message key, but it does not have the victim's seed.
        let forger = ChannelSecrets::new(&ChannelSeed::from_bytes(forger_seed), victim.access().side_key().clone());
        prop_assume!(forger.root() != victim.root());
        let own_root = forger.seal(index, command.to_json().as_bytes(), [3; 12]).unwrap();
        prop_assert_eq!(victim.access().open(index, &own_root), Err(EnvelopeError::WrongChannel));

        let mut claimed: Value = serde_json::from_str(&own_root.to_json()).unwrap();
        claimed["root"] = Value::String(victim.root().as_str().to_owned());
        let claimed = Envelope::parse(claimed.to_string().as_bytes()).unwrap();
        prop_assert_eq!(claimed.verify_binding(), Err(EnvelopeError::RootMismatch));
        prop_assert_eq!(victim.access().open(index, &claimed), Err(EnvelopeError::RootMismatch));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Batches are only faster: a reader opening a run of messages together, and the
    /// node checking many envelopes together, decide each one exactly as they would
    /// alone, whichever of them are tampered with, forged or misplaced.
    #[test]
    fn a_batch_decides_each_message_as_it_would_be_decided_alone(
        secrets in secrets(), first in 0u64..1000, count in 1usize..12,
        tampering in prop::collection::vec(
            (0usize..4, prop::sample::select(vec!["root", "publicKey", "nonce", "ciphertext", "signature"]),
             any::<usize>(), 1u8..),
            0..4,
        ),
        forger_seed in any::<[u8; 32]>(),
    ) {
        let forger = ChannelSecrets::new(&ChannelSeed::from_bytes(forger_seed), secrets.access().side_key().clone());
        let mut envelopes: Vec<Envelope> = (0..count as u64)
            .map(|i| secrets.seal(first + i, format!("{{\"command\":\"hello\",\"n\":{i}}}").as_bytes(), [i as u8; 12]).unwrap())
            .collect();
        for (what, field, at, mask) in tampering {
            let i = at % count;
            let index = first + i as u64;
            envelopes[i] = match what {
                // A flipped byte, when it still parses.
                0 => Envelope::parse(flip_field(&envelopes[i], field, at, mask).as_bytes()).unwrap_or_else(|_| envelopes[i].clone()),
                // Another writer's message at this index.
                1 => forger.seal(index, b"{\"command\":\"goodbye\"}", [5; 12]).unwrap(),
                // A message of this channel for another index.
                2 => secrets.seal(index + 1, b"{\"command\":\"goodbye\"}", [6; 12]).unwrap(),
                // Another message's signature.
                _ => {
                    let mut object: Value = serde_json::from_str(&envelopes[i].to_json()).unwrap();
                    let other: Value = serde_json::from_str(&envelopes[(i + 1) % count].to_json()).unwrap();
                    object["signature"] = other["signature"].clone();
                    Envelope::parse(object.to_string().as_bytes()).unwrap()
                }
            };
        }
        let reader = ChannelAccess::new(secrets.root().clone(), secrets.access().side_key().clone());
        let alone: Vec<_> = envelopes.iter().zip(first..).map(|(e, index)| reader.open(index, e)).collect();
        prop_assert_eq!(reader.open_many(first, &envelopes), alone);
        let alone: Vec<_> = envelopes.iter().map(Envelope::verify_binding).collect();
        prop_assert_eq!(Envelope::verify_bindings(&envelopes), alone);
    }
}

#[test]
fn a_batch_with_one_forged_signature_refuses_only_that_one() {
    let secrets = ChannelSecrets::new(&ChannelSeed::from_bytes([4; 32]), SideKey::parse("BatchSideKey0001").unwrap());
    let mut envelopes: Vec<Envelope> =
        (0..8).map(|i| secrets.seal(i, b"{\"command\":\"hello\"}", [i as u8; 12]).unwrap()).collect();
    let mut forged: Value = serde_json::from_str(&envelopes[5].to_json()).unwrap();
    forged["signature"] = Value::String("00".repeat(64));
    envelopes[5] = Envelope::parse(forged.to_string().as_bytes()).unwrap();

    let opened = secrets.access().open_many(0, &envelopes);
    let refused: Vec<usize> = opened.iter().enumerate().filter(|(_, o)| o.is_err()).map(|(i, _)| i).collect();
    assert_eq!(refused, vec![5]);
    assert_eq!(opened[5], Err(EnvelopeError::BadSignature));
    let checked = Envelope::verify_bindings(&envelopes);
    assert_eq!(checked.iter().filter(|c| c.is_ok()).count(), 7);
    assert_eq!(checked[5], Err(EnvelopeError::BadSignature));
}

#[test]
fn an_envelope_over_16_kib_is_refused_on_both_sides() {
    let secrets = ChannelSecrets::new(&ChannelSeed::from_bytes([5; 32]), SideKey::parse("SixteenCharsKey0").unwrap());
    let big = vec![b'x'; 13 * 1024];
    assert!(matches!(secrets.seal(0, &big, [0; 12]), Err(EnvelopeError::TooLarge { .. })));
    let padded = format!("{}{}", " ".repeat(Envelope::MAX_BYTES), "{}");
    assert!(matches!(Envelope::parse(padded.as_bytes()), Err(EnvelopeError::TooLarge { .. })));
}

#[test]
fn an_index_beyond_two_to_the_53_is_refused() {
    let secrets = ChannelSecrets::new(&ChannelSeed::from_bytes([5; 32]), SideKey::parse("SixteenCharsKey0").unwrap());
    assert_eq!(secrets.seal(Envelope::MAX_INDEX + 1, b"{}", [0; 12]), Err(EnvelopeError::IndexTooLarge));
}

#[test]
fn the_root_of_a_reader_matches_the_writers() {
    let secrets = ChannelSecrets::new(&ChannelSeed::from_bytes([8; 32]), SideKey::parse("SixteenCharsKey0").unwrap());
    let root = ChannelRoot::parse(secrets.root().as_str()).unwrap();
    assert_eq!(root.to_bytes().len(), 32);
    assert_eq!(ChannelRoot::from_bytes(root.to_bytes()), root);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// The same property the fuzz targets check (see `make fuzz`), on every `make test`.
    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(envelope) = Envelope::parse(&bytes) {
            prop_assert_eq!(Envelope::parse(envelope.to_json().as_bytes()), Ok(envelope));
        }
        if let Ok(command) = Command::parse(&bytes) {
            prop_assert_eq!(Command::parse(command.to_json().as_bytes()), Ok(command));
        }
    }

    #[test]
    fn parsers_never_panic_on_json_shaped_input(text in r#"\{("[a-zA-Z]{1,12}":(-?[0-9]{1,20}(\.[0-9]{1,5})?|"[ -~]{0,20}"|null|true|\[\]),?){0,8}\}"#) {
        let _ = Envelope::parse(text.as_bytes());
        if let Ok(command) = Command::parse(text.as_bytes()) {
            prop_assert_eq!(Command::parse(command.to_json().as_bytes()), Ok(command));
        }
    }
}
