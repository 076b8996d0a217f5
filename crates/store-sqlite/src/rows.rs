//! Row ↔ entity conversion. Values read back were validated when written, so they are
//! trusted; a value that does not parse is reported as corrupt data, never papered over.

use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use warden_domain::policy::TrusteeType;
use warden_domain::tenant::UpdateLock;
use warden_domain::{
    AccessMode, AccessPolicy, ApiClient, ClientId, Contact, Email, ExternalIdentity, IamAttributes,
    Login, PolicyId, Reach, Role, Tenant, TenantId, TenantKind, Timestamp, User, UserId,
};
use warden_store::{KeyState, SigningKeyRecord, StoreError};

use crate::map_err;
pub(crate) use warden_store::paths::tenant_path;

/// Every user column but the password hash.
pub(crate) const USER_COLUMNS: &str = "id, tenant_id, login, email, areacode, phone, firstname, lastname, \
    address1, address2, city, country, state, zipcode, language, activated, enabled, terms_accepted, \
    mfa_status, notifications, business_types, external_id, personal_tenant_id, description, default_project_id, extra, \
    pwd_status, access_mode, xuser_type, xuser_id, \
    (password_hash IS NOT NULL) AS has_password, tokens_not_before, version, created_at, updated_at";

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("corrupt {what} in the database"))
}

fn get<'r, T>(row: &'r SqliteRow, column: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(column).map_err(map_err)
}

fn id<T>(row: &SqliteRow, column: &str, parse: fn(&str) -> Option<T>) -> Result<T, StoreError> {
    let raw: String = get(row, column)?;
    parse(&raw).ok_or_else(|| corrupt(column))
}

