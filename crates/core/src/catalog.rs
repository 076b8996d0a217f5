//! The Keystone service catalog: regions, services and endpoints as stored, the identity
//! service's own entries that every start makes sure of (as `keystone-manage bootstrap`
//! does), and the per-node cache of the catalog that tokens carry.
//!
//! Token issue is a hot path, so the catalog is read from the store at most once per
//! [`CATALOG_TTL`] on each node. A node's own catalog writes invalidate its cache at once;
//! a write made on another node shows in this node's tokens within [`CATALOG_TTL`]. The
//! `/v3/regions`, `/v3/services` and `/v3/endpoints` routes always read the store.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use warden_domain::catalog::CatalogRule;
use warden_domain::{DomainError, Resource};
use warden_store::{
    Audit, EndpointFilter, EndpointRecord, Extra, Interface, RegionRecord, ServiceRecord,
    StoreError,
};

use crate::auth::Principal;
use crate::node_cache::{NodeCache, NODE_CACHE_TTL};
use crate::secrets::{random_bytes, sha256_hex};
use crate::{store_error, Warden};

/// How stale a node's cached catalog may be after another node changed the catalog.
pub const CATALOG_TTL: Duration = NODE_CACHE_TTL;

/// The region, service and endpoints every start makes sure of.
pub const DEFAULT_REGION: &str = "RegionOne";
pub const IDENTITY_TYPE: &str = "identity";
pub const IDENTITY_NAME: &str = "keystone";

/// One enabled service and its enabled endpoints, as a token's catalog lists them.
#[derive(Clone, Debug, PartialEq)]
pub struct CatalogEntry {
    pub service: ServiceRecord,
    pub endpoints: Vec<EndpointRecord>,
}

/// A field of a `PATCH`: absent (`None`), cleared with `null` (`Some(None)`) or set.
pub type Nullable<T> = Option<Option<T>>;

#[derive(Clone, Debug, Default)]
pub struct NewRegion {
    /// Generated (32 hex digits) when absent.
    pub id: Option<String>,
    pub parent_region_id: Option<String>,
    pub description: Option<String>,
    pub extra: Extra,
}

#[derive(Clone, Debug, Default)]
pub struct RegionPatch {
    pub parent_region_id: Nullable<String>,
    pub description: Nullable<String>,
    /// Merged into the stored attributes, as Keystone merges them.
    pub extra: Extra,
}

#[derive(Clone, Debug, Default)]
pub struct ServicePatch {
    pub service_type: Option<String>,
    pub name: Nullable<String>,
    pub description: Nullable<String>,
    pub enabled: Option<bool>,
    pub extra: Extra,
}

#[derive(Clone, Debug)]
pub struct NewEndpoint {
    pub service_id: String,
    pub region: EndpointRegion,
    pub interface: Interface,
    pub url: String,
    pub enabled: bool,
    pub extra: Extra,
}

/// How an endpoint names its region.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum EndpointRegion {
    #[default]
    None,
    /// `region_id`: the region must exist (400 otherwise, as Keystone answers).
    Id(String),
    /// The legacy `region` attribute: created when missing, as Keystone does for v2 clients.
    Legacy(String),
}

#[derive(Clone, Debug, Default)]
pub struct EndpointPatch {
    pub service_id: Option<String>,
    /// `None`: unchanged; `Some(EndpointRegion::None)`: cleared.
    pub region: Option<EndpointRegion>,
    pub interface: Option<Interface>,
    pub url: Option<String>,
    pub enabled: Option<bool>,
    pub extra: Extra,
}

/// The per-node catalog cache.
pub(crate) type CatalogCache = NodeCache<Vec<CatalogEntry>>;

/// A new id of 32 hex digits, as Keystone generates them.
fn new_id() -> String {
    hex::encode(random_bytes::<16>())
}

/// A stable id for an object first start creates, so nodes starting together create it once
/// (the second insert is a conflict) and earlier synthesized catalogs keep their ids.
fn derived_id(name: &str) -> String {
    sha256_hex(name.as_bytes())[..32].to_owned()
}

fn not_found(resource: Resource) -> impl Fn(StoreError) -> DomainError {
    move |e| match e {
        StoreError::NotFound => DomainError::NotFound(resource),
        other => store_error(other),
    }
}

/// Keystone answers an endpoint naming a missing service or region with 400.
fn invalid_reference(field: &'static str) -> DomainError {
    DomainError::invalid(field, warden_domain::FieldErrorKind::Invalid)
}

