//! Validated value types. Each has a private field and one fallible constructor: once you hold
//! an `Email`, it is a valid e-mail address.

use std::fmt;

use crate::error::{FieldError, FieldErrorKind};

/// Free text of a contact or profile field: at most 255 characters, no control characters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Text(String);

impl Text {
    pub const MAX_CHARS: usize = 255;

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(FieldError::new(field, FieldErrorKind::TooLong));
        }
        if raw.chars().any(char::is_control) {
            return Err(FieldError::new(field, FieldErrorKind::Invalid));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A value that comes from the store, already validated when written.
    pub fn from_trusted(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail address: RFC 5322 syntax, at most 255 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const MAX_CHARS: usize = 255;

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let trimmed = raw.trim();
        let valid = trimmed.len() <= Self::MAX_CHARS
            && !trimmed.chars().any(|c| c.is_control() || c.is_whitespace())
            && email_address::EmailAddress::is_valid(trimmed);
        if valid {
            Ok(Self(trimmed.to_owned()))
        } else {
            Err(FieldError::new(field, FieldErrorKind::InvalidEmail))
        }
    }

    pub fn from_trusted(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A login, which is also the Keystone and IAM user `name`. Unique across the store, compared
/// without regard to ASCII case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login(String);

impl Login {
    pub const MIN_CHARS: usize = 3;
    pub const MAX_CHARS: usize = 64;
    /// Keystone's user names are longer (its column width); the keystone face accepts them,
    /// and every lookup by name does.
    pub const KEYSTONE_MAX_CHARS: usize = 255;
    const SPECIALS: &'static str = ".@_-+:!#$%^*={}'`/? ";

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        Self::parse_within(field, raw, Self::MAX_CHARS)
    }

    /// A login as the keystone face takes it: up to [`Self::KEYSTONE_MAX_CHARS`].
    pub fn parse_keystone(field: &str, raw: &str) -> Result<Self, FieldError> {
        Self::parse_within(field, raw, Self::KEYSTONE_MAX_CHARS)
    }

    fn parse_within(field: &str, raw: &str, max: usize) -> Result<Self, FieldError> {
        let trimmed = raw.trim();
        let len = trimmed.chars().count();
        let charset_ok = trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || Self::SPECIALS.contains(c));
        if (Self::MIN_CHARS..=max).contains(&len) && charset_ok {
            Ok(Self(trimmed.to_owned()))
        } else {
            Err(FieldError::new(field, FieldErrorKind::InvalidLogin))
        }
    }

    pub fn from_trusted(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key uniqueness is enforced on.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// Rules a new password must satisfy.
#[derive(Clone, Debug)]
pub struct PasswordPolicy {
    pub min_chars: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min_chars: 8 }
    }
}

/// The 20,000 passwords most often seen in breaches (one per line), refused as new passwords
/// whatever their case.
static COMMON_PASSWORDS: &str = include_str!("../data/common-passwords.txt");

fn is_common_password(raw: &str) -> bool {
    static SET: std::sync::LazyLock<std::collections::HashSet<&'static str>> =
        std::sync::LazyLock::new(|| COMMON_PASSWORDS.lines().map(str::trim).collect());
    SET.contains(raw.to_lowercase().trim())
}

/// A plaintext password on its way to the hasher. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Long enough for any passphrase, short enough that hashing it is not a denial of service.
    pub const MAX_BYTES: usize = 1024;

    /// A password offered at login: only the size is checked, never the policy.
    pub fn for_login(raw: &str) -> Option<Self> {
        (!raw.is_empty() && raw.len() <= Self::MAX_BYTES).then(|| Self(raw.to_owned()))
    }

    /// A new password: checked against the policy. No trimming, truncation or case folding.
    pub fn new_checked(
        field: &str,
        raw: &str,
        policy: &PasswordPolicy,
    ) -> Result<Self, FieldError> {
        if raw.len() > Self::MAX_BYTES || raw.chars().any(|c| c == '\0') {
            return Err(FieldError::new(field, FieldErrorKind::InvalidPassword));
        }
        if raw.chars().count() < policy.min_chars || is_common_password(raw) {
            return Err(FieldError::new(field, FieldErrorKind::WeakPassword));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A telephone number as the IAM face knows it: digits only, at most 32.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub const MAX_DIGITS: usize = 32;

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_DIGITS
            && raw.bytes().all(|b| b.is_ascii_digit());
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(field, FieldErrorKind::InvalidPhone))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A country calling code such as `0086` or `+1`: an optional `+` and 1 to 6 digits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AreaCode(String);

impl AreaCode {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let digits = raw.strip_prefix('+').unwrap_or(raw);
        let ok = (1..=6).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(field, FieldErrorKind::InvalidPhone))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_accepts_the_seed_addresses_and_refuses_garbage() {
        assert!(Email::parse("email", "johndoe@mysite.com").is_ok());
        assert!(Email::parse("email", "abcdefg@123.com").is_ok());
        assert!(Email::parse("email", "not-an-email").is_err());
        assert!(Email::parse("email", "a b@c.com").is_err());
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse("email", &long).is_err());
    }

    #[test]
    fn login_is_trimmed_and_limited_to_its_charset() {
        assert_eq!(
            Login::parse("login", "  JohnDoe ").map(|l| l.key()),
            Ok("johndoe".into())
        );
        assert!(Login::parse("login", "ab").is_err());
        assert!(Login::parse("login", "bad<login>").is_err());
        assert!(Login::parse("login", "john.doe@example.com").is_ok());
    }

    #[test]
    fn password_is_never_truncated_and_respects_the_minimum() {
        let policy = PasswordPolicy::default();
        assert!(Password::new_checked("password", "short", &policy).is_err());
        let long = "x".repeat(200);
        assert_eq!(
            Password::new_checked("password", &long, &policy).map(|p| p.expose().len()),
            Ok(200)
        );
        assert!(Password::new_checked("password", &"x".repeat(2000), &policy).is_err());
        // 64 characters and more are fine, case and all.
        let passphrase = "Correct Horse Battery Staple, and then some more words to reach 64+";
        assert_eq!(
            Password::new_checked("password", passphrase, &policy).map(|p| p.expose().to_owned()),
            Ok(passphrase.to_owned())
        );
        assert!(Password::new_checked("password", "SHORT-but-8", &policy).is_ok());
        assert_eq!(
            format!("{:?}", Password::new_checked("password", "short", &policy)),
            format!(
                "{:?}",
                Err::<Password, _>(FieldError::new("password", FieldErrorKind::WeakPassword))
            )
        );
        assert_eq!(
            format!("{:?}", Password::for_login("secret")),
            "Some(Password(<redacted>))"
        );
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        let policy = PasswordPolicy::default();
        for common in [
            "password",
            "Password1",
            "QWERTYUIOP",
            "iloveyou1",
            "12345678",
        ] {
            assert_eq!(
                Password::new_checked("password", common, &policy).map(|_| ()),
                Err(FieldError::new("password", FieldErrorKind::WeakPassword)),
                "{common}"
            );
        }
        assert!(COMMON_PASSWORDS.lines().count() >= 20_000);
        assert!(Password::new_checked("password", "uncommon-Phrase-42", &policy).is_ok());
    }

    #[test]
    fn phone_is_digits_only() {
        assert!(PhoneNumber::parse("phone", "18292010816").is_ok());
        assert!(PhoneNumber::parse("phone", "+18292010816").is_err());
        assert!(PhoneNumber::parse("phone", &"1".repeat(33)).is_err());
        assert!(AreaCode::parse("areacode", "0086").is_ok());
        assert!(AreaCode::parse("areacode", "x1").is_err());
    }
}
