//! Tenants form one tree: root → partner → folder → customer → unit. A Keystone domain is a
//! tenant flagged as a domain; a Keystone project is any tenant. The hierarchy rules (which kind
//! may sit under which, who may change a locked tenant) are pure functions here.

use serde::{Deserialize, Serialize};

use crate::error::{FieldError, FieldErrorKind};
use crate::ids::{TenantId, UserId};
use crate::time::Timestamp;
use crate::values::Email;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantKind {
    Root,
    Partner,
    Folder,
    Customer,
    Unit,
}

impl TenantKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            TenantKind::Root => "root",
            TenantKind::Partner => "partner",
            TenantKind::Folder => "folder",
            TenantKind::Customer => "customer",
            TenantKind::Unit => "unit",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "root" => TenantKind::Root,
            "partner" => TenantKind::Partner,
            "folder" => TenantKind::Folder,
            "customer" => TenantKind::Customer,
            "unit" => TenantKind::Unit,
            _ => return None,
        })
    }

    /// Whether a tenant of kind `child` may sit directly under a tenant of this kind.
    ///
    /// The service-provider levels (root, partner, folder) hold partners, folders and
    /// customers; a customer's organisation is made of units, and units nest. Folders exist
    /// only at the provider levels, so a folder's children never depend on its lineage. There
    /// is exactly one root, created at first start.
    pub fn may_contain(&self, child: TenantKind) -> bool {
        use TenantKind::{Customer, Folder, Partner, Root, Unit};
        match (self, child) {
            (_, Root) => false,
            (Root | Partner | Folder, Partner | Folder | Customer) => true,
            (Root | Partner | Folder, Unit) => false,
            (Customer | Unit, Unit) => true,
            (Customer | Unit, Partner | Folder | Customer) => false,
        }
    }

    /// Customers start in trial (reference §4.2); every other level is billed as the level
    /// above it decides, which Warden shows as `production`.
    pub fn initial_pricing_mode(&self) -> &'static str {
        match self {
            TenantKind::Customer => "trial",
            TenantKind::Root | TenantKind::Partner | TenantKind::Folder | TenantKind::Unit => {
                "production"
            }
        }
    }
}

/// The `customer_type` values the published SDK knows.
pub const CUSTOMER_TYPES: [&str; 4] = ["default", "enterprise", "consumer", "small_office"];

/// The `contact.organization_size` values of the tenant contact (empty when unknown).
pub const ORGANIZATION_SIZES: [&str; 5] = ["1-10", "11-100", "101-500", "501-1000", "5000+"];

/// The `contact.types` a tenant contact may carry.
pub const CONTACT_TYPES: [&str; 5] = ["legal", "primary", "billing", "technical", "management"];

/// A tenant's name: trimmed, 1 to 255 characters, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantName(String);

impl TenantName {
    pub const MAX_CHARS: usize = 255;
    /// Keystone's limit for project and domain names.
    pub const KEYSTONE_MAX_CHARS: usize = 64;

