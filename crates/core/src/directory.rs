//! Users as a directory: the filtered, cursor-paged listing, the activation e-mail and its
//! one-time link, and the e-mail change rule (an activated user's new address applies only
//! once the old address confirms it).

use std::sync::Arc;

use base64::Engine;
use serde::{Deserialize, Serialize};
use warden_domain::{
    DomainError, Email, FieldError, FieldErrorKind, Password, Resource, Role, Tenant, TenantId,
    Timestamp, User, UserId,
};
use warden_store::{Audit, UserListQuery, UserToken, UserTokenPurpose, UserWrite};

use crate::auth::Principal;
use crate::mail::Mail;
use crate::secrets::{random_bytes, sha256_hex};
use crate::tokens::Subject;
use crate::{store_error, store_error_for, Warden};

/// Page size when the caller names none.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Larger pages are cut to this size rather than refused.
pub const MAX_PAGE_SIZE: usize = 1000;
/// The most ids one `uuids` filter may name.
pub const MAX_UUIDS: usize = 100;

/// Random bytes in a mailed token: 256 bits, far beyond guessing.
const TOKEN_BYTES: usize = 32;
/// Length of a token as mailed: unpadded base64url of `TOKEN_BYTES`.
const TOKEN_CHARS: usize = 43;

/// The filters of a user listing. Valid by construction: `uuids` names 1 to 100 users and
/// excludes every other filter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserFilters {
    uuids: Option<Vec<UserId>>,
    tenant_id: Option<TenantId>,
    subtree_root_tenant_id: Option<TenantId>,
    updated_since: Option<Timestamp>,
}

