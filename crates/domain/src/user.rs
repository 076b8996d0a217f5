//! Users: the entity, its contact record, and the commands that create and change it.

use crate::error::{FieldError, FieldErrorKind};
use crate::ids::{TenantId, UserId};
use crate::time::Timestamp;
use crate::values::{AreaCode, Email, Login, PhoneNumber};

/// The notifications a new user receives unless told otherwise.
pub const DEFAULT_NOTIFICATIONS: [&str; 3] = ["quota", "reports", "backup_daily_report"];

/// The identity provider id every local user carries on the account face.
pub const LOCAL_IDP_ID: &str = "11111111-1111-1111-1111-111111111111";

/// Contact information. The phone is kept as area code plus number so the IAM face can show
/// both parts; the account face shows them joined as `areacode-number`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contact {
    pub email: Option<Email>,
    pub areacode: String,
    pub phone: String,
    pub firstname: String,
    pub lastname: String,
    pub address1: String,
    pub address2: String,
    pub city: String,
    pub country: String,
    pub state: String,
    pub zipcode: String,
}

/// A new phone: both parts are replaced together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneChange {
    pub areacode: String,
    pub phone: String,
}

impl PhoneChange {
    /// A phone as the IAM face sends it: `areacode` and `phone` together, both valid, or
    /// both empty to remove it; `None` when neither is given.
    pub fn from_parts(
        areacode: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Option<PhoneChange>, FieldError> {
        match (areacode, phone) {
            (None, None) => Ok(None),
            (Some(""), Some("")) => Ok(Some(PhoneChange {
                areacode: String::new(),
                phone: String::new(),
            })),
            (Some(code), Some(number)) => {
                let areacode = AreaCode::parse("areacode", code)?;
                let phone = PhoneNumber::parse("phone", number)?;
                Ok(Some(PhoneChange {
                    areacode: areacode.as_str().to_owned(),
                    phone: phone.as_str().to_owned(),
                }))
            }
            (None, Some(_)) => Err(FieldError::new(
                "areacode",
                FieldErrorKind::PhoneWithoutAreaCode,
            )),
            (Some(_), None) => Err(FieldError::new(
                "phone",
                FieldErrorKind::PhoneWithoutAreaCode,
            )),
        }
    }
}

/// The longest user description, in characters. Huawei does not publish its limit; 255 is
/// what Warden's other descriptions and free-text fields allow.
pub const MAX_DESCRIPTION_CHARS: usize = 255;

/// A user description: at most [`MAX_DESCRIPTION_CHARS`] characters, no control characters.
pub fn parse_description(raw: &str) -> Result<String, FieldError> {
    if raw.chars().count() > MAX_DESCRIPTION_CHARS || raw.chars().any(char::is_control) {
        return Err(FieldError::new(
            "description",
            FieldErrorKind::InvalidDescription,
        ));
    }
    Ok(raw.to_owned())
}

/// How an IAM user may reach the cloud: both ways (`default`), only with access keys and
/// tokens (`programmatic`), or only through the console (`console`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AccessMode {
    #[default]
    Default,
    Programmatic,
    Console,
}

impl AccessMode {
    pub fn as_str(&self) -> &'static str {
        match self {
            AccessMode::Default => "default",
            AccessMode::Programmatic => "programmatic",
            AccessMode::Console => "console",
        }
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        match raw {
            "default" => Ok(AccessMode::Default),
            "programmatic" => Ok(AccessMode::Programmatic),
            "console" => Ok(AccessMode::Console),
            _ => Err(FieldError::new(field, FieldErrorKind::Invalid)),
        }
    }
}

/// The user's identity in an external system (IAM `xuser_type` + `xuser_id`). No two users
/// share one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalIdentity {
    xuser_type: String,
    xuser_id: String,
}

impl ExternalIdentity {
    pub const MAX_TYPE_CHARS: usize = 64;
    pub const MAX_ID_CHARS: usize = 128;

    /// The pair as a request gives it: `None` when neither half is given, `Some(None)` when
    /// both are empty (removing it), else both halves valid. Huawei checks `xuser_type`
    /// against the account's `xdomain_type`, which Warden does not model: any type of
    /// 1 to 64 letters, digits, `_`, `-` or `.` is allowed.
    pub fn from_request(
        xuser_type: Option<&str>,
        xuser_id: Option<&str>,
    ) -> Result<Option<Option<Self>>, FieldError> {
        let invalid = |field: &str| FieldError::new(field, FieldErrorKind::InvalidExternalId);
        match (xuser_type, xuser_id) {
            (None, None) => Ok(None),
            (Some(""), Some("")) => Ok(Some(None)),
            (Some(t), Some(id)) => {
                let type_ok = (1..=Self::MAX_TYPE_CHARS).contains(&t.chars().count())
                    && t.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
                if !type_ok {
                    return Err(invalid("xuser_type"));
                }
                let id_ok = (1..=Self::MAX_ID_CHARS).contains(&id.chars().count())
                    && !id.chars().any(|c| c.is_control() || c.is_whitespace());
                if !id_ok {
                    return Err(invalid("xuser_id"));
                }
                Ok(Some(Some(Self {
                    xuser_type: t.to_owned(),
                    xuser_id: id.to_owned(),
                })))
            }
            (None, Some(_)) => Err(invalid("xuser_type")),
            (Some(_), None) => Err(invalid("xuser_id")),
        }
    }

