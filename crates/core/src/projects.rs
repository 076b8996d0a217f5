//! Keystone domains and projects, which are tenants: a domain is a tenant flagged
//! `is_domain` right below the root (the root itself is the Default domain); every other
//! tenant is a project of its nearest domain. A new project takes the kind its parent may
//! hold (see `project_kind_under`).

use std::collections::HashMap;

use warden_domain::keystone::{parse_tag, parse_tags, project_kind_under, MAX_TAGS};
use warden_domain::tenant::{NewTenant, TenantFilter, TenantName, TenantPatch, TenantRule};
use warden_domain::{DomainError, FieldErrorKind, Resource, Tenant, TenantId, TenantKind};
use warden_store::StoreError;

use crate::auth::Principal;
use crate::{store_error, Warden};

/// Keystone's `list_limit`: the most domains or projects one listing returns.
pub const MAX_LISTED: u32 = 1000;

/// A project or domain to create, as Keystone's body has it.
#[derive(Clone, Debug, Default)]
pub struct NewProject {
    pub name: String,
    pub domain_id: Option<String>,
    pub parent_id: Option<String>,
    pub is_domain: bool,
    pub enabled: bool,
    pub description: String,
    pub tags: Vec<String>,
}

/// A change to a project or domain; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ProjectPatch {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// The filters of `GET /v3/projects` and `GET /v3/domains`.
#[derive(Clone, Debug, Default)]
pub struct ProjectQuery {
    pub domain_id: Option<String>,
    pub parent_id: Option<String>,
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub is_domain: Option<bool>,
    /// Every one of these tags (`tags`).
    pub tags: Vec<String>,
    /// At least one of these (`tags-any`).
    pub tags_any: Vec<String>,
    /// Not every one of these (`not-tags`).
    pub not_tags: Vec<String>,
    /// None of these (`not-tags-any`).
    pub not_tags_any: Vec<String>,
}

impl ProjectQuery {
    fn admits(&self, tenant: &Tenant) -> bool {
        let has = |tag: &String| tenant.tags.contains(tag);
        self.name.as_ref().is_none_or(|n| tenant.name == *n)
            && self.enabled.is_none_or(|e| tenant.enabled == e)
            && self.tags.iter().all(has)
            && (self.tags_any.is_empty() || self.tags_any.iter().any(has))
            && (self.not_tags.is_empty() || !self.not_tags.iter().all(has))
            && !self.not_tags_any.iter().any(has)
    }
}

fn name_invalid(field: &str) -> impl Fn(warden_domain::FieldError) -> DomainError + '_ {
    move |e| DomainError::Invalid(vec![warden_domain::FieldError::new(field, e.kind)])
}

fn tags_invalid(e: warden_domain::FieldError) -> DomainError {
    DomainError::Invalid(vec![e])
}

impl Warden {
    /// A project (any tenant) by id, `NotFound(Project)` when there is none.
    async fn project_by_id(&self, raw: &str) -> Result<Tenant, DomainError> {
        self.find_tenant(raw)
            .await?
            .ok_or(DomainError::NotFound(Resource::Project))
    }

    /// Whether the caller may see a project: read access, or a role that reaches it.
    fn may_see(principal: &Principal, tenant: &Tenant) -> bool {
        principal.can_read(tenant)
            || principal
                .policies
                .iter()
                .any(|p| p.reach.confers(p.tenant_id, tenant))
    }

    /// `GET /v3/projects/{id}` (and `/v3/domains/{id}` with `domain`).
    pub async fn get_project(
        &self,
        principal: &Principal,
        raw: &str,
        domain: bool,
    ) -> Result<Tenant, DomainError> {
        let tenant = if domain {
            self.domain_by_id(raw).await?
        } else {
            self.project_by_id(raw).await?
        };
        let own = self.tenant(principal.tenant_id).await?;
        if !Self::may_see(principal, &tenant) && !tenant.contains(&own) {
            return Err(DomainError::Forbidden);
        }
        Ok(tenant)
    }