    /// A project or domain name as the keystone face takes it: at most 64 characters.
    pub fn parse_keystone(field: &str, raw: &str) -> Result<Self, FieldError> {
        let name = Self::parse(field, raw)?;
        if name.0.chars().count() > Self::KEYSTONE_MAX_CHARS {
            return Err(FieldError::new(field, FieldErrorKind::TooLong));
        }
        Ok(name)
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(FieldError::new(field, FieldErrorKind::Missing));
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(FieldError::new(field, FieldErrorKind::TooLong));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(FieldError::new(field, FieldErrorKind::Invalid));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Free text for integrators (`internal_tag`): at most 256 characters, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InternalTag(String);

impl InternalTag {
    pub const MAX_CHARS: usize = 256;

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(FieldError::new(field, FieldErrorKind::TooLong));
        }
        if raw.chars().any(char::is_control) {
            return Err(FieldError::new(field, FieldErrorKind::Invalid));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A `customer_type` the SDK knows.
pub fn parse_customer_type(field: &str, raw: &str) -> Result<String, FieldError> {
    if CUSTOMER_TYPES.contains(&raw) {
        Ok(raw.to_owned())
    } else {
        Err(FieldError::new(field, FieldErrorKind::Invalid))
    }
}

/// The legal contact of a tenant. Unset text is empty. Its serde form is the stored one: a flat
/// object whose values were validated when written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredContact", into = "StoredContact")]
pub struct TenantContact {
    pub email: Option<Email>,
    pub phone: String,
    pub firstname: String,
    pub lastname: String,
    pub title: String,
    pub address1: String,
    pub address2: String,
    pub city: String,
    pub state: String,
    pub zipcode: String,
    pub country: String,
    pub website: String,
    pub industry: String,
    /// One of [`ORGANIZATION_SIZES`], or empty.
    pub organization_size: String,
    /// A subset of [`CONTACT_TYPES`].
    pub types: Vec<String>,
}

/// [`TenantContact`] as stored, with the e-mail as plain text.
#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct StoredContact {
    email: Option<String>,
    phone: String,
    firstname: String,
    lastname: String,
    title: String,
    address1: String,
    address2: String,
    city: String,
    state: String,
    zipcode: String,
    country: String,
    website: String,
    industry: String,
    organization_size: String,
    types: Vec<String>,
}

impl From<StoredContact> for TenantContact {
    fn from(c: StoredContact) -> Self {
        TenantContact {
            email: c.email.map(Email::from_trusted),
            phone: c.phone,
            firstname: c.firstname,
            lastname: c.lastname,
            title: c.title,
            address1: c.address1,
            address2: c.address2,
            city: c.city,
            state: c.state,
            zipcode: c.zipcode,
            country: c.country,
            website: c.website,
            industry: c.industry,
            organization_size: c.organization_size,
            types: c.types,
        }
    }
}

impl From<TenantContact> for StoredContact {
    fn from(c: TenantContact) -> Self {
        StoredContact {
            email: c.email.map(|e| e.as_str().to_owned()),
            phone: c.phone,
            firstname: c.firstname,
            lastname: c.lastname,
            title: c.title,
            address1: c.address1,
            address2: c.address2,
            city: c.city,
            state: c.state,
            zipcode: c.zipcode,
            country: c.country,
            website: c.website,
            industry: c.industry,
            organization_size: c.organization_size,
            types: c.types,
        }
    }
}

/// A partial change of a tenant contact: only the given fields change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TenantContactPatch {
    pub email: Option<Option<Email>>,
    pub phone: Option<String>,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub title: Option<String>,
    pub address1: Option<String>,
    pub address2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zipcode: Option<String>,
    pub country: Option<String>,
    pub website: Option<String>,
    pub industry: Option<String>,
    pub organization_size: Option<String>,
    pub types: Option<Vec<String>>,
}

impl TenantContactPatch {
    pub fn apply(&self, contact: &mut TenantContact) {
        fn set(target: &mut String, value: &Option<String>) {
            if let Some(v) = value {
                target.clone_from(v);
            }
        }
        if let Some(email) = &self.email {
            contact.email.clone_from(email);
        }
        set(&mut contact.phone, &self.phone);
        set(&mut contact.firstname, &self.firstname);
        set(&mut contact.lastname, &self.lastname);
        set(&mut contact.title, &self.title);
        set(&mut contact.address1, &self.address1);
        set(&mut contact.address2, &self.address2);
        set(&mut contact.city, &self.city);
        set(&mut contact.state, &self.state);
        set(&mut contact.zipcode, &self.zipcode);
        set(&mut contact.country, &self.country);
        set(&mut contact.website, &self.website);
        set(&mut contact.industry, &self.industry);
        set(&mut contact.organization_size, &self.organization_size);
        if let Some(types) = &self.types {
            contact.types.clone_from(types);
        }
    }
}

/// An organisation-size value, or empty.
pub fn parse_organization_size(field: &str, raw: &str) -> Result<String, FieldError> {
    if raw.is_empty() || ORGANIZATION_SIZES.contains(&raw) {
        Ok(raw.to_owned())
    } else {
        Err(FieldError::new(field, FieldErrorKind::Invalid))
    }
}

/// Contact types, each one of [`CONTACT_TYPES`]; duplicates collapse, order is kept.
pub fn parse_contact_types(field: &str, raw: &[String]) -> Result<Vec<String>, FieldError> {
    let mut types: Vec<String> = Vec::with_capacity(raw.len());
    for t in raw {
        if !CONTACT_TYPES.contains(&t.as_str()) {
            return Err(FieldError::new(field, FieldErrorKind::Invalid));
        }
        if !types.contains(t) {
            types.push(t.clone());
        }
    }
    Ok(types)
}

/// While enabled, only callers who may manage the owner tenant `owner_id` may change the
/// tenant (decided in core from their roles, not from where they live).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpdateLock {
    pub enabled: bool,
    pub owner_id: Option<TenantId>,
}

/// A requested lock change. Without `owner_id`, an enabled lock is owned by the caller's own
/// tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockChange {
    pub enabled: bool,
    pub owner_id: Option<TenantId>,
}