    /// A pair that comes from the store, already validated when written.
    pub fn from_trusted(xuser_type: String, xuser_id: String) -> Self {
        Self {
            xuser_type,
            xuser_id,
        }
    }

    pub fn xuser_type(&self) -> &str {
        &self.xuser_type
    }

    pub fn xuser_id(&self) -> &str {
        &self.xuser_id
    }
}

/// What the IAM face records about a user beyond the shared model.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IamAttributes {
    /// Whether the user must change the password at the next console login (shown, not
    /// enforced: Warden has no console).
    pub pwd_status: bool,
    pub access_mode: AccessMode,
    pub external: Option<ExternalIdentity>,
}

/// A partial contact update: only the given fields change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContactPatch {
    pub email: Option<Option<Email>>,
    pub phone: Option<PhoneChange>,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub address1: Option<String>,
    pub address2: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub state: Option<String>,
    pub zipcode: Option<String>,
}

impl ContactPatch {
    pub fn is_empty(&self) -> bool {
        *self == ContactPatch::default()
    }

    pub fn apply(&self, contact: &mut Contact) {
        fn set(target: &mut String, value: &Option<String>) {
            if let Some(v) = value {
                target.clone_from(v);
            }
        }
        if let Some(email) = &self.email {
            contact.email.clone_from(email);
        }
        if let Some(phone) = &self.phone {
            contact.areacode.clone_from(&phone.areacode);
            contact.phone.clone_from(&phone.phone);
        }
        set(&mut contact.firstname, &self.firstname);
        set(&mut contact.lastname, &self.lastname);
        set(&mut contact.address1, &self.address1);
        set(&mut contact.address2, &self.address2);
        set(&mut contact.city, &self.city);
        set(&mut contact.country, &self.country);
        set(&mut contact.state, &self.state);
        set(&mut contact.zipcode, &self.zipcode);
    }
}

/// A user account as every face sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub tenant_id: TenantId,
    pub login: Login,
    pub contact: Contact,
    pub language: String,
    pub activated: bool,
    pub enabled: bool,
    pub terms_accepted: bool,
    pub mfa_status: String,
    pub notifications: Vec<String>,
    pub business_types: Vec<String>,
    pub external_id: Option<String>,
    pub personal_tenant_id: Option<TenantId>,
    pub description: String,
    /// Keystone's default project: an unscoped password authentication is scoped to it.
    pub default_project_id: Option<TenantId>,
    /// Keystone attributes Warden has no field for, kept and shown as the client gave them.
    pub extra: serde_json::Map<String, serde_json::Value>,
    pub iam: IamAttributes,
    pub has_password: bool,
    /// Tokens issued before this instant are no longer accepted (password change, disable).
    pub tokens_not_before: Timestamp,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl User {
    /// The user as it is after `patch`, without version or timestamps changed: the store
    /// bumps those in the same compare-and-set that writes the result.
    pub fn patched(&self, patch: &UserPatch) -> User {
        let mut next = self.clone();
        patch.contact.apply(&mut next.contact);
        if let Some(login) = &patch.login {
            next.login = login.clone();
        }
        if let Some(language) = &patch.language {
            next.language.clone_from(language);
        }
        if let Some(n) = &patch.notifications {
            next.notifications.clone_from(n);
        }
        if let Some(b) = &patch.business_types {
            next.business_types.clone_from(b);
        }
        if let Some(enabled) = patch.enabled {
            next.enabled = enabled;
        }
        if let Some(external_id) = &patch.external_id {
            next.external_id.clone_from(external_id);
        }
        if let Some(description) = &patch.description {
            next.description.clone_from(description);
        }
        if let Some(project) = patch.default_project_id {
            next.default_project_id = project;
        }
        next
    }
}

/// A change to a user. `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserPatch {
    pub contact: ContactPatch,
    pub login: Option<Login>,
    pub language: Option<String>,
    pub notifications: Option<Vec<String>>,
    pub business_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
    pub external_id: Option<Option<String>>,
    pub description: Option<String>,
    pub default_project_id: Option<Option<TenantId>>,
}

impl UserPatch {
    /// Whether the patch touches only what a user may change on their own account.
    pub fn is_self_service(&self) -> bool {
        self.login.is_none()
            && self.business_types.is_none()
            && self.enabled.is_none()
            && self.external_id.is_none()
            && self.default_project_id.is_none()
    }
}

