//! Access policies: a user's roles, read and replaced as a whole set; and search over a
//! subtree. Who may grant what is decided here.

use std::collections::HashMap;
use std::sync::Arc;

use warden_domain::policy::TrusteeType;
use warden_domain::{
    AccessPolicy, DomainError, FieldError, FieldErrorKind, PolicyId, Reach, Resource, Role, Tenant,
    TenantId, TenantKind, User, UserId,
};
use warden_store::{SearchHit, SearchObject};

use crate::auth::Principal;
use crate::tokens::Subject;
use crate::{store_error, store_error_for, Warden};

/// One role on one tenant, as a caller asks for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRequest {
    pub tenant_id: TenantId,
    pub role: Role,
}

/// A search result, ready to render.
#[derive(Clone, Debug)]
pub struct SearchResult {
    pub object: SearchObject,
    pub id: uuid::Uuid,
    pub parent_id: Option<TenantId>,
    /// Tenant names from the search root down to the object.
    pub path: Vec<String>,
    pub name: String,
    pub kind: Option<TenantKind>,
    pub first_name: String,
    pub last_name: String,
}

/// Search answers at most this many items, whatever the caller asks for.
pub const MAX_SEARCH_LIMIT: u32 = 100;

impl Principal {
    fn uuid(&self) -> uuid::Uuid {
        match self.subject {
            Subject::User(id) => id.uuid(),
            Subject::Client(id) => id.uuid(),
        }
    }
}

impl Warden {
    async fn policy_subject(
        &self,
        principal: &Principal,
        raw_id: &str,
    ) -> Result<User, DomainError> {
        let id = UserId::parse(raw_id).ok_or(DomainError::NotFound(Resource::User))?;
        let user = self
            .store
            .get_user(id)
            .await
            .map_err(store_error_for(Resource::User))?;
        let own = principal.subject == Subject::User(user.id);
        if !own && !principal.can_read(&*self.tenant(user.tenant_id).await?) {
            return Err(DomainError::Forbidden);
        }
        Ok(Arc::unwrap_or_clone(user))
    }

    /// A user's access policies: for the user themself or whoever can read them.
    pub async fn access_policies(
        &self,
        principal: &Principal,
        raw_id: &str,
    ) -> Result<Vec<AccessPolicy>, DomainError> {
        let user = self.policy_subject(principal, raw_id).await?;
        self.store
            .policies_of(user.id.uuid())
            .await
            .map_err(store_error)
    }

