//! `/v3.0/OS-USER/users`: create, show and the administrator's change of a user, and the
//! self-service contact change of the seed.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use warden_core::keystone::{KeystoneUserPatch, NewKeystoneUser};
use warden_core::user_fields::IamUserFields;
use warden_core::{Principal, Warden};
use warden_domain::{
    AuthFailure, ContactPatch, DomainError, Email, FieldError, FieldErrorKind, PhoneChange, Tenant,
    User,
};
use warden_http::Json;

use crate::error::IamError;

pub(crate) async fn caller(warden: &Warden, headers: &HeaderMap) -> Result<Principal, IamError> {
    let credential = warden_http::keystone_credential(headers)
        .map_err(|_| DomainError::Unauthenticated(AuthFailure::Invalid))?
        .ok_or(DomainError::Unauthenticated(AuthFailure::Missing))?;
    Ok(warden.authenticate(&credential).await?)
}

#[derive(Deserialize)]
struct InfoRequest {
    user: InfoUser,
}

/// Both published shapes: `email` + `phone` + `areacode` (the seed, OTC) and `email` +
/// `mobile` as `CC-NUMBER` (Huawei public cloud and its SDK).
#[derive(Deserialize)]
struct InfoUser {
    email: Option<String>,
    phone: Option<String>,
    areacode: Option<String>,
    mobile: Option<String>,
}

impl InfoUser {
    fn into_patch(self) -> Result<ContactPatch, DomainError> {
        let invalid = |e: FieldError| DomainError::Invalid(vec![e]);
        let email = self
            .email
            .map(|e| Email::parse("email", &e).map(Some))
            .transpose()
            .map_err(invalid)?;
        let phone = match (self.mobile, self.phone, self.areacode) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(DomainError::MalformedBody(
                    "give either mobile or phone with areacode".to_owned(),
                ))
            }
            (Some(mobile), None, None) => {
                let (code, number) = mobile.split_once('-').ok_or_else(|| {
                    invalid(FieldError::new("mobile", FieldErrorKind::InvalidPhone))
                })?;
                Some(phone_change("mobile", code, "mobile", number)?)
            }
            (None, Some(phone), Some(code)) => {
                Some(phone_change("areacode", &code, "phone", &phone)?)
            }
            (None, Some(_), None) => {
                return Err(invalid(FieldError::new(
                    "areacode",
                    FieldErrorKind::PhoneWithoutAreaCode,
                )))
            }
            (None, None, Some(_)) => {
                return Err(invalid(FieldError::new(
                    "phone",
                    FieldErrorKind::PhoneWithoutAreaCode,
                )))
            }
            (None, None, None) => None,
        };
        Ok(ContactPatch {
            email,
            phone,
            ..ContactPatch::default()
        })
    }
}

fn phone_change(
    code_field: &str,
    code: &str,
    number_field: &str,
    number: &str,
) -> Result<PhoneChange, DomainError> {
    let invalid = |field: &str| DomainError::invalid(field, FieldErrorKind::InvalidPhone);
    match PhoneChange::from_parts(Some(code), Some(number)) {
        // `/info` has no way to remove a phone: two empty parts are refused.
        Ok(Some(change)) if !change.phone.is_empty() => Ok(change),
        Ok(_) => Err(invalid(number_field)),
        Err(e) if e.field == "areacode" => Err(invalid(code_field)),
        Err(_) => Err(invalid(number_field)),
    }
}