    /// The id of the nearest domain at or above `tenant` (the tenant itself for a domain).
    pub async fn domain_id_of(&self, tenant: &Tenant) -> Result<TenantId, DomainError> {
        if tenant.is_domain {
            return Ok(tenant.id);
        }
        Ok(self.domain_of(tenant.id).await?.id)
    }

    /// Creates a project under its parent (or at the top of its domain), or a domain right
    /// below the root.
    pub async fn create_project(
        &self,
        principal: &Principal,
        new: NewProject,
    ) -> Result<Tenant, DomainError> {
        let name = TenantName::parse_keystone("name", &new.name).map_err(name_invalid("name"))?;
        let tags = parse_tags(new.tags.iter().map(String::as_str)).map_err(tags_invalid)?;
        let (parent, kind) =
            if new.is_domain {
                if new.parent_id.is_some() {
                    return Err(DomainError::invalid("parent_id", FieldErrorKind::Invalid));
                }
                let root = self.root().await?;
                (root, TenantKind::Partner)
            } else {
                let domain = match &new.domain_id {
                    Some(raw) => Some(self.find_domain_by_id(raw).await?.ok_or_else(|| {
                        DomainError::invalid("domain_id", FieldErrorKind::Invalid)
                    })?),
                    None => None,
                };
                let parent = match (&new.parent_id, &domain) {
                    (Some(raw), _) => self.find_tenant(raw).await?.ok_or_else(|| {
                        DomainError::invalid("parent_id", FieldErrorKind::Invalid)
                    })?,
                    (None, Some(domain)) => domain.clone(),
                    (None, None) => self.domain_of(principal.tenant_id).await?,
                };
                // A parent in another domain than the one named is refused, as Keystone does.
                if let Some(domain) = &domain {
                    if self.domain_id_of(&parent).await? != domain.id {
                        return Err(DomainError::invalid("parent_id", FieldErrorKind::Invalid));
                    }
                }
                let kind = project_kind_under(parent.kind);
                (parent, kind)
            };
        let mut tenant = NewTenant::new(parent.id, kind, name);
        tenant.is_domain = new.is_domain;
        tenant.enabled = new.enabled;
        tenant.description = new.description;
        tenant.tags = tags;
        self.create_tenant(principal, tenant).await
    }

    /// Changes a project or domain. Keystone's `PATCH` carries no version: the change applies
    /// to the tenant as it is read now.
    pub async fn update_project(
        &self,
        principal: &Principal,
        raw: &str,
        domain: bool,
        patch: ProjectPatch,
    ) -> Result<Tenant, DomainError> {
        let current = if domain {
            self.domain_by_id(raw).await?
        } else {
            self.project_by_id(raw).await?
        };
        let name = patch
            .name
            .as_deref()
            .map(|n| TenantName::parse_keystone("name", n).map_err(name_invalid("name")))
            .transpose()?;
        let tags = patch
            .tags
            .as_ref()
            .map(|t| parse_tags(t.iter().map(String::as_str)).map_err(tags_invalid))
            .transpose()?;
        let tenant_patch = TenantPatch {
            name,
            enabled: patch.enabled,
            description: patch.description,
            tags,
            ..TenantPatch::default()
        };
        self.update_tenant(
            principal,
            &current.id.to_string(),
            tenant_patch,
            current.version,
        )
        .await
    }

    /// Deletes a project that has no projects below it, enabled or not (Keystone's rule), or
    /// a disabled domain with everything in it. The caller's own tenant and the tenants above
    /// it cannot be deleted.
    pub async fn delete_project(
        &self,
        principal: &Principal,
        raw: &str,
        domain: bool,
    ) -> Result<(), DomainError> {
        let current = if domain {
            self.domain_by_id(raw).await?
        } else {
            self.project_by_id(raw).await?
        };
        if current.parent_id.is_none() {
            return Err(DomainError::Forbidden);
        }
        if !principal.can_manage(&current) {
            return Err(DomainError::Forbidden);
        }
        if current.contains(&*self.tenant(principal.tenant_id).await?) {
            return Err(DomainError::Forbidden);
        }
        if current.is_domain && current.enabled {
            return Err(DomainError::TenantRule(TenantRule::StillEnabled));
        }
        if !current.is_domain && current.has_children {
            return Err(DomainError::Forbidden);
        }
        self.store
            .delete_tenant_if_version(current.id, current.version, &self.audit_by(principal))
            .await
            .map_err(|e| match e {
                StoreError::NotFound => DomainError::NotFound(Resource::Project),
                other => store_error(other),
            })
    }

