//! `/api/2/tenants`: the tenant tree — create, read, list with cursor paging, change (rename,
//! contact, lock, move), delete with everything below, and a tenant's children and users.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use warden_core::tenants::{TenantListing, MAX_UUIDS};
use warden_core::Warden;
use warden_domain::tenant::{
    parse_contact_types, parse_customer_type, parse_organization_size, InternalTag, LockChange,
    NewTenant, TenantContact, TenantContactPatch, TenantFilter, TenantName, TenantPatch,
};
use warden_domain::{
    DomainError, Email, FieldError, FieldErrorKind, Tenant, TenantId, TenantKind, Text,
};
use warden_http::Json;

use crate::error::AccountError;
use crate::extract::{AccountJson, AccountQuery, Caller};
use crate::fields::Errors;
use crate::lenient;
use crate::openapi::ErrorBody;

/// The routes of `/tenants`.
pub fn routes() -> OpenApiRouter<Arc<Warden>> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
        .routes(routes!(children))
        .routes(routes!(users))
}

/// Branding is not modelled: every tenant shows the default brand.
const DEFAULT_BRAND_ID: i64 = 1;

#[derive(Serialize, ToSchema)]
pub struct TenantContactResponse {
    email: String,
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

impl From<TenantContact> for TenantContactResponse {
    fn from(c: TenantContact) -> Self {
        TenantContactResponse {
            email: c.email.map(|e| e.as_str().to_owned()).unwrap_or_default(),
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

#[derive(Serialize, ToSchema)]
pub struct UpdateLockResponse {
    enabled: bool,
    owner_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TenantResponse {
    id: String,
    version: i64,
    name: String,
    /// `root`, `partner`, `folder`, `customer` or `unit`.
    #[schema(value_type = String)]
    kind: &'static str,
    parent_id: Option<String>,
    enabled: bool,
    contact: TenantContactResponse,
    language: String,
    customer_type: String,
    customer_id: Option<String>,
    internal_tag: Option<String>,
    brand_id: i64,
    /// The user a personal tenant belongs to.
    owner_id: Option<String>,
    has_children: bool,
    #[schema(value_type = String)]
    default_idp_id: &'static str,
    update_lock: UpdateLockResponse,
    ancestral_access: bool,
    mfa_status: String,
    pricing_mode: String,
    created_at: String,
    updated_at: String,
    deleted_at: Option<String>,
    /// Only with `embed_path=true`: the ancestors' ids, nearest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<Vec<String>>,
}

impl TenantResponse {
    fn new(t: Tenant, embed_path: bool) -> Self {
        let path = embed_path.then(|| {
            t.path_nearest_first()
                .iter()
                .map(TenantId::to_string)
                .collect()
        });
        TenantResponse {
            id: t.id.to_string(),
            version: t.version,
            name: t.name,
            kind: t.kind.as_str(),
            parent_id: t.parent_id.map(|p| p.to_string()),
            enabled: t.enabled,
            contact: t.contact.into(),
            language: t.language,
            customer_type: t.customer_type,
            customer_id: t.customer_id,
            internal_tag: t.internal_tag,
            brand_id: DEFAULT_BRAND_ID,
            owner_id: t.owner_id.map(|o| o.to_string()),
            has_children: t.has_children,
            default_idp_id: warden_domain::user::LOCAL_IDP_ID,
            update_lock: UpdateLockResponse {
                enabled: t.update_lock.enabled,
                owner_id: t.update_lock.owner_id.map(|o| o.to_string()),
            },
            ancestral_access: t.ancestral_access,
            mfa_status: t.mfa_status,
            pricing_mode: t.pricing_mode,
            created_at: t.created_at.rfc3339_micros_offset(),
            updated_at: t.updated_at.rfc3339_micros_offset(),
            deleted_at: None,
            path,
        }
    }
}

impl From<Tenant> for TenantResponse {
    fn from(t: Tenant) -> Self {
        TenantResponse::new(t, false)
    }
}

fn tenant_id(errors: &mut Errors, field: &str, raw: &str) -> Option<TenantId> {
    let id = TenantId::parse(raw.trim());
    if id.is_none() {
        errors.push(field, FieldErrorKind::Invalid);
    }
    id
}

/// A tenant contact as sent: every field optional, `null` meaning empty. Unknown keys are
/// ignored.
#[derive(Deserialize, Default, ToSchema)]
pub struct TenantContactRequest {
    #[serde(default, deserialize_with = "lenient::opt_text")]
    email: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    phone: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    firstname: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    lastname: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    title: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    address1: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    address2: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    city: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    state: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    zipcode: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    country: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    website: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    industry: Option<String>,
    /// `1-10`, `11-100`, `101-500`, `501-1000`, `5000+` or empty.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    organization_size: Option<String>,
    /// A subset of `legal`, `primary`, `billing`, `technical`, `management`.
    types: Option<Vec<String>>,
}

impl TenantContactRequest {
    fn into_patch(self, errors: &mut Errors) -> TenantContactPatch {
        let mut text = |field: &str, value: Option<String>| -> Option<String> {
            value.and_then(|v| {
                errors
                    .take(Text::parse(&format!("contact.{field}"), &v))
                    .map(|t| t.as_str().to_owned())
            })
        };
        let phone = text("phone", self.phone);
        let firstname = text("firstname", self.firstname);
        let lastname = text("lastname", self.lastname);
        let title = text("title", self.title);
        let address1 = text("address1", self.address1);
        let address2 = text("address2", self.address2);
        let city = text("city", self.city);
        let state = text("state", self.state);
        let zipcode = text("zipcode", self.zipcode);
        let country = text("country", self.country);
        let website = text("website", self.website);
        let industry = text("industry", self.industry);
        let email = match self.email {
            None => None,
            Some(e) if e.is_empty() => Some(None),
            Some(e) => errors.take(Email::parse("contact.email", &e)).map(Some),
        };
        let organization_size = self
            .organization_size
            .and_then(|s| errors.take(parse_organization_size("contact.organization_size", &s)));
        let types = self
            .types
            .and_then(|t| errors.take(parse_contact_types("contact.types", &t)));
        TenantContactPatch {
            email,
            phone,
            firstname,
            lastname,
            title,
            address1,
            address2,
            city,
            state,
            zipcode,
            country,
            website,
            industry,
            organization_size,
            types,
        }
    }
}

/// `{"enabled", "owner_id"}`; the scripts send `enabled` as a string too.
#[derive(Deserialize, ToSchema)]
pub struct UpdateLockRequest {
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    #[schema(value_type = Option<bool>)]
    enabled: Option<bool>,
    /// The tenant whose members (and those above it) may still change the tenant; the
    /// caller's own tenant when absent.
    owner_id: Option<String>,
}

impl UpdateLockRequest {
    fn into_change(self, errors: &mut Errors) -> Option<LockChange> {
        let owner_id = match self.owner_id.as_deref() {
            None | Some("") => Some(None),
            Some(raw) => tenant_id(errors, "update_lock.owner_id", raw).map(Some),
        };
        let enabled = self.enabled;
        if enabled.is_none() {
            errors.push("update_lock.enabled", FieldErrorKind::Missing);
        }
        Some(LockChange {
            enabled: enabled?,
            owner_id: owner_id?,
        })
    }
}

fn kind(errors: &mut Errors, raw: &str) -> Option<TenantKind> {
    let kind = TenantKind::parse(raw);
    if kind.is_none() {
        errors.push("kind", FieldErrorKind::Invalid);
    }
    kind
}

#[derive(Deserialize, ToSchema)]
pub struct CreateTenantRequest {
    name: Option<String>,
    /// `partner`, `folder`, `customer` or `unit`, as the parent allows.
    kind: Option<String>,
    parent_id: Option<String>,
    contact: Option<TenantContactRequest>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    #[schema(value_type = Option<bool>)]
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    language: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    customer_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    customer_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    internal_tag: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    #[schema(value_type = Option<bool>)]
    ancestral_access: Option<bool>,
    update_lock: Option<UpdateLockRequest>,
}

impl TryFrom<CreateTenantRequest> for NewTenant {
    type Error = DomainError;

    fn try_from(r: CreateTenantRequest) -> Result<Self, DomainError> {
        let mut errors = Errors::default();
        let name = match r.name.as_deref() {
            Some(n) => errors.take(TenantName::parse("name", n)),
            None => errors.take(Err(FieldError::new("name", FieldErrorKind::Missing))),
        };
        let kind = match r.kind.as_deref() {
            Some(k) => kind(&mut errors, k),
            None => errors.take(Err(FieldError::new("kind", FieldErrorKind::Missing))),
        };
        let parent_id = match r.parent_id.as_deref() {
            Some(p) => tenant_id(&mut errors, "parent_id", p),
            None => errors.take(Err(FieldError::new("parent_id", FieldErrorKind::Missing))),
        };
        let contact = r.contact.map(|c| c.into_patch(&mut errors));
        let language = r.language.filter(|l| !l.is_empty()).and_then(|l| {
            errors
                .take(Text::parse("language", &l))
                .map(|t| t.as_str().to_owned())
        });
        let customer_type = r
            .customer_type
            .filter(|c| !c.is_empty())
            .and_then(|c| errors.take(parse_customer_type("customer_type", &c)));
        let internal_tag = r
            .internal_tag
            .filter(|t| !t.is_empty())
            .and_then(|t| errors.take(InternalTag::parse("internal_tag", &t)));
        let customer_id = r.customer_id.filter(|c| !c.is_empty()).and_then(|c| {
            errors
                .take(Text::parse("customer_id", &c))
                .map(|t| t.as_str().to_owned())
        });
        let update_lock = r.update_lock.and_then(|l| l.into_change(&mut errors));
        let (Some(name), Some(kind), Some(parent_id)) = (name, kind, parent_id) else {
            return Err(DomainError::Invalid(errors.0));
        };
        let mut new = NewTenant::new(parent_id, kind, name);
        if let Some(contact) = contact {
            contact.apply(&mut new.contact);
        }
        if let Some(enabled) = r.enabled {
            new.enabled = enabled;
        }
        if let Some(language) = language {
            new.language = language;
        }
        if let Some(customer_type) = customer_type {
            new.customer_type = customer_type;
        }
        new.customer_id = customer_id;
        new.internal_tag = internal_tag;
        if let Some(access) = r.ancestral_access {
            new.ancestral_access = access;
        }
        new.update_lock = update_lock;
        errors.finish(new)
    }
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateTenantRequest {
    /// Revision number (an integer; a string holding one is accepted).
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    #[schema(value_type = Option<i64>)]
    version: Option<i64>,
    name: Option<String>,
    /// Only the given keys change.
    contact: Option<TenantContactRequest>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    #[schema(value_type = Option<bool>)]
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    language: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    customer_type: Option<String>,
    /// `null` or `""` clears it.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    customer_id: Option<String>,
    /// `null` or `""` clears it.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    internal_tag: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    #[schema(value_type = Option<bool>)]
    ancestral_access: Option<bool>,
    /// Moves the tenant, with its whole subtree, under another parent.
    parent_id: Option<String>,
    /// A tenant's kind cannot change; it may be repeated.
    kind: Option<String>,
    update_lock: Option<UpdateLockRequest>,
}

impl UpdateTenantRequest {
    fn into_command(self) -> Result<(TenantPatch, i64), DomainError> {
        let mut errors = Errors::default();
        let version = self.version;
        if version.is_none() {
            errors.push("version", FieldErrorKind::Missing);
        }
        let name = self
            .name
            .and_then(|n| errors.take(TenantName::parse("name", &n)));
        let contact = self
            .contact
            .map(|c| c.into_patch(&mut errors))
            .unwrap_or_default();
        let language = self.language.filter(|l| !l.is_empty()).and_then(|l| {
            errors
                .take(Text::parse("language", &l))
                .map(|t| t.as_str().to_owned())
        });
        let customer_type = self
            .customer_type
            .filter(|c| !c.is_empty())
            .and_then(|c| errors.take(parse_customer_type("customer_type", &c)));
        let customer_id = match self.customer_id {
            None => None,
            Some(c) if c.is_empty() => Some(None),
            Some(c) => errors
                .take(Text::parse("customer_id", &c))
                .map(|t| Some(t.as_str().to_owned())),
        };
        let internal_tag = match self.internal_tag {
            None => None,
            Some(t) if t.is_empty() => Some(None),
            Some(t) => errors
                .take(InternalTag::parse("internal_tag", &t))
                .map(Some),
        };
        let parent_id = self
            .parent_id
            .filter(|p| !p.is_empty())
            .and_then(|p| tenant_id(&mut errors, "parent_id", &p));
        let kind = self.kind.and_then(|k| kind(&mut errors, &k));
        let update_lock = self.update_lock.and_then(|l| l.into_change(&mut errors));
        let patch = TenantPatch {
            name,
            contact,
            enabled: self.enabled,
            language,
            customer_type,
            customer_id,
            internal_tag,
            ancestral_access: self.ancestral_access,
            parent_id,
            kind,
            update_lock,
            description: None,
            tags: None,
        };
        errors.finish((patch, version.unwrap_or_default()))
    }
}

#[utoipa::path(post, path = "/api/2/tenants", tag = "tenants", request_body = CreateTenantRequest,
    responses((status = 201, body = TenantResponse), (status = 400, description = "Invalid input, a kind the parent cannot hold, or the parent is disabled (code 1003)", body = ErrorBody), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 403, description = "The caller does not manage the parent", body = ErrorBody), (status = 409, description = "A sibling has the name (code 1004)", body = ErrorBody), (status = 415, description = "Not JSON", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    AccountJson(body): AccountJson<CreateTenantRequest>,
) -> Result<(StatusCode, Json<TenantResponse>), AccountError> {
    let new = NewTenant::try_from(body)?;
    let tenant = warden.create_tenant(&caller, new).await?;
    Ok((StatusCode::CREATED, Json(tenant.into())))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetQuery {
    /// Adds `path`, the ancestors' ids nearest first.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    #[param(value_type = Option<bool>)]
    embed_path: Option<bool>,
}

#[utoipa::path(get, path = "/api/2/tenants/{tenant_id}", tag = "tenants", params(("tenant_id" = String, Path), GetQuery),
    responses((status = 200, body = TenantResponse), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 403, description = "Outside the caller's reach", body = ErrorBody), (status = 404, description = "No such tenant (code 1005)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    Path(tenant_id): Path<String>,
    AccountQuery(query): AccountQuery<GetQuery>,
) -> Result<Json<TenantResponse>, AccountError> {
    let tenant = warden.get_tenant(&caller, &tenant_id).await?;
    Ok(Json(TenantResponse::new(
        tenant,
        query.embed_path.unwrap_or(false),
    )))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Comma-separated tenant ids, at most 100; excludes `parent_id` and `subtree_root_id`.
    uuids: Option<String>,
    /// The direct children of this tenant.
    parent_id: Option<String>,
    /// This tenant and everything below it, by depth.
    subtree_root_id: Option<String>,
    /// Page size: 100 by default; larger values are cut to 1000.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    #[param(value_type = Option<i64>)]
    limit: Option<i64>,
    /// The cursor of the previous page; it carries the filter, so nothing else is needed.
    after: Option<String>,
}

impl ListQuery {
    fn into_listing(self) -> Result<TenantListing, DomainError> {
        let mut errors = Errors::default();
        let mut filters = Vec::new();
        if let Some(raw) = self.uuids.filter(|u| !u.trim().is_empty()) {
            let mut ids = Vec::new();
            for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                match TenantId::parse(part) {
                    Some(id) if !ids.contains(&id) => ids.push(id),
                    Some(_) => {}
                    None => {
                        errors.push("uuids", FieldErrorKind::Invalid);
                        break;
                    }
                }
            }
            if ids.len() > MAX_UUIDS {
                errors.push("uuids", FieldErrorKind::TooLong);
            }
            filters.push(TenantFilter::Ids(ids));
        }
        if let Some(raw) = self.parent_id.filter(|p| !p.trim().is_empty()) {
            if let Some(id) = tenant_id(&mut errors, "parent_id", &raw) {
                filters.push(TenantFilter::Children(id));
            }
        }
        if let Some(raw) = self.subtree_root_id.filter(|s| !s.trim().is_empty()) {
            if let Some(id) = tenant_id(&mut errors, "subtree_root_id", &raw) {
                filters.push(TenantFilter::Subtree(id));
            }
        }
        // The three filters are mutually exclusive: every one after the first is refused.
        for extra in filters.iter().skip(1) {
            let field = match extra {
                TenantFilter::Ids(_) => "uuids",
                TenantFilter::Children(_) => "parent_id",
                TenantFilter::Subtree(_) => "subtree_root_id",
            };
            errors.push(field, FieldErrorKind::Invalid);
        }
        let limit = match self.limit {
            None => None,
            Some(l) if l < 1 => {
                errors.push("limit", FieldErrorKind::Invalid);
                None
            }
            Some(l) => Some(u32::try_from(l).unwrap_or(u32::MAX)),
        };
        errors.finish(TenantListing {
            filter: filters.into_iter().next(),
            limit,
            after: self.after,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct TenantCursors {
    /// Absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TenantPaging {
    cursors: TenantCursors,
}

#[derive(Serialize, ToSchema)]
pub struct TenantListResponse {
    items: Vec<TenantResponse>,
    paging: TenantPaging,
    /// When the page was read.
    timestamp: String,
}

#[utoipa::path(get, path = "/api/2/tenants", tag = "tenants", params(ListQuery),
    responses((status = 200, body = TenantListResponse), (status = 400, description = "No filter, several filters, or a bad cursor", body = ErrorBody), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 403, description = "The parent or subtree root is outside the caller's reach", body = ErrorBody), (status = 404, description = "No such parent or subtree root (code 1005)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    AccountQuery(query): AccountQuery<ListQuery>,
) -> Result<Json<TenantListResponse>, AccountError> {
    let page = warden.list_tenants(&caller, query.into_listing()?).await?;
    Ok(Json(TenantListResponse {
        items: page.tenants.into_iter().map(TenantResponse::from).collect(),
        paging: TenantPaging {
            cursors: TenantCursors { after: page.after },
        },
        timestamp: page.timestamp.rfc3339_micros_offset(),
    }))
}

#[utoipa::path(put, path = "/api/2/tenants/{tenant_id}", tag = "tenants", params(("tenant_id" = String, Path)), request_body = UpdateTenantRequest,
    responses((status = 200, body = TenantResponse), (status = 400, description = "Invalid input or a broken tree rule: a kind the new parent cannot hold, under its own child (1007), under a disabled tenant (1013), away from the lock owner (1032)", body = ErrorBody), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 403, description = "Outside the caller's reach, or locked by another tenant (code 1012)", body = ErrorBody), (status = 404, description = "No such tenant (code 1005)", body = ErrorBody), (status = 409, description = "Stale version (code 1001) or a sibling has the name (code 1004)", body = ErrorBody), (status = 415, description = "Not JSON", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    Path(tenant_id): Path<String>,
    AccountJson(body): AccountJson<UpdateTenantRequest>,
) -> Result<Json<TenantResponse>, AccountError> {
    let (patch, version) = body.into_command()?;
    Ok(Json(
        warden
            .update_tenant(&caller, &tenant_id, patch, version)
            .await?
            .into(),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// The current revision number of the tenant.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    #[param(value_type = Option<i64>)]
    version: Option<i64>,
}

#[utoipa::path(delete, path = "/api/2/tenants/{tenant_id}", tag = "tenants", params(("tenant_id" = String, Path), VersionQuery),
    responses((status = 204, description = "Deleted, with every tenant, user and API client below it"), (status = 400, description = "Missing version, or the tenant is still enabled (code 1006)", body = ErrorBody), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 403, description = "Outside the caller's reach, the caller's own tenant, or locked (code 1012)", body = ErrorBody), (status = 404, description = "No such tenant (code 1005)", body = ErrorBody), (status = 409, description = "Stale version (code 1001)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    Path(tenant_id): Path<String>,
    AccountQuery(query): AccountQuery<VersionQuery>,
) -> Result<StatusCode, AccountError> {
    let version = query
        .version
        .ok_or_else(|| DomainError::invalid("version", FieldErrorKind::Missing))?;
    warden.delete_tenant(&caller, &tenant_id, version).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChildrenQuery {
    /// Full tenant objects instead of ids.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    #[param(value_type = Option<bool>)]
    include_details: Option<bool>,
}

/// Ids, or with `include_details=true` whole tenants.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ChildItems {
    Ids(Vec<String>),
    Details(Vec<TenantResponse>),
}

#[derive(Serialize, ToSchema)]
pub struct ChildrenResponse {
    items: ChildItems,
}

#[utoipa::path(get, path = "/api/2/tenants/{tenant_id}/children", tag = "tenants", params(("tenant_id" = String, Path), ChildrenQuery),
    responses((status = 200, body = ChildrenResponse, description = "The direct children, by name"), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 403, description = "Outside the caller's reach", body = ErrorBody), (status = 404, description = "No such tenant (code 1005)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn children(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    Path(tenant_id): Path<String>,
    AccountQuery(query): AccountQuery<ChildrenQuery>,
) -> Result<Json<ChildrenResponse>, AccountError> {
    let children = warden.tenant_children(&caller, &tenant_id).await?;
    let items = if query.include_details.unwrap_or(false) {
        ChildItems::Details(children.into_iter().map(TenantResponse::from).collect())
    } else {
        ChildItems::Ids(children.iter().map(|t| t.id.to_string()).collect())
    };
    Ok(Json(ChildrenResponse { items }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsersQuery {
    /// Also the users of every tenant below.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    #[param(value_type = Option<bool>)]
    include_grand_children: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct TenantUsersResponse {
    /// User ids, by login.
    items: Vec<String>,
}

#[utoipa::path(get, path = "/api/2/tenants/{tenant_id}/users", tag = "tenants", params(("tenant_id" = String, Path), UsersQuery),
    responses((status = 200, body = TenantUsersResponse), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 403, description = "Outside the caller's reach", body = ErrorBody), (status = 404, description = "No such tenant (code 1005)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn users(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    Path(tenant_id): Path<String>,
    AccountQuery(query): AccountQuery<UsersQuery>,
) -> Result<Json<TenantUsersResponse>, AccountError> {
    let ids = warden
        .tenant_users(
            &caller,
            &tenant_id,
            query.include_grand_children.unwrap_or(false),
        )
        .await?;
    Ok(Json(TenantUsersResponse {
        items: ids.iter().map(ToString::to_string).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_create_without_the_required_fields_names_each_of_them() {
        let body: CreateTenantRequest = serde_json::from_str("{}").unwrap();
        let Err(DomainError::Invalid(errors)) = NewTenant::try_from(body) else {
            panic!("expected invalid")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "kind", "parent_id"]);
    }

    #[test]
    fn the_scripts_string_forms_are_accepted_in_a_put() {
        let body: UpdateTenantRequest = serde_json::from_str(
            r#"{"version": "1", "enabled": "false", "update_lock": {"enabled": "true"}, "customer-id": "x"}"#,
        )
        .unwrap();
        let (patch, version) = body.into_command().unwrap();
        assert_eq!(version, 1);
        assert_eq!(patch.enabled, Some(false));
        assert_eq!(
            patch.update_lock,
            Some(LockChange {
                enabled: true,
                owner_id: None
            })
        );
    }

    #[test]
    fn filters_are_mutually_exclusive_and_uuids_are_bounded() {
        let id = TenantId::new_random();
        let both = ListQuery {
            uuids: Some(id.to_string()),
            parent_id: Some(id.to_string()),
            subtree_root_id: None,
            limit: None,
            after: None,
        };
        assert!(both.into_listing().is_err());
        let many: Vec<String> = (0..=MAX_UUIDS)
            .map(|_| TenantId::new_random().to_string())
            .collect();
        let too_many = ListQuery {
            uuids: Some(many.join(",")),
            parent_id: None,
            subtree_root_id: None,
            limit: None,
            after: None,
        };
        assert!(too_many.into_listing().is_err());
    }
}
