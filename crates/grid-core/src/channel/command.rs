//! The plaintext commands carried on channels (DESIGN.md §3), strictly parsed.
//!
//! Every command is a JSON object with a `"command"` field; the seed's consumer usage
//! message without one is accepted too. Unknown commands, unknown or duplicate fields,
//! fields that do not belong to the command, wrong types, and impossible values
//! (negative or absurd energy, times before the epoch, an interval that ends before it
//! starts) are typed errors, never panics and never guesses.

use serde::{Deserialize, Serialize};

use crate::{BatchId, EnergyError, EpochMs, IdError, Iota, PaymentAddress, Price, PriceError, TimeError, Wh};

/// Energy measured over an interval `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub start: EpochMs,
    pub end: EpochMs,
    pub energy: Wh,
}

/// A channel message's meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Message 0 of every channel.
    Hello,
    /// The last message of a channel.
    Goodbye,
    /// Source → producer: what a source produced.
    SourceOutput(Reading),
    /// Producer → grid: what a producer offers, at `price`, paid to `payment_address`.
    ProducerOutput { reading: Reading, price: Price, payment_address: PaymentAddress },
    /// Consumer (or prosumer) → grid: what it used.
    Usage(Reading),
    /// The same with the buyer's bid (`consumerPrice`, IOTA/kWh): the most it pays for
    /// local energy (DESIGN.md §6, "Bids").
    PricedUsage { reading: Reading, bid: Price },
    /// Grid → consumer: what the consumer owes, for how much energy, payable where.
    PaymentRequest { owed: Iota, usage: Wh, payment_address: PaymentAddress },
    /// Consumer → grid: the ledger batch that paid the consumer's bill.
    Payment { batch_id: BatchId, amount: Iota },
}

