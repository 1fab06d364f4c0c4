//! The utility's tariff: `PRICE_CAP` and `FEED_IN_PRICE`, each a number or a day
//! schedule, read in `TARIFF_TIMEZONE` (DESIGN.md §6, "Tariffs").
//!
//! A community's utility bills by the time of day on its own clock, so the schedule is
//! read in its zone and follows daylight saving: a period uses the prices in force, on
//! that clock, at its start. On the day the clocks go forward the skipped hour never
//! starts a period; on the day they go back the repeated hour is priced the same both
//! times. The zone database is compiled in (jiff's bundled copy of the IANA database),
//! so a Lambda function needs no system time-zone files and every machine reads a
//! schedule alike.

use std::fmt;

use crate::{EpochMs, Price};

/// A price through the day: `(minute of the day it starts at, price)`, the first at
/// 00:00, minutes ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceSchedule {
    entries: Vec<(u16, Price)>,
}

/// A schedule that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("is empty: give a price, or a schedule such as 00:00=120,07:00=250,21:00=120")]
    Empty,
    #[error("entry {entry:?} is not HH:MM=price")]
    Entry { entry: String },
    #[error("time {time:?} is not a time of day HH:MM (00:00 to 23:59)")]
    Time { time: String },
    #[error("price {price:?} is not a whole number of IOTA/kWh from 0 to {max}", max = Price::MAX)]
    Price { price: String },
    #[error("the first entry must start at 00:00, not {first}")]
    FirstNotMidnight { first: String },
    #[error("times must ascend: {time} comes after {previous}")]
    NotAscending { previous: String, time: String },
}

fn hhmm(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

impl PriceSchedule {
    /// The same price all day.
    pub fn flat(price: Price) -> Self {
        Self { entries: vec![(0, price)] }
    }

    /// Reads `120` (all day) or `00:00=120,07:00=250,21:00=120`.
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ScheduleError::Empty);
        }
        if !text.contains('=') {
            return Ok(Self::flat(price(text)?));
        }
        let mut entries: Vec<(u16, Price)> = Vec::new();
        for entry in text.split(',') {
            let entry = entry.trim();
            let (time, value) =
                entry.split_once('=').ok_or_else(|| ScheduleError::Entry { entry: entry.to_owned() })?;
            let minute = minute_of_day(time.trim())?;
            match entries.last() {
                None if minute != 0 => return Err(ScheduleError::FirstNotMidnight { first: hhmm(minute) }),
                Some((previous, _)) if *previous >= minute => {
                    return Err(ScheduleError::NotAscending { previous: hhmm(*previous), time: hhmm(minute) });
                }
                _ => {}
            }
            entries.push((minute, price(value.trim())?));
        }
        Ok(Self { entries })
    }

    /// The price in force at `minute` of the day (0–1439).
    pub fn at_minute(&self, minute: u16) -> Price {
        let after = self.entries.partition_point(|(start, _)| *start <= minute);
        // The first entry starts at 00:00, so at least one is at or before any minute.
        self.entries[after.saturating_sub(1)].1
    }

    /// The highest price of the day.
    pub fn highest(&self) -> Price {
        self.entries.iter().map(|(_, price)| *price).max().unwrap_or(Price::ZERO)
    }
}

impl fmt::Display for PriceSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [(0, price)] = self.entries[..] {
            return write!(f, "{}", price.get());
        }
        let entries: Vec<String> = self.entries.iter().map(|(m, p)| format!("{}={}", hhmm(*m), p.get())).collect();
        f.write_str(&entries.join(","))
    }
}

fn price(text: &str) -> Result<Price, ScheduleError> {
    let refused = || ScheduleError::Price { price: text.to_owned() };
    let value: u64 = text.parse().map_err(|_| refused())?;
    Price::parse(value).map_err(|_| refused())
}

