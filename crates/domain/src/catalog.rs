//! Rules of the Keystone service catalog (regions, services, endpoints) and of Keystone
//! credentials, where Keystone answers with statuses of their own.

/// A rule of the catalog (or of a domain's configuration) a request broke; nothing was changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CatalogRule {
    /// An object with this id exists already: a region created with a chosen id, or an EC2
    /// credential whose access key is taken (its id is derived from it).
    IdTaken,
    /// Deleting a region while it or a region below it has endpoints.
    RegionHasEndpoints,
    /// Making a region its own ancestor.
    RegionCycle,
    /// A domain configuration naming a group or option Keystone does not allow to be set per
    /// domain, or setting none.
    UnsupportedDomainConfig,
}

impl CatalogRule {
    pub fn message(&self) -> &'static str {
        match self {
            CatalogRule::IdTaken => "Conflict occurred attempting to store the object: duplicate ID.",
            CatalogRule::RegionHasEndpoints => {
                "Unable to delete the region because it or its child regions have associated endpoints."
            }
            CatalogRule::RegionCycle => {
                "A region cannot be its own ancestor: the parent region would create a cycle."
            }
            CatalogRule::UnsupportedDomainConfig => {
                "Invalid domain specific configuration: only options of the identity and ldap \
                 groups may be set per domain, each group an object of at least one option."
            }
        }
    }
}