/// `PUT /v3.0/OS-USER/users/{user_id}/info` → 204. Only the user named in the path.
pub async fn update_info(
    State(warden): State<Arc<Warden>>,
    Path(user_id): Path<String>,
    request: Request,
) -> Result<StatusCode, IamError> {
    let principal = caller(&warden, request.headers()).await?;
    let (_, bytes) = warden_http::read_body(request).await?;
    let body: InfoRequest = warden_http::parse_json(&bytes)?;
    let patch = body.user.into_patch()?;
    warden
        .update_own_contact(&principal, &user_id, patch)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The `user` object of a create or change body. A value of the wrong JSON type is refused
/// with its field's own code, as an invalid value is; `null` is as if the field were absent.
struct UserBody(Map<String, Value>);

impl UserBody {
    async fn read(request: Request) -> Result<Self, IamError> {
        let (_, bytes) = warden_http::read_body(request).await?;
        let body: Value = warden_http::parse_json(&bytes)?;
        match body.get("user") {
            Some(Value::Object(user)) => Ok(Self(user.clone())),
            Some(_) => {
                Err(DomainError::MalformedBody("'user' must be an object".to_owned()).into())
            }
            None => Err(DomainError::invalid("user", FieldErrorKind::Missing).into()),
        }
    }

    fn string(
        &self,
        field: &'static str,
        kind: FieldErrorKind,
        errors: &mut Vec<FieldError>,
    ) -> Option<String> {
        match self.0.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                errors.push(FieldError::new(field, kind));
                None
            }
        }
    }

    fn boolean(&self, field: &'static str, errors: &mut Vec<FieldError>) -> Option<bool> {
        match self.0.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                errors.push(FieldError::new(field, FieldErrorKind::Invalid));
                None
            }
        }
    }

    /// The fields every create and change body may carry, with the errors of their types.
    fn common(&self, errors: &mut Vec<FieldError>) -> Common {
        use FieldErrorKind as K;
        // IAM user names are the account face's: at most 64 characters, where Keystone's may
        // be longer.
        let name = self.string("name", K::InvalidLogin, errors).filter(|name| {
            let fits = warden_domain::Login::parse("name", name).is_ok();
            if !fits {
                errors.push(FieldError::new("name", K::InvalidLogin));
            }
            fits
        });
        Common {
            name,
            password: self.string("password", K::InvalidPassword, errors),
            email: self.string("email", K::InvalidEmail, errors),
            enabled: self.boolean("enabled", errors),
            description: self.string("description", K::InvalidDescription, errors),
            iam: IamUserFields {
                areacode: self.string("areacode", K::InvalidPhone, errors),
                phone: self.string("phone", K::InvalidPhone, errors),
                pwd_status: self.boolean("pwd_status", errors),
                access_mode: self.string("access_mode", K::Invalid, errors),
                xuser_type: self.string("xuser_type", K::InvalidExternalId, errors),
                xuser_id: self.string("xuser_id", K::InvalidExternalId, errors),
            },
        }
    }
}

struct Common {
    name: Option<String>,
    password: Option<String>,
    email: Option<String>,
    enabled: Option<bool>,
    description: Option<String>,
    iam: IamUserFields,
}

