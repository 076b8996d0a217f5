//! `/api/2/users`: create, read, change, delete, check a login, set a password.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use warden_core::Warden;
use warden_domain::{
    ContactPatch, DomainError, Email, FieldError, FieldErrorKind, Login, NewUser, PhoneChange,
    TenantId, Text, User, UserPatch,
};

use crate::error::AccountError;
use crate::extract::{AccountJson, AccountQuery, Caller, CallerOrBasic};
use crate::lenient;
use crate::openapi::ErrorBody;

/// The routes of `/users`.
pub fn routes() -> OpenApiRouter<Arc<Warden>> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(check_login))
        .routes(routes!(me))
        .routes(routes!(get, update, delete))
        .routes(routes!(set_password))
}

#[derive(Serialize, ToSchema)]
pub struct ContactResponse {
    address1: String,
    address2: String,
    city: String,
    country: String,
    email: String,
    firstname: String,
    lastname: String,
    phone: String,
    state: String,
    zipcode: String,
}

#[derive(Serialize, ToSchema)]
pub struct UserResponse {
    id: String,
    version: i64,
    tenant_id: String,
    login: String,
    contact: ContactResponse,
    activated: bool,
    enabled: bool,
    terms_accepted: bool,
    created_at: String,
    updated_at: String,
    language: String,
    #[schema(value_type = String)]
    idp_id: &'static str,
    external_id: Option<String>,
    personal_tenant_id: Option<String>,
    business_types: Vec<String>,
    notifications: Vec<String>,
    mfa_status: String,
}

impl From<User> for UserResponse {
    fn from(u: User) -> Self {
        let c = u.contact;
        // The area code and number are kept apart for the IAM face; here they are one string.
        let phone = if c.areacode.is_empty() {
            c.phone
        } else {
            format!("{}-{}", c.areacode, c.phone)
        };
        UserResponse {
            id: u.id.to_string(),
            version: u.version,
            tenant_id: u.tenant_id.to_string(),
            login: u.login.as_str().to_owned(),
            contact: ContactResponse {
                address1: c.address1,
                address2: c.address2,
                city: c.city,
                country: c.country,
                email: c.email.map(|e| e.as_str().to_owned()).unwrap_or_default(),
                firstname: c.firstname,
                lastname: c.lastname,
                phone,
                state: c.state,
                zipcode: c.zipcode,
            },
            activated: u.activated,
            enabled: u.enabled,
            terms_accepted: u.terms_accepted,
            created_at: u.created_at.rfc3339_micros_offset(),
            updated_at: u.updated_at.rfc3339_micros_offset(),
            language: u.language,
            idp_id: warden_domain::user::LOCAL_IDP_ID,
            external_id: u.external_id,
            personal_tenant_id: u.personal_tenant_id.map(|t| t.to_string()),
            business_types: u.business_types,
            notifications: u.notifications,
            mfa_status: u.mfa_status,
        }
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

/// Collects field errors so a caller sees every problem at once.
#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn take<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        result.map_err(|e| self.0.push(e)).ok()
    }

    fn finish<T>(self, value: T) -> Result<T, DomainError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(DomainError::Invalid(self.0))
        }
    }
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
            new.language = errors
                .take(Text::parse("language", &language))
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default();
        }
        if let Some(n) = r.notifications {
            new.notifications = n;
        }
        if let Some(b) = r.business_types {
            new.business_types = b;
        }
        new.external_id = r.external_id.filter(|e| !e.is_empty());
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
        let language = self.language.and_then(|l| {
            errors
                .take(Text::parse("language", &l))
                .map(|t| t.as_str().to_owned())
        });
        let patch = UserPatch {
            contact,
            login,
            language,
            notifications: self.notifications,
            business_types: self.business_types,
            enabled: self.enabled,
            external_id: self.external_id.map(|e| (!e.is_empty()).then_some(e)),
            description: None,
        };
        errors.finish((patch, version.unwrap_or_default()))
    }
}

#[utoipa::path(post, path = "/users", tag = "users", request_body = CreateUserRequest,
    responses((status = 200, body = UserResponse), (status = 400, description = "Invalid input", body = ErrorBody), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 403, description = "Outside the caller's reach", body = ErrorBody), (status = 409, description = "Login taken", body = ErrorBody), (status = 415, description = "Not JSON", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    AccountJson(body): AccountJson<CreateUserRequest>,
) -> Result<Json<UserResponse>, AccountError> {
    let new = NewUser::try_from(body)?;
    let user = warden.create_user(&caller, new).await?;
    Ok(Json(user.into()))
}

#[utoipa::path(get, path = "/users/{user_id}", tag = "users", params(("user_id" = String, Path)),
    responses((status = 200, body = UserResponse), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 403, description = "Outside the caller's reach", body = ErrorBody), (status = 404, description = "No such user", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    Path(user_id): Path<String>,
) -> Result<Json<UserResponse>, AccountError> {
    Ok(Json(warden.get_user(&caller, &user_id).await?.into()))
}

#[utoipa::path(get, path = "/users/me", tag = "users",
    responses((status = 200, body = UserResponse), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 404, description = "The caller is an API client", body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn me(
    State(warden): State<Arc<Warden>>,
    CallerOrBasic(caller): CallerOrBasic,
) -> Result<Json<UserResponse>, AccountError> {
    Ok(Json(warden.me(&caller).await?.into()))
}

#[utoipa::path(put, path = "/users/{user_id}", tag = "users", params(("user_id" = String, Path)), request_body = UpdateUserRequest,
    responses((status = 200, body = UserResponse), (status = 400, description = "Invalid input", body = ErrorBody), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 403, description = "Outside the caller's reach", body = ErrorBody), (status = 404, description = "No such user", body = ErrorBody), (status = 409, description = "Stale version (code 1001)", body = ErrorBody), (status = 413, description = "Body too large", body = ErrorBody), (status = 415, description = "Not JSON", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    Path(user_id): Path<String>,
    AccountJson(body): AccountJson<UpdateUserRequest>,
) -> Result<Json<UserResponse>, AccountError> {
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

#[utoipa::path(delete, path = "/users/{user_id}", tag = "users", params(("user_id" = String, Path), VersionQuery),
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

#[utoipa::path(get, path = "/users/check_login", tag = "users", params(CheckLoginQuery),
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

#[utoipa::path(post, path = "/users/{user_id}/password", tag = "users", params(("user_id" = String, Path)), request_body = SetPasswordRequest,
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
}
