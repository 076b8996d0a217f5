//! `/api/2/users`: create, list, read, change, delete, check a login, set a password, mail an
//! activation link and consume it, confirm an e-mail change.

use std::borrow::Cow;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use warden_core::directory::{UserFilters, UserListing, UserPage};
use warden_core::Warden;
use warden_domain::{
    ContactPatch, DomainError, Email, FieldError, FieldErrorKind, Login, NewUser, PhoneChange,
    TenantId, Text, Timestamp, User, UserId, UserPatch,
};
use warden_http::Json;

use crate::error::AccountError;
use crate::extract::{AccountJson, AccountQuery, Caller, CallerOrBasic};
use crate::fields::Errors;
use crate::lenient;
use crate::openapi::ErrorBody;

/// The routes of `/users`.
pub fn routes() -> OpenApiRouter<Arc<Warden>> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(check_login))
        .routes(routes!(me))
        .routes(routes!(get, update, delete))
        .routes(routes!(set_password))
        .routes(routes!(unlock))
        .routes(routes!(send_activation_email))
        .routes(routes!(activate))
        .routes(routes!(confirm_email))
}

/// The notifications a user may subscribe to.
const NOTIFICATIONS: [&str; 8] = [
    "maintenance",
    "quota",
    "reports",
    "backup_error",
    "backup_warning",
    "backup_info",
    "backup_daily_report",
    "backup_critical",
];

/// The business types a user may have; only `buyer` is known.
const BUSINESS_TYPES: [&str; 1] = ["buyer"];

/// A list drawn from `known`, duplicates dropped in order. An unknown value refuses the field.
fn known_values(
    field: &str,
    values: Vec<String>,
    known: &[&str],
) -> Result<Vec<String>, FieldError> {
    let mut kept: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        if !known.contains(&value.as_str()) {
            return Err(FieldError::new(field, FieldErrorKind::Invalid));
        }
        if !kept.contains(&value) {
            kept.push(value);
        }
    }
    Ok(kept)
}

/// A language code such as `en`, `de`, `pt-BR` or `zh_CN`: 2 or 3 letters, then at most two
/// subtags of 2 to 8 letters or digits.
fn language_code(raw: &str) -> Result<String, FieldError> {
    let mut parts = raw.split(['-', '_']);
    let primary = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    let subtags: Vec<&str> = parts.collect();
    let rest = subtags.len() <= 2
        && subtags
            .iter()
            .all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    if primary && rest {
        Ok(raw.to_owned())
    } else {
        Err(FieldError::new("language", FieldErrorKind::Invalid))
    }
}

#[derive(Serialize, ToSchema)]
pub struct ContactResponse<'a> {
    address1: &'a str,
    address2: &'a str,
    city: &'a str,
    country: &'a str,
    email: &'a str,
    firstname: &'a str,
    lastname: &'a str,
    #[schema(value_type = String)]
    phone: Cow<'a, str>,
    state: &'a str,
    zipcode: &'a str,
}

/// A user as the account face shows it, borrowed from the record: serialising a cached user
/// copies nothing (but a phone number with an area code, joined for this face).
#[derive(Serialize, ToSchema)]
pub struct UserResponse<'a> {
    #[schema(value_type = String)]
    id: UserId,
    version: i64,
    #[schema(value_type = String)]
    tenant_id: TenantId,
    login: &'a str,
    contact: ContactResponse<'a>,
    activated: bool,
    enabled: bool,
    terms_accepted: bool,
    #[serde(serialize_with = "Timestamp::serialize_rfc3339_micros_offset")]
    #[schema(value_type = String)]
    created_at: Timestamp,
    #[serde(serialize_with = "Timestamp::serialize_rfc3339_micros_offset")]
    #[schema(value_type = String)]
    updated_at: Timestamp,
    language: &'a str,
    #[schema(value_type = String)]
    idp_id: &'static str,
    external_id: Option<&'a str>,
    #[schema(value_type = Option<String>)]
    personal_tenant_id: Option<TenantId>,
    business_types: &'a [String],
    notifications: &'a [String],
    mfa_status: &'a str,
}