fn minute_of_day(text: &str) -> Result<u16, ScheduleError> {
    let refused = || ScheduleError::Time { time: text.to_owned() };
    let (hours, minutes) = text.split_once(':').ok_or_else(refused)?;
    if hours.len() != 2 || minutes.len() != 2 {
        return Err(refused());
    }
    let (hours, minutes): (u16, u16) = (hours.parse().map_err(|_| refused())?, minutes.parse().map_err(|_| refused())?);
    if hours > 23 || minutes > 59 {
        return Err(refused());
    }
    Ok(hours * 60 + minutes)
}

/// The zone a tariff's schedules are read in (`TARIFF_TIMEZONE`), an IANA name.
#[derive(Debug, Clone)]
pub struct TariffZone {
    name: String,
    zone: jiff::tz::TimeZone,
}

/// One name, one zone: the database is compiled in.
impl PartialEq for TariffZone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for TariffZone {}

/// A zone name the database does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IANA time zone (such as UTC or Europe/Berlin)")]
pub struct TariffZoneError(String);

impl TariffZone {
    pub fn utc() -> Self {
        Self { name: "UTC".to_owned(), zone: jiff::tz::TimeZone::UTC }
    }

    pub fn parse(name: &str) -> Result<Self, TariffZoneError> {
        let zone = jiff::tz::db().get(name).map_err(|_| TariffZoneError(name.to_owned()))?;
        Ok(Self { name: name.to_owned(), zone })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The minute of the day on this zone's clock at `at`.
    pub fn minute_of_day(&self, at: EpochMs) -> u16 {
        // Every EpochMs (years 1970 to 9999) is a jiff timestamp.
        let local = jiff::Timestamp::from_millisecond(at.get() as i64)
            .expect("an EpochMs is within jiff's range")
            .to_zoned(self.zone.clone());
        local.hour() as u16 * 60 + local.minute() as u16
    }
}

/// What a period's market is bounded by and measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TariffPrices {
    /// `PRICE_CAP_t`: the utility's retail price, every buyer's fallback and the
    /// highest any offer may ask.
    pub cap: Price,
    /// `FEED_IN_t`: what a seller's utility pays for exported energy.
    pub feed_in: Price,
}

/// The tariff: the cap and feed-in schedules and the zone they are read in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tariff {
    pub cap: PriceSchedule,
    pub feed_in: PriceSchedule,
    pub zone: TariffZone,
}

impl Tariff {
    /// The same prices at every hour, in UTC.
    pub fn flat(cap: Price, feed_in: Price) -> Self {
        Self { cap: PriceSchedule::flat(cap), feed_in: PriceSchedule::flat(feed_in), zone: TariffZone::utc() }
    }