    /// `GET /v3/projects` (`domains` false) or `GET /v3/domains` (true): what the caller may
    /// read, filtered; at most [`MAX_LISTED`], the flag telling whether there were more.
    pub async fn list_projects(
        &self,
        principal: &Principal,
        query: &ProjectQuery,
        domains: bool,
    ) -> Result<(Vec<Tenant>, bool), DomainError> {
        let root = self.root().await?;
        let want_domains = domains || query.is_domain == Some(true);
        // Listing needs read access where it starts (Keystone refuses a caller without
        // `admin` or `reader` with 403); a caller who cannot read the whole tree and named no
        // place lists their own domain.
        let start = if want_domains {
            root.clone()
        } else if let Some(raw) = &query.parent_id {
            match self.find_tenant(raw).await? {
                Some(parent) => parent,
                None => return Ok((Vec::new(), false)),
            }
        } else if let Some(raw) = &query.domain_id {
            match self.find_domain_by_id(raw).await? {
                Some(domain) => domain,
                None => return Ok((Vec::new(), false)),
            }
        } else if principal.can_read(&root) {
            root.clone()
        } else {
            self.domain_of(principal.tenant_id).await?
        };
        if !principal.can_read(&start) {
            return Err(DomainError::Forbidden);
        }
        let filter = if want_domains || query.parent_id.is_some() {
            TenantFilter::Children(start.id)
        } else {
            TenantFilter::Subtree(start.id)
        };
        let mut rows = self
            .store
            .list_tenants(&filter, None, MAX_LISTED + 1)
            .await
            .map_err(store_error)?;
        let truncated = rows.len() > MAX_LISTED as usize;
        rows.truncate(MAX_LISTED as usize);
        if want_domains {
            // The root is the Default domain.
            rows.insert(0, root);
        }
        let domain_filter = match &query.domain_id {
            Some(raw) => self.find_domain_by_id(raw).await?.map(|d| d.id),
            None => None,
        };
        let mut is_domain: HashMap<TenantId, bool> = HashMap::new();
        let mut found = Vec::new();
        for tenant in rows {
            // The root is also the domain `Default`.
            let default_alias = tenant.parent_id.is_none()
                && query.name.as_deref() == Some(crate::keystone::DEFAULT_DOMAIN_NAME)
                && query.admits(&Tenant {
                    name: crate::keystone::DEFAULT_DOMAIN_NAME.to_owned(),
                    ..tenant.clone()
                });
            if tenant.is_domain != want_domains || !(query.admits(&tenant) || default_alias) {
                continue;
            }
            if !Self::may_see(principal, &tenant) {
                continue;
            }
            if let Some(domain) = domain_filter {
                if !want_domains && self.nearest_domain(&tenant, &mut is_domain).await? != domain {
                    continue;
                }
            }
            found.push(tenant);
        }
        Ok((found, truncated))
    }

    /// The nearest domain above a project, from its ancestors, remembering which tenants are
    /// domains so a listing reads each ancestor once.
    async fn nearest_domain(
        &self,
        tenant: &Tenant,
        is_domain: &mut HashMap<TenantId, bool>,
    ) -> Result<TenantId, DomainError> {
        for id in tenant.ancestors.iter().rev() {
            let flag = match is_domain.get(id) {
                Some(flag) => *flag,
                None => {
                    let flag = self.tenant(*id).await?.is_domain;
                    is_domain.insert(*id, flag);
                    flag
                }
            };
            if flag {
                return Ok(*id);
            }
        }
        Err(DomainError::Internal)
    }