impl Warden {
    /// Changing the catalog changes where every client is sent: an administrator of the root
    /// tenant (Keystone's default domain) only.
    pub(crate) async fn ensure_catalog_admin(
        &self,
        principal: &Principal,
    ) -> Result<(), DomainError> {
        let root = self.root().await?;
        if principal.can_manage(&root) {
            Ok(())
        } else {
            Err(DomainError::Forbidden)
        }
    }

    /// The enabled services with their enabled endpoints, from this node's cache.
    pub async fn service_catalog(&self) -> Result<Arc<Vec<CatalogEntry>>, DomainError> {
        if let Some(catalog) = self.catalog.fresh() {
            return Ok(catalog);
        }
        let generation = self.catalog.generation();
        let services = self.store.list_services(None).await.map_err(store_error)?;
        let mut endpoints: HashMap<String, Vec<EndpointRecord>> = HashMap::new();
        let all = EndpointFilter::default();
        for endpoint in self.store.list_endpoints(&all).await.map_err(store_error)? {
            if endpoint.enabled {
                endpoints
                    .entry(endpoint.service_id.clone())
                    .or_default()
                    .push(endpoint);
            }
        }
        let catalog: Arc<Vec<CatalogEntry>> = Arc::new(
            services
                .into_iter()
                .filter(|s| s.enabled)
                .map(|service| CatalogEntry {
                    endpoints: endpoints.remove(&service.id).unwrap_or_default(),
                    service,
                })
                .collect(),
        );
        self.catalog.keep(generation, catalog.clone());
        Ok(catalog)
    }

    /// Makes sure of what `keystone-manage bootstrap` creates: region `RegionOne`, the
    /// `identity` service `keystone`, and its public, internal and admin endpoints there at
    /// `{public_url}/v3`. Runs at every start, so a database bootstrapped before the catalog
    /// existed gets it too; an identity endpoint whose URL is not this server's any more (the
    /// public URL changed, or the port when none is configured) is pointed at it again.
    pub async fn ensure_identity_catalog(&self) -> Result<(), DomainError> {
        let audit = Audit::system(self.clock.now());
        if self
            .store
            .get_region(DEFAULT_REGION)
            .await
            .map_err(store_error)?
            .is_none()
        {
            let region = RegionRecord {
                id: DEFAULT_REGION.to_owned(),
                parent_region_id: None,
                description: String::new(),
                extra: Extra::new(),
            };
            self.insert_once(self.store.insert_region(&region, &audit).await)?;
        }
        let service = self.identity_service(&audit).await?;
        let url = format!("{}/v3", self.settings.public_url);
        let filter = EndpointFilter {
            service_id: Some(&service.id),
            region_id: Some(DEFAULT_REGION),
            interface: None,
        };
        let existing = self
            .store
            .list_endpoints(&filter)
            .await
            .map_err(store_error)?;
        for interface in Interface::ALL {
            match existing.iter().find(|e| e.interface == interface) {
                Some(endpoint) if endpoint.url == url => {}
                Some(endpoint) => {
                    let moved = EndpointRecord {
                        url: url.clone(),
                        ..endpoint.clone()
                    };
                    self.store
                        .update_endpoint(&moved, &audit)
                        .await
                        .map_err(store_error)?;
                }
                None => {
                    let endpoint = EndpointRecord {
                        id: derived_id(&format!("identity-{}", interface.as_str())),
                        service_id: service.id.clone(),
                        region_id: Some(DEFAULT_REGION.to_owned()),
                        interface,
                        url: url.clone(),
                        enabled: true,
                        extra: Extra::new(),
                    };
                    self.insert_once(self.store.insert_endpoint(&endpoint, &audit).await)?;
                }
            }
        }
        self.catalog.invalidate();
        Ok(())
    }

    /// The first service of type `identity`, created when there is none.
    async fn identity_service(&self, audit: &Audit) -> Result<ServiceRecord, DomainError> {
        let found = |services: Vec<ServiceRecord>| services.into_iter().next();
        let listed = self.store.list_services(Some(IDENTITY_TYPE)).await;
        if let Some(service) = found(listed.map_err(store_error)?) {
            return Ok(service);
        }
        let service = ServiceRecord {
            id: derived_id(IDENTITY_TYPE),
            service_type: IDENTITY_TYPE.to_owned(),
            name: Some(IDENTITY_NAME.to_owned()),
            description: None,
            enabled: true,
            extra: Extra::new(),
        };
        self.insert_once(self.store.insert_service(&service, audit).await)?;
        let listed = self.store.list_services(Some(IDENTITY_TYPE)).await;
        found(listed.map_err(store_error)?).ok_or(DomainError::Internal)
    }

