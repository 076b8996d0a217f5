//! Tenant operations: create, read, list with cursor paging, change (rename, lock, move),
//! delete with everything below, and the lists of a tenant's children and users. Each decides
//! authorization and the tree's rules before it touches the store; the store re-checks the
//! rules that other writers could break in the meantime, inside its transaction.

use std::sync::Arc;

use base64::Engine;
use serde::{Deserialize, Serialize};
use warden_domain::tenant::{
    may_own_lock, LockChange, NewTenant, TenantFilter, TenantPatch, TenantRule, UpdateLock,
};
use warden_domain::{
    DomainError, FieldErrorKind, Resource, Tenant, TenantId, TenantKind, Timestamp, User, UserId,
};
use warden_store::{Audit, StoreError};

use crate::auth::Principal;
use crate::{store_error, Warden};

/// Page size when the caller names none.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Larger pages are cut to this size rather than refused.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// The most ids one `uuids` filter may name.
pub const MAX_UUIDS: usize = 100;

/// A request for one page of tenants: a filter and page size for the first page, or the
/// `after` cursor of the previous page, which carries the filter.
#[derive(Clone, Debug, Default)]
pub struct TenantListing {
    pub filter: Option<TenantFilter>,
    pub limit: Option<u32>,
    pub after: Option<String>,
}

/// One page of tenants.
#[derive(Clone, Debug)]
pub struct TenantPage {
    pub tenants: Vec<Tenant>,
    /// The cursor of the next page; `None` on the last one.
    pub after: Option<String>,
    /// When the page was read.
    pub timestamp: Timestamp,
}

/// What a cursor carries: the filter, the page size and the position (depth and id) of the
/// last tenant returned. Opaque to callers (unpadded base64url of this JSON) but not secret:
/// it holds nothing a caller could not send as parameters, and authorization is decided again
/// on every page.
#[derive(Serialize, Deserialize)]
struct Cursor {
    #[serde(rename = "f")]
    filter: TenantFilter,
    #[serde(rename = "l")]
    limit: u32,
    #[serde(rename = "d")]
    depth: i64,
    #[serde(rename = "a")]
    after: TenantId,
}

impl Cursor {
    fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    fn decode(raw: &str) -> Option<Cursor> {
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(raw.trim())
            .ok()?;
        let cursor: Cursor = serde_json::from_slice(&json).ok()?;
        let valid = cursor.depth >= 0
            && match &cursor.filter {
                TenantFilter::Ids(ids) => ids.len() <= MAX_UUIDS,
                TenantFilter::Children(_) | TenantFilter::Subtree(_) => true,
            };
        valid.then_some(cursor)
    }
}

fn invalid(field: &str) -> DomainError {
    DomainError::invalid(field, FieldErrorKind::Invalid)
}

/// Maps a store failure of a tenant write; `NotFound` means the tenant (or a tenant it names)
/// is gone.
fn tenant_store_error(e: StoreError) -> DomainError {
    match e {
        StoreError::NotFound => DomainError::NotFound(Resource::Tenant),
        StoreError::Conflict("tenant_name") => DomainError::TenantRule(TenantRule::NameTaken),
        other => store_error(other),
    }
}

impl Warden {
    fn parse_tenant_id(raw: &str) -> Result<TenantId, DomainError> {
        TenantId::parse(raw).ok_or(DomainError::NotFound(Resource::Tenant))
    }

    /// A tenant named in a request body; one that does not exist makes the field invalid.
    async fn named_tenant(&self, field: &str, id: TenantId) -> Result<Tenant, DomainError> {
        self.tenant(id)
            .await
            .map(Arc::unwrap_or_clone)
            .map_err(|e| match e {
                DomainError::NotFound(_) => invalid(field),
                other => other,
            })
    }

    /// Refuses a change of a locked tenant unless the caller belongs to the lock's owner
    /// tenant or to a tenant above it.
    async fn ensure_unlocked(
        &self,
        principal: &Principal,
        tenant: &Tenant,
    ) -> Result<(), DomainError> {
        let UpdateLock {
            enabled: true,
            owner_id: Some(owner_id),
        } = tenant.update_lock
        else {
            return Ok(());
        };
        let owner = if owner_id == tenant.id {
            tenant.clone()
        } else {
            match self.store.get_tenant(owner_id).await {
                Ok(owner) => Arc::unwrap_or_clone(owner),
                // An owner is the tenant or above it, so it cannot be gone while the tenant is
                // there; should it be, nobody holds the lock any more.
                Err(StoreError::NotFound) => return Ok(()),
                Err(e) => return Err(store_error(e)),
            }
        };
        // Decided by the caller's rights on the owner (roles and narrowing), not by where the
        // caller lives: a role below the owner must not pass a lock set above it.
        if principal.can_manage(&owner) {
            Ok(())
        } else {
            Err(DomainError::TenantRule(TenantRule::Locked))
        }
    }