/// A user to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewUser {
    pub tenant_id: TenantId,
    pub login: Login,
    pub contact: Contact,
    pub language: String,
    pub notifications: Vec<String>,
    pub business_types: Vec<String>,
    pub external_id: Option<String>,
    pub enabled: bool,
    pub description: String,
    pub default_project_id: Option<TenantId>,
    pub extra: serde_json::Map<String, serde_json::Value>,
    pub iam: IamAttributes,
}

impl NewUser {
    pub fn new(tenant_id: TenantId, login: Login) -> Self {
        Self {
            tenant_id,
            login,
            contact: Contact::default(),
            language: "en".to_owned(),
            notifications: DEFAULT_NOTIFICATIONS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            business_types: Vec::new(),
            external_id: None,
            enabled: true,
            description: String::new(),
            default_project_id: None,
            extra: Default::default(),
            iam: IamAttributes::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        let new = NewUser::new(
            TenantId::new_random(),
            Login::from_trusted("JohnDoe".into()),
        );
        User {
            id: UserId::new_random(),
            tenant_id: new.tenant_id,
            login: new.login,
            contact: Contact {
                email: Some(Email::from_trusted("johndoe@mysite.com".into())),
                city: "Berlin".into(),
                ..Contact::default()
            },
            language: new.language,
            activated: true,
            enabled: true,
            terms_accepted: false,
            mfa_status: "disabled".into(),
            notifications: new.notifications,
            business_types: vec![],
            external_id: None,
            personal_tenant_id: None,
            default_project_id: None,
            extra: Default::default(),
            description: String::new(),
            iam: IamAttributes::default(),
            has_password: true,
            tokens_not_before: Timestamp::EPOCH,
            version: 1,
            created_at: Timestamp::EPOCH,
            updated_at: Timestamp::EPOCH,
        }
    }

    #[test]
    fn contact_patch_merges_only_given_fields() {
        let before = user();
        let patch = UserPatch {
            contact: ContactPatch {
                address1: Some("John Doe Str.".into()),
                firstname: Some("Foo".into()),
                ..ContactPatch::default()
            },
            ..UserPatch::default()
        };
        let after = before.patched(&patch);
        assert_eq!(after.contact.address1, "John Doe Str.");
        assert_eq!(after.contact.firstname, "Foo");
        assert_eq!(after.contact.city, "Berlin");
        assert_eq!(after.contact.email, before.contact.email);
        assert_eq!(after.version, before.version);
    }

    #[test]
    fn external_identities_come_in_pairs() {
        assert_eq!(ExternalIdentity::from_request(None, None), Ok(None));
        assert_eq!(
            ExternalIdentity::from_request(Some(""), Some("")),
            Ok(Some(None))
        );
        let pair = ExternalIdentity::from_request(Some("TenantIdp"), Some("x-1"))
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!((pair.xuser_type(), pair.xuser_id()), ("TenantIdp", "x-1"));
        for (t, id, field) in [
            (None, Some("x"), "xuser_type"),
            (Some("t"), None, "xuser_id"),
            (Some("t t"), Some("x"), "xuser_type"),
            (Some("t"), Some(""), "xuser_id"),
        ] {
            let e = ExternalIdentity::from_request(t, id).unwrap_err();
            assert_eq!(e, FieldError::new(field, FieldErrorKind::InvalidExternalId));
        }
        let long = "x".repeat(ExternalIdentity::MAX_ID_CHARS + 1);
        assert!(ExternalIdentity::from_request(Some("t"), Some(&long)).is_err());
    }

    #[test]
    fn phones_come_with_area_codes_and_descriptions_are_bounded() {
        assert_eq!(PhoneChange::from_parts(None, None), Ok(None));
        assert!(PhoneChange::from_parts(Some("0086"), Some("123")).is_ok());
        assert_eq!(
            PhoneChange::from_parts(None, Some("123")).unwrap_err().kind,
            FieldErrorKind::PhoneWithoutAreaCode
        );
        assert_eq!(
            PhoneChange::from_parts(Some("0086"), Some("12a"))
                .unwrap_err()
                .kind,
            FieldErrorKind::InvalidPhone
        );
        assert!(parse_description(&"d".repeat(MAX_DESCRIPTION_CHARS)).is_ok());
        assert!(parse_description(&"d".repeat(MAX_DESCRIPTION_CHARS + 1)).is_err());
        assert!(parse_description("a\u{7}b").is_err());
        assert_eq!(
            AccessMode::parse("access_mode", "console"),
            Ok(AccessMode::Console)
        );
        assert!(AccessMode::parse("access_mode", "web").is_err());
    }

    #[test]
    fn enabling_or_renaming_is_not_self_service() {
        let rename = UserPatch {
            login: Some(Login::from_trusted("other".into())),
            ..UserPatch::default()
        };
        assert!(!rename.is_self_service());
        let enable = UserPatch {
            enabled: Some(true),
            ..UserPatch::default()
        };
        assert!(!enable.is_self_service());
        assert!(UserPatch::default().is_self_service());
    }
}