impl UserFilters {
    /// Checks the combination; ids are sorted and deduplicated, as the listing is by id.
    pub fn new(
        uuids: Option<Vec<UserId>>,
        tenant_id: Option<TenantId>,
        subtree_root_tenant_id: Option<TenantId>,
        updated_since: Option<Timestamp>,
    ) -> Result<Self, FieldError> {
        let uuids = uuids.map(|mut ids| {
            ids.sort();
            ids.dedup();
            ids
        });
        if let Some(ids) = &uuids {
            let others =
                tenant_id.is_some() || subtree_root_tenant_id.is_some() || updated_since.is_some();
            if ids.is_empty() || ids.len() > MAX_UUIDS || others {
                return Err(FieldError::new("uuids", FieldErrorKind::Invalid));
            }
        }
        Ok(Self {
            uuids,
            tenant_id,
            subtree_root_tenant_id,
            updated_since,
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == UserFilters::default()
    }
}

/// A request for one page of users: filters and a page size for the first page, or the
/// `after` cursor of the previous page (which carries the filters).
#[derive(Clone, Debug, Default)]
pub struct UserListing {
    pub filters: UserFilters,
    pub limit: Option<usize>,
    pub after: Option<String>,
}

/// One page of users.
#[derive(Clone, Debug)]
pub struct UserPage {
    pub users: Vec<User>,
    /// The cursor of the next page; `None` on the last one.
    pub after: Option<String>,
    /// When the page was read. Users changed later may not be in it, so this is the
    /// `updated_since` of the next synchronisation.
    pub timestamp: Timestamp,
}

/// What a cursor carries: the filters, the page size and the last id returned. It is opaque
/// to callers (unpadded base64url of this JSON) but not secret: it holds nothing a caller
/// could not have sent as parameters, and authorization is decided again on every page.
#[derive(Serialize, Deserialize)]
struct Cursor {
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    uuids: Option<Vec<String>>,
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    tenant_id: Option<String>,
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    subtree_root_tenant_id: Option<String>,
    #[serde(rename = "since", default, skip_serializing_if = "Option::is_none")]
    updated_since: Option<i64>,
    #[serde(rename = "l")]
    limit: usize,
    #[serde(rename = "a")]
    after: String,
}

impl Cursor {
    fn encode(filters: &UserFilters, limit: usize, after: UserId) -> String {
        let cursor = Cursor {
            // Only the ids still to come, which keeps the cursor short as the walk goes on.
            uuids: filters.uuids.as_ref().map(|ids| {
                ids.iter()
                    .filter(|id| **id > after)
                    .map(UserId::simple)
                    .collect()
            }),
            tenant_id: filters.tenant_id.map(|t| t.simple()),
            subtree_root_tenant_id: filters.subtree_root_tenant_id.map(|t| t.simple()),
            updated_since: filters.updated_since.map(|t| t.micros()),
            limit,
            after: after.simple(),
        };
        let json = serde_json::to_vec(&cursor).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// The filters, page size and position a cursor names; `None` for anything malformed.
    fn decode(raw: &str) -> Option<(UserFilters, usize, UserId)> {
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(raw.trim())
            .ok()?;
        let cursor: Cursor = serde_json::from_slice(&json).ok()?;
        let tenant = |raw: Option<String>| match raw {
            None => Some(None),
            Some(t) => TenantId::parse(&t).map(Some),
        };
        let uuids = match cursor.uuids {
            None => None,
            Some(ids) => Some(
                ids.iter()
                    .map(|id| UserId::parse(id))
                    .collect::<Option<Vec<_>>>()?,
            ),
        };
        let after = UserId::parse(&cursor.after)?;
        let filters = match uuids {
            // Every named user was on earlier pages: the walk is over.
            Some(ids) if ids.is_empty() => UserFilters {
                uuids: Some(ids),
                ..UserFilters::default()
            },
            uuids => UserFilters::new(
                uuids,
                tenant(cursor.tenant_id)?,
                tenant(cursor.subtree_root_tenant_id)?,
                cursor.updated_since.map(Timestamp::from_micros),
            )
            .ok()?,
        };
        let limit = cursor.limit.clamp(1, MAX_PAGE_SIZE);
        Some((filters, limit, after))
    }
}

/// A fresh one-time token and the SHA-256 that is stored in its place.
fn new_token() -> (String, String) {
    let token =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<TOKEN_BYTES>());
    let hash = sha256_hex(token.as_bytes());
    (token, hash)
}

/// The stored hash of a presented token, or `None` when it cannot be one of ours (so the
/// store is not asked).
fn presented_token_hash(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let plausible = raw.len() == TOKEN_CHARS
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    plausible.then(|| sha256_hex(raw.as_bytes()))
}

fn invalid_token() -> DomainError {
    DomainError::invalid("token", FieldErrorKind::Invalid)
}

/// A `NotFound` from consuming a token means the token is unknown, expired or spent.
fn token_error(e: warden_store::StoreError) -> DomainError {
    match e {
        warden_store::StoreError::NotFound => invalid_token(),
        other => store_error(other),
    }
}

/// Mail failures are the relay's or the disk's, not the caller's: logged, reported as
/// unavailable so that the caller retries.
fn mail_error(e: crate::mail::MailError) -> DomainError {
    tracing::error!(error = %e, "sending mail failed");
    DomainError::Unavailable
}

impl Warden {
    /// One page of the users the caller may read, in id order.
    ///
    /// A `tenant_id` or `subtree_root_tenant_id` filter naming a tenant the caller cannot read
    /// is refused (403) rather than answered with an empty page; without those filters the
    /// listing is silently limited to what the caller can read (and the caller themself).
    pub async fn list_users(
        &self,
        principal: &Principal,
        listing: UserListing,
    ) -> Result<UserPage, DomainError> {
        let cursor = listing.after.as_deref().filter(|a| !a.trim().is_empty());
        let (filters, limit, after) = match cursor {
            Some(raw) => {
                let (filters, limit, after) = Cursor::decode(raw)
                    .ok_or_else(|| DomainError::invalid("after", FieldErrorKind::Invalid))?;
                // Filters sent again with a cursor must be the ones it carries.
                if !listing.filters.is_empty()
                    && (listing.filters.tenant_id != filters.tenant_id
                        || listing.filters.subtree_root_tenant_id != filters.subtree_root_tenant_id
                        || listing.filters.updated_since != filters.updated_since
                        || (listing.filters.uuids.is_some() != filters.uuids.is_some()))
                {
                    return Err(DomainError::invalid("after", FieldErrorKind::Invalid));
                }
                (filters, listing.limit.unwrap_or(limit), Some(after))
            }
            None => (
                listing.filters,
                listing.limit.unwrap_or(DEFAULT_PAGE_SIZE),
                None,
            ),
        };
        let limit = limit.clamp(1, MAX_PAGE_SIZE);
        let timestamp = self.clock.now();
        let mut query = UserListQuery {
            ids: filters.uuids.clone(),
            tenant_id: filters.tenant_id,
            updated_since: filters.updated_since,
            after,
            // One more than asked: whether it comes back tells if there is a next page.
            limit: limit + 1,
            ..UserListQuery::default()
        };
        if let Some(id) = filters.tenant_id {
            if !principal.can_read(&*self.tenant(id).await?) {
                return Err(DomainError::Forbidden);
            }
        }
        if let Some(id) = filters.subtree_root_tenant_id {
            let root = self.tenant(id).await?;
            if !principal.can_read(&root) {
                return Err(DomainError::Forbidden);
            }
            query.within = Some(vec![Arc::unwrap_or_clone(root)]);
        } else if filters.tenant_id.is_none() {
            query.within = self.readable_subtrees(principal).await?;
            if query.within.is_some() {
                query.also = principal.user_id();
            }
        }
        let mut users = self.store.list_users(&query).await.map_err(store_error)?;
        let after = if users.len() > limit {
            users.truncate(limit);
            users.last().map(|u| Cursor::encode(&filters, limit, u.id))
        } else {
            None
        };
        Ok(UserPage {
            users,
            after,
            timestamp,
        })
    }

    /// The tenants whose subtrees the caller may read, none inside another; `None` when that
    /// is the whole tree. Mirrors `Principal::can_read`: an API client reads its tenant's
    /// subtree, a user the subtrees of the policies whose role reads.
    async fn readable_subtrees(
        &self,
        principal: &Principal,
    ) -> Result<Option<Vec<Tenant>>, DomainError> {
        let scopes: Vec<TenantId> = match principal.subject {
            Subject::Client(_) => vec![principal.tenant_id],
            Subject::User(_) => principal
                .policies
                .iter()
                .filter(|p| Role::reads(&p.role))
                .map(|p| p.tenant_id)
                .collect(),
        };
        let mut tenants = Vec::with_capacity(scopes.len());
        for id in scopes {
            match self.tenant(id).await {
                Ok(tenant) if tenant.ancestors.is_empty() => return Ok(None),
                Ok(tenant) => tenants.push(Arc::unwrap_or_clone(tenant)),
                // A policy on a tenant deleted meanwhile grants nothing.
                Err(DomainError::NotFound(Resource::Tenant)) => {}
                Err(e) => return Err(e),
            }
        }
        let covered = |t: &Tenant, all: &[Tenant]| {
            all.iter()
                .any(|other| other.id != t.id && t.ancestors.contains(&other.id))
        };
        let mut roots: Vec<Tenant> = tenants
            .iter()
            .filter(|t| !covered(t, &tenants))
            .cloned()
            .collect();
        roots.sort_by_key(|t| t.id);
        roots.dedup_by_key(|t| t.id);
        Ok(Some(roots))
    }

    /// Mails the user a one-time activation link. The caller must manage the user; a user
    /// already activated is refused (400, field `activated`), and so is one without an e-mail
    /// address. Sending again replaces the earlier link.
    pub async fn send_activation_email(
        &self,
        principal: &Principal,
        raw_id: &str,
    ) -> Result<(), DomainError> {
        let user = self.load_user(Self::parse_user_id(raw_id)?).await?;
        self.ensure_can_manage(principal, &user).await?;
        if user.activated {
            return Err(DomainError::invalid("activated", FieldErrorKind::Invalid));
        }
        let to = user
            .contact
            .email
            .clone()
            .ok_or_else(|| DomainError::invalid("contact.email", FieldErrorKind::Missing))?;
        let now = self.clock.now();
        let (token, token_hash) = new_token();
        let record = UserToken {
            token_hash,
            user_id: user.id,
            purpose: UserTokenPurpose::Activation,
            new_email: None,
            expires_at: now.plus_seconds(self.settings.activation_ttl_seconds),
            created_at: now,
        };
        // The message goes out before the token is stored: if sending fails, the link mailed
        // earlier keeps working; if storing fails, the new link is merely dead.
        self.mailer
            .send(&self.activation_mail(&user, to.as_str(), &token, record.expires_at))
            .await
            .map_err(mail_error)?;
        self.store
            .replace_user_token(&record)
            .await
            .map_err(store_error_for(Resource::User))
    }

    /// Consumes an activation token: sets the password and activates the user. Anyone holding
    /// the token may call this; the token is the credential. An unknown, expired or spent
    /// token is refused (400, field `token`), as is a password the policy refuses — checked
    /// first, so a weak password does not spend the token.
    pub async fn activate_user(
        &self,
        raw_token: &str,
        raw_password: &str,
    ) -> Result<User, DomainError> {
        let mut errors = Vec::new();
        let token_hash = presented_token_hash(raw_token);
        if token_hash.is_none() {
            errors.push(FieldError::new("token", FieldErrorKind::Invalid));
        }
        let password =
            Password::new_checked("password", raw_password, &self.settings.password_policy)
                .map_err(|e| errors.push(e))
                .ok();
        let (Some(token_hash), Some(password)) = (token_hash, password) else {
            return Err(DomainError::Invalid(errors));
        };
        // Threat: unauthenticated callers making the server hash passwords. The token is looked
        // up first, so only holders of a live token get a hash computed.
        self.store
            .find_user_token(&token_hash, UserTokenPurpose::Activation, self.clock.now())
            .await
            .map_err(store_error)?
            .ok_or_else(invalid_token)?;
        let password_hash = self.hasher.hash(&password).await?;
        self.store
            .activate_with_token(&token_hash, &password_hash, &self.audit_by_link())
            .await
            .map_err(token_error)
    }

    /// Consumes an e-mail change token: the pending address applies, with the version
    /// incremented. An unknown, expired or spent token is refused (400, field `token`).
    pub async fn confirm_email_change(&self, raw_token: &str) -> Result<User, DomainError> {
        let token_hash = presented_token_hash(raw_token).ok_or_else(invalid_token)?;
        self.store
            .confirm_email_change(&token_hash, &self.audit_by_link())
            .await
            .map_err(token_error)
    }

    /// Writes a change that includes a new e-mail address (account face `PUT /users/{id}`).
    ///
    /// For an activated user with an address, the new address does not apply yet: a
    /// confirmation link goes to the old address, and only the other fields of the change are
    /// written now — with the version incremented if any of them changes, untouched otherwise.
    /// Requesting again replaces the pending change. Otherwise the address applies at once,
    /// and activation links mailed to the previous address stop working.
    pub(crate) async fn change_user_with_email(
        &self,
        current: &User,
        mut next: User,
        expected_version: i64,
        audit: &Audit,
    ) -> Result<User, DomainError> {
        let now = audit.at;
        let old_email = match (&current.contact.email, current.activated) {
            (Some(old), true) => old.clone(),
            _ => {
                // Threat: a mistyped address received the activation link; once corrected, that
                // link must not let its reader set the password.
                return self
                    .store
                    .update_user_with_tokens(&UserWrite {
                        next: &next,
                        expected_version,
                        changed: true,
                        revoke: Some(UserTokenPurpose::Activation),
                        issue: None,
                        claim: None,
                        audit,
                    })
                    .await
                    .map_err(store_error_for(Resource::User));
            }
        };
        let new_email = next.contact.email.replace(old_email.clone());
        let changed = next != *current;
        let (token, token_hash) = new_token();
        let record = UserToken {
            token_hash,
            user_id: current.id,
            purpose: UserTokenPurpose::EmailChange,
            new_email: new_email.clone(),
            expires_at: now.plus_seconds(self.settings.email_change_ttl_seconds),
            created_at: now,
        };
        // A new login that is already taken would refuse the write below: refuse before any
        // mail goes out, so a refused request sends nothing.
        if next.login.key() != current.login.key()
            && self
                .store
                .login_taken(&next.login.key())
                .await
                .map_err(store_error)?
        {
            return Err(DomainError::LoginTaken);
        }
        // Sent before anything is written: if sending fails, the request fails and changes
        // nothing; if the write then loses a race, the mailed link is merely dead.
        let mail = self.email_change_mail(
            current,
            &old_email,
            new_email.as_ref(),
            &token,
            record.expires_at,
        );
        self.mailer.send(&mail).await.map_err(mail_error)?;
        self.store
            .update_user_with_tokens(&UserWrite {
                next: &next,
                expected_version,
                changed,
                revoke: Some(UserTokenPurpose::EmailChange),
                issue: Some(&record),
                claim: None,
                audit,
            })
            .await
            .map_err(store_error_for(Resource::User))
    }

    /// Deletes one-time tokens that have expired; safe on every node at once.
    pub async fn purge_expired_user_tokens(&self) -> Result<u64, DomainError> {
        self.store
            .purge_expired_user_tokens(self.clock.now())
            .await
            .map_err(store_error)
    }

    fn link(&self, page: &str, token: &str) -> String {
        format!(
            "{}/{page}?token={token}",
            self.settings.mail_link_base_url.trim_end_matches('/')
        )
    }

    fn activation_mail(&self, user: &User, to: &str, token: &str, expires_at: Timestamp) -> Mail {
        let text = format!(
            "Hello,\n\n\
             an account with the login {login} has been created for you. To activate it, open\n\
             the link below and choose a password:\n\n\
             {link}\n\n\
             The link works once and expires at {expires}.\n\n\
             Applications can activate the account by sending the token below with the new\n\
             password to POST {api}/api/2/users/activate.\n\n\
             Activation token: {token}\n\n\
             If you did not expect this message, you can ignore it.\n",
            login = user.login.as_str(),
            link = self.link("activate", token),
            expires = expires_at.rfc3339_micros_offset(),
            api = self.settings.public_url,
        );
        Mail {
            to: to.to_owned(),
            subject: "Activate your account".to_owned(),
            text,
        }
    }

    fn email_change_mail(
        &self,
        user: &User,
        old: &Email,
        new: Option<&Email>,
        token: &str,
        expires_at: Timestamp,
    ) -> Mail {
        let new = new.map_or("no address", Email::as_str);
        let text = format!(
            "Hello,\n\n\
             the e-mail address of the account {login} is to change from {old} to {new}.\n\
             The change takes effect only once you confirm it with the link below:\n\n\
             {link}\n\n\
             The link works once and expires at {expires}.\n\n\
             Applications can confirm by sending the token below to\n\
             POST {api}/api/2/users/email/confirm.\n\n\
             Confirmation token: {token}\n\n\
             If you did not ask for this change, ignore this message: the address stays {old}.\n",
            login = user.login.as_str(),
            old = old.as_str(),
            link = self.link("confirm-email", token),
            expires = expires_at.rfc3339_micros_offset(),
            api = self.settings.public_url,
        );
        Mail {
            to: old.as_str().to_owned(),
            subject: "Confirm the change of your e-mail address".to_owned(),
            text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> UserId {
        UserId::from_uuid(uuid::Uuid::from_u128(n))
    }

    #[test]
    fn uuids_exclude_other_filters_and_are_bounded() {
        let tenant = TenantId::new_random();
        assert!(UserFilters::new(Some(vec![id(1)]), Some(tenant), None, None).is_err());
        assert!(UserFilters::new(Some(vec![]), None, None, None).is_err());
        let many: Vec<UserId> = (0..=MAX_UUIDS as u128).map(id).collect();
        assert!(UserFilters::new(Some(many), None, None, None).is_err());
        let filters = UserFilters::new(Some(vec![id(2), id(1), id(2)]), None, None, None).unwrap();
        assert_eq!(filters.uuids, Some(vec![id(1), id(2)]));
        assert!(UserFilters::new(None, Some(tenant), Some(tenant), None).is_ok());
    }

    #[test]
    fn a_cursor_round_trips_its_filters_and_keeps_only_the_ids_still_to_come() {
        let tenant = TenantId::new_random();
        let since = Timestamp::from_micros(1_700_000_000_123_456);
        let filters = UserFilters::new(None, None, Some(tenant), Some(since)).unwrap();
        let raw = Cursor::encode(&filters, 7, id(5));
        assert_eq!(Cursor::decode(&raw), Some((filters, 7, id(5))));

        let filters = UserFilters::new(Some(vec![id(1), id(5), id(9)]), None, None, None).unwrap();
        let (decoded, _, after) = Cursor::decode(&Cursor::encode(&filters, 2, id(5))).unwrap();
        assert_eq!(decoded.uuids, Some(vec![id(9)]));
        assert_eq!(after, id(5));
        assert!(Cursor::decode("not a cursor").is_none());
        assert!(Cursor::decode("").is_none());
    }

    #[test]
    fn tokens_carry_256_bits_and_only_plausible_ones_are_looked_up() {
        let (token, hash) = new_token();
        assert_eq!(token.len(), TOKEN_CHARS);
        assert_eq!(presented_token_hash(&token), Some(hash));
        assert_ne!(new_token().0, token);
        assert_eq!(presented_token_hash("short"), None);
        assert_eq!(presented_token_hash(&"=".repeat(TOKEN_CHARS)), None);
    }
}