    /// The prices in force at `start` (a period's start) on the zone's clock.
    pub fn at(&self, start: EpochMs) -> TariffPrices {
        let minute = self.zone.minute_of_day(start);
        TariffPrices { cap: self.cap.at_minute(minute), feed_in: self.feed_in.at_minute(minute) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(p: u64) -> Price {
        Price::parse(p).unwrap()
    }

    fn at(utc: &str) -> EpochMs {
        let ts: jiff::Timestamp = utc.parse().unwrap();
        EpochMs::parse(ts.as_millisecond()).unwrap()
    }

    #[test]
    fn a_number_is_the_price_all_day_and_a_schedule_changes_at_its_times() {
        let flat = PriceSchedule::parse("250").unwrap();
        assert_eq!((flat.at_minute(0), flat.at_minute(1439)), (price(250), price(250)));
        let day = PriceSchedule::parse("00:00=120, 07:00=250,21:30=120").unwrap();
        assert_eq!(day.at_minute(0), price(120));
        assert_eq!(day.at_minute(7 * 60 - 1), price(120));
        assert_eq!(day.at_minute(7 * 60), price(250));
        assert_eq!(day.at_minute(21 * 60 + 29), price(250));
        assert_eq!(day.at_minute(21 * 60 + 30), price(120));
        assert_eq!(day.highest(), price(250));
        assert_eq!(day.to_string(), "00:00=120,07:00=250,21:30=120");
        assert_eq!(flat.to_string(), "250");
    }

    #[test]
    fn a_bad_schedule_says_what_is_wrong() {
        let refused = |text: &str| PriceSchedule::parse(text).unwrap_err();
        assert_eq!(refused(" "), ScheduleError::Empty);
        assert_eq!(refused("07:00=250"), ScheduleError::FirstNotMidnight { first: "07:00".to_owned() });
        assert!(matches!(refused("00:00=1,09:00=2,08:00=3"), ScheduleError::NotAscending { .. }));
        assert!(matches!(refused("00:00=1,09:00=2,09:00=3"), ScheduleError::NotAscending { .. }));
        assert!(matches!(refused("00:00=1,24:00=2"), ScheduleError::Time { .. }));
        assert!(matches!(refused("00:00=1,7:00=2"), ScheduleError::Time { .. }));
        assert!(matches!(refused("00:00=-1"), ScheduleError::Price { .. }));
        assert!(matches!(refused("00:00=1.5"), ScheduleError::Price { .. }));
        assert!(matches!(refused("00:00=1000000000001"), ScheduleError::Price { .. }));
        assert!(matches!(refused("00:00=1,noon"), ScheduleError::Entry { .. }));
        assert!(matches!(refused("cheap"), ScheduleError::Price { .. }));
    }

    #[test]
    fn an_unknown_zone_is_refused() {
        assert!(TariffZone::parse("Europe/Atlantis").is_err());
        assert_eq!(TariffZone::parse("Europe/Berlin").unwrap().name(), "Europe/Berlin");
    }

    /// Europe/Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC).
    #[test]
    fn on_the_day_the_clocks_go_forward_the_skipped_hour_never_starts_a_period() {
        let schedule = PriceSchedule::parse("00:00=100,02:30=200,03:00=300").unwrap();
        let tariff = Tariff {
            cap: schedule,
            feed_in: PriceSchedule::flat(price(5)),
            zone: TariffZone::parse("Europe/Berlin").unwrap(),
        };
        assert_eq!(tariff.at(at("2026-03-29T00:45:00Z")).cap, price(100), "01:45 CET");
        assert_eq!(tariff.at(at("2026-03-29T01:00:00Z")).cap, price(300), "03:00 CEST: 02:30's price never applies");
        assert_eq!(tariff.at(at("2026-03-29T01:15:00Z")).cap, price(300), "03:15 CEST");
        assert_eq!(tariff.at(at("2026-03-29T01:00:00Z")).feed_in, price(5));
    }

    /// Europe/Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00 UTC).
    #[test]
    fn on_the_day_the_clocks_go_back_the_repeated_hour_is_priced_alike_both_times() {
        let schedule = PriceSchedule::parse("00:00=100,02:30=200,03:00=300").unwrap();
        let tariff = Tariff {
            cap: schedule,
            feed_in: PriceSchedule::flat(price(0)),
            zone: TariffZone::parse("Europe/Berlin").unwrap(),
        };
        assert_eq!(tariff.at(at("2026-10-25T00:15:00Z")).cap, price(100), "02:15 CEST");
        assert_eq!(tariff.at(at("2026-10-25T00:30:00Z")).cap, price(200), "02:30 CEST");
        assert_eq!(tariff.at(at("2026-10-25T01:15:00Z")).cap, price(100), "02:15 CET, the second time");
        assert_eq!(tariff.at(at("2026-10-25T01:30:00Z")).cap, price(200), "02:30 CET, the second time");
        assert_eq!(tariff.at(at("2026-10-25T02:00:00Z")).cap, price(300), "03:00 CET");
        // In UTC, the same schedule reads the UTC clock.
        let utc = Tariff { zone: TariffZone::utc(), ..tariff };
        assert_eq!(utc.at(at("2026-10-25T02:45:00Z")).cap, price(200));
    }
}