    /// `GET /v3/users/{id}/projects`: the projects the user holds a role on (directly, through
    /// a group, or inherited from above) that the caller may see; the user themself may list
    /// their own.
    pub async fn user_projects(
        &self,
        principal: &Principal,
        raw_user: &str,
    ) -> Result<Vec<Tenant>, DomainError> {
        let user = self.get_user(principal, raw_user).await?;
        let held = self
            .store
            .held_policies(user.id.uuid())
            .await
            .map_err(store_error)?;
        let mut found: Vec<Tenant> = Vec::new();
        for policy in held {
            let Ok(tenant) = self.tenant(policy.tenant_id).await else {
                continue;
            };
            let mut reached = Vec::new();
            if policy.reach != warden_domain::Reach::Below && !tenant.is_domain {
                reached.push(Tenant::clone(&tenant));
            }
            if policy.reach == warden_domain::Reach::Below {
                reached.extend(
                    self.store
                        .list_tenants(&TenantFilter::Subtree(tenant.id), None, MAX_LISTED)
                        .await
                        .map_err(store_error)?
                        .into_iter()
                        .filter(|t| t.id != tenant.id && !t.is_domain),
                );
            }
            for project in reached {
                if !found.iter().any(|t| t.id == project.id) {
                    found.push(project);
                }
            }
        }
        if !principal.is_user(user.id) {
            found.retain(|t| principal.can_read(t));
        }
        Ok(found)
    }

    /// The project of a domain with this name: a top-level project of the domain first (one
    /// index read), else one deeper in it, not inside another domain.
    pub(crate) async fn project_named_in(
        &self,
        domain: &Tenant,
        name: &str,
    ) -> Result<Option<Tenant>, DomainError> {
        let children = self
            .store
            .child_tenants(domain.id)
            .await
            .map_err(store_error)?;
        if let Some(found) = children
            .into_iter()
            .find(|t| t.name == name && !t.is_domain)
        {
            return Ok(Some(found));
        }
        let query = ProjectQuery {
            domain_id: Some(domain.id.to_string()),
            name: Some(name.to_owned()),
            ..ProjectQuery::default()
        };
        let rows = self
            .store
            .list_tenants(&TenantFilter::Subtree(domain.id), None, MAX_LISTED)
            .await
            .map_err(store_error)?;
        let mut is_domain = HashMap::new();
        for tenant in rows {
            if !tenant.is_domain
                && query.admits(&tenant)
                && self.nearest_domain(&tenant, &mut is_domain).await? == domain.id
            {
                return Ok(Some(tenant));
            }
        }
        Ok(None)
    }

    /// A project's tags: `GET /v3/projects/{id}/tags`.
    pub async fn project_tags(
        &self,
        principal: &Principal,
        raw: &str,
    ) -> Result<Vec<String>, DomainError> {
        Ok(self.get_project(principal, raw, false).await?.tags)
    }

    /// Replaces a project's tags; `add` (one tag) or the whole set.
    pub async fn set_project_tags(
        &self,
        principal: &Principal,
        raw: &str,
        tags: TagChange<'_>,
    ) -> Result<Vec<String>, DomainError> {
        let current = self.project_by_id(raw).await?;
        let mut next = current.tags.clone();
        match tags {
            TagChange::Replace(all) => {
                next = parse_tags(all.iter().map(String::as_str)).map_err(tags_invalid)?;
            }
            TagChange::Add(tag) => {
                let tag = parse_tag(tag).map_err(tags_invalid)?;
                if !next.contains(&tag) {
                    if next.len() >= MAX_TAGS {
                        return Err(DomainError::invalid("tags", FieldErrorKind::TooLong));
                    }
                    next.push(tag);
                }
            }
            TagChange::Remove(tag) => {
                let before = next.len();
                next.retain(|t| t != tag);
                if next.len() == before {
                    return Err(DomainError::NotFound(Resource::Project));
                }
            }
            TagChange::Clear => next.clear(),
        }
        let updated = self
            .update_project(
                principal,
                &current.id.to_string(),
                false,
                ProjectPatch {
                    tags: Some(next),
                    ..ProjectPatch::default()
                },
            )
            .await?;
        Ok(updated.tags)
    }
}

/// A change to a project's tags.
#[derive(Clone, Copy, Debug)]
pub enum TagChange<'a> {
    Replace(&'a [String]),
    Add(&'a str),
    Remove(&'a str),
    Clear,
}
