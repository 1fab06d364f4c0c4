//! The OpenAPI schemas of what the grid parses at its edge: identifiers, keys, addresses,
//! names, envelopes, enumerations and bounded numbers.
//!
//! Each schema is built from the constants its parser checks against (grid-core's
//! `PATTERN`, `MIN_LEN`, `MAX_LEN`, `ALL`…), so the document states the rule the server
//! applies, machine-readably, and cannot drift from it; the tests below hold every
//! pattern to its parser. These types exist only for the document: handlers parse with
//! grid-core's own types.

use std::borrow::Cow;

use grid_core::books::BatchState;
use grid_core::channel::{Envelope as EnvelopeRule, MessageAddress as AddressRule};
use grid_core::{
    ChannelRoot as RootRule, EpochMs, ItemId as ItemIdRule, ItemName as ItemNameRule, ItemType as ItemTypeRule,
    RegistrationId as RegistrationIdRule, SideKey as SideKeyRule, StorageContext as StorageContextRule,
};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Ref, Schema, Type};
use utoipa::openapi::{RefOr, Required};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::error::ApiError;

/// A string of `pattern` (anchored, ECMA-262) and `min..=max` characters.
fn string(description: &str, pattern: &str, min: usize, max: usize) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(Some(pattern))
        .min_length(Some(min))
        .max_length(Some(max))
}

/// A string that is one of `values`.
fn words<const N: usize>(description: &str, values: [&'static str; N]) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).description(Some(description)).enum_values(Some(values))
}

/// A whole number from `min` to `max`.
fn integer(min: u64, max: u64) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(min)).maximum(Some(max))
}

/// A reference to the named schema `T`.
pub(crate) fn reference<T: ToSchema>() -> RefOr<Schema> {
    Ref::from_schema_name(T::name()).into()
}

/// JSON's `null`.
pub(crate) fn null() -> RefOr<Schema> {
    Schema::from(ObjectBuilder::new().schema_type(Type::Null).build()).into()
}

/// `T` or `null` (a field serde reads into an `Option`).
pub(crate) fn nullable<T: ToSchema>() -> RefOr<Schema> {
    Schema::from(OneOfBuilder::new().item(null()).item(reference::<T>()).build()).into()
}

