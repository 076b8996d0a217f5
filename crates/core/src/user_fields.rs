//! The user fields the keystone and iam faces set beyond name, password and e-mail — the
//! phone, the description and the IAM attributes — parsed together so that a request hears of
//! every refusal at once, and the rule that an administrator's new password differs from the
//! current one.

use warden_domain::user::parse_description;
use warden_domain::{
    AccessMode, DomainError, ExternalIdentity, FieldError, FieldErrorKind, Password, PhoneChange,
    User,
};

use crate::password::Verification;
use crate::{store_error, Warden};

/// The raw values of those fields, as a face read them; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct IamUserFields {
    /// Given together with `phone` (both empty remove the phone).
    pub areacode: Option<String>,
    pub phone: Option<String>,
    /// Whether the password must be changed at the next login; at creation it defaults to
    /// true when a password is set.
    pub pwd_status: Option<bool>,
    /// `default`, `programmatic` or `console`.
    pub access_mode: Option<String>,
    /// Given together with `xuser_id` (both empty remove the pair).
    pub xuser_type: Option<String>,
    pub xuser_id: Option<String>,
}

/// The fields once valid.
pub(crate) struct ParsedFields {
    pub phone: Option<PhoneChange>,
    pub description: Option<String>,
    pub pwd_status: Option<bool>,
    pub access_mode: Option<AccessMode>,
    pub external: Option<Option<ExternalIdentity>>,
}

impl IamUserFields {
    /// Parses the fields and `description`, adding each refusal to `errors`.
    pub(crate) fn parse(
        &self,
        description: Option<&str>,
        errors: &mut Vec<FieldError>,
    ) -> ParsedFields {
        let mut keep = |e: FieldError| errors.push(e);
        let phone = PhoneChange::from_parts(self.areacode.as_deref(), self.phone.as_deref())
            .map_err(&mut keep)
            .ok()
            .flatten();
        let external =
            ExternalIdentity::from_request(self.xuser_type.as_deref(), self.xuser_id.as_deref())
                .map_err(&mut keep)
                .ok()
                .flatten();
        let description = description
            .map(parse_description)
            .transpose()
            .map_err(&mut keep)
            .ok()
            .flatten();
        let access_mode = self
            .access_mode
            .as_deref()
            .map(|raw| AccessMode::parse("access_mode", raw))
            .transpose()
            .map_err(&mut keep)
            .ok()
            .flatten();
        ParsedFields {
            phone,
            description,
            pwd_status: self.pwd_status,
            access_mode,
            external,
        }
    }
}

impl ParsedFields {
    /// Writes the fields given into `user`.
    pub(crate) fn apply(self, user: &mut User) {
        if let Some(phone) = self.phone {
            user.contact.areacode = phone.areacode;
            user.contact.phone = phone.phone;
        }
        if let Some(description) = self.description {
            user.description = description;
        }
        if let Some(pwd_status) = self.pwd_status {
            user.iam.pwd_status = pwd_status;
        }
        if let Some(access_mode) = self.access_mode {
            user.iam.access_mode = access_mode;
        }
        if let Some(external) = self.external {
            user.iam.external = external;
        }
    }
}

impl Warden {
    /// Refuses a new password equal to the user's current one (IAM `1108`). The check costs a
    /// verification, as a login does; the caller already manages the user, so it learns
    /// nothing it could not set.
    pub(crate) async fn ensure_new_password(
        &self,
        user: &User,
        password: &Password,
    ) -> Result<(), DomainError> {
        let stored = self
            .store
            .user_credentials_by_id(user.id)
            .await
            .map_err(store_error)?
            .and_then(|c| c.password_hash);
        let Some(stored) = stored else {
            return Ok(());
        };
        match self.hasher.verify(password, Some(&stored)).await? {
            Verification::Match { .. } => Err(DomainError::invalid(
                "password",
                FieldErrorKind::PasswordUnchanged,
            )),
            Verification::Mismatch => Ok(()),
        }
    }
}