impl<'a> UserResponse<'a> {
    pub fn of(u: &'a User) -> Self {
        let c = &u.contact;
        // The area code and number are kept apart for the IAM face; here they are one string.
        let phone = if c.areacode.is_empty() {
            Cow::Borrowed(c.phone.as_str())
        } else {
            Cow::Owned(format!("{}-{}", c.areacode, c.phone))
        };
        UserResponse {
            id: u.id,
            version: u.version,
            tenant_id: u.tenant_id,
            login: u.login.as_str(),
            contact: ContactResponse {
                address1: &c.address1,
                address2: &c.address2,
                city: &c.city,
                country: &c.country,
                email: c.email.as_ref().map_or("", |e| e.as_str()),
                firstname: &c.firstname,
                lastname: &c.lastname,
                phone,
                state: &c.state,
                zipcode: &c.zipcode,
            },
            activated: u.activated,
            enabled: u.enabled,
            terms_accepted: u.terms_accepted,
            created_at: u.created_at,
            updated_at: u.updated_at,
            language: &u.language,
            idp_id: warden_domain::user::LOCAL_IDP_ID,
            external_id: u.external_id.as_deref(),
            personal_tenant_id: u.personal_tenant_id,
            business_types: &u.business_types,
            notifications: &u.notifications,
            mfa_status: &u.mfa_status,
        }
    }
}

/// A user record answered as a [`UserResponse`]; shared with the read cache when it came from
/// there.
pub struct UserBody(Arc<User>);

impl From<Arc<User>> for UserBody {
    fn from(user: Arc<User>) -> Self {
        UserBody(user)
    }
}

impl From<User> for UserBody {
    fn from(user: User) -> Self {
        UserBody(Arc::new(user))
    }
}

impl Serialize for UserBody {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        UserResponse::of(&self.0).serialize(serializer)
    }
}

/// A contact as sent: every field optional, `null` meaning empty. Unknown keys are ignored.
#[derive(Deserialize, Default, ToSchema)]
pub struct ContactRequest {
    #[serde(default, deserialize_with = "lenient::opt_text")]
    email: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    phone: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    firstname: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    lastname: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    address1: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    address2: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    city: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    country: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    state: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    zipcode: Option<String>,
}

/// `"0086-18292010816"` splits into area code and number; anything else is one free-form
/// number, as the account face has always accepted.
fn phone_change(raw: &str) -> PhoneChange {
    match raw.split_once('-') {
        Some((code, number))
            if !code.is_empty()
                && !number.is_empty()
                && code
                    .trim_start_matches('+')
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                && number.bytes().all(|b| b.is_ascii_digit()) =>
        {
            PhoneChange {
                areacode: code.to_owned(),
                phone: number.to_owned(),
            }
        }
        _ => PhoneChange {
            areacode: String::new(),
            phone: raw.to_owned(),
        },
    }
}