/// A named schema, in the document's components and referred to by name.
macro_rules! named_schema {
    ($(#[$meta:meta])* $name:ident => $schema:expr) => {
        $(#[$meta])*
        pub(crate) struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                Schema::from($schema).into()
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

named_schema!(
    /// `RegistrationId::parse`'s rule.
    RegistrationId => string(
        "A registration id, of the characters `[A-Za-z0-9._-]`.",
        RegistrationIdRule::PATTERN,
        RegistrationIdRule::MIN_LEN,
        RegistrationIdRule::MAX_LEN,
    )
    .build()
);

named_schema!(
    /// `StorageContext::parse`'s rule.
    StorageContext => string(
        "A storage context (a folder of items), of the characters `[A-Za-z0-9._-]`, not `.` or `..`.",
        StorageContextRule::PATTERN,
        StorageContextRule::MIN_LEN,
        StorageContextRule::MAX_LEN,
    )
    .build()
);

named_schema!(
    /// `ItemId::parse`'s rule.
    ItemId => string(
        "A storage item id, of the characters `[A-Za-z0-9._-]`, not `.` or `..`.",
        ItemIdRule::PATTERN,
        ItemIdRule::MIN_LEN,
        ItemIdRule::MAX_LEN,
    )
    .build()
);

named_schema!(
    /// `SideKey::parse`'s rule.
    SideKey => string(
        "A channel's side key, of the characters `[A-Za-z0-9]`.",
        SideKeyRule::PATTERN,
        SideKeyRule::MIN_LEN,
        SideKeyRule::MAX_LEN,
    )
    .build()
);

named_schema!(
    /// `ChannelRoot::parse`'s rule.
    ChannelRoot => string(
        "A channel's root, in lowercase hex.",
        RootRule::PATTERN,
        RootRule::LEN,
        RootRule::LEN,
    )
    .build()
);

named_schema!(
    /// `MessageAddress::parse`'s rule.
    MessageAddress => string(
        "Where a channel message is stored, in lowercase hex.",
        AddressRule::PATTERN,
        AddressRule::LEN,
        AddressRule::LEN,
    )
    .build()
);

named_schema!(
    /// `ItemName::parse`'s rule; `maxLength` counts characters (code points), as it does.
    ItemName => string(
        "A display name, without control or bidirectional formatting characters.",
        ItemNameRule::PATTERN,
        1,
        ItemNameRule::MAX_CHARS,
    )
    .build()
);

named_schema!(
    /// `ItemType::parse`'s words.
    ItemType => words("What a registration is.", ItemTypeRule::ALL.map(ItemTypeRule::as_str)).build()
);

named_schema!(
    /// `BatchState::parse`'s words.
    BatchStatus => words("Where a ledger batch stands.", BatchState::ALL.map(BatchState::as_str)).build()
);

named_schema!(
    /// `EpochMs::parse`'s range.
    EpochMillis => integer(0, EpochMs::MAX).description(Some("A time, in milliseconds since the Unix epoch (UTC).")).build()
);

named_schema!(
    /// `PeriodStart::parse`'s range. Which of these starts a period depends on the
    /// configured period length, so alignment stays in prose (404 when it is not one).
    PeriodStart => integer(0, EpochMs::MAX)
        .description(Some("The first millisecond of a settlement period (epoch ms), a multiple of the period's length."))
        .build()
);

/// A lowercase hex field of an envelope, of `len` characters.
fn hex_field(description: &str, len: usize) -> RefOr<Schema> {
    string(description, EnvelopeRule::HEX_PATTERN, len, len).build().into()
}

named_schema!(
    /// `Envelope::parse`'s rules. That its root is its key's and its signature verifies
    /// is no schema's to say: the channel node refuses those with 400 too.
    Envelope => ObjectBuilder::new()
        .description(Some(format!(
            "A sealed channel message (DESIGN.md §3), at most {} bytes of JSON. The channel node also \
             checks that `root` is the hash of `publicKey` and that `signature` verifies.",
            EnvelopeRule::MAX_BYTES
        )))
        .property("v", ObjectBuilder::new().schema_type(Type::Integer).enum_values(Some([EnvelopeRule::VERSION])))
        .required("v")
        .property("root", reference::<ChannelRoot>())
        .required("root")
        .property("index", integer(0, EnvelopeRule::MAX_INDEX).description(Some("The message's place in its channel.")))
        .required("index")
        .property("publicKey", hex_field("The writer's Ed25519 public key.", EnvelopeRule::KEY_HEX_LEN))
        .required("publicKey")
        .property("nonce", hex_field("The ChaCha20-Poly1305 nonce.", EnvelopeRule::NONCE_HEX_LEN))
        .required("nonce")
        .property(
            "ciphertext",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("The sealed command with its tag: standard padded base64, at least 16 bytes."))
                .pattern(Some(EnvelopeRule::CIPHERTEXT_PATTERN))
                .min_length(Some(EnvelopeRule::MIN_CIPHERTEXT_CHARS)),
        )
        .required("ciphertext")
        .property("signature", hex_field("The Ed25519 signature.", EnvelopeRule::SIGNATURE_HEX_LEN))
        .required("signature")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .build()
);

/// An array of at most `max` `items` (the batch routes).
pub(crate) fn at_most<T: ToSchema>(max: usize) -> ArrayBuilder {
    ArrayBuilder::new().items(reference::<T>()).max_items(Some(max))
}

/// A whole-number query parameter from 1 to `MAX`, `DEFAULT` when absent: the page sizes
/// and limits, with one definition for the handler's check and for the document.
pub(crate) struct Bounded<const DEFAULT: usize, const MAX: usize>;

impl<const DEFAULT: usize, const MAX: usize> Bounded<DEFAULT, MAX> {
    /// `value`, or the default, if it is within bounds; else a message naming the parameter.
    pub(crate) fn get(value: Option<usize>, name: &str) -> Result<usize, ApiError> {
        Some(value.unwrap_or(DEFAULT))
            .filter(|n| (1..=MAX).contains(n))
            .ok_or_else(|| ApiError::BadBody(format!("{name} must be between 1 and {MAX}")))
    }
}

impl<const DEFAULT: usize, const MAX: usize> PartialSchema for Bounded<DEFAULT, MAX> {
    fn schema() -> RefOr<Schema> {
        let schema = integer(1, MAX as u64).default(Some(DEFAULT.into()));
        Schema::from(schema.build()).into()
    }
}

/// A page number from 0 (default 0): a `u64` for storage, a `usize` (as wide, on the
/// 64-bit machines the grid runs on) for the portal.
pub(crate) struct PageNumber;

impl PartialSchema for PageNumber {
    fn schema() -> RefOr<Schema> {
        Schema::from(integer(0, u64::MAX).default(Some(0.into())).build()).into()
    }
}

/// The optional `X-Side-Key` header of the routes that change a registration or its
/// storage. Any printable ASCII is read, but only the registration's side key is ever
/// accepted, so the document gives a side key's rule.
pub(crate) struct SideKeyHeader;

impl IntoParams for SideKeyHeader {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let parameter = ParameterBuilder::new()
            .name("X-Side-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "The registration's side key. Needed once the registration has one (401 without \
                 it, 403 with another); ignored before.",
            ))
            .schema(Some(reference::<SideKey>()))
            .build();
        vec![parameter]
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Debug;

    use grid_core::channel::{ChannelSecrets, ChannelSeed, Command};
    use proptest::prelude::*;
    use regex::Regex;

    use super::*;

    /// The schema's `pattern`, `minLength` and `maxLength`.
    fn rule<T: PartialSchema>() -> (Regex, usize, usize) {
        let RefOr::T(Schema::Object(object)) = T::schema() else { panic!("a string schema") };
        let pattern = object.pattern.expect("a pattern");
        (Regex::new(&pattern).unwrap(), object.min_length.unwrap(), object.max_length.unwrap())
    }

    /// Does the schema admit `value`? (`maxLength` counts code points.)
    fn admits(rule: &(Regex, usize, usize), value: &str) -> bool {
        let len = value.chars().count();
        rule.0.is_match(value) && (rule.1..=rule.2).contains(&len)
    }

    fn agree<E: Debug>(rule: &(Regex, usize, usize), value: &str, parsed: Result<impl Debug, E>) {
        assert_eq!(admits(rule, value), parsed.is_ok(), "{value:?}: the schema and the parser disagree");
    }

    /// Values at the edges of every rule, on top of the generated ones.
    const EDGES: &[&str] = &[
        "",
        ".",
        "..",
        "...",
        ".a",
        "..a",
        "a.",
        "a..",
        "-",
        "_",
        "item",
        "1234567",
        "12345678",
        "a/b",
        "a b",
        "a\u{0}b",
        "ab\u{7f}",
        "a\u{85}",
        "a\u{9f}b",
        "a\u{a0}b",
        "a\u{200e}",
        "a\u{200d}",
        "\u{202a}",
        "\u{202e}",
        "\u{202f}",
        "\u{2066}",
        "\u{2069}",
        "\u{206a}",
        "é",
        "☀",
        "😀",
        "ABCDEFGHIJKLMNOP",
        "abcdefghijklmno",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeF",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
    ];

    fn lengths() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-Za-z0-9._-]{0,130}",
            "[A-Za-z0-9]{14,130}",
            "[0-9a-fA-F]{62,66}",
            "\\PC{0,210}",
            any::<String>(),
            "[.]{1,3}",
        ]
    }

    /// Each string schema and its domain parser give `value` the same answer.
    fn every_schema_agrees_with_its_parser(value: &str) {
        let value = value.to_owned();
        agree(&rule::<RegistrationId>(), &value, RegistrationIdRule::parse(value.clone()));
        agree(&rule::<StorageContext>(), &value, StorageContextRule::parse(value.clone()));
        agree(&rule::<ItemId>(), &value, ItemIdRule::parse(value.clone()));
        agree(&rule::<SideKey>(), &value, SideKeyRule::parse(value.clone()));
        agree(&rule::<ChannelRoot>(), &value, RootRule::parse(value.clone()));
        agree(&rule::<MessageAddress>(), &value, AddressRule::parse(value.clone()));
        agree(&rule::<ItemName>(), &value, ItemNameRule::parse(value.clone()));
    }

    #[test]
    fn the_edges_get_the_same_answer_from_each_schema_and_its_parser() {
        for value in EDGES.iter().map(|s| s.to_string()).chain(["x".repeat(128), "x".repeat(129), "é".repeat(200)]) {
            every_schema_agrees_with_its_parser(&value);
        }
    }

    proptest! {
        #[test]
        fn each_schema_admits_exactly_what_its_parser_accepts(value in lengths()) {
            every_schema_agrees_with_its_parser(&value);
        }

        #[test]
        fn the_ciphertext_pattern_admits_exactly_the_base64_the_envelope_decodes(
            text in prop_oneof!["[A-Za-z0-9+/]{20,30}={0,2}", "[A-Za-z0-9+/=]{20,30}", any::<String>()],
        ) {
            use base64::Engine;
            let pattern = Regex::new(EnvelopeRule::CIPHERTEXT_PATTERN).unwrap();
            let admitted = pattern.is_match(&text) && text.len() >= EnvelopeRule::MIN_CIPHERTEXT_CHARS;
            let decoded = base64::engine::general_purpose::STANDARD.decode(&text).ok().filter(|c| c.len() >= 16);
            prop_assert_eq!(admitted, decoded.is_some(), "{:?}", text);
        }
    }

    #[test]
    fn a_sealed_envelope_satisfies_the_envelope_schema() {
        let secrets = ChannelSecrets::new(&ChannelSeed::generate(), SideKeyRule::generate());
        let RefOr::T(Schema::Object(schema)) = Envelope::schema() else { panic!("an object schema") };
        for plaintext in [&b""[..], &Command::Hello.to_json().into_bytes(), &[b'x'; 1000]] {
            let envelope = secrets.seal(7, plaintext, grid_core::channel::random_nonce()).unwrap();
            let json: serde_json::Value = serde_json::from_str(&envelope.to_json()).unwrap();
            let fields = json.as_object().unwrap();
            let mut names: Vec<&String> = fields.keys().collect();
            names.sort();
            let mut required: Vec<&String> = schema.required.iter().collect();
            required.sort();
            assert_eq!(names, required, "the envelope has exactly the required fields");
            for (name, value) in fields {
                let Some(RefOr::T(Schema::Object(field))) = schema.properties.get(name) else { continue };
                if let Some(pattern) = &field.pattern {
                    let text = value.as_str().unwrap();
                    assert!(Regex::new(pattern).unwrap().is_match(text), "{name}: {text}");
                    assert!(field.min_length.is_none_or(|min| text.len() >= min), "{name}");
                    assert!(field.max_length.is_none_or(|max| text.len() <= max), "{name}");
                }
            }
        }
    }

    #[test]
    fn enumerations_list_every_word_their_parser_knows() {
        let words = |schema: RefOr<Schema>| {
            let RefOr::T(Schema::Object(object)) = schema else { panic!("an object schema") };
            object.enum_values.unwrap().into_iter().map(|v| v.as_str().unwrap().to_owned()).collect::<Vec<_>>()
        };
        for word in words(ItemType::schema()) {
            assert!(ItemTypeRule::parse(&word).is_ok(), "{word}");
        }
        for word in words(BatchStatus::schema()) {
            assert!(BatchState::parse(&word).is_ok(), "{word}");
        }
        assert_eq!(words(BatchStatus::schema()).len(), BatchState::ALL.len());
    }

    #[test]
    fn the_side_key_header_is_the_one_the_extractor_reads() {
        let [header] = &SideKeyHeader::into_params(|| None)[..] else { panic!("one parameter") };
        assert!(header.name.eq_ignore_ascii_case(grid_http::extract::SIDE_KEY_HEADER));
    }

    #[test]
    fn a_bounded_parameter_takes_one_to_its_maximum_and_defaults_when_absent() {
        type Limit = Bounded<24, 96>;
        assert_eq!(Limit::get(None, "limit").unwrap(), 24);
        assert_eq!(Limit::get(Some(1), "limit").unwrap(), 1);
        assert_eq!(Limit::get(Some(96), "limit").unwrap(), 96);
        for wrong in [0, 97] {
            let message = Limit::get(Some(wrong), "limit").unwrap_err().to_string();
            assert_eq!(message, "limit must be between 1 and 96");
        }
        let schema = serde_json::to_value(Limit::schema()).unwrap();
        assert_eq!(schema, serde_json::json!({"type": "integer", "minimum": 1, "maximum": 96, "default": 24}));
    }
}