fn opt_id<T>(
    row: &SqliteRow,
    column: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<Option<T>, StoreError> {
    let raw: Option<String> = get(row, column)?;
    raw.map(|r| parse(&r).ok_or_else(|| corrupt(column)))
        .transpose()
}

fn list(row: &SqliteRow, column: &str) -> Result<Vec<String>, StoreError> {
    let raw: String = get(row, column)?;
    serde_json::from_str(&raw).map_err(|_| corrupt(column))
}

fn time(row: &SqliteRow, column: &str) -> Result<Timestamp, StoreError> {
    Ok(Timestamp::from_micros(get(row, column)?))
}

pub(crate) fn tenant_from_row(row: &SqliteRow) -> Result<Tenant, StoreError> {
    let tenant_id = id(row, "id", TenantId::parse)?;
    let path: String = get(row, "path")?;
    let mut ancestors = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| TenantId::parse(s).ok_or_else(|| corrupt("path")))
        .collect::<Result<Vec<_>, _>>()?;
    if ancestors.pop() != Some(tenant_id) {
        return Err(corrupt("path"));
    }
    let kind: String = get(row, "kind")?;
    let contact: String = get(row, "contact")?;
    Ok(Tenant {
        id: tenant_id,
        parent_id: opt_id(row, "parent_id", TenantId::parse)?,
        ancestors,
        kind: TenantKind::parse(&kind).ok_or_else(|| corrupt("kind"))?,
        name: get(row, "name")?,
        is_domain: get(row, "is_domain")?,
        enabled: get(row, "enabled")?,
        language: get(row, "language")?,
        owner_id: opt_id(row, "owner_id", UserId::parse)?,
        contact: serde_json::from_str(&contact).map_err(|_| corrupt("contact"))?,
        customer_type: get(row, "customer_type")?,
        customer_id: get(row, "customer_id")?,
        internal_tag: get(row, "internal_tag")?,
        update_lock: UpdateLock {
            enabled: get(row, "update_lock_enabled")?,
            owner_id: opt_id(row, "update_lock_owner_id", TenantId::parse)?,
        },
        ancestral_access: get(row, "ancestral_access")?,
        mfa_status: get(row, "mfa_status")?,
        pricing_mode: get(row, "pricing_mode")?,
        has_children: get(row, "has_children")?,
        description: get(row, "description")?,
        tags: list(row, "tags")?,
        version: get(row, "version")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(crate) fn user_from_row(row: &SqliteRow) -> Result<User, StoreError> {
    let email: Option<String> = get(row, "email")?;
    Ok(User {
        id: id(row, "id", UserId::parse)?,
        tenant_id: id(row, "tenant_id", TenantId::parse)?,
        login: Login::from_trusted(get(row, "login")?),
        contact: Contact {
            email: email.map(Email::from_trusted),
            areacode: get(row, "areacode")?,
            phone: get(row, "phone")?,
            firstname: get(row, "firstname")?,
            lastname: get(row, "lastname")?,
            address1: get(row, "address1")?,
            address2: get(row, "address2")?,
            city: get(row, "city")?,
            country: get(row, "country")?,
            state: get(row, "state")?,
            zipcode: get(row, "zipcode")?,
        },
        language: get(row, "language")?,
        activated: get(row, "activated")?,
        enabled: get(row, "enabled")?,
        terms_accepted: get(row, "terms_accepted")?,
        mfa_status: get(row, "mfa_status")?,
        notifications: list(row, "notifications")?,
        business_types: list(row, "business_types")?,
        external_id: get(row, "external_id")?,
        personal_tenant_id: opt_id(row, "personal_tenant_id", TenantId::parse)?,
        description: get(row, "description")?,
        default_project_id: opt_id(row, "default_project_id", TenantId::parse)?,
        extra: {
            let raw: String = get(row, "extra")?;
            serde_json::from_str(&raw).map_err(|_| corrupt("extra"))?
        },
        iam: iam_attributes(row)?,
        has_password: get(row, "has_password")?,
        tokens_not_before: time(row, "tokens_not_before")?,
        version: get(row, "version")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

fn iam_attributes(row: &SqliteRow) -> Result<IamAttributes, StoreError> {
    let access_mode: String = get(row, "access_mode")?;
    let xuser_type: Option<String> = get(row, "xuser_type")?;
    let xuser_id: Option<String> = get(row, "xuser_id")?;
    Ok(IamAttributes {
        pwd_status: get(row, "pwd_status")?,
        access_mode: AccessMode::parse("access_mode", &access_mode)
            .map_err(|_| corrupt("access_mode"))?,
        external: match (xuser_type, xuser_id) {
            (Some(t), Some(id)) => Some(ExternalIdentity::from_trusted(t, id)),
            (None, None) => None,
            _ => return Err(corrupt("xuser_id")),
        },
    })
}

pub(crate) fn client_from_row(row: &SqliteRow) -> Result<ApiClient, StoreError> {
    let data: String = get(row, "data")?;
    Ok(ApiClient {
        id: id(row, "id", ClientId::parse)?,
        tenant_id: id(row, "tenant_id", TenantId::parse)?,
        kind: get(row, "kind")?,
        token_endpoint_auth_method: get(row, "token_endpoint_auth_method")?,
        data: serde_json::from_str(&data).map_err(|_| corrupt("data"))?,
        enabled: get(row, "enabled")?,
        allow_password_grant: get(row, "allow_password_grant")?,
        created_by: opt_id(row, "created_by", UserId::parse)?,
        created_at: time(row, "created_at")?,
        version: get(row, "version")?,
        tokens_not_before: time(row, "tokens_not_before")?,
    })
}

pub(crate) fn policy_from_row(row: &SqliteRow) -> Result<AccessPolicy, StoreError> {
    let trustee_type: String = get(row, "trustee_type")?;
    let role: String = get(row, "role")?;
    let reach: String = get(row, "reach")?;
    Ok(AccessPolicy {
        id: id(row, "id", PolicyId::parse)?,
        trustee_id: id(row, "trustee_id", warden_domain::ids::parse_uuid)?,
        trustee_type: match trustee_type.as_str() {
            "user" => TrusteeType::User,
            "client" => TrusteeType::Client,
            "group" => TrusteeType::Group,
            _ => return Err(corrupt("trustee_type")),
        },
        tenant_id: id(row, "tenant_id", TenantId::parse)?,
        role: Role::parse(&role),
        reach: Reach::parse(&reach).ok_or_else(|| corrupt("reach"))?,
        issuer_id: id(row, "issuer_id", warden_domain::ids::parse_uuid)?,
        version: get(row, "version")?,
        created_at: time(row, "created_at")?,
    })
}

pub(crate) fn key_from_row(row: &SqliteRow) -> Result<SigningKeyRecord, StoreError> {
    let state: String = get(row, "state")?;
    let jwk: String = get(row, "public_jwk")?;
    Ok(SigningKeyRecord {
        kid: get(row, "kid")?,
        alg: get(row, "alg")?,
        state: KeyState::parse(&state).ok_or_else(|| corrupt("state"))?,
        private_key_encrypted: get(row, "private_key_encrypted")?,
        public_jwk: serde_json::from_str(&jwk).map_err(|_| corrupt("public_jwk"))?,
        created_at: time(row, "created_at")?,
    })
}

pub(crate) fn audit_event_from_row(
    row: &SqliteRow,
) -> Result<warden_store::AuditEvent, StoreError> {
    Ok(warden_store::AuditEvent {
        seq: get(row, "seq")?,
        at: time(row, "at")?,
        actor_kind: get(row, "actor_kind")?,
        actor_id: get(row, "actor_id")?,
        tenant_id: id(row, "tenant_id", TenantId::parse)?,
        object_type: get(row, "object_type")?,
        object_id: get(row, "object_id")?,
        action: get(row, "action")?,
        old_version: get(row, "old_version")?,
        new_version: get(row, "new_version")?,
        request_id: get(row, "request_id")?,
    })
}
