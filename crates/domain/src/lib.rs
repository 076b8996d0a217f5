//! Warden's domain: typed identifiers, validated value types, entities, commands and the one
//! error type every face maps to its own wire format. No I/O, no HTTP, no SQL.

pub mod catalog;
pub mod client;
pub mod error;
pub mod ids;
pub mod keystone;
pub mod policy;
pub mod tenant;
pub mod time;
pub mod user;
pub mod values;

pub use client::ApiClient;
pub use error::{AuthFailure, DomainError, FieldError, FieldErrorKind, Resource};
pub use ids::{ClientId, GroupId, PolicyId, RoleId, TenantId, UserId};
pub use keystone::{Group, KeystoneRole};
pub use policy::{AccessPolicy, Reach, Role, TrusteeType};
pub use tenant::{Tenant, TenantKind};
pub use time::Timestamp;
pub use user::{
    AccessMode, Contact, ContactPatch, ExternalIdentity, IamAttributes, NewUser, PhoneChange, User,
    UserPatch,
};
pub use values::{AreaCode, Email, Login, Password, PasswordPolicy, PhoneNumber, Text};