/// Whether `owner` may own a lock on `tenant`: itself or one of its ancestors.
pub fn may_own_lock(tenant: &Tenant, owner: TenantId) -> bool {
    tenant.id == owner || tenant.ancestors.contains(&owner)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub parent_id: Option<TenantId>,
    /// Ancestors from the root down to the parent; empty for the root.
    pub ancestors: Vec<TenantId>,
    pub kind: TenantKind,
    pub name: String,
    pub is_domain: bool,
    pub enabled: bool,
    pub language: String,
    /// The user a personal tenant belongs to.
    pub owner_id: Option<UserId>,
    pub contact: TenantContact,
    pub customer_type: String,
    pub customer_id: Option<String>,
    pub internal_tag: Option<String>,
    pub update_lock: UpdateLock,
    /// true: managed by the service provider; false: self-service.
    pub ancestral_access: bool,
    pub mfa_status: String,
    pub pricing_mode: String,
    /// Kept by the store whenever a child is added, moved or deleted.
    pub has_children: bool,
    /// Keystone's project description.
    pub description: String,
    /// Keystone's project tags, in the order they were set; unique, case-sensitive.
    pub tags: Vec<String>,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Tenant {
    /// Whether `other` is this tenant or lies below it.
    pub fn contains(&self, other: &Tenant) -> bool {
        other.id == self.id || other.ancestors.contains(&self.id)
    }

    /// The ancestors nearest first, as `embed_path` shows them.
    pub fn path_nearest_first(&self) -> Vec<TenantId> {
        self.ancestors.iter().rev().copied().collect()
    }

    /// The key sibling names are unique on, compared without regard to case. Personal
    /// tenants have none: they are named after their user, whose login is already unique,
    /// and creating a user must not fail because a unit happens to carry that name.
    pub fn name_key(&self) -> Option<String> {
        self.owner_id.is_none().then(|| self.name.to_lowercase())
    }

    /// The tenant as it is after the plain fields of `patch`, without version or timestamps
    /// changed. A move (`parent_id`) and the lock need other tenants to decide and are applied
    /// by the service.
    pub fn patched(&self, patch: &TenantPatch) -> Tenant {
        let mut next = self.clone();
        if let Some(name) = &patch.name {
            next.name = name.as_str().to_owned();
        }
        patch.contact.apply(&mut next.contact);
        if let Some(enabled) = patch.enabled {
            next.enabled = enabled;
        }
        if let Some(language) = &patch.language {
            next.language.clone_from(language);
        }
        if let Some(customer_type) = &patch.customer_type {
            next.customer_type.clone_from(customer_type);
        }
        if let Some(customer_id) = &patch.customer_id {
            next.customer_id.clone_from(customer_id);
        }
        if let Some(tag) = &patch.internal_tag {
            next.internal_tag = tag.clone().map(InternalTag::into_string);
        }
        if let Some(access) = patch.ancestral_access {
            next.ancestral_access = access;
        }
        if let Some(description) = &patch.description {
            next.description.clone_from(description);
        }
        if let Some(tags) = &patch.tags {
            next.tags.clone_from(tags);
        }
        next
    }
}

/// A tenant to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTenant {
    pub parent_id: TenantId,
    pub kind: TenantKind,
    pub name: TenantName,
    pub contact: TenantContact,
    pub enabled: bool,
    pub language: String,
    pub customer_type: String,
    pub customer_id: Option<String>,
    pub internal_tag: Option<InternalTag>,
    pub ancestral_access: bool,
    pub update_lock: Option<LockChange>,
    /// A Keystone domain (`POST /v3/domains`, or a project created with `is_domain`).
    pub is_domain: bool,
    pub description: String,
    pub tags: Vec<String>,
}

impl NewTenant {
    pub fn new(parent_id: TenantId, kind: TenantKind, name: TenantName) -> Self {
        Self {
            parent_id,
            kind,
            name,
            contact: TenantContact::default(),
            enabled: true,
            language: "en".to_owned(),
            customer_type: "default".to_owned(),
            customer_id: None,
            internal_tag: None,
            ancestral_access: true,
            update_lock: None,
            is_domain: false,
            description: String::new(),
            tags: Vec::new(),
        }
    }
}

