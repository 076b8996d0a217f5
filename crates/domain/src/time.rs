//! Instants as stored and compared: UTC with microsecond precision.

use chrono::{DateTime, Datelike, SecondsFormat, TimeZone, Timelike, Utc};

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
        match self.rfc3339_text(OFFSET_ZONE) {
            Some(text) => text.as_str().to_owned(),
            None => self
                .datetime()
                .to_rfc3339_opts(SecondsFormat::Micros, false),
        }
    }

    /// Serialises as [`Timestamp::rfc3339_micros_offset`], without building a `String` (for
    /// `#[serde(serialize_with)]`: a user record carries two of these).
    pub fn serialize_rfc3339_micros_offset<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match self.rfc3339_text(OFFSET_ZONE) {
            Some(text) => serializer.serialize_str(text.as_str()),
            None => serializer.serialize_str(&self.rfc3339_micros_offset()),
        }
    }

    /// The RFC 3339 text with six fractional digits and `zone`, written digit by digit into a
    /// buffer on the stack; `None` for years outside 0000–9999, which chrono renders with a
    /// sign (no clock gives them).
    fn rfc3339_text(&self, zone: &str) -> Option<Rfc3339Text> {
        let at = self.datetime();
        let year = u32::try_from(at.year()).ok().filter(|y| *y <= 9999)?;
        let mut bytes = [0u8; RFC3339_MAX];
        let len = 26 + zone.len();
        digits(&mut bytes[0..4], year);
        bytes[4] = b'-';
        digits(&mut bytes[5..7], at.month());
        bytes[7] = b'-';
        digits(&mut bytes[8..10], at.day());
        bytes[10] = b'T';
        digits(&mut bytes[11..13], at.hour());
        bytes[13] = b':';
        digits(&mut bytes[14..16], at.minute());
        bytes[16] = b':';
        digits(&mut bytes[17..19], at.second());
        bytes[19] = b'.';
        // Microsecond instants have no leap seconds: the fraction is below one second.
        digits(&mut bytes[20..26], at.timestamp_subsec_micros());
        bytes.get_mut(26..len)?.copy_from_slice(zone.as_bytes());
        Some(Rfc3339Text { bytes, len })
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

/// The account face's zone suffix: UTC as an offset.
const OFFSET_ZONE: &str = "+00:00";

/// `YYYY-MM-DDTHH:MM:SS.ffffff` and the longest zone suffix.
const RFC3339_MAX: usize = 32;

struct Rfc3339Text {
    bytes: [u8; RFC3339_MAX],
    len: usize,
}

impl Rfc3339Text {
    fn as_str(&self) -> &str {
        // Only ASCII digits and separators are ever written.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

/// `n` in decimal, zero-padded to fill `out` (higher digits than fit are dropped).
fn digits(out: &mut [u8], mut n: u32) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_style_is_written_as_chrono_writes_it() {
        let chrono = |t: Timestamp| t.datetime().to_rfc3339_opts(SecondsFormat::Micros, false);
        // Every field's width, leap days, the epoch, before it, and the ends of the range.
        let mut samples = vec![
            0,
            -1,
            1,
            951_782_400_000_000,
            1_564_038_662_807_354,
            253_402_300_799_999_999,
            -62_167_219_200_000_000,
        ];
        let mut x: i64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..10_000 {
            // xorshift over ±300 years around the epoch
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            samples.push(x % 9_500_000_000_000_000);
        }
        for micros in samples {
            let t = Timestamp::from_micros(micros);
            assert_eq!(t.rfc3339_micros_offset(), chrono(t), "{micros}");
            let mut out = Vec::new();
            t.serialize_rfc3339_micros_offset(&mut serde_json::Serializer::new(&mut out))
                .unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("\"{}\"", chrono(t))
            );
        }
        // Years beyond 9999 are left to chrono, which signs them.
        let far = Timestamp::from_micros(253_402_300_800_000_000);
        assert_eq!(far.rfc3339_micros_offset(), chrono(far));
        assert!(far.rfc3339_micros_offset().starts_with('+'));
    }

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
