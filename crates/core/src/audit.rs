//! The audit trail as the services see it: who is acting (the principal, or the holder of a
//! mailed link) and in which request, attached to every store write; and the administrators'
//! paged read of the trail.

use warden_domain::{DomainError, FieldErrorKind, Resource, TenantId};
use warden_store::{Actor, Audit, AuditEvent, AuditQuery};

use crate::auth::Principal;
use crate::request::current_request_id;
use crate::tokens::Subject;
use crate::{store_error_for, Warden};

impl Principal {
    pub fn actor(&self) -> Actor {
        match self.subject {
            Subject::User(id) => Actor::User(id),
            Subject::Client(id) => Actor::Client(id),
        }
    }
}

/// The largest page of events one request returns, and the default.
pub const MAX_AUDIT_PAGE: u32 = 1000;
pub const DEFAULT_AUDIT_PAGE: u32 = 100;

/// One page of the trail and the cursor of the next (`None` when this page is not full).
#[derive(Clone, Debug)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub next: Option<String>,
}

/// What an administrator asks of the trail; every field as sent.
#[derive(Clone, Debug, Default)]
pub struct AuditListing<'a> {
    /// The subtree to read; defaults to the caller's own tenant.
    pub tenant_id: Option<&'a str>,
    pub object_id: Option<&'a str>,
    /// The cursor of the previous page.
    pub after: Option<&'a str>,
    pub limit: Option<&'a str>,
}

impl Warden {
    /// The audit record of a change `principal` asks for now.
    pub fn audit_by(&self, principal: &Principal) -> Audit {
        Audit::new(principal.actor(), current_request_id(), self.clock.now())
    }

    /// The audit record of a change made by whoever holds a mailed one-time link.
    pub fn audit_by_link(&self) -> Audit {
        Audit::new(Actor::LinkHolder, current_request_id(), self.clock.now())
    }

    /// One page of the events about objects in a tenant's subtree, oldest first. Reading the
    /// trail needs a role that reads the tenant (an administrator's, or read-only admin's).
    pub async fn audit_events(
        &self,
        principal: &Principal,
        listing: &AuditListing<'_>,
    ) -> Result<AuditPage, DomainError> {
        let invalid = |field: &str| DomainError::invalid(field, FieldErrorKind::Invalid);
        let tenant_id = match listing.tenant_id {
            None => principal.tenant_id,
            Some(raw) => TenantId::parse(raw).ok_or_else(|| invalid("tenant_id"))?,
        };
        let after = listing
            .after
            .map(|raw| {
                raw.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| invalid("after"))
            })
            .transpose()?;
        let limit = listing
            .limit
            .map(|raw| {
                raw.parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_AUDIT_PAGE).contains(n))
                    .ok_or_else(|| invalid("limit"))
            })
            .transpose()?
            .unwrap_or(DEFAULT_AUDIT_PAGE);
        let object_id = listing.object_id.filter(|o| !o.is_empty());
        if object_id.is_some_and(|o| o.len() > 64) {
            return Err(invalid("object_id"));
        }
        let tenant = self
            .store
            .get_tenant(tenant_id)
            .await
            .map_err(store_error_for(Resource::Tenant))?;
        if !principal.can_read(&tenant) {
            return Err(DomainError::Forbidden);
        }
        let events = self
            .store
            .audit_events(&AuditQuery {
                subtree_of: &tenant,
                object_id,
                after,
                limit,
            })
            .await
            .map_err(store_error_for(Resource::Tenant))?;
        let next = (events.len() == limit as usize)
            .then(|| events.last().map(|e| e.seq.to_string()))
            .flatten();
        Ok(AuditPage { events, next })
    }
}