/// What every view of a user shows (§3.3–3.5); unset text shows as `""`.
fn user_fields(user: &User, domain: &Tenant) -> Map<String, Value> {
    let c = &user.contact;
    let external = user.iam.external.as_ref();
    let view = json!({
        "id": user.id.simple(),
        "name": user.login.as_str(),
        "domain_id": domain.id.simple(),
        "enabled": user.enabled,
        "email": c.email.as_ref().map(|e| e.as_str()).unwrap_or(""),
        "areacode": c.areacode,
        "phone": c.phone,
        "description": user.description,
        "access_mode": user.iam.access_mode.as_str(),
        "pwd_status": user.iam.pwd_status,
        "is_domain_owner": false,
        "xuser_id": external.map_or("", |x| x.xuser_id()),
        "xuser_type": external.map_or("", |x| x.xuser_type()),
        "create_time": user.created_at.iam_naive(),
    });
    match view {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn self_link(warden: &Warden, user: &User) -> String {
    let base = &warden.settings().public_url;
    format!("{base}/v3.0/OS-USER/users/{}", user.id.simple())
}

/// `POST /v3.0/OS-USER/users` → 201: a user in a domain the caller manages. `name` and
/// `domain_id` are required (`1100`).
pub async fn create(
    State(warden): State<Arc<Warden>>,
    request: Request,
) -> Result<(StatusCode, Json<Value>), IamError> {
    let principal = caller(&warden, request.headers()).await?;
    let body = UserBody::read(request).await?;
    let mut errors = Vec::new();
    let common = body.common(&mut errors);
    let domain_id = body.string("domain_id", FieldErrorKind::Invalid, &mut errors);
    if common.name.is_none() && !errors.iter().any(|e| e.field == "name") {
        errors.push(FieldError::new("name", FieldErrorKind::Missing));
    }
    if domain_id.is_none() && !errors.iter().any(|e| e.field == "domain_id") {
        errors.push(FieldError::new("domain_id", FieldErrorKind::Missing));
    }
    if !errors.is_empty() {
        // Missing fields first: `1100` says more than a type error beside it.
        errors.sort_by_key(|e| e.kind != FieldErrorKind::Missing);
        return Err(DomainError::Invalid(errors).into());
    }
    let new = NewKeystoneUser {
        name: common.name.unwrap_or_default(),
        domain_id,
        password: common.password,
        enabled: common.enabled.unwrap_or(true),
        // An empty address is no address.
        email: common.email.filter(|e| !e.is_empty()),
        description: common.description.unwrap_or_default(),
        default_project_id: None,
        iam: common.iam,
        extra: Default::default(),
        iam_rules: true,
    };
    // IAM names an unknown account in the body as an invalid field, where Keystone says 404.
    let (user, domain) =
        warden
            .keystone_create_user(&principal, new)
            .await
            .map_err(|e| match e {
                DomainError::NotFound(warden_domain::Resource::Domain) => {
                    DomainError::invalid("domain_id", FieldErrorKind::Invalid)
                }
                other => other,
            })?;
    let mut view = user_fields(&user, &domain);
    view.extend([
        ("status".to_owned(), Value::Null),
        ("xdomain_id".to_owned(), json!("")),
        ("xdomain_type".to_owned(), json!("")),
        ("password_expires_at".to_owned(), Value::Null),
        (
            "default_project_id".to_owned(),
            json!(user.default_project_id.map(|p| p.simple())),
        ),
    ]);
    Ok((StatusCode::CREATED, Json(json!({ "user": view }))))
}

/// `PUT /v3.0/OS-USER/users/{user_id}` → 200: an administrator of the user's domain changes
/// any of the documented fields; a user without that role cannot, not even for themself. An
/// empty `email` removes the address, empty `areacode` and `phone` the phone, empty
/// `xuser_type` and `xuser_id` the external identity.
pub async fn update(
    State(warden): State<Arc<Warden>>,
    Path(user_id): Path<String>,
    request: Request,
) -> Result<Json<Value>, IamError> {
    let principal = caller(&warden, request.headers()).await?;
    let body = UserBody::read(request).await?;
    let mut errors = Vec::new();
    let common = body.common(&mut errors);
    if !errors.is_empty() {
        return Err(DomainError::Invalid(errors).into());
    }
    let patch = KeystoneUserPatch {
        name: common.name,
        password: common.password,
        enabled: common.enabled,
        email: common.email.map(|e| Some(e).filter(|e| !e.is_empty())),
        description: common.description,
        default_project_id: None,
        domain_id: None,
        iam: common.iam,
        iam_rules: true,
        extra: Default::default(),
    };
    let (user, domain) = warden
        .keystone_update_user(&principal, &user_id, patch)
        .await?;
    let mut view = user_fields(&user, &domain);
    view.extend([
        ("xdomain_id".to_owned(), json!("")),
        ("xdomain_type".to_owned(), json!("")),
        ("password_expires_at".to_owned(), Value::Null),
        (
            "links".to_owned(),
            json!({ "self": self_link(&warden, &user) }),
        ),
    ]);
    Ok(Json(json!({ "user": view })))
}

/// `GET /v3.0/OS-USER/users/{user_id}`: the user themself or an administrator.
pub async fn show(
    State(warden): State<Arc<Warden>>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, IamError> {
    let principal = caller(&warden, &headers).await?;
    let user = warden.get_user(&principal, &user_id).await?;
    let domain = warden.domain_of(user.tenant_id).await?;
    let mut view = user_fields(&user, &domain);
    view.extend([
        ("pwd_strength".to_owned(), json!("None")),
        ("update_time".to_owned(), json!(user.updated_at.iam_naive())),
        ("last_login_time".to_owned(), Value::Null),
        ("last_pwd_auth_time".to_owned(), Value::Null),
        ("pwd_create_time".to_owned(), Value::Null),
        ("modify_pwd_time".to_owned(), Value::Null),
        (
            "links".to_owned(),
            json!({ "self": self_link(&warden, &user), "previous": null, "next": null }),
        ),
    ]);
    Ok(Json(json!({ "user": view })))
}
