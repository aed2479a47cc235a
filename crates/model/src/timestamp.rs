//! An instant in UTC, written as RFC 3339 on the wire (`2026-11-20T09:12:03Z`).
//! Callers supply the time: the app from the browser clock, the server from the system one.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A UTC instant with millisecond precision.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp(OffsetDateTime::UNIX_EPOCH);

    /// The instant `millis` milliseconds after the Unix epoch, if it is representable.
    pub fn from_unix_millis(millis: i64) -> Option<Self> {
        let nanos = i128::from(millis) * 1_000_000;
        OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .map(Self)
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_millis(self) -> i64 {
        // An OffsetDateTime spans ±9999 years, so its millisecond count always fits in i64.
        (self.0.unix_timestamp_nanos() / 1_000_000) as i64
    }

    /// Parses an RFC 3339 string, normalising any offset to UTC.
    pub fn parse(text: &str) -> Option<Self> {
        OffsetDateTime::parse(text, &Rfc3339)
            .ok()
            .map(|t| t.to_offset(time::UtcOffset::UTC))
            .and_then(|t| Self::from_unix_millis((t.unix_timestamp_nanos() / 1_000_000) as i64))
    }

    /// The calendar date in UTC, as `YYYY-MM-DD`.
    pub fn utc_date(self) -> String {
        let d = self.0.date();
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    }

    /// The underlying `time` value, for date arithmetic.
    pub fn as_offset_date_time(self) -> OffsetDateTime {
        self.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        let d = t.date();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            d.year(),
            u8::from(d.month()),
            d.day(),
            t.hour(),
            t.minute(),
            t.second()
        )?;
        let millis = t.millisecond();
        if millis != 0 {
            write!(f, ".{millis:03}")?;
        }
        f.write_str("Z")
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("`{text}` is not an RFC 3339 timestamp"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_whole_seconds_without_fraction_and_millis_with_three_digits() {
        let t = Timestamp::from_unix_millis(1_795_165_923_000).unwrap();
        assert_eq!(t.to_string(), "2026-11-20T09:12:03Z");
        let t = Timestamp::from_unix_millis(1_795_165_923_045).unwrap();
        assert_eq!(t.to_string(), "2026-11-20T09:12:03.045Z");
        assert_eq!(t.utc_date(), "2026-11-20");
    }

    #[test]
    fn the_epoch_is_zero_millis() {
        assert_eq!(Timestamp::UNIX_EPOCH.unix_millis(), 0);
        assert_eq!(Timestamp::UNIX_EPOCH.to_string(), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn parses_offsets_into_utc_and_round_trips() {
        let t = Timestamp::parse("2026-11-20T10:12:03.5+01:00").unwrap();
        assert_eq!(t.to_string(), "2026-11-20T09:12:03.500Z");
        assert_eq!(Timestamp::parse(&t.to_string()), Some(t));
        assert_eq!(Timestamp::parse("yesterday"), None);
    }

    #[test]
    fn serde_rejects_non_timestamps_with_a_readable_message() {
        let err = serde_json::from_str::<Timestamp>("\"soon\"").unwrap_err();
        assert!(err.to_string().contains("not an RFC 3339"));
    }

    proptest::proptest! {
        #[test]
        fn display_then_parse_is_identity(millis in -62_135_596_800_000i64..253_402_300_799_000) {
            let t = Timestamp::from_unix_millis(millis).unwrap();
            proptest::prop_assert_eq!(Timestamp::parse(&t.to_string()), Some(t));
            proptest::prop_assert_eq!(t.unix_millis(), millis);
        }
    }
}
