//! Users as a directory: listing with filters and cursor paging, and the one-time tokens behind
//! activation and e-mail change confirmation.

use async_trait::async_trait;
use warden_domain::{Email, Tenant, TenantId, Timestamp, User, UserId};

use crate::{Audit, StoreError};

/// What a one-time user token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserTokenPurpose {
    /// Sets the first password and activates the account.
    Activation,
    /// Applies a new e-mail address, confirmed from the old one.
    EmailChange,
}

impl UserTokenPurpose {
    pub fn as_str(&self) -> &'static str {
        match self {
            UserTokenPurpose::Activation => "activation",
            UserTokenPurpose::EmailChange => "email_change",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "activation" => UserTokenPurpose::Activation,
            "email_change" => UserTokenPurpose::EmailChange,
            _ => return None,
        })
    }
}

/// A one-time token as stored. Only the SHA-256 of the token is kept: a copy of the database
/// does not hand out working links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserToken {
    /// Lowercase hex SHA-256 of the token sent by mail.
    pub token_hash: String,
    pub user_id: UserId,
    pub purpose: UserTokenPurpose,
    /// For an e-mail change, the address it applies; `None` clears the address.
    pub new_email: Option<Email>,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
}

/// Which users a listing returns, ordered by id. Every condition that is set must hold.
#[derive(Clone, Debug, Default)]
pub struct UserListQuery {
    /// Only these users.
    pub ids: Option<Vec<UserId>>,
    /// Only users of this tenant.
    pub tenant_id: Option<TenantId>,
    /// Only users whose tenant lies in the subtree of one of these tenants, or who are `also`.
    /// An empty list admits only `also`.
    pub within: Option<Vec<Tenant>>,
    /// A user admitted whatever `within` says (the caller, who may always read themself).
    pub also: Option<UserId>,
    /// Only users changed at or after this instant.
    pub updated_since: Option<Timestamp>,
    /// Only users whose id sorts after this one: the position of the previous page.
    pub after: Option<UserId>,
    /// At most this many users.
    pub limit: usize,
}

/// A change of a user written together with its one-time tokens, in one transaction.
#[derive(Clone, Debug)]
pub struct UserWrite<'a> {
    /// The user as it is to be stored; the same fields as `Store::update_user_if_version`.
    pub next: &'a User,
    pub expected_version: i64,
    /// Whether `next` is written (with the version incremented). When false, the stored
    /// version is only checked, so a stale request still changes nothing.
    pub changed: bool,
    /// The user's tokens of this purpose are deleted.
    pub revoke: Option<UserTokenPurpose>,
    /// A token stored after the revocation.
    pub issue: Option<&'a UserToken>,
    /// Contact details `next` must hold alone in its tenant.
    pub claim: Option<&'a ContactClaim>,
    pub audit: &'a Audit,
}

/// Contact details a write claims for its user alone among the users of the user's tenant
/// (IAM's "e-mail address already used", `1110`, and "mobile number already used", `1111`).
/// The store refuses the write with `Conflict("email")` or `Conflict("phone")` when another
/// user of the tenant holds one of them, checking in the write's own transaction so that two
/// concurrent writers cannot both claim one. Only the details a write sets are claimed: a
/// duplicate made earlier (through a face without the rule) does not block other changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContactClaim {
    /// An e-mail address, compared case-insensitively.
    pub email: Option<String>,
    /// A phone number as `(areacode, phone)`.
    pub phone: Option<(String, String)>,
}

impl ContactClaim {
    pub fn is_empty(&self) -> bool {
        self.email.is_none() && self.phone.is_none()
    }
}

#[async_trait]
pub trait DirectoryStore: Send + Sync {
    /// Users matching `query`, ordered by id, at most `query.limit` of them.
    async fn list_users(&self, query: &UserListQuery) -> Result<Vec<User>, StoreError>;

    /// Writes `write.next` if the stored version is still `write.expected_version` (or only
    /// checks it), then revokes and issues tokens, all or nothing. Returns the stored user;
    /// `VersionMismatch`, `NotFound` or `Conflict("login")` otherwise.
    async fn update_user_with_tokens(&self, write: &UserWrite<'_>) -> Result<User, StoreError>;

    /// Stores `token`, deleting the user's earlier tokens of the same purpose so that only the
    /// latest link works. `NotFound` when the user is gone.
    async fn replace_user_token(&self, token: &UserToken) -> Result<(), StoreError>;

    /// The token with this hash and purpose, if it has not expired at `now`.
    async fn find_user_token(
        &self,
        token_hash: &str,
        purpose: UserTokenPurpose,
        now: Timestamp,
    ) -> Result<Option<UserToken>, StoreError>;

    /// Consumes an activation token: sets the password hash, activates the user, revokes
    /// tokens issued before `audit.at` and increments the version. Every activation token of the
    /// user goes. `NotFound` when the token is unknown, expired or already used, or the user
    /// is already activated. The time is `audit.at`.
    async fn activate_with_token(
        &self,
        token_hash: &str,
        password_hash: &str,
        audit: &Audit,
    ) -> Result<User, StoreError>;

    /// Consumes an e-mail change token: applies its address and increments the version.
    /// `NotFound` when the token is unknown, expired or already used.
    async fn confirm_email_change(
        &self,
        token_hash: &str,
        audit: &Audit,
    ) -> Result<User, StoreError>;

    /// Deletes tokens that expired before `now`; returns how many went.
    async fn purge_expired_user_tokens(&self, now: Timestamp) -> Result<u64, StoreError>;
}
