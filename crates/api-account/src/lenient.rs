//! Leniency the published scripts rely on: integers and booleans sent as strings, `null`
//! where a string is expected.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// An integer, or a string holding one.
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("expected an integer")),
        Value::String(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom("expected an integer")),
        _ => Err(serde::de::Error::custom("expected an integer")),
    }
}

/// A boolean, or the strings `true`/`false` in any case.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b)),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        _ => Err(serde::de::Error::custom("expected a boolean")),
    }
}

/// A string where `null` means the empty string.
pub fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Some(Option::<String>::deserialize(d)?.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug)]
    struct T {
        #[serde(default, deserialize_with = "opt_i64")]
        version: Option<i64>,
        #[serde(default, deserialize_with = "opt_bool")]
        enabled: Option<bool>,
        #[serde(default, deserialize_with = "opt_text")]
        city: Option<String>,
    }

    #[test]
    fn strings_are_coerced_and_absent_fields_stay_absent() {
        let t: T =
            serde_json::from_str(r#"{"version": "3", "enabled": "false", "city": null}"#).unwrap();
        assert_eq!(
            (t.version, t.enabled, t.city.as_deref()),
            (Some(3), Some(false), Some(""))
        );
        let t: T = serde_json::from_str("{}").unwrap();
        assert_eq!((t.version, t.enabled, t.city), (None, None, None));
        assert!(serde_json::from_str::<T>(r#"{"version": "three"}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"enabled": 1}"#).is_err());
    }
}