/// A change to a tenant. `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TenantPatch {
    pub name: Option<TenantName>,
    pub contact: TenantContactPatch,
    pub enabled: Option<bool>,
    pub language: Option<String>,
    pub customer_type: Option<String>,
    pub customer_id: Option<Option<String>>,
    pub internal_tag: Option<Option<InternalTag>>,
    pub ancestral_access: Option<bool>,
    /// Moves the tenant under another parent.
    pub parent_id: Option<TenantId>,
    /// A tenant's kind never changes; a PUT may repeat it.
    pub kind: Option<TenantKind>,
    pub update_lock: Option<LockChange>,
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// Which tenants a list shows. The three are mutually exclusive, as in the published API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantFilter {
    /// These tenants (`uuids`), those the caller may read.
    Ids(Vec<TenantId>),
    /// The direct children of a tenant (`parent_id`).
    Children(TenantId),
    /// A tenant and everything below it (`subtree_root_id`).
    Subtree(TenantId),
}

/// A broken tenant rule; each face gives it its own status and code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantRule {
    /// Creating a tenant under a disabled parent.
    ParentDisabled,
    /// Another child of the same parent has this name.
    NameTaken,
    /// Deleting a tenant that is still enabled.
    StillEnabled,
    /// Moving a tenant under itself or one of its descendants.
    MoveUnderOwnDescendant,
    /// The tenant's update lock is held by a tenant the caller does not belong to.
    Locked,
    /// Moving a tenant under a disabled tenant.
    MoveUnderDisabled,
    /// Moving a locked tenant to where its lock owner is not above it.
    MoveOutsideLockOwner,
}