    /// Replaces a user's whole set of policies. Nobody changes their own roles; the caller
    /// must be able to grant on every tenant whose roles it adds or removes; each role must fit
    /// its tenant's level and lie within the user's own subtree. Unchanged policies keep their
    /// id and version.
    pub async fn replace_access_policies(
        &self,
        principal: &Principal,
        raw_id: &str,
        requested: Vec<PolicyRequest>,
    ) -> Result<Vec<AccessPolicy>, DomainError> {
        let user = self.policy_subject(principal, raw_id).await?;
        if principal.subject == Subject::User(user.id) {
            return Err(DomainError::Forbidden);
        }
        let home = self.tenant(user.tenant_id).await?;
        // Changing someone's roles is managing their account, even when the set stays the same.
        if !principal.can_manage(&home) {
            return Err(DomainError::Forbidden);
        }
        let current = self
            .store
            .policies_of(user.id.uuid())
            .await
            .map_err(store_error)?;
        let mut tenants: HashMap<TenantId, Tenant> = HashMap::new();
        let mut errors = Vec::new();
        let mut wanted: Vec<PolicyRequest> = Vec::new();
        for (i, request) in requested.into_iter().enumerate() {
            if wanted.contains(&request) {
                continue;
            }
            let tenant = match self.store.get_tenant(request.tenant_id).await {
                Ok(t) => Arc::unwrap_or_clone(t),
                Err(warden_store::StoreError::NotFound) => {
                    errors.push(FieldError::new(
                        format!("items[{i}].tenant_id"),
                        FieldErrorKind::Invalid,
                    ));
                    continue;
                }
                Err(e) => return Err(store_error(e)),
            };
            if !home.contains(&tenant) || !request.role.allowed_on(tenant.kind) {
                errors.push(FieldError::new(
                    format!("items[{i}].role_id"),
                    FieldErrorKind::Invalid,
                ));
                continue;
            }
            tenants.insert(tenant.id, tenant);
            wanted.push(request);
        }
        if !errors.is_empty() {
            return Err(DomainError::Invalid(errors));
        }
        let removed = current.iter().filter(|p| {
            !wanted
                .iter()
                .any(|w| w.tenant_id == p.tenant_id && w.role == p.role)
        });
        let added = wanted.iter().filter(|w| {
            !current
                .iter()
                .any(|p| w.tenant_id == p.tenant_id && w.role == p.role)
        });
        for tenant_id in removed
            .map(|p| p.tenant_id)
            .chain(added.map(|w| w.tenant_id))
        {
            let tenant = match tenants.get(&tenant_id) {
                Some(t) => t.clone(),
                None => Arc::unwrap_or_clone(self.tenant(tenant_id).await?),
            };
            if !principal.can_grant(&tenant) {
                return Err(DomainError::Forbidden);
            }
        }
        let now = self.clock.now();
        let next: Vec<AccessPolicy> = wanted
            .into_iter()
            .map(|w| {
                current
                    .iter()
                    .find(|p| {
                        p.tenant_id == w.tenant_id && p.role == w.role && p.reach == Reach::Tree
                    })
                    .cloned()
                    .unwrap_or(AccessPolicy {
                        id: PolicyId::new_random(),
                        trustee_id: user.id.uuid(),
                        trustee_type: TrusteeType::User,
                        tenant_id: w.tenant_id,
                        role: w.role,
                        reach: Reach::Tree,
                        issuer_id: principal.uuid(),
                        version: 1,
                        created_at: now,
                    })
            })
            .collect();
        let expected: Vec<PolicyId> = current.iter().map(|p| p.id).collect();
        self.store
            .replace_policies(user.id.uuid(), &expected, &next, &self.audit_by(principal))
            .await
            .map_err(store_error)
    }

    /// Users and tenants of `raw_tenant`'s subtree matching `text` (a case-insensitive prefix
    /// of a login, e-mail, first or last name, or tenant name).
    pub async fn search(
        &self,
        principal: &Principal,
        raw_tenant: &str,
        text: &str,
        limit: u32,
    ) -> Result<Vec<SearchResult>, DomainError> {
        let root_id = TenantId::parse(raw_tenant)
            .ok_or_else(|| DomainError::invalid("tenant", FieldErrorKind::Invalid))?;
        let root = self.tenant(root_id).await?;
        if !principal.can_read(&root) {
            return Err(DomainError::Forbidden);
        }
        let prefix = text.trim().to_lowercase();
        if prefix.is_empty() {
            return Err(DomainError::invalid("text", FieldErrorKind::Missing));
        }
        if prefix.chars().any(char::is_control) || prefix.chars().count() > 255 {
            return Err(DomainError::invalid("text", FieldErrorKind::Invalid));
        }
        let hits = self
            .store
            .search(&root, &prefix, limit.clamp(1, MAX_SEARCH_LIMIT))
            .await
            .map_err(store_error)?;
        let mut below_root: Vec<TenantId> = hits.iter().flat_map(|h| below(h, root.id)).collect();
        below_root.sort();
        below_root.dedup();
        let names: HashMap<TenantId, String> = self
            .store
            .tenant_names(&below_root)
            .await
            .map_err(store_error)?
            .into_iter()
            .collect();
        Ok(hits
            .into_iter()
            .map(|h| SearchResult {
                path: below(&h, root.id)
                    .iter()
                    .filter_map(|t| names.get(t).cloned())
                    .collect(),
                object: h.object,
                id: h.id,
                parent_id: h.parent_id,
                name: h.name,
                kind: h.kind,
                first_name: h.first_name,
                last_name: h.last_name,
            })
            .collect())
    }
}

/// The part of a hit's tenant path from the search root down.
fn below(hit: &SearchHit, root: TenantId) -> Vec<TenantId> {
    match hit.tenant_path.iter().position(|t| *t == root) {
        Some(i) => hit.tenant_path[i..].to_vec(),
        None => Vec::new(),
    }
}
