//! What the simulated homes use and make, period by period: the BDEW H0 standard
//! household load profile scaled to each home's yearly use, and a clear-sky solar curve
//! by latitude and day of year under seeded clouds. Pure and seeded: the same seed gives
//! the same figures.
//!
//! The H0 profile (`data/bdew_h0.csv`): the quarter-hour values of the BDEW standard load
//! profile for households, for workdays, Saturdays and Sundays in winter (1 November to
//! 20 March), summer (15 May to 14 September) and the transition between, as the
//! `demandlib` package (MIT licence, oemof developer group) ships them; with BDEW's
//! dynamisation over the day of the year. `data/README.md` says where it comes from.

use jiff::civil::Weekday;
use jiff::{Timestamp, tz::TimeZone};

const H0: &str = include_str!("../../data/bdew_h0.csv");

/// A deterministic number in [0, 1) from a seed and two keys (splitmix64).
pub fn unit(seed: u64, a: u64, b: u64) -> f64 {
    let mut z = seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// The H0 profile: for each of its nine day types, 96 quarter-hour values.
pub struct LoadProfile {
    days: [[f64; 96]; 9],
}

impl LoadProfile {
    pub fn bdew_h0() -> Self {
        let mut days = [[0.0; 96]; 9];
        for (q, line) in H0.lines().skip(1).enumerate() {
            for (d, value) in line.split(',').skip(1).enumerate() {
                days[d][q] = value.parse().expect("the shipped profile is numbers");
            }
        }
        Self { days }
    }

    /// The profile's relative power in the quarter hour starting at `at` (local time in
    /// `zone`), with BDEW's dynamisation over the day of the year.
    pub fn at(&self, at: Timestamp, zone: &TimeZone) -> f64 {
        let local = at.to_zoned(zone.clone());
        let (month, day) = (local.month(), local.day());
        let season = match (month, day) {
            (11..=12, _) | (1..=2, _) | (3, 1..=20) => 0,
            (5, 15..) | (6..=8, _) | (9, ..=14) => 1,
            _ => 2,
        };
        let kind = match local.weekday() {
            Weekday::Saturday => 1,
            Weekday::Sunday => 2,
            _ => 0,
        };
        let quarter = (local.hour() as usize * 60 + local.minute() as usize) / 15;
        let t = f64::from(local.day_of_year());
        let dynamic = -3.92e-10 * t.powi(4) + 3.2e-7 * t.powi(3) - 7.02e-5 * t.powi(2) + 2.1e-3 * t + 1.24;
        self.days[season * 3 + kind][quarter] * dynamic
    }
}

/// A roof's output under the sky of a place: clear-sky power by the sun's height, times
/// the day's clouds (clear, broken or overcast, drawn from the seed) and a little change
/// from period to period.
pub struct Sky {
    pub latitude: f64,
    pub longitude: f64,
    pub seed: u64,
}

impl Sky {
    /// The share of its peak (kWp) a roof yields at `ms` (epoch ms): 0 to about 0.85.
    pub fn yield_at(&self, ms: u64) -> f64 {
        let days = ms as f64 / 86_400_000.0;
        let day_of_year = days.rem_euclid(365.25);
        let declination = (-23.44f64).to_radians() * ((360.0 / 365.0) * (day_of_year + 10.0)).to_radians().cos();
        let solar_hours = (days.fract() * 24.0 + self.longitude / 15.0).rem_euclid(24.0);
        let hour_angle = ((solar_hours - 12.0) * 15.0).to_radians();
        let latitude = self.latitude.to_radians();
        let height =
            (latitude.sin() * declination.sin() + latitude.cos() * declination.cos() * hour_angle.cos()).asin();
        if height <= 0.0 {
            return 0.0;
        }
        // Clear sky: irradiance through the air mass, a performance ratio of 0.85.
        let clear = 0.85 * height.sin().powf(1.15);
        let day = days.floor() as u64;
        let weather = unit(self.seed, day, 0x5eed);
        let clouds = if weather < 0.35 {
            0.9 + 0.1 * unit(self.seed, day, 1)
        } else if weather < 0.7 {
            0.45 + 0.35 * unit(self.seed, day, 2)
        } else {
            0.1 + 0.25 * unit(self.seed, day, 3)
        };
        let flicker = 0.9 + 0.2 * unit(self.seed, ms / 60_000, 4);
        (clear * clouds * flicker).min(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_h0_profile_peaks_in_the_evening_and_in_winter() {
        let profile = LoadProfile::bdew_h0();
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        let at = |text: &str| text.parse::<jiff::Zoned>().unwrap().timestamp();
        let winter_evening = profile.at(at("2026-01-14T18:00[Europe/Berlin]"), &zone);
        let winter_night = profile.at(at("2026-01-14T03:00[Europe/Berlin]"), &zone);
        let summer_evening = profile.at(at("2026-07-15T18:00[Europe/Berlin]"), &zone);
        assert!(winter_evening > 2.0 * winter_night, "{winter_evening} {winter_night}");
        assert!(winter_evening > summer_evening, "{winter_evening} {summer_evening}");
    }

    #[test]
    fn the_sun_yields_nothing_at_night_more_at_noon_in_june_and_is_the_same_for_the_same_seed() {
        let sky = Sky { latitude: 51.0, longitude: 10.5, seed: 7 };
        let at = |text: &str| text.parse::<jiff::Zoned>().unwrap().timestamp().as_millisecond() as u64;
        assert_eq!(sky.yield_at(at("2026-06-21T01:00[UTC]")), 0.0);
        let june: f64 = (0..30).map(|d| sky.yield_at(at("2026-06-01T11:15[UTC]") + d * 86_400_000)).sum();
        let december: f64 = (0..30).map(|d| sky.yield_at(at("2026-12-01T11:15[UTC]") + d * 86_400_000)).sum();
        assert!(june > 2.0 * december, "{june} {december}");
        assert_eq!(sky.yield_at(at("2026-06-21T11:00[UTC]")), sky.yield_at(at("2026-06-21T11:00[UTC]")));
    }
}
