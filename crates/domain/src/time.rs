//! Instants as stored and compared: UTC with microsecond precision.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

/// A UTC instant with microsecond precision; the store keeps it as microseconds since the epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const EPOCH: Timestamp = Timestamp(0);

    pub fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub fn from_datetime(at: DateTime<Utc>) -> Self {
        Self(at.timestamp_micros())
    }

    pub fn micros(&self) -> i64 {
        self.0
    }

    pub fn seconds(&self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    pub fn plus_seconds(&self, seconds: i64) -> Self {
        Self(self.0.saturating_add(seconds.saturating_mul(1_000_000)))
    }

    pub fn datetime(&self) -> DateTime<Utc> {
        Utc.timestamp_micros(self.0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    // Rendered with chrono's RFC 3339 writer rather than a `format` pattern, which is parsed
    // anew on every call: every user in a response carries two of these.

    /// `2019-07-25T07:11:02.807354+00:00`, the account face's style.
    pub fn rfc3339_micros_offset(&self) -> String {
        self.datetime()
            .to_rfc3339_opts(SecondsFormat::Micros, false)
    }

    /// `2015-11-09T01:42:57.527363Z`, the Keystone token style.
    pub fn rfc3339_micros_z(&self) -> String {
        self.datetime().to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    /// `2020-01-06T08:05:16.000000`, the IAM `create_time` style (UTC, no zone).
    pub fn iam_naive(&self) -> String {
        let mut text = self.rfc3339_micros_z();
        text.pop();
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_each_face_style() {
        let t = Timestamp::from_micros(1_564_038_662_807_354);
        assert_eq!(
            t.rfc3339_micros_offset(),
            "2019-07-25T07:11:02.807354+00:00"
        );
        assert_eq!(t.rfc3339_micros_z(), "2019-07-25T07:11:02.807354Z");
        assert_eq!(t.iam_naive(), "2019-07-25T07:11:02.807354");
        assert_eq!(t.seconds(), 1_564_038_662);
        // Whole seconds keep their six digits; the epoch and instants before it render too.
        let whole = Timestamp::from_micros(1_578_297_916_000_000);
        assert_eq!(whole.iam_naive(), "2020-01-06T08:05:16.000000");
        assert_eq!(
            Timestamp::EPOCH.rfc3339_micros_offset(),
            "1970-01-01T00:00:00.000000+00:00"
        );
        assert_eq!(
            Timestamp::from_micros(-1).rfc3339_micros_z(),
            "1969-12-31T23:59:59.999999Z"
        );
    }
}
