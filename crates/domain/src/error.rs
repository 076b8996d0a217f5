//! The one domain error. Each face maps every variant to its own status and code with an
//! exhaustive match, so adding a variant fails to compile until every face has decided.

use std::fmt;

use crate::catalog::CatalogRule;
use crate::tenant::TenantRule;

/// What kind of object a `NotFound` or `Conflict` is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    User,
    Tenant,
    Client,
    Token,
    Domain,
    Project,
    /// A permanent access key (AK/SK), or a Keystone credential.
    Credential,
    Role,
    Group,
    /// A region, service or endpoint of the Keystone service catalog.
    Region,
    Service,
    Endpoint,
    /// A Keystone application credential.
    ApplicationCredential,
    /// A Keystone policy, OAuth consumer or endpoint group.
    Policy,
    Consumer,
    EndpointGroup,
    /// A domain's configuration, one of its groups or one of its options.
    DomainConfig,
}

impl Resource {
    pub fn as_str(&self) -> &'static str {
        match self {
            Resource::User => "user",
            Resource::Tenant => "tenant",
            Resource::Client => "client",
            Resource::Token => "token",
            Resource::Domain => "domain",
            Resource::Project => "project",
            Resource::Credential => "credential",
            Resource::Role => "role",
            Resource::Group => "group",
            Resource::Region => "region",
            Resource::Service => "service",
            Resource::Endpoint => "endpoint",
            Resource::ApplicationCredential => "application credential",
            Resource::Policy => "policy",
            Resource::Consumer => "consumer",
            Resource::EndpointGroup => "endpoint group",
            Resource::DomainConfig => "domain configuration",
        }
    }
}

/// One invalid field of a request, named as the caller spelled it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub kind: FieldErrorKind,
}

/// Why a field was refused; faces with numeric field codes (IAM 1100–1118) map from this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldErrorKind {
    Missing,
    Invalid,
    TooLong,
    InvalidEmail,
    InvalidPhone,
    PhoneWithoutAreaCode,
    InvalidLogin,
    WeakPassword,
    InvalidPassword,
    /// The object already holds as many of these as it may (a user's access keys).
    QuotaReached,
    /// An external identity (`xuser_type` + `xuser_id`) given by halves or malformed.
    InvalidExternalId,
    /// Another user already has this external identity.
    ExternalIdTaken,
    /// Another user of the tenant already has this e-mail address (IAM's rule).
    EmailTaken,
    /// Another user of the tenant already has this phone number (IAM's rule).
    PhoneTaken,
    /// A new password equal to the current one.
    PasswordUnchanged,
    /// A user description that is too long or holds control characters.
    InvalidDescription,
    /// Text holding a character the store cannot keep (NUL).
    InvalidText,
}

impl FieldError {
    pub fn new(field: impl Into<String>, kind: FieldErrorKind) -> Self {
        Self {
            field: field.into(),
            kind,
        }
    }

    pub fn message(&self) -> String {
        let what = match self.kind {
            FieldErrorKind::Missing => "is required",
            FieldErrorKind::Invalid => "is invalid",
            FieldErrorKind::TooLong => "is too long",
            FieldErrorKind::InvalidEmail => {
                "is not a valid e-mail address of at most 255 characters"
            }
            FieldErrorKind::InvalidPhone => "must be at most 32 digits",
            FieldErrorKind::PhoneWithoutAreaCode => "must be given together with an area code",
            FieldErrorKind::InvalidLogin => {
                "must be 3 to 64 characters of letters, digits, spaces and .@_-+:!#$%^*={}'`/?"
            }
            FieldErrorKind::WeakPassword => "is too short or too common",
            FieldErrorKind::InvalidPassword => "is invalid",
            FieldErrorKind::QuotaReached => "has reached its quota",
            FieldErrorKind::InvalidExternalId => {
                "must be given together: xuser_type of 1 to 64 letters, digits, '_', '-' or '.', \
                 xuser_id of 1 to 128 characters without blanks or control characters"
            }
            FieldErrorKind::ExternalIdTaken
            | FieldErrorKind::EmailTaken
            | FieldErrorKind::PhoneTaken => "is already used by another user",
            FieldErrorKind::PasswordUnchanged => "must differ from the current password",
            FieldErrorKind::InvalidDescription => {
                "must be at most 255 characters without control characters"
            }
            FieldErrorKind::InvalidText => "holds a NUL character",
        };
        format!("'{}' {}", self.field, what)
    }
}

