//! Real meter data for the agents to replay: CSV rows `startTime,endTime,kWh`, times in
//! epoch milliseconds. A first line that is not a row (a header) is skipped, as are blank
//! lines; every other line must be a valid reading, or the whole file is refused with the
//! line that is wrong — a replay that silently skips rows would misreport energy.

use crate::channel::Reading;
use crate::{EpochMs, Wh};

/// The most rows a file may hold: a year of 1-minute readings.
const MAX_ROWS: usize = 600_000;

/// Why a meter CSV cannot be replayed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MeterCsvError {
    #[error("line {line}: expected startTime,endTime,kWh")]
    Shape { line: usize },
    #[error("line {line}: {field} {value:?} is not valid: {reason}")]
    Field { line: usize, field: &'static str, value: String, reason: String },
    #[error("line {line}: endTime is not after startTime")]
    Interval { line: usize },
    #[error("more than {MAX_ROWS} rows")]
    TooLong,
}

/// The readings of a meter CSV, in file order.
pub fn parse_meter_csv(text: &str) -> Result<Vec<Reading>, MeterCsvError> {
    let mut readings = Vec::new();
    let mut first = true;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let is_header = first && !line.starts_with(|c: char| c.is_ascii_digit());
        first = false;
        if is_header {
            continue;
        }
        if readings.len() == MAX_ROWS {
            return Err(MeterCsvError::TooLong);
        }
        readings.push(row(number + 1, line)?);
    }
    Ok(readings)
}

fn row(line: usize, text: &str) -> Result<Reading, MeterCsvError> {
    let fields: Vec<&str> = text.split(',').map(str::trim).collect();
    let [start, end, kwh] = fields[..] else { return Err(MeterCsvError::Shape { line }) };
    let bad = |field: &'static str, value: &str, reason: String| MeterCsvError::Field {
        line,
        field,
        value: value.chars().take(32).collect(),
        reason,
    };
    let time = |field: &'static str, value: &str| {
        let ms: i64 = value.parse().map_err(|e: std::num::ParseIntError| bad(field, value, e.to_string()))?;
        EpochMs::parse(ms).map_err(|e| bad(field, value, e.to_string()))
    };
    let (start, end) = (time("startTime", start)?, time("endTime", end)?);
    let energy = kwh
        .parse::<f64>()
        .map_err(|e| e.to_string())
        .and_then(|kwh| Wh::from_reading_kwh(kwh).map_err(|e| e.to_string()))
        .map_err(|reason| bad("kWh", kwh, reason))?;
    if end <= start {
        return Err(MeterCsvError::Interval { line });
    }
    Ok(Reading { start, end, energy })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_readings_and_a_header_is_skipped() {
        let csv = "startTime,endTime,kWh\n1700000000000,1700000900000,1.25\n\n1700000900000, 1700001800000 ,0\n";
        let readings = parse_meter_csv(csv).unwrap();
        assert_eq!(readings.len(), 2);
        assert_eq!(
            (readings[0].start.get(), readings[0].end.get(), readings[0].energy),
            (1_700_000_000_000, 1_700_000_900_000, Wh::new(1250))
        );
        assert_eq!(readings[1].energy, Wh::ZERO);
        assert_eq!(parse_meter_csv("").unwrap(), []);
    }

    #[test]
    fn a_bad_row_refuses_the_file_naming_its_line() {
        let cases = [
            ("1,2\n", "line 1: expected startTime,endTime,kWh"),
            ("h\n1,2,3,4\n", "line 2: expected startTime,endTime,kWh"),
            ("1,x,1\n", "line 1: endTime \"x\" is not valid: invalid digit found in string"),
            ("1,2,-1\n", "line 1: kWh \"-1\""),
            ("1,2,NaN\n", "line 1: kWh \"NaN\""),
            ("1,2,1e9\n", "line 1: kWh \"1e9\""),
            ("5,5,1\n", "line 1: endTime is not after startTime"),
            ("1,2,1\nheader,later,no\n", "line 2: startTime \"header\""),
        ];
        for (csv, want) in cases {
            let error = parse_meter_csv(csv).unwrap_err().to_string();
            assert!(error.starts_with(want), "{csv:?}: {error}");
        }
    }
}
