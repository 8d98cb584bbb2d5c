//! Durations on command lines: a decimal number with a unit (`750ms`,
//! `2s`, `1.5m`) or plain seconds (`2`), one grammar for the client's and
//! the server's options. Hand-written rather than `humantime` because
//! plain seconds must keep working and fractions (`0.5s`) must be accepted,
//! which humantime refuses.

use core::time::Duration;

/// The units a duration may carry, with their length in seconds.
const UNITS: [(&str, f64); 7] = [
    ("ns", 1e-9),
    ("us", 1e-6),
    ("µs", 1e-6),
    ("ms", 1e-3),
    ("s", 1.0),
    ("m", 60.0),
    ("h", 3600.0),
];

/// Why a text is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("`{0}` is not a duration (a number with ns, us, ms, s, m or h; plain seconds)")]
    Malformed(std::string::String),
    #[error("unknown unit `{unit}` in `{text}` (use ns, us, ms, s, m or h)")]
    Unit {
        text: std::string::String,
        unit: std::string::String,
    },
    #[error("`{0}` is not a duration of 0 seconds or more")]
    OutOfRange(std::string::String),
}

/// Parses `text` as a duration: a non-negative decimal number, optionally
/// followed by a unit (ns, us/µs, ms, s, m, h); without one, seconds.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    use std::borrow::ToOwned;
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| DurationError::Malformed(text.to_owned()))?;
    let unit = unit.trim();
    let scale = match unit {
        "" => 1.0,
        _ => UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, scale)| *scale)
            .ok_or_else(|| DurationError::Unit {
                text: text.to_owned(),
                unit: unit.to_owned(),
            })?,
    };
    Duration::try_from_secs_f64(value * scale)
        .map_err(|_| DurationError::OutOfRange(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_with_units_or_plain_seconds() {
        let cases = [
            ("5s", Some(Duration::from_secs(5))),
            ("5", Some(Duration::from_secs(5))),
            ("0.5", Some(Duration::from_millis(500))),
            ("750ms", Some(Duration::from_millis(750))),
            ("2.5s", Some(Duration::from_millis(2500))),
            ("100us", Some(Duration::from_micros(100))),
            ("100µs", Some(Duration::from_micros(100))),
            ("20ns", Some(Duration::from_nanos(20))),
            ("1m", Some(Duration::from_secs(60))),
            ("1h", Some(Duration::from_secs(3600))),
            (" 3 s ", Some(Duration::from_secs(3))),
            ("0", Some(Duration::ZERO)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text).ok(), expected, "{text:?}");
        }
    }

    #[test]
    fn refusals_say_why() {
        use std::string::ToString;
        let cases = [
            ("soon", "is not a duration"),
            ("", "is not a duration"),
            ("5 parsecs", "unknown unit `parsecs`"),
            ("1d", "unknown unit `d`"),
            ("-1s", "0 seconds or more"),
            ("-1", "0 seconds or more"),
        ];
        for (text, message) in cases {
            let error = parse_duration(text).expect_err(text).to_string();
            assert!(error.contains(message), "{text:?}: {error}");
        }
    }
}