/// Why a plaintext is not a valid command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandError {
    #[error("command is not a valid JSON object: {0}")]
    Json(String),
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    #[error("{command} needs the field {field}")]
    MissingField { command: &'static str, field: &'static str },
    #[error("{command} does not take the field {field}")]
    UnexpectedField { command: &'static str, field: &'static str },
    #[error("{field}: {source}")]
    Energy { field: &'static str, source: EnergyError },
    #[error("{field}: {source}")]
    Time { field: &'static str, source: TimeError },
    #[error("endTime {end} is not after startTime {start}")]
    Interval { start: u64, end: u64 },
    #[error(transparent)]
    Id(#[from] IdError),
    #[error("a payment amount must be positive")]
    ZeroPayment,
    #[error("producerPrice: {0}")]
    Price(#[from] PriceError),
    #[error("consumerPrice: {0}")]
    Bid(PriceError),
    #[error("a payment of {0} IOTA is more than all the IOTA there are ({max})", max = Iota::SUPPLY)]
    Amount(u64),
}

/// Every field any command may carry, as it appears on the wire.
#[derive(Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Wire {
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    producer_price: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consumer_price: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_id_or_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    batch_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amount: Option<u64>,
}

impl Wire {
    /// The names of the fields present, in wire spelling.
    fn present(&self) -> impl Iterator<Item = &'static str> {
        [
            ("startTime", self.start_time.is_some()),
            ("endTime", self.end_time.is_some()),
            ("output", self.output.is_some()),
            ("usage", self.usage.is_some()),
            ("producerPrice", self.producer_price.is_some()),
            ("consumerPrice", self.consumer_price.is_some()),
            ("owed", self.owed.is_some()),
            ("paymentIdOrAddress", self.payment_id_or_address.is_some()),
            ("batchId", self.batch_id.is_some()),
            ("amount", self.amount.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, present)| present.then_some(name))
    }

    /// Refuses any field present that `command` does not take.
    fn only(&self, command: &'static str, allowed: &[&str]) -> Result<(), CommandError> {
        match self.present().find(|field| !allowed.contains(field)) {
            Some(field) => Err(CommandError::UnexpectedField { command, field }),
            None => Ok(()),
        }
    }

    fn reading(
        &self,
        command: &'static str,
        energy_field: &'static str,
        kwh: Option<f64>,
    ) -> Result<Reading, CommandError> {
        let need = |field| CommandError::MissingField { command, field };
        let time = |field, ms: Option<i64>| {
            EpochMs::parse(ms.ok_or(need(field))?).map_err(|source| CommandError::Time { field, source })
        };
        let start = time("startTime", self.start_time)?;
        let end = time("endTime", self.end_time)?;
        if end <= start {
            return Err(CommandError::Interval { start: start.get(), end: end.get() });
        }
        let energy = Wh::from_reading_kwh(kwh.ok_or(need(energy_field))?)
            .map_err(|source| CommandError::Energy { field: energy_field, source })?;
        Ok(Reading { start, end, energy })
    }
}

impl Command {
    /// Parses a command from a channel message's plaintext.
    pub fn parse(plaintext: &[u8]) -> Result<Self, CommandError> {
        let wire: Wire = serde_json::from_slice(plaintext).map_err(|e| CommandError::Json(e.to_string()))?;
        let need = |command, field| CommandError::MissingField { command, field };
        // The seed's consumer sends usage without a "command" field.
        let name = wire.command.as_deref().or(wire.usage.is_some().then_some("usage"));
        match name {
            Some("hello") => wire.only("hello", &[]).map(|()| Self::Hello),
            Some("goodbye") => wire.only("goodbye", &[]).map(|()| Self::Goodbye),
            Some("output") => {
                let priced = (wire.producer_price, wire.payment_id_or_address.as_ref());
                let fields: &[&str] = match priced {
                    (None, None) => &["startTime", "endTime", "output"],
                    _ => &["startTime", "endTime", "output", "producerPrice", "paymentIdOrAddress"],
                };
                wire.only("output", fields)?;
                let reading = wire.reading("output", "output", wire.output)?;
                match priced {
                    (None, None) => Ok(Self::SourceOutput(reading)),
                    (Some(price), Some(address)) => {
                        // Bounded, and worth (Wh × price) at most 2^64 − 1: DESIGN.md §2.
                        let price = Price::parse(price)?;
                        price.check_worth(reading.energy)?;
                        Ok(Self::ProducerOutput {
                            reading,
                            price,
                            payment_address: PaymentAddress::parse(address.as_str())?,
                        })
                    }
                    (None, Some(_)) => Err(need("output", "producerPrice")),
                    (Some(_), None) => Err(need("output", "paymentIdOrAddress")),
                }
            }
            Some("usage") => {
                wire.only("usage", &["startTime", "endTime", "usage", "consumerPrice"])?;
                let reading = wire.reading("usage", "usage", wire.usage)?;
                match wire.consumer_price {
                    None => Ok(Self::Usage(reading)),
                    Some(bid) => {
                        let bid = Price::parse(bid).map_err(CommandError::Bid)?;
                        bid.check_worth(reading.energy).map_err(CommandError::Bid)?;
                        Ok(Self::PricedUsage { reading, bid })
                    }
                }
            }
            None => Err(need("command", "command")),
            Some("payment-request") => {
                wire.only("payment-request", &["owed", "usage", "paymentIdOrAddress"])?;
                let usage = Wh::from_reading_kwh(wire.usage.ok_or(need("payment-request", "usage"))?)
                    .map_err(|source| CommandError::Energy { field: "usage", source })?;
                Ok(Self::PaymentRequest {
                    owed: Iota::new(wire.owed.ok_or(need("payment-request", "owed"))?),
                    usage,
                    payment_address: PaymentAddress::parse(
                        wire.payment_id_or_address.ok_or(need("payment-request", "paymentIdOrAddress"))?,
                    )?,
                })
            }
            Some("payment") => {
                wire.only("payment", &["batchId", "amount"])?;
                let amount = wire.amount.ok_or(need("payment", "amount"))?;
                if amount == 0 {
                    return Err(CommandError::ZeroPayment);
                }
                if amount > Iota::SUPPLY {
                    return Err(CommandError::Amount(amount));
                }
                Ok(Self::Payment {
                    batch_id: BatchId::parse(wire.batch_id.ok_or(need("payment", "batchId"))?)?,
                    amount: Iota::new(amount),
                })
            }
            Some(other) => Err(CommandError::UnknownCommand(other.chars().take(64).collect())),
        }
    }

    /// The command's wire name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Hello => "hello",
            Self::Goodbye => "goodbye",
            Self::SourceOutput(_) | Self::ProducerOutput { .. } => "output",
            Self::Usage(_) | Self::PricedUsage { .. } => "usage",
            Self::PaymentRequest { .. } => "payment-request",
            Self::Payment { .. } => "payment",
        }
    }

    /// The command as compact JSON, `"command"` first.
    pub fn to_json(&self) -> String {
        let mut wire = Wire { command: Some(self.name().to_owned()), ..Wire::default() };
        let mut times = |r: &Reading| {
            wire.start_time = Some(r.start.get() as i64);
            wire.end_time = Some(r.end.get() as i64);
        };
        match self {
            Self::Hello | Self::Goodbye => {}
            Self::SourceOutput(r) => {
                times(r);
                wire.output = Some(r.energy.kwh());
            }
            Self::ProducerOutput { reading, price, payment_address } => {
                times(reading);
                wire.output = Some(reading.energy.kwh());
                wire.producer_price = Some(price.get());
                wire.payment_id_or_address = Some(payment_address.to_string());
            }
            Self::Usage(r) => {
                times(r);
                wire.usage = Some(r.energy.kwh());
            }
            Self::PricedUsage { reading, bid } => {
                times(reading);
                wire.usage = Some(reading.energy.kwh());
                wire.consumer_price = Some(bid.get());
            }
            Self::PaymentRequest { owed, usage, payment_address } => {
                wire.owed = Some(owed.get());
                wire.usage = Some(usage.kwh());
                wire.payment_id_or_address = Some(payment_address.to_string());
            }
            Self::Payment { batch_id, amount } => {
                wire.batch_id = Some(batch_id.to_string());
                wire.amount = Some(amount.get());
            }
        }
        serde_json::to_string(&wire).expect("a command always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Command, CommandError> {
        Command::parse(text.as_bytes())
    }

    fn reading(start: u64, end: u64, wh: u64) -> Reading {
        Reading {
            start: EpochMs::parse(start as i64).unwrap(),
            end: EpochMs::parse(end as i64).unwrap(),
            energy: Wh::new(wh),
        }
    }

    #[test]
    fn every_command_of_the_protocol_parses() {
        assert_eq!(parse(r#"{"command":"hello"}"#), Ok(Command::Hello));
        assert_eq!(parse(r#"{"command":"goodbye"}"#), Ok(Command::Goodbye));
        assert_eq!(
            parse(r#"{"command":"output","startTime":1000,"endTime":2000,"output":1.5}"#),
            Ok(Command::SourceOutput(reading(1000, 2000, 1500)))
        );
        assert_eq!(
            parse(
                r#"{"command":"output","startTime":1000,"endTime":2000,"output":0.25,"producerPrice":120,"paymentIdOrAddress":"wallet-1"}"#
            ),
            Ok(Command::ProducerOutput {
                reading: reading(1000, 2000, 250),
                price: Price::parse(120).unwrap(),
                payment_address: PaymentAddress::parse("wallet-1").unwrap(),
            })
        );
        assert_eq!(
            parse(r#"{"command":"usage","startTime":1000,"endTime":2000,"usage":2}"#),
            Ok(Command::Usage(reading(1000, 2000, 2000)))
        );
        assert_eq!(
            parse(r#"{"command":"usage","startTime":1000,"endTime":2000,"usage":2,"consumerPrice":110}"#),
            Ok(Command::PricedUsage { reading: reading(1000, 2000, 2000), bid: Price::parse(110).unwrap() })
        );
        assert_eq!(
            parse(r#"{"command":"payment-request","owed":90,"usage":0.75,"paymentIdOrAddress":"grid"}"#),
            Ok(Command::PaymentRequest {
                owed: Iota::new(90),
                usage: Wh::new(750),
                payment_address: PaymentAddress::parse("grid").unwrap(),
            })
        );
        assert_eq!(
            parse(r#"{"command":"payment","batchId":"b1","amount":90}"#),
            Ok(Command::Payment { batch_id: BatchId::parse("b1").unwrap(), amount: Iota::new(90) })
        );
    }

    #[test]
    fn the_seeds_usage_without_a_command_field_is_usage() {
        assert_eq!(
            parse(r#"{"startTime":1000,"endTime":2000,"usage":0.5}"#),
            Ok(Command::Usage(reading(1000, 2000, 500)))
        );
    }

    #[test]
    fn serialising_then_parsing_gives_the_same_command() {
        for text in [
            r#"{"command":"hello"}"#,
            r#"{"command":"output","startTime":1,"endTime":2,"output":1.001,"producerPrice":7,"paymentIdOrAddress":"p"}"#,
            r#"{"command":"payment-request","owed":0,"usage":0.0,"paymentIdOrAddress":"g"}"#,
            r#"{"command":"usage","startTime":1,"endTime":2,"usage":0.5,"consumerPrice":95}"#,
        ] {
            let command = parse(text).unwrap();
            assert_eq!(parse(&command.to_json()).unwrap(), command);
        }
        assert_eq!(Command::Hello.to_json(), r#"{"command":"hello"}"#);
    }

    #[test]
    fn malformed_commands_are_typed_errors() {
        use CommandError as E;
        type Expectation = fn(&CommandError) -> bool;
        let cases: &[(&str, Expectation)] = &[
            (r#"{"command":"sell-everything"}"#, |e| matches!(e, E::UnknownCommand(c) if c == "sell-everything")),
            (r#"{"command":"usage","startTime":1,"endTime":2,"usage":1,"consumerPrice":1000000000001}"#, |e| {
                matches!(e, E::Bid(PriceError::TooHigh(_))) && e.to_string().starts_with("consumerPrice")
            }),
            (r#"{"command":"usage","startTime":1,"endTime":2,"usage":1,"consumerPrice":-5}"#, |e| {
                matches!(e, E::Json(_))
            }),
            (r#"{"command":"output","startTime":1,"endTime":2,"output":1,"consumerPrice":5}"#, |e| {
                matches!(e, E::UnexpectedField { field: "consumerPrice", .. })
            }),
            (r#"{}"#, |e| matches!(e, E::MissingField { field: "command", .. })),
            (r#"{"command":"usage","startTime":1,"endTime":2}"#, |e| {
                matches!(e, E::MissingField { field: "usage", .. })
            }),
            (r#"{"command":"usage","endTime":2,"usage":1}"#, |e| {
                matches!(e, E::MissingField { field: "startTime", .. })
            }),
            (r#"{"command":"usage","startTime":"1","endTime":2,"usage":1}"#, |e| matches!(e, E::Json(_))),
            (r#"{"command":"usage","startTime":1,"endTime":2,"usage":"1"}"#, |e| matches!(e, E::Json(_))),
            (r#"{"command":"usage","startTime":1,"endTime":2,"usage":-0.5}"#, |e| {
                matches!(e, E::Energy { field: "usage", source: EnergyError::Negative { .. } })
            }),
            (r#"{"command":"usage","startTime":1,"endTime":2,"usage":NaN}"#, |e| matches!(e, E::Json(_))),
            (r#"{"command":"usage","startTime":1,"endTime":2,"usage":1e400}"#, |e| matches!(e, E::Json(_))),
            (r#"{"command":"usage","startTime":1,"endTime":2,"usage":2e6}"#, |e| {
                matches!(e, E::Energy { source: EnergyError::Absurd { .. }, .. })
            }),
            (r#"{"command":"usage","startTime":-5,"endTime":2,"usage":1}"#, |e| {
                matches!(e, E::Time { field: "startTime", .. })
            }),
            (r#"{"command":"usage","startTime":2,"endTime":2,"usage":1}"#, |e| {
                matches!(e, E::Interval { start: 2, end: 2 })
            }),
            (r#"{"command":"usage","startTime":1,"endTime":2,"usage":1,"output":1}"#, |e| {
                matches!(e, E::UnexpectedField { field: "output", .. })
            }),
            (r#"{"command":"hello","amount":1}"#, |e| {
                matches!(e, E::UnexpectedField { command: "hello", field: "amount" })
            }),
            (r#"{"command":"hello","extra":1}"#, |e| matches!(e, E::Json(m) if m.contains("unknown field"))),
            (
                r#"{"command":"hello","command":"goodbye"}"#,
                |e| matches!(e, E::Json(m) if m.contains("duplicate field")),
            ),
            (r#"{"command":"output","startTime":1,"endTime":2,"output":1,"producerPrice":5}"#, |e| {
                matches!(e, E::MissingField { field: "paymentIdOrAddress", .. })
            }),
            (r#"{"command":"output","startTime":1,"endTime":2,"output":1,"paymentIdOrAddress":"w"}"#, |e| {
                matches!(e, E::MissingField { field: "producerPrice", .. })
            }),
            (
                r#"{"command":"output","startTime":1,"endTime":2,"output":1,"producerPrice":-1,"paymentIdOrAddress":"w"}"#,
                |e| matches!(e, E::Json(_)),
            ),
            (
                r#"{"command":"output","startTime":1,"endTime":2,"output":1,"producerPrice":1,"paymentIdOrAddress":"../x"}"#,
                |e| matches!(e, E::Id(_)),
            ),
            (r#"{"command":"payment","batchId":"b","amount":0}"#, |e| matches!(e, E::ZeroPayment)),
            (r#"{"command":"payment","batchId":"b","amount":2779530283277762}"#, |e| {
                matches!(e, E::Amount(2_779_530_283_277_762))
            }),
            (
                r#"{"command":"output","startTime":1,"endTime":2,"output":1,"producerPrice":18446744073709551615,"paymentIdOrAddress":"w"}"#,
                |e| matches!(e, E::Price(PriceError::TooHigh(u64::MAX))),
            ),
            (
                r#"{"command":"output","startTime":1,"endTime":2,"output":1,"producerPrice":1000000000001,"paymentIdOrAddress":"w"}"#,
                |e| matches!(e, E::Price(PriceError::TooHigh(_))),
            ),
            (
                r#"{"command":"output","startTime":1,"endTime":2,"output":1000000,"producerPrice":1000000000000,"paymentIdOrAddress":"w"}"#,
                |e| matches!(e, E::Price(PriceError::Worth { .. })),
            ),
            (r#"{"command":"payment","batchId":"b","amount":1.5}"#, |e| matches!(e, E::Json(_))),
            (r#"{"command":"payment","amount":3}"#, |e| matches!(e, E::MissingField { field: "batchId", .. })),
            (r#"[1,2]"#, |e| matches!(e, E::Json(_))),
            (r#""hello""#, |e| matches!(e, E::Json(_))),
            ("", |e| matches!(e, E::Json(_))),
            ("\u{0}", |e| matches!(e, E::Json(_))),
        ];
        for (text, expected) in cases {
            let error = parse(text).expect_err(text);
            assert!(expected(&error), "{text}: {error:?}");
        }
    }

    #[test]
    fn an_unknown_command_name_is_clipped_in_the_error() {
        let long = format!(r#"{{"command":"{}"}}"#, "x".repeat(10_000));
        let error = parse(&long).unwrap_err();
        assert!(error.to_string().len() < 100);
    }
}
