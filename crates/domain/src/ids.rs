//! Typed identifiers. Every id is a UUID; faces choose how to render it (hyphenated on the
//! account face, 32 hex digits on the keystone and iam faces) and accept both forms.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random id.
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn uuid(&self) -> Uuid {
                self.0
            }

            /// The 32-hex form used by the keystone and iam faces.
            pub fn simple(&self) -> String {
                self.0.simple().to_string()
            }

            /// Parses either the hyphenated or the 32-hex form, nothing else.
            pub fn parse(text: &str) -> Option<Self> {
                parse_uuid(text).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                Self::parse(s).ok_or(())
            }
        }
    };
}

/// Accepts exactly the two renderings Warden emits: 36-character hyphenated and 32 hex digits.
pub fn parse_uuid(text: &str) -> Option<Uuid> {
    match text.len() {
        32 | 36 => Uuid::try_parse(text).ok(),
        _ => None,
    }
}

typed_id!(
    /// A tenant: root, partner, folder, customer or unit; a Keystone domain or project.
    TenantId
);
typed_id!(
    /// A user account.
    UserId
);
typed_id!(
    /// An API client (OAuth2 client credentials).
    ClientId
);
typed_id!(
    /// An access policy, which is also a Keystone role assignment.
    PolicyId
);
typed_id!(
    /// A Keystone role, global or of one domain.
    RoleId
);
typed_id!(
    /// A Keystone group of users.
    GroupId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_renderings_parse_to_the_same_id() {
        let id = UserId::new_random();
        assert_eq!(UserId::parse(&id.to_string()), Some(id));
        assert_eq!(UserId::parse(&id.simple()), Some(id));
        assert_eq!(id.simple().len(), 32);
    }

    #[test]
    fn other_uuid_spellings_are_refused() {
        let id = UserId::new_random();
        assert_eq!(UserId::parse(&format!("{{{id}}}")), None);
        assert_eq!(UserId::parse(&format!("urn:uuid:{id}")), None);
        assert_eq!(UserId::parse("not-an-id"), None);
    }
}