/// Why a caller could not be authenticated. Faces answer all of these alike on the wire,
/// so that a caller learns nothing about which check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// No credentials were sent.
    Missing,
    /// Credentials were sent but are wrong, expired, revoked or malformed.
    Invalid,
    /// A request signature did not verify (AK/SK).
    BadSignature,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The request is malformed or a field is invalid; nothing was changed.
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    /// The body is not the JSON (or form) the endpoint expects.
    #[error("malformed body: {0}")]
    MalformedBody(String),
    #[error("{} not found", .0.as_str())]
    NotFound(Resource),
    /// Optimistic concurrency: the caller's `version` is not the current one.
    #[error("version mismatch")]
    VersionMismatch,
    /// A login (user name) is already taken.
    #[error("login already in use")]
    LoginTaken,
    /// Another object of this kind already has the name, or the object still holds what
    /// must go first; nothing was changed.
    #[error("{} conflict", .0.as_str())]
    Conflict(Resource),
    /// Deleting a user who is still enabled.
    #[error("the user must be disabled before it is deleted")]
    UserStillEnabled,
    #[error("authentication required")]
    Unauthenticated(AuthFailure),
    #[error("access denied")]
    Forbidden,
    /// The user's access mode (IAM `access_mode` `console`) does not allow access with an
    /// access key.
    #[error("programmatic access is not allowed")]
    ProgrammaticAccessDenied,
    /// A rule of the tenant tree is broken (name taken, parent disabled, locked…); nothing
    /// was changed.
    #[error("tenant rule broken: {0:?}")]
    TenantRule(TenantRule),
    /// A rule of the Keystone service catalog or credentials is broken; nothing was changed.
    #[error("catalog rule broken: {0:?}")]
    CatalogRule(CatalogRule),
    /// Password hashing or another bounded resource is saturated; retry later.
    #[error("overloaded")]
    Overloaded,
    /// The store is unreachable or timed out.
    #[error("service unavailable")]
    Unavailable,
    /// A bug or an unexpected failure; its cause is logged, never sent.
    #[error("internal error")]
    Internal,
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, kind: FieldErrorKind) -> Self {
        DomainError::Invalid(vec![FieldError::new(field, kind)])
    }

    /// A human-readable message safe to send to any caller.
    pub fn public_message(&self) -> String {
        match self {
            DomainError::Invalid(fields) => {
                let parts: Vec<String> = fields.iter().map(FieldError::message).collect();
                if parts.is_empty() {
                    "The request is invalid.".to_owned()
                } else {
                    format!("The request is invalid: {}.", parts.join("; "))
                }
            }
            DomainError::MalformedBody(why) => format!("The request body is invalid: {why}."),
            DomainError::NotFound(what) => format!("The {} was not found.", what.as_str()),
            DomainError::VersionMismatch => {
                "The object was changed by another request; fetch it and retry with its current version.".to_owned()
            }
            DomainError::LoginTaken => "The login is already in use.".to_owned(),
            DomainError::Conflict(what) => {
                format!("The {} conflicts with one that exists.", what.as_str())
            }
            DomainError::UserStillEnabled => {
                "It is prohibited to delete an enabled user; disable it first.".to_owned()
            }
            DomainError::Unauthenticated(_) => {
                "The request you have made requires authentication.".to_owned()
            }
            DomainError::Forbidden => {
                "You are not authorized to perform the requested action.".to_owned()
            }
            DomainError::ProgrammaticAccessDenied => {
                "The user may access the console only, not programmatically.".to_owned()
            }
            DomainError::TenantRule(rule) => rule.message().to_owned(),
            DomainError::CatalogRule(rule) => rule.message().to_owned(),
            DomainError::Overloaded => "The server is busy; retry later.".to_owned(),
            DomainError::Unavailable => "The service is temporarily unavailable.".to_owned(),
            DomainError::Internal => "An internal error occurred.".to_owned(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}