    /// The lock `change` asks for on `tenant`. The owner defaults to the caller's own tenant;
    /// it must be the tenant or above it, and the caller must pass the lock it sets, so that
    /// nobody locks a tenant against themself.
    async fn resolve_lock(
        &self,
        principal: &Principal,
        tenant: &Tenant,
        change: LockChange,
    ) -> Result<UpdateLock, DomainError> {
        if !change.enabled {
            return Ok(UpdateLock::default());
        }
        let owner_id = change.owner_id.unwrap_or(principal.tenant_id);
        if !may_own_lock(tenant, owner_id) {
            return Err(invalid("update_lock.owner_id"));
        }
        let owner = if owner_id == tenant.id {
            tenant.clone()
        } else {
            self.named_tenant("update_lock.owner_id", owner_id).await?
        };
        if !principal.can_manage(&owner) {
            return Err(invalid("update_lock.owner_id"));
        }
        Ok(UpdateLock {
            enabled: true,
            owner_id: Some(owner_id),
        })
    }

    /// Creates a tenant under a parent the caller manages.
    pub async fn create_tenant(
        &self,
        principal: &Principal,
        new: NewTenant,
    ) -> Result<Tenant, DomainError> {
        let parent = self.named_tenant("parent_id", new.parent_id).await?;
        if !principal.can_manage(&parent) {
            return Err(DomainError::Forbidden);
        }
        if !parent.kind.may_contain(new.kind) {
            return Err(invalid("kind"));
        }
        if !parent.enabled {
            return Err(DomainError::TenantRule(TenantRule::ParentDisabled));
        }
        let now = self.clock.now();
        let mut ancestors = parent.ancestors.clone();
        ancestors.push(parent.id);
        let mut tenant = Tenant {
            id: TenantId::new_random(),
            parent_id: Some(parent.id),
            ancestors,
            kind: new.kind,
            name: new.name.into_string(),
            is_domain: new.is_domain,
            enabled: new.enabled,
            language: new.language,
            owner_id: None,
            contact: new.contact,
            customer_type: new.customer_type,
            customer_id: new.customer_id,
            internal_tag: new.internal_tag.map(|t| t.into_string()),
            update_lock: UpdateLock::default(),
            ancestral_access: new.ancestral_access,
            mfa_status: "disabled".to_owned(),
            pricing_mode: new.kind.initial_pricing_mode().to_owned(),
            has_children: false,
            description: new.description,
            tags: new.tags,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        if let Some(change) = new.update_lock {
            tenant.update_lock = self.resolve_lock(principal, &tenant, change).await?;
        }
        self.store
            .insert_tenant(&tenant, &self.audit_by(principal))
            .await
            .map_err(|e| match e {
                // The parent went away or was disabled since it was read.
                StoreError::NotFound => invalid("parent_id"),
                StoreError::Conflict("parent_disabled") => {
                    DomainError::TenantRule(TenantRule::ParentDisabled)
                }
                other => tenant_store_error(other),
            })
    }

    /// A tenant the caller may read.
    pub async fn get_tenant(
        &self,
        principal: &Principal,
        raw_id: &str,
    ) -> Result<Tenant, DomainError> {
        let tenant = self.tenant(Self::parse_tenant_id(raw_id)?).await?;
        if !principal.can_read(&tenant) {
            return Err(DomainError::Forbidden);
        }
        Ok(Arc::unwrap_or_clone(tenant))
    }

    /// One page of tenants, ordered by depth (the root first) and then id.
    ///
    /// A `parent_id` or `subtree_root_id` naming a tenant the caller cannot read is refused
    /// (403): reach is a whole subtree, so below a readable tenant everything is readable and
    /// nothing needs filtering. A `uuids` list is silently limited to what the caller can read,
    /// as tenants that do not exist are.
    pub async fn list_tenants(
        &self,
        principal: &Principal,
        listing: TenantListing,
    ) -> Result<TenantPage, DomainError> {
        let cursor = listing.after.as_deref().filter(|a| !a.trim().is_empty());
        let (filter, limit, after) = match cursor {
            Some(raw) => {
                let cursor = Cursor::decode(raw).ok_or_else(|| invalid("after"))?;
                // A filter sent again with a cursor must be the one it carries.
                if listing.filter.as_ref().is_some_and(|f| *f != cursor.filter) {
                    return Err(invalid("after"));
                }
                (
                    cursor.filter,
                    listing.limit.unwrap_or(cursor.limit),
                    Some((cursor.depth, cursor.after)),
                )
            }
            None => (
                listing.filter.ok_or_else(|| {
                    DomainError::invalid("uuids|parent_id|subtree_root_id", FieldErrorKind::Missing)
                })?,
                listing.limit.unwrap_or(DEFAULT_PAGE_SIZE),
                None,
            ),
        };
        let limit = limit.clamp(1, MAX_PAGE_SIZE);
        match &filter {
            TenantFilter::Ids(ids) if ids.len() > MAX_UUIDS => return Err(invalid("uuids")),
            TenantFilter::Ids(_) => {}
            TenantFilter::Children(id) | TenantFilter::Subtree(id) => {
                if !principal.can_read(&*self.tenant(*id).await?) {
                    return Err(DomainError::Forbidden);
                }
            }
        }
        let timestamp = self.clock.now();
        // One more than asked: whether it comes back tells if there is a next page.
        let mut rows = self
            .store
            .list_tenants(&filter, after, limit + 1)
            .await
            .map_err(store_error)?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = match rows.last() {
            Some(last) if more => Some(
                Cursor {
                    filter: filter.clone(),
                    limit,
                    depth: i64::try_from(last.ancestors.len()).unwrap_or(i64::MAX),
                    after: last.id,
                }
                .encode(),
            ),
            _ => None,
        };
        rows.retain(|t| principal.can_read(t));
        Ok(TenantPage {
            tenants: rows,
            after: next,
            timestamp,
        })
    }

    /// Applies `patch` if the tenant is still at `expected_version`: plain fields, the update
    /// lock, and a move under another parent the caller manages.
    pub async fn update_tenant(
        &self,
        principal: &Principal,
        raw_id: &str,
        patch: TenantPatch,
        expected_version: i64,
    ) -> Result<Tenant, DomainError> {
        let current = self.tenant(Self::parse_tenant_id(raw_id)?).await?;
        if !principal.can_manage(&current) {
            return Err(DomainError::Forbidden);
        }
        self.ensure_unlocked(principal, &current).await?;
        if current.version != expected_version {
            return Err(DomainError::VersionMismatch);
        }
        if patch.kind.is_some_and(|k| k != current.kind) {
            return Err(invalid("kind"));
        }
        // Without an enabled root nothing could be deleted or re-enabled below it.
        if current.kind == TenantKind::Root && patch.enabled == Some(false) {
            return Err(invalid("enabled"));
        }
        let mut next = current.patched(&patch);
        if let Some(change) = patch.update_lock {
            next.update_lock = self.resolve_lock(principal, &current, change).await?;
        }
        if let Some(parent_id) = patch.parent_id.filter(|p| Some(*p) != current.parent_id) {
            if current.parent_id.is_none() {
                return Err(invalid("parent_id"));
            }
            let parent = self.named_tenant("parent_id", parent_id).await?;
            if !principal.can_manage(&parent) {
                return Err(DomainError::Forbidden);
            }
            if current.contains(&parent) {
                return Err(DomainError::TenantRule(TenantRule::MoveUnderOwnDescendant));
            }
            if !parent.kind.may_contain(current.kind) {
                return Err(invalid("parent_id"));
            }
            if !parent.enabled {
                return Err(DomainError::TenantRule(TenantRule::MoveUnderDisabled));
            }
            if let UpdateLock {
                enabled: true,
                owner_id: Some(owner),
            } = next.update_lock
            {
                if owner != current.id && owner != parent.id && !parent.ancestors.contains(&owner) {
                    return Err(DomainError::TenantRule(TenantRule::MoveOutsideLockOwner));
                }
            }
            // Roles on the moved subtree must stay inside their holders' reach: a holder
            // living outside the subtree must live at or above the new parent. Threat: an
            // administrator of the old parent keeping rights in the new parent's tree.
            for (_, home) in self
                .store
                .policy_holders_in(&current)
                .await
                .map_err(store_error)?
            {
                let home = self.tenant(home).await?;
                let moves_along = current.contains(&home);
                let still_above = home.id == parent.id || parent.ancestors.contains(&home.id);
                if !moves_along && !still_above {
                    return Err(invalid("parent_id"));
                }
            }
            next.parent_id = Some(parent.id);
            next.ancestors = parent.ancestors.clone();
            next.ancestors.push(parent.id);
        }
        self.store
            .update_tenant_if_version(&next, expected_version, &self.audit_by(principal))
            .await
            .map_err(|e| match e {
                StoreError::Conflict("tenant_cycle") => {
                    DomainError::TenantRule(TenantRule::MoveUnderOwnDescendant)
                }
                StoreError::Conflict("parent_disabled") => {
                    DomainError::TenantRule(TenantRule::MoveUnderDisabled)
                }
                other => tenant_store_error(other),
            })
    }

    /// Deletes a disabled tenant still at `expected_version`, with everything below it.
    pub async fn delete_tenant(
        &self,
        principal: &Principal,
        raw_id: &str,
        expected_version: i64,
    ) -> Result<(), DomainError> {
        let current = self.tenant(Self::parse_tenant_id(raw_id)?).await?;
        if !principal.can_manage(&current) {
            return Err(DomainError::Forbidden);
        }
        // Threat: a caller deleting the tenant it belongs to would delete itself and every
        // administrator beside it; that is for someone above to decide.
        let home = self.tenant(principal.tenant_id).await?;
        if current.contains(&home) {
            return Err(DomainError::Forbidden);
        }
        self.ensure_unlocked(principal, &current).await?;
        if current.version != expected_version {
            return Err(DomainError::VersionMismatch);
        }
        // The root is always enabled, so this also keeps it.
        if current.enabled || current.parent_id.is_none() {
            return Err(DomainError::TenantRule(TenantRule::StillEnabled));
        }
        self.store
            .delete_tenant_if_version(current.id, expected_version, &self.audit_by(principal))
            .await
            .map_err(tenant_store_error)
    }

    /// The direct children of a tenant the caller may read, by name.
    pub async fn tenant_children(
        &self,
        principal: &Principal,
        raw_id: &str,
    ) -> Result<Vec<Tenant>, DomainError> {
        let tenant = self.get_tenant(principal, raw_id).await?;
        self.store
            .child_tenants(tenant.id)
            .await
            .map_err(store_error)
    }

    /// The ids of the users of a tenant the caller may read; with `subtree`, of every tenant
    /// below it too.
    pub async fn tenant_users(
        &self,
        principal: &Principal,
        raw_id: &str,
        subtree: bool,
    ) -> Result<Vec<UserId>, DomainError> {
        let tenant = self.get_tenant(principal, raw_id).await?;
        self.store
            .tenant_user_ids(tenant.id, subtree)
            .await
            .map_err(store_error)
    }

    /// Stores a new user; a user of a customer gets a personal unit tenant, owned by the user
    /// and created in the same transaction (reference §5.1), whose id is set on `user`.
    pub(crate) async fn insert_user_in(
        &self,
        tenant: &Tenant,
        user: &mut User,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        if tenant.kind != TenantKind::Customer {
            return self.store.insert_user(user, audit).await;
        }
        let mut ancestors = tenant.ancestors.clone();
        ancestors.push(tenant.id);
        let personal = Tenant {
            id: TenantId::new_random(),
            parent_id: Some(tenant.id),
            ancestors,
            kind: TenantKind::Unit,
            name: user.login.as_str().to_owned(),
            is_domain: false,
            enabled: true,
            language: user.language.clone(),
            owner_id: Some(user.id),
            contact: Default::default(),
            customer_type: tenant.customer_type.clone(),
            customer_id: None,
            internal_tag: None,
            update_lock: UpdateLock::default(),
            ancestral_access: true,
            mfa_status: "disabled".to_owned(),
            pricing_mode: tenant.pricing_mode.clone(),
            has_children: false,
            description: String::new(),
            tags: Vec::new(),
            version: 1,
            created_at: user.created_at,
            updated_at: user.created_at,
        };
        user.personal_tenant_id = Some(personal.id);
        self.store
            .insert_user_with_personal_tenant(user, &personal, audit)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let root = TenantId::new_random();
        let last = TenantId::new_random();
        let raw = Cursor {
            filter: TenantFilter::Subtree(root),
            limit: 2,
            depth: 3,
            after: last,
        }
        .encode();
        let back = Cursor::decode(&raw).unwrap();
        assert_eq!(back.filter, TenantFilter::Subtree(root));
        assert_eq!((back.limit, back.depth, back.after), (2, 3, last));
        assert!(Cursor::decode("not a cursor").is_none());
        assert!(
            Cursor::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b"{}"))
                .is_none()
        );
    }
}