impl TenantRule {
    pub fn message(&self) -> &'static str {
        match self {
            TenantRule::ParentDisabled => "The parent tenant is disabled.",
            TenantRule::NameTaken => {
                "Another tenant with this name already exists under the parent."
            }
            TenantRule::StillEnabled => "It is prohibited to delete a non-disabled tenant.",
            TenantRule::MoveUnderOwnDescendant => {
                "A tenant cannot be moved under itself or one of its own children."
            }
            TenantRule::Locked => "The tenant is locked for updates by another tenant.",
            TenantRule::MoveUnderDisabled => "A tenant cannot be moved under a disabled tenant.",
            TenantRule::MoveOutsideLockOwner => {
                "The target hierarchy does not contain the tenant that locked this tenant."
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TenantKind::{Customer, Folder, Partner, Root, Unit};

    const ALL: [TenantKind; 5] = [Root, Partner, Folder, Customer, Unit];

    fn tenant(parent: Option<&Tenant>, kind: TenantKind) -> Tenant {
        let mut ancestors = parent.map(|p| p.ancestors.clone()).unwrap_or_default();
        if let Some(p) = parent {
            ancestors.push(p.id);
        }
        Tenant {
            id: TenantId::new_random(),
            parent_id: parent.map(|p| p.id),
            ancestors,
            kind,
            name: "Acme".into(),
            is_domain: false,
            enabled: true,
            language: "en".into(),
            owner_id: None,
            contact: TenantContact::default(),
            customer_type: "default".into(),
            customer_id: None,
            internal_tag: None,
            update_lock: UpdateLock::default(),
            ancestral_access: true,
            mfa_status: "disabled".into(),
            pricing_mode: kind.initial_pricing_mode().into(),
            has_children: false,
            description: String::new(),
            tags: Vec::new(),
            version: 1,
            created_at: Timestamp::EPOCH,
            updated_at: Timestamp::EPOCH,
        }
    }

    #[test]
    fn provider_levels_hold_partners_folders_and_customers_only() {
        for parent in [Root, Partner, Folder] {
            for child in [Partner, Folder, Customer] {
                assert!(parent.may_contain(child), "{parent:?} → {child:?}");
            }
            assert!(!parent.may_contain(Unit), "{parent:?} → unit");
        }
    }

    #[test]
    fn customers_and_units_hold_units_only() {
        for parent in [Customer, Unit] {
            assert!(parent.may_contain(Unit));
            for child in [Partner, Folder, Customer] {
                assert!(!parent.may_contain(child), "{parent:?} → {child:?}");
            }
        }
    }

    #[test]
    fn nothing_holds_a_root() {
        for parent in ALL {
            assert!(!parent.may_contain(Root));
        }
    }

    #[test]
    fn only_customers_start_in_trial() {
        for kind in ALL {
            let expected = if kind == Customer {
                "trial"
            } else {
                "production"
            };
            assert_eq!(kind.initial_pricing_mode(), expected);
        }
    }

    #[test]
    fn a_lock_is_owned_by_the_tenant_or_a_tenant_above_it() {
        let root = tenant(None, Root);
        let partner = tenant(Some(&root), Partner);
        let customer = tenant(Some(&partner), Customer);
        let sibling = tenant(Some(&root), Partner);
        assert!(may_own_lock(&customer, partner.id));
        assert!(may_own_lock(&customer, customer.id));
        assert!(!may_own_lock(&customer, sibling.id));
    }

    #[test]
    fn names_are_trimmed_bounded_and_required() {
        assert_eq!(
            TenantName::parse("name", "  Acme  ").map(TenantName::into_string),
            Ok("Acme".to_owned())
        );
        assert_eq!(
            TenantName::parse("name", "   ").map_err(|e| e.kind),
            Err(FieldErrorKind::Missing)
        );
        assert_eq!(
            TenantName::parse("name", &"x".repeat(256)).map_err(|e| e.kind),
            Err(FieldErrorKind::TooLong)
        );
        assert!(TenantName::parse("name", "a\nb").is_err());
        assert!(InternalTag::parse("internal_tag", &"x".repeat(256)).is_ok());
        assert!(InternalTag::parse("internal_tag", &"x".repeat(257)).is_err());
    }

    #[test]
    fn sibling_names_compare_without_case_and_personal_tenants_are_exempt() {
        let root = tenant(None, Root);
        let mut unit = tenant(Some(&root), Unit);
        unit.name = "ACME Ltd".into();
        assert_eq!(unit.name_key().as_deref(), Some("acme ltd"));
        unit.owner_id = Some(UserId::new_random());
        assert_eq!(unit.name_key(), None);
    }

    #[test]
    fn contact_patch_merges_only_given_fields() {
        let mut contact = TenantContact {
            city: "Berlin".into(),
            firstname: "Ann".into(),
            ..TenantContact::default()
        };
        let patch = TenantContactPatch {
            firstname: Some("Bea".into()),
            types: Some(vec!["legal".into()]),
            ..TenantContactPatch::default()
        };
        patch.apply(&mut contact);
        assert_eq!(contact.firstname, "Bea");
        assert_eq!(contact.city, "Berlin");
        assert_eq!(contact.types, vec!["legal".to_owned()]);
    }

    #[test]
    fn contact_round_trips_through_its_stored_form() {
        let contact = TenantContact {
            email: Email::parse("email", "ops@acme.example").ok(),
            city: "Bonn".into(),
            types: vec!["legal".into()],
            ..TenantContact::default()
        };
        let stored = serde_json::to_string(&contact).unwrap();
        assert_eq!(
            serde_json::from_str::<TenantContact>(&stored).unwrap(),
            contact
        );
        assert_eq!(
            serde_json::from_str::<TenantContact>("{}").unwrap(),
            TenantContact::default()
        );
    }

    #[test]
    fn contact_enumerations_are_checked() {
        assert!(parse_organization_size("s", "11-100").is_ok());
        assert!(parse_organization_size("s", "").is_ok());
        assert!(parse_organization_size("s", "12").is_err());
        assert_eq!(
            parse_contact_types("t", &["legal".into(), "legal".into(), "billing".into()]),
            Ok(vec!["legal".to_owned(), "billing".to_owned()])
        );
        assert!(parse_contact_types("t", &["boss".into()]).is_err());
        assert!(parse_customer_type("c", "enterprise").is_ok());
        assert!(parse_customer_type("c", "gold").is_err());
    }

    #[test]
    fn patch_changes_plain_fields_and_leaves_position_and_lock_to_the_service() {
        let root = tenant(None, Root);
        let t = tenant(Some(&root), Partner);
        let patch = TenantPatch {
            name: TenantName::parse("name", "Renamed").ok(),
            enabled: Some(false),
            customer_id: Some(Some("ext-1".into())),
            internal_tag: Some(None),
            parent_id: Some(TenantId::new_random()),
            update_lock: Some(LockChange {
                enabled: true,
                owner_id: None,
            }),
            ..TenantPatch::default()
        };
        let next = t.patched(&patch);
        assert_eq!(next.name, "Renamed");
        assert!(!next.enabled);
        assert_eq!(next.customer_id.as_deref(), Some("ext-1"));
        assert_eq!(next.parent_id, t.parent_id);
        assert_eq!(next.update_lock, t.update_lock);
        assert_eq!(next.version, t.version);
    }

    #[test]
    fn embed_path_lists_ancestors_nearest_first() {
        let root = tenant(None, Root);
        let partner = tenant(Some(&root), Partner);
        let customer = tenant(Some(&partner), Customer);
        assert_eq!(customer.path_nearest_first(), vec![partner.id, root.id]);
        assert!(root.contains(&customer));
        assert!(!customer.contains(&partner));
    }
}