impl ContactRequest {
    fn into_patch(self, errors: &mut Errors) -> ContactPatch {
        let mut text = |field: &str, value: Option<String>| -> Option<String> {
            value.and_then(|v| {
                errors
                    .take(Text::parse(&format!("contact.{field}"), &v))
                    .map(|t| t.as_str().to_owned())
            })
        };
        let firstname = text("firstname", self.firstname);
        let lastname = text("lastname", self.lastname);
        let address1 = text("address1", self.address1);
        let address2 = text("address2", self.address2);
        let city = text("city", self.city);
        let country = text("country", self.country);
        let state = text("state", self.state);
        let zipcode = text("zipcode", self.zipcode);
        let phone = text("phone", self.phone).map(|p| phone_change(&p));
        let email = match self.email {
            None => None,
            Some(e) if e.is_empty() => Some(None),
            Some(e) => errors.take(Email::parse("contact.email", &e)).map(Some),
        };
        ContactPatch {
            email,
            phone,
            firstname,
            lastname,
            address1,
            address2,
            city,
            country,
            state,
            zipcode,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct CreateUserRequest {
    tenant_id: Option<String>,
    login: Option<String>,
    contact: Option<ContactRequest>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    language: Option<String>,
    notifications: Option<Vec<String>>,
    business_types: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    external_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    #[schema(value_type = Option<bool>)]
    enabled: Option<bool>,
}

impl TryFrom<CreateUserRequest> for NewUser {
    type Error = DomainError;

    fn try_from(r: CreateUserRequest) -> Result<Self, DomainError> {
        let mut errors = Errors::default();
        let tenant_id = match r.tenant_id.as_deref().map(TenantId::parse) {
            Some(Some(id)) => Some(id),
            Some(None) => errors.take(Err(FieldError::new("tenant_id", FieldErrorKind::Invalid))),
            None => errors.take(Err(FieldError::new("tenant_id", FieldErrorKind::Missing))),
        };
        let login = match r.login.as_deref() {
            Some(l) => errors.take(Login::parse("login", l)),
            None => errors.take(Err(FieldError::new("login", FieldErrorKind::Missing))),
        };
        let contact = r.contact.map(|c| c.into_patch(&mut errors));
        if !matches!(
            &contact,
            Some(ContactPatch {
                email: Some(Some(_)),
                ..
            })
        ) && !errors.0.iter().any(|e| e.field == "contact.email")
        {
            errors
                .0
                .push(FieldError::new("contact.email", FieldErrorKind::Missing));
        }
        let (Some(tenant_id), Some(login), Some(contact)) = (tenant_id, login, contact) else {
            return Err(DomainError::Invalid(errors.0));
        };
        let mut new = NewUser::new(tenant_id, login);
        contact.apply(&mut new.contact);
        if let Some(language) = r.language.filter(|l| !l.is_empty()) {
            if let Some(language) = errors.take(language_code(&language)) {
                new.language = language;
            }
        }
        if let Some(n) = r.notifications {
            if let Some(n) = errors.take(known_values("notifications", n, &NOTIFICATIONS)) {
                new.notifications = n;
            }
        }
        if let Some(b) = r.business_types {
            if let Some(b) = errors.take(known_values("business_types", b, &BUSINESS_TYPES)) {
                new.business_types = b;
            }
        }
        new.external_id = r
            .external_id
            .filter(|e| !e.is_empty())
            .and_then(|e| errors.take(Text::parse("external_id", &e)))
            .map(|t| t.as_str().to_owned());
        if let Some(enabled) = r.enabled {
            new.enabled = enabled;
        }
        errors.finish(new)
    }
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateUserRequest {
    /// Revision number (an integer; a string holding one is accepted).
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    #[schema(value_type = Option<i64>)]
    version: Option<i64>,
    contact: Option<ContactRequest>,
    login: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    language: Option<String>,
    notifications: Option<Vec<String>>,
    business_types: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    #[schema(value_type = Option<bool>)]
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    external_id: Option<String>,
}

impl UpdateUserRequest {
    fn into_command(self) -> Result<(UserPatch, i64), DomainError> {
        let mut errors = Errors::default();
        let version = self.version;
        if version.is_none() {
            errors
                .0
                .push(FieldError::new("version", FieldErrorKind::Missing));
        }
        let contact = self
            .contact
            .map(|c| c.into_patch(&mut errors))
            .unwrap_or_default();
        let login = self
            .login
            .and_then(|l| errors.take(Login::parse("login", &l)));
        // An empty (or null) language leaves it as it is, as on creation.
        let language = self
            .language
            .filter(|l| !l.is_empty())
            .and_then(|l| errors.take(language_code(&l)));
        let notifications = self
            .notifications
            .and_then(|n| errors.take(known_values("notifications", n, &NOTIFICATIONS)));
        let business_types = self
            .business_types
            .and_then(|b| errors.take(known_values("business_types", b, &BUSINESS_TYPES)));
        // An empty external id clears it.
        let external_id = self.external_id.map(|e| {
            if e.is_empty() {
                None
            } else {
                errors
                    .take(Text::parse("external_id", &e))
                    .map(|t| t.as_str().to_owned())
            }
        });
        let patch = UserPatch {
            contact,
            login,
            language,
            notifications,
            business_types,
            enabled: self.enabled,
            external_id,
            description: None,
            default_project_id: None,
        };
        errors.finish((patch, version.unwrap_or_default()))
    }
}

#[utoipa::path(post, path = "/api/2/users", tag = "users", request_body = CreateUserRequest,
    responses((status = 200, body = UserResponse), (status = 400, description = "Invalid input", body = ErrorBody), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 403, description = "Outside the caller's reach", body = ErrorBody), (status = 409, description = "Login taken", body = ErrorBody), (status = 415, description = "Not JSON", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    AccountJson(body): AccountJson<CreateUserRequest>,
) -> Result<Json<UserBody>, AccountError> {
    let new = NewUser::try_from(body)?;
    let user = warden.create_user(&caller, new).await?;
    Ok(Json(user.into()))
}

#[utoipa::path(get, path = "/api/2/users/{user_id}", tag = "users", params(("user_id" = String, Path)),
    responses((status = 200, body = UserResponse), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 403, description = "Outside the caller's reach", body = ErrorBody), (status = 404, description = "No such user", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    Path(user_id): Path<String>,
) -> Result<Json<UserBody>, AccountError> {
    Ok(Json(warden.get_user(&caller, &user_id).await?.into()))
}

#[utoipa::path(get, path = "/api/2/users/me", tag = "users",
    responses((status = 200, body = UserResponse), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 404, description = "The caller is an API client", body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn me(
    State(warden): State<Arc<Warden>>,
    CallerOrBasic(caller): CallerOrBasic,
) -> Result<Json<UserBody>, AccountError> {
    Ok(Json(warden.me(&caller).await?.into()))
}

#[utoipa::path(put, path = "/api/2/users/{user_id}", tag = "users", params(("user_id" = String, Path)), request_body = UpdateUserRequest,
    responses((status = 200, body = UserResponse), (status = 400, description = "Invalid input", body = ErrorBody), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 403, description = "Outside the caller's reach", body = ErrorBody), (status = 404, description = "No such user", body = ErrorBody), (status = 409, description = "Stale version (code 1001)", body = ErrorBody), (status = 413, description = "Body too large", body = ErrorBody), (status = 415, description = "Not JSON", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    Path(user_id): Path<String>,
    AccountJson(body): AccountJson<UpdateUserRequest>,
) -> Result<Json<UserBody>, AccountError> {
    let (patch, version) = body.into_command()?;
    Ok(Json(
        warden
            .update_user(&caller, &user_id, patch, version)
            .await?
            .into(),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// The current revision number of the user.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    #[param(value_type = Option<i64>)]
    version: Option<i64>,
}

#[utoipa::path(delete, path = "/api/2/users/{user_id}", tag = "users", params(("user_id" = String, Path), VersionQuery),
    responses((status = 204, description = "Deleted"), (status = 400, description = "Missing version, or the user is still enabled (code 1027)", body = ErrorBody), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 403, description = "Outside the caller's reach", body = ErrorBody), (status = 404, description = "No such user", body = ErrorBody), (status = 409, description = "Stale version (code 1001)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    Path(user_id): Path<String>,
    AccountQuery(query): AccountQuery<VersionQuery>,
) -> Result<StatusCode, AccountError> {
    let version = query
        .version
        .ok_or_else(|| DomainError::invalid("version", FieldErrorKind::Missing))?;
    warden.delete_user(&caller, &user_id, version).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckLoginQuery {
    username: Option<String>,
}

#[utoipa::path(get, path = "/api/2/users/check_login", tag = "users", params(CheckLoginQuery),
    responses((status = 204, description = "The login is free"), (status = 400, description = "Invalid input", body = ErrorBody), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 409, description = "The login is taken", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn check_login(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    AccountQuery(query): AccountQuery<CheckLoginQuery>,
) -> Result<Response, AccountError> {
    let username = query
        .username
        .ok_or_else(|| DomainError::invalid("username", FieldErrorKind::Missing))?;
    if warden.login_is_free(&caller, &username).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(DomainError::LoginTaken.into())
    }
}

#[derive(Deserialize, ToSchema)]
pub struct SetPasswordRequest {
    password: Option<String>,
}

#[utoipa::path(post, path = "/api/2/users/{user_id}/password", tag = "users", params(("user_id" = String, Path)), request_body = SetPasswordRequest,
    responses((status = 204, description = "Password set; the user is activated"), (status = 400, description = "Invalid input", body = ErrorBody), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 403, description = "Outside the caller's reach", body = ErrorBody), (status = 404, description = "No such user", body = ErrorBody), (status = 415, description = "Not JSON", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_password(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    Path(user_id): Path<String>,
    AccountJson(body): AccountJson<SetPasswordRequest>,
) -> Result<StatusCode, AccountError> {
    let password = body
        .password
        .ok_or_else(|| DomainError::invalid("password", FieldErrorKind::Missing))?;
    warden.set_password(&caller, &user_id, &password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query parameters of `GET /users`. Empty values count as absent.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    /// Comma-separated user ids, at most 100; excludes every other filter.
    uuids: Option<String>,
    /// Only users of this tenant.
    tenant_id: Option<String>,
    /// Only users of this tenant and of every tenant below it.
    subtree_root_tenant_id: Option<String>,
    /// Only users changed at or after this instant (RFC 3339).
    updated_since: Option<String>,
    /// Page size: at least 1, 100 when absent; larger than 1000 is cut to 1000.
    limit: Option<String>,
    /// `paging.cursors.after` of the previous page. It carries the filters, so a follow-up
    /// request sends only this (filters sent with it must be the same).
    after: Option<String>,
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// An RFC 3339 instant. A `+` in an offset that reached us unencoded arrives as a space.
fn rfc3339(field: &str, raw: &str) -> Result<Timestamp, FieldError> {
    chrono::DateTime::parse_from_rfc3339(raw)
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(&raw.replace(' ', "+")))
        .map(|t| Timestamp::from_datetime(t.with_timezone(&chrono::Utc)))
        .map_err(|_| FieldError::new(field, FieldErrorKind::Invalid))
}

impl ListUsersQuery {
    fn into_listing(self) -> Result<UserListing, DomainError> {
        let mut errors = Errors::default();
        let tenant = |errors: &mut Errors, field: &str, raw: Option<String>| {
            non_empty(raw).and_then(|raw| {
                errors.take(
                    TenantId::parse(&raw)
                        .ok_or_else(|| FieldError::new(field, FieldErrorKind::Invalid)),
                )
            })
        };
        let uuids = non_empty(self.uuids).and_then(|raw| {
            let ids = raw
                .split(',')
                .map(|id| UserId::parse(id.trim()))
                .collect::<Option<Vec<_>>>();
            errors.take(ids.ok_or_else(|| FieldError::new("uuids", FieldErrorKind::Invalid)))
        });
        let tenant_id = tenant(&mut errors, "tenant_id", self.tenant_id);
        let subtree = tenant(
            &mut errors,
            "subtree_root_tenant_id",
            self.subtree_root_tenant_id,
        );
        let updated_since = non_empty(self.updated_since)
            .and_then(|raw| errors.take(rfc3339("updated_since", &raw)));
        let limit = non_empty(self.limit).and_then(|raw| {
            errors.take(
                raw.parse::<usize>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| FieldError::new("limit", FieldErrorKind::Invalid)),
            )
        });
        let filters = errors
            .take(UserFilters::new(uuids, tenant_id, subtree, updated_since))
            .unwrap_or_default();
        errors.finish(UserListing {
            filters,
            limit,
            after: non_empty(self.after),
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct UserListCursors {
    /// The cursor of the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserListPaging {
    cursors: UserListCursors,
}

#[derive(Serialize, ToSchema)]
pub struct UserListResponse {
    #[schema(value_type = Vec<UserResponse>)]
    items: Vec<UserBody>,
    paging: UserListPaging,
    /// When the page was read: the `updated_since` of the next synchronisation.
    timestamp: String,
}

impl From<UserPage> for UserListResponse {
    fn from(page: UserPage) -> Self {
        UserListResponse {
            items: page.users.into_iter().map(UserBody::from).collect(),
            paging: UserListPaging {
                cursors: UserListCursors { after: page.after },
            },
            timestamp: page.timestamp.rfc3339_micros_offset(),
        }
    }
}

#[utoipa::path(get, path = "/api/2/users", tag = "users", params(ListUsersQuery),
    responses((status = 200, description = "One page of the users the caller can read, in id order", body = UserListResponse), (status = 400, description = "Invalid filter, limit or cursor", body = ErrorBody), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 403, description = "The tenant filter names a tenant outside the caller's reach", body = ErrorBody), (status = 404, description = "The tenant filter names no tenant (code 1005)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    AccountQuery(query): AccountQuery<ListUsersQuery>,
) -> Result<Json<UserListResponse>, AccountError> {
    let listing = query.into_listing()?;
    Ok(Json(warden.list_users(&caller, listing).await?.into()))
}

#[utoipa::path(post, path = "/api/2/users/{user_id}/send-activation-email", tag = "users", params(("user_id" = String, Path)),
    responses((status = 204, description = "A one-time activation link was mailed; an earlier one stops working"), (status = 400, description = "The user is already activated (field `activated`) or has no e-mail address", body = ErrorBody), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 403, description = "Outside the caller's reach", body = ErrorBody), (status = 404, description = "No such user", body = ErrorBody), (status = 503, description = "The message could not be sent; retry", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn send_activation_email(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    Path(user_id): Path<String>,
) -> Result<StatusCode, AccountError> {
    // The body is empty or `{}`; whatever is sent is ignored.
    warden.send_activation_email(&caller, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct ActivateRequest {
    /// The token from the activation message.
    token: Option<String>,
    /// The new password.
    password: Option<String>,
}

#[utoipa::path(post, path = "/api/2/users/activate", tag = "users", request_body = ActivateRequest,
    responses((status = 204, description = "Password set; the user is activated and the token spent"), (status = 400, description = "Unknown, expired or spent token (field `token`), or a password the policy refuses", body = ErrorBody), (status = 415, description = "Not JSON", body = ErrorBody)))]
pub async fn activate(
    State(warden): State<Arc<Warden>>,
    AccountJson(body): AccountJson<ActivateRequest>,
) -> Result<StatusCode, AccountError> {
    let (Some(token), Some(password)) = (&body.token, &body.password) else {
        let missing = [
            ("token", body.token.is_none()),
            ("password", body.password.is_none()),
        ]
        .into_iter()
        .filter(|(_, missing)| *missing)
        .map(|(field, _)| FieldError::new(field, FieldErrorKind::Missing))
        .collect();
        return Err(DomainError::Invalid(missing).into());
    };
    warden.activate_user(token, password).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct ConfirmEmailRequest {
    /// The token from the confirmation message sent to the old address.
    token: Option<String>,
}

#[utoipa::path(post, path = "/api/2/users/email/confirm", tag = "users", request_body = ConfirmEmailRequest,
    responses((status = 204, description = "The new e-mail address applies; the user's version is incremented"), (status = 400, description = "Unknown, expired or spent token (field `token`)", body = ErrorBody), (status = 415, description = "Not JSON", body = ErrorBody)))]
pub async fn confirm_email(
    State(warden): State<Arc<Warden>>,
    AccountJson(body): AccountJson<ConfirmEmailRequest>,
) -> Result<StatusCode, AccountError> {
    let token = body
        .token
        .ok_or_else(|| DomainError::invalid("token", FieldErrorKind::Missing))?;
    warden.confirm_email_change(&token).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_with_area_code_splits_and_free_form_stays_whole() {
        assert_eq!(
            phone_change("0086-18292010816"),
            PhoneChange {
                areacode: "0086".into(),
                phone: "18292010816".into()
            }
        );
        assert_eq!(
            phone_change("+1 (555) 010-0000"),
            PhoneChange {
                areacode: String::new(),
                phone: "+1 (555) 010-0000".into()
            }
        );
    }

    #[test]
    fn a_put_without_version_names_the_field() {
        let body: UpdateUserRequest =
            serde_json::from_str(r#"{"contact": {"city": "Bonn"}}"#).unwrap();
        let Err(DomainError::Invalid(errors)) = body.into_command() else {
            panic!("expected invalid")
        };
        assert_eq!(errors[0].field, "version");
    }

    #[test]
    fn notifications_and_business_types_come_from_their_known_sets() {
        assert_eq!(
            known_values(
                "notifications",
                vec!["quota".into(), "backup_error".into(), "quota".into()],
                &NOTIFICATIONS
            ),
            Ok(vec!["quota".to_owned(), "backup_error".to_owned()])
        );
        assert!(known_values("notifications", vec!["spam".into()], &NOTIFICATIONS).is_err());
        assert!(known_values("business_types", vec!["buyer".into()], &BUSINESS_TYPES).is_ok());
        assert!(known_values("business_types", vec!["seller".into()], &BUSINESS_TYPES).is_err());
    }

    #[test]
    fn a_language_is_a_short_code() {
        for ok in ["en", "de", "pt-BR", "zh_CN", "sr-Latn-RS", "fil"] {
            assert!(language_code(ok).is_ok(), "{ok}");
        }
        for bad in ["", "e", "english", "en-", "en US", "en-US-x-y", "12"] {
            assert!(language_code(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn list_parameters_are_checked_together() {
        let query: ListUsersQuery =
            serde_urlencoded::from_str("uuids=nope&tenant_id=x&updated_since=yesterday&limit=0")
                .unwrap();
        let Err(DomainError::Invalid(errors)) = query.into_listing() else {
            panic!("expected invalid")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["uuids", "tenant_id", "updated_since", "limit"]);
        let query: ListUsersQuery =
            serde_urlencoded::from_str("updated_since=2024-05-01T10:00:00 02:00&limit=5").unwrap();
        let listing = query.into_listing().unwrap();
        assert_eq!(listing.limit, Some(5));
    }
}

#[utoipa::path(post, path = "/api/2/users/{user_id}/unlock", tag = "users", params(("user_id" = String, Path)),
    responses((status = 204, description = "Failed password attempts forgotten; the account takes passwords again"),
        (status = 401, description = "No valid credentials", body = ErrorBody),
        (status = 403, description = "Outside the caller's reach", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn unlock(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    Path(user_id): Path<String>,
) -> Result<StatusCode, AccountError> {
    warden.unlock_user(&caller, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