    /// An insert of first start that another node starting at once may have made already.
    fn insert_once(&self, inserted: Result<(), StoreError>) -> Result<(), DomainError> {
        match inserted {
            Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Runs a catalog write and forgets this node's cached catalog once it is done.
    fn changed<T>(&self, result: Result<T, DomainError>) -> Result<T, DomainError> {
        if result.is_ok() {
            self.catalog.invalidate();
        }
        result
    }

    pub async fn list_regions(
        &self,
        parent: Option<&str>,
    ) -> Result<Vec<RegionRecord>, DomainError> {
        self.store.list_regions(parent).await.map_err(store_error)
    }

    pub async fn get_region(&self, id: &str) -> Result<RegionRecord, DomainError> {
        self.store
            .get_region(id)
            .await
            .map_err(store_error)?
            .ok_or(DomainError::NotFound(Resource::Region))
    }

    /// Creates a region. A missing parent is 404, as Keystone answers (`RegionNotFound` for
    /// the parent); a taken id 409.
    pub async fn create_region(
        &self,
        principal: &Principal,
        new: NewRegion,
    ) -> Result<RegionRecord, DomainError> {
        self.ensure_catalog_admin(principal).await?;
        let region = RegionRecord {
            id: new.id.unwrap_or_else(new_id),
            parent_region_id: new.parent_region_id,
            description: new.description.unwrap_or_default(),
            extra: new.extra,
        };
        let inserted = self
            .store
            .insert_region(&region, &self.audit_by(principal))
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => DomainError::CatalogRule(CatalogRule::IdTaken),
                other => not_found(Resource::Region)(other),
            });
        self.changed(inserted.map(|()| region))
    }

