//! Simulated meters. A profile gives the energy over an interval from the average power
//! of a day curve or a range; noise comes from a hash of a seed and the interval, so a
//! simulation replays identically and tests can predict it.

use crate::{EpochMs, Wh};

/// How a simulated meter behaves, in kW of average power.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Profile {
    /// A solar panel peaking at `peak_kw` at noon (UTC), nothing from 18:00 to 6:00,
    /// with up to 20% less on a cloudy interval.
    Solar { peak_kw: f64 },
    /// Always `kw`.
    Fixed { kw: f64 },
    /// Uniformly between `min_kw` and `max_kw`, drawn per interval.
    Random { min_kw: f64, max_kw: f64 },
}

/// A profile that cannot be understood.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProfileError {
    #[error("unknown profile {0:?}: expected solar[:PEAK_KW], fixed:KW or random:MIN..MAX")]
    Unknown(String),
    #[error("{0:?} is not a power in kW (a number from 0 to 1000000)")]
    Power(String),
    #[error("random:{min}..{max} needs MIN ≤ MAX")]
    Range { min: f64, max: f64 },
}

/// The largest power a profile accepts: a gigawatt, far beyond any meter.
const MAX_KW: f64 = 1_000_000.0;

fn kw(text: &str) -> Result<f64, ProfileError> {
    match text.trim().parse::<f64>() {
        Ok(kw) if kw.is_finite() && (0.0..=MAX_KW).contains(&kw) => Ok(kw),
        _ => Err(ProfileError::Power(text.chars().take(32).collect())),
    }
}

impl Profile {
    /// `solar` (5 kW peak), `solar:PEAK_KW`, `fixed:KW` or `random:MIN..MAX`.
    pub fn parse(spec: &str) -> Result<Self, ProfileError> {
        let (name, arg) = spec.split_once(':').map_or((spec, None), |(n, a)| (n, Some(a)));
        match (name.trim(), arg) {
            ("solar", None) => Ok(Self::Solar { peak_kw: 5.0 }),
            ("solar", Some(peak)) => Ok(Self::Solar { peak_kw: kw(peak)? }),
            ("fixed", Some(value)) => Ok(Self::Fixed { kw: kw(value)? }),
            ("random", Some(range)) => {
                let (min, max) = range.split_once("..").ok_or_else(|| ProfileError::Unknown(spec.to_owned()))?;
                let (min_kw, max_kw) = (kw(min)?, kw(max)?);
                if min_kw > max_kw {
                    return Err(ProfileError::Range { min: min_kw, max: max_kw });
                }
                Ok(Self::Random { min_kw, max_kw })
            }
            _ => Err(ProfileError::Unknown(spec.chars().take(64).collect())),
        }
    }

    /// The energy over `[start, end)`; `seed` tells meters with the same profile apart.
    pub fn energy(&self, start: EpochMs, end: EpochMs, seed: u64) -> Wh {
        let (start, end) = (start.get(), end.get().max(start.get()));
        let hours = (end - start) as f64 / 3_600_000.0;
        let draw = unit(seed, start);
        let kw = match *self {
            Self::Fixed { kw } => kw,
            Self::Random { min_kw, max_kw } => min_kw + draw * (max_kw - min_kw),
            Self::Solar { peak_kw } => {
                // The day curve's average over the interval, from 16 samples.
                const SAMPLES: u64 = 16;
                let step = (end - start) as f64 / SAMPLES as f64;
                let sum: f64 = (0..SAMPLES).map(|i| daylight(start as f64 + (i as f64 + 0.5) * step)).sum();
                peak_kw * (sum / SAMPLES as f64) * (0.8 + 0.2 * draw)
            }
        };
        Wh::new((kw * hours * 1000.0).round() as u64)
    }
}

/// The sun's share of its noon power at `ms` (UTC): a half sine from 6:00 to 18:00.
fn daylight(ms: f64) -> f64 {
    let hour = (ms / 3_600_000.0).rem_euclid(24.0);
    if (6.0..18.0).contains(&hour) { (std::f64::consts::PI * (hour - 6.0) / 12.0).sin() } else { 0.0 }
}

/// A number in [0, 1) from `seed` and `start` (splitmix64).
fn unit(seed: u64, start: u64) -> f64 {
    let mut z = seed ^ start.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3_600_000;

    fn at(ms: u64) -> EpochMs {
        EpochMs::parse(ms as i64).unwrap()
    }

    #[test]
    fn profiles_parse_with_their_arguments() {
        assert_eq!(Profile::parse("solar"), Ok(Profile::Solar { peak_kw: 5.0 }));
        assert_eq!(Profile::parse("solar:3.5"), Ok(Profile::Solar { peak_kw: 3.5 }));
        assert_eq!(Profile::parse("fixed:2"), Ok(Profile::Fixed { kw: 2.0 }));
        assert_eq!(Profile::parse("random:0.5..1.5"), Ok(Profile::Random { min_kw: 0.5, max_kw: 1.5 }));
    }

    #[test]
    fn bad_profiles_say_what_is_wrong() {
        for bad in ["", "wind", "fixed", "fixed:", "random:1", "solar:x"] {
            assert!(Profile::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Profile::parse("fixed:-1"), Err(ProfileError::Power("-1".into())));
        assert_eq!(Profile::parse("fixed:NaN"), Err(ProfileError::Power("NaN".into())));
        assert_eq!(Profile::parse("fixed:1e9"), Err(ProfileError::Power("1e9".into())));
        assert_eq!(Profile::parse("random:3..1"), Err(ProfileError::Range { min: 3.0, max: 1.0 }));
        assert!(Profile::parse(&"x".repeat(10_000)).unwrap_err().to_string().len() < 200);
    }

    #[test]
    fn a_fixed_meter_gives_power_times_time() {
        let fixed = Profile::Fixed { kw: 2.0 };
        assert_eq!(fixed.energy(at(0), at(HOUR / 4), 1), Wh::new(500));
        assert_eq!(fixed.energy(at(HOUR), at(HOUR), 1), Wh::ZERO);
    }

    #[test]
    fn a_random_meter_stays_in_its_range_and_replays() {
        let random = Profile::Random { min_kw: 1.0, max_kw: 3.0 };
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..200 {
            let wh = random.energy(at(i * HOUR), at((i + 1) * HOUR), 7).get();
            assert!((1000..=3000).contains(&wh), "{wh}");
            assert_eq!(random.energy(at(i * HOUR), at((i + 1) * HOUR), 7).get(), wh, "same seed, same draw");
            seen.insert(wh / 100);
        }
        assert!(seen.len() > 10, "draws spread over the range: {seen:?}");
    }

    #[test]
    fn the_sun_shines_by_day_and_peaks_at_noon() {
        let solar = Profile::Solar { peak_kw: 4.0 };
        let day = 20_000 * 24 * HOUR;
        let hour = |h: u64| solar.energy(at(day + h * HOUR), at(day + (h + 1) * HOUR), 3).get();
        assert_eq!((hour(2), hour(19), hour(23)), (0, 0, 0), "night");
        assert!(hour(11) > hour(8) && hour(8) > hour(6), "morning rises");
        assert!((3100..=4000).contains(&hour(11)), "near the peak at noon: {}", hour(11));
        let total: u64 = (0..24).map(hour).sum();
        // ∫ 4 kW · sin over 12 h = 4 · 24/π ≈ 30.6 kWh, less up to 20% clouds.
        assert!((24_000..=30_700).contains(&total), "{total}");
    }
}