    pub async fn update_region(
        &self,
        principal: &Principal,
        id: &str,
        patch: RegionPatch,
    ) -> Result<RegionRecord, DomainError> {
        self.ensure_catalog_admin(principal).await?;
        let mut region = self.get_region(id).await?;
        if let Some(parent) = patch.parent_region_id {
            region.parent_region_id = parent;
        }
        if let Some(description) = patch.description {
            region.description = description.unwrap_or_default();
        }
        region.extra.extend(patch.extra);
        let updated = self
            .store
            .update_region(&region, &self.audit_by(principal))
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => DomainError::CatalogRule(CatalogRule::RegionCycle),
                other => not_found(Resource::Region)(other),
            });
        self.changed(updated.map(|()| region))
    }

    /// Deletes a region and those below it; 403 when any of them has endpoints (Keystone's
    /// `RegionDeletionError`).
    pub async fn delete_region(&self, principal: &Principal, id: &str) -> Result<(), DomainError> {
        self.ensure_catalog_admin(principal).await?;
        let deleted = self
            .store
            .delete_region(id, &self.audit_by(principal))
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    DomainError::CatalogRule(CatalogRule::RegionHasEndpoints)
                }
                other => not_found(Resource::Region)(other),
            });
        self.changed(deleted)
    }

    pub async fn list_services(
        &self,
        service_type: Option<&str>,
    ) -> Result<Vec<ServiceRecord>, DomainError> {
        self.store
            .list_services(service_type)
            .await
            .map_err(store_error)
    }

    pub async fn get_service(&self, id: &str) -> Result<ServiceRecord, DomainError> {
        self.store
            .get_service(id)
            .await
            .map_err(store_error)?
            .ok_or(DomainError::NotFound(Resource::Service))
    }

    /// Creates a service under a new id; `service.id` is ignored.
    pub async fn create_service(
        &self,
        principal: &Principal,
        service: ServiceRecord,
    ) -> Result<ServiceRecord, DomainError> {
        self.ensure_catalog_admin(principal).await?;
        let service = ServiceRecord {
            id: new_id(),
            ..service
        };
        let inserted = self
            .store
            .insert_service(&service, &self.audit_by(principal))
            .await
            .map_err(store_error);
        self.changed(inserted.map(|()| service))
    }

    pub async fn update_service(
        &self,
        principal: &Principal,
        id: &str,
        patch: ServicePatch,
    ) -> Result<ServiceRecord, DomainError> {
        self.ensure_catalog_admin(principal).await?;
        let mut service = self.get_service(id).await?;
        if let Some(service_type) = patch.service_type {
            service.service_type = service_type;
        }
        if let Some(name) = patch.name {
            service.name = name;
        }
        if let Some(description) = patch.description {
            service.description = description;
        }
        if let Some(enabled) = patch.enabled {
            service.enabled = enabled;
        }
        service.extra.extend(patch.extra);
        let updated = self
            .store
            .update_service(&service, &self.audit_by(principal))
            .await
            .map_err(not_found(Resource::Service));
        self.changed(updated.map(|()| service))
    }

    /// Deletes a service and its endpoints.
    pub async fn delete_service(&self, principal: &Principal, id: &str) -> Result<(), DomainError> {
        self.ensure_catalog_admin(principal).await?;
        let deleted = self
            .store
            .delete_service(id, &self.audit_by(principal))
            .await
            .map_err(not_found(Resource::Service));
        self.changed(deleted)
    }

    pub async fn list_endpoints(
        &self,
        filter: &EndpointFilter<'_>,
    ) -> Result<Vec<EndpointRecord>, DomainError> {
        self.store.list_endpoints(filter).await.map_err(store_error)
    }

    pub async fn get_endpoint(&self, id: &str) -> Result<EndpointRecord, DomainError> {
        self.store
            .get_endpoint(id)
            .await
            .map_err(store_error)?
            .ok_or(DomainError::NotFound(Resource::Endpoint))
    }

    /// The region id an endpoint will name: an existing region, or a legacy `region` created
    /// on the way. A missing service or region is 400, as Keystone answers.
    async fn endpoint_region(
        &self,
        principal: &Principal,
        service_id: &str,
        region: EndpointRegion,
    ) -> Result<Option<String>, DomainError> {
        if self
            .store
            .get_service(service_id)
            .await
            .map_err(store_error)?
            .is_none()
        {
            return Err(invalid_reference("service_id"));
        }
        let (id, legacy) = match region {
            EndpointRegion::None => return Ok(None),
            EndpointRegion::Id(id) => (id, false),
            EndpointRegion::Legacy(id) => (id, true),
        };
        if self
            .store
            .get_region(&id)
            .await
            .map_err(store_error)?
            .is_some()
        {
            return Ok(Some(id));
        }
        if !legacy {
            return Err(invalid_reference("region_id"));
        }
        let new = NewRegion {
            id: Some(id.clone()),
            ..NewRegion::default()
        };
        match self.create_region(principal, new).await {
            Ok(_) | Err(DomainError::CatalogRule(CatalogRule::IdTaken)) => Ok(Some(id)),
            Err(e) => Err(e),
        }
    }

    /// A write of `endpoint` whose service or region went away meanwhile is the same 400.
    fn endpoint_written(
        &self,
        written: Result<(), StoreError>,
        endpoint: EndpointRecord,
    ) -> Result<EndpointRecord, DomainError> {
        let written = written.map_err(|e| match e {
            StoreError::NotFound => invalid_reference("service_id"),
            other => store_error(other),
        });
        self.changed(written.map(|()| endpoint))
    }

    pub async fn create_endpoint(
        &self,
        principal: &Principal,
        new: NewEndpoint,
    ) -> Result<EndpointRecord, DomainError> {
        self.ensure_catalog_admin(principal).await?;
        let region_id = self
            .endpoint_region(principal, &new.service_id, new.region)
            .await?;
        let endpoint = EndpointRecord {
            id: new_id(),
            service_id: new.service_id,
            region_id,
            interface: new.interface,
            url: new.url,
            enabled: new.enabled,
            extra: new.extra,
        };
        let written = self
            .store
            .insert_endpoint(&endpoint, &self.audit_by(principal))
            .await;
        self.endpoint_written(written, endpoint)
    }

    pub async fn update_endpoint(
        &self,
        principal: &Principal,
        id: &str,
        patch: EndpointPatch,
    ) -> Result<EndpointRecord, DomainError> {
        self.ensure_catalog_admin(principal).await?;
        let mut endpoint = self.get_endpoint(id).await?;
        if let Some(service_id) = patch.service_id {
            endpoint.service_id = service_id;
        }
        let region = match patch.region {
            Some(region) => region,
            None => endpoint
                .region_id
                .clone()
                .map_or(EndpointRegion::None, EndpointRegion::Id),
        };
        endpoint.region_id = self
            .endpoint_region(principal, &endpoint.service_id, region)
            .await?;
        if let Some(interface) = patch.interface {
            endpoint.interface = interface;
        }
        if let Some(url) = patch.url {
            endpoint.url = url;
        }
        if let Some(enabled) = patch.enabled {
            endpoint.enabled = enabled;
        }
        endpoint.extra.extend(patch.extra);
        let written = self
            .store
            .update_endpoint(&endpoint, &self.audit_by(principal))
            .await;
        self.endpoint_written(written, endpoint)
    }

    pub async fn delete_endpoint(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<(), DomainError> {
        self.ensure_catalog_admin(principal).await?;
        let deleted = self
            .store
            .delete_endpoint(id, &self.audit_by(principal))
            .await
            .map_err(not_found(Resource::Endpoint));
        self.changed(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_ids_are_those_of_the_earlier_synthesized_catalog() {
        assert_eq!(derived_id("identity").len(), 32);
        assert_ne!(derived_id("identity-public"), derived_id("identity-admin"));
    }
}
