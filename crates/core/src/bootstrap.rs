//! First start: the root tenant, an administrator and an API client, created exactly once.

use warden_domain::keystone::BOOTSTRAP_ROLES;
use warden_domain::policy::TrusteeType;
use warden_domain::{
    AccessPolicy, ApiClient, ClientId, Contact, DomainError, Login, Password, PolicyId, Reach,
    Role, Tenant, TenantId, TenantKind, User, UserId,
};
use warden_domain::{KeystoneRole, RoleId};
use warden_store::{BootstrapPlan, StoreError};

use crate::secrets::{new_client_secret, new_generated_password, sha256_hex};
use crate::{store_error, Warden};

/// What the operator asked for; anything left `None` is generated.
#[derive(Clone, Debug)]
pub struct BootstrapRequest {
    pub root_name: String,
    pub admin_login: String,
    pub admin_password: Option<String>,
    pub client_id: Option<ClientId>,
    pub client_secret: Option<String>,
}

/// Credentials that were generated and must be shown to the operator once.
#[derive(Clone, Debug, Default)]
pub struct Generated {
    pub admin_login: String,
    pub admin_password: Option<String>,
    pub client_id: String,
    pub client_secret: Option<String>,
}

/// A client secret given by the operator must still be a real secret.
const MIN_CLIENT_SECRET_CHARS: usize = 16;

impl Warden {
    /// Creates the root tenant, administrator and API client if the store has no root yet,
    /// then what a Keystone operator expects after `keystone-manage bootstrap` if it is
    /// missing (see [`Self::ensure_keystone_defaults`]). Returns what was generated, or
    /// `None` when the store was already bootstrapped.
    pub async fn bootstrap(
        &self,
        request: BootstrapRequest,
    ) -> Result<Option<Generated>, DomainError> {
        let generated = self.bootstrap_root(&request).await?;
        self.ensure_keystone_defaults(&request.admin_login).await?;
        Ok(generated)
    }

    async fn bootstrap_root(
        &self,
        request: &BootstrapRequest,
    ) -> Result<Option<Generated>, DomainError> {
        if self
            .store
            .root_tenant()
            .await
            .map_err(store_error)?
            .is_some()
        {
            return Ok(None);
        }
        let login = Login::parse("admin_login", &request.admin_login)
            .map_err(|e| DomainError::Invalid(vec![e]))?;
        let generated_password = request
            .admin_password
            .is_none()
            .then(new_generated_password);
        let password_text = request
            .admin_password
            .clone()
            .or(generated_password.clone())
            .unwrap_or_default();
        let password = Password::new_checked(
            "admin_password",
            &password_text,
            &self.settings.password_policy,
        )
        .map_err(|e| DomainError::Invalid(vec![e]))?;
        let generated_secret = request.client_secret.is_none().then(new_client_secret);
        let secret = request
            .client_secret
            .clone()
            .or(generated_secret.clone())
            .unwrap_or_default();
        if secret.chars().count() < MIN_CLIENT_SECRET_CHARS {
            return Err(DomainError::invalid(
                "client_secret",
                warden_domain::FieldErrorKind::WeakPassword,
            ));
        }
        let now = self.clock.now();
        let root = Tenant {
            id: TenantId::new_random(),
            parent_id: None,
            ancestors: Vec::new(),
            kind: TenantKind::Root,
            name: request.root_name.clone(),
            is_domain: true,
            enabled: true,
            language: "en".to_owned(),
            owner_id: None,
            contact: warden_domain::tenant::TenantContact::default(),
            customer_type: "default".to_owned(),
            customer_id: None,
            internal_tag: None,
            update_lock: warden_domain::tenant::UpdateLock::default(),
            ancestral_access: true,
            mfa_status: "disabled".to_owned(),
            pricing_mode: TenantKind::Root.initial_pricing_mode().to_owned(),
            has_children: false,
            description: String::new(),
            tags: Vec::new(),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let admin = User {
            id: UserId::new_random(),
            tenant_id: root.id,
            login,
            contact: Contact::default(),
            language: "en".to_owned(),
            activated: true,
            enabled: true,
            terms_accepted: false,
            mfa_status: "disabled".to_owned(),
            notifications: Vec::new(),
            business_types: Vec::new(),
            external_id: None,
            personal_tenant_id: None,
            description: "Administrator created at first start".to_owned(),
            default_project_id: None,
            extra: Default::default(),
            iam: warden_domain::IamAttributes::default(),
            has_password: true,
            tokens_not_before: warden_domain::Timestamp::EPOCH,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let client = ApiClient {
            id: request.client_id.unwrap_or_else(ClientId::new_random),
            tenant_id: root.id,
            kind: "api_client".to_owned(),
            token_endpoint_auth_method: "client_secret_basic".to_owned(),
            data: serde_json::json!({ "client_name": "bootstrap" }),
            enabled: true,
            // The operator's own client, which the published scripts use with the password grant.
            allow_password_grant: true,
            created_by: Some(admin.id),
            created_at: now,
            version: 1,
            tokens_not_before: warden_domain::Timestamp::EPOCH,
        };
        let plan = BootstrapPlan {
            admin_password_hash: self.hasher.hash(&password).await?,
            admin_policy: AccessPolicy {
                id: PolicyId::new_random(),
                trustee_id: admin.id.uuid(),
                trustee_type: TrusteeType::User,
                tenant_id: root.id,
                role: Role::RootAdmin,
                reach: Reach::Tree,
                issuer_id: admin.id.uuid(),
                version: 1,
                created_at: now,
            },
            client_secret_hash: sha256_hex(secret.as_bytes()),
            root,
            admin,
            client,
        };
        if !self.store.bootstrap(&plan).await.map_err(store_error)? {
            return Ok(None);
        }
        Ok(Some(Generated {
            admin_login: plan.admin.login.as_str().to_owned(),
            admin_password: generated_password,
            client_id: plan.client.id.to_string(),
            client_secret: generated_secret,
        }))
    }
}

/// The project `keystone-manage bootstrap` creates in the Default domain.
pub const ADMIN_PROJECT: &str = "admin";

impl Warden {
    /// Keystone's bootstrap objects, each created when missing, so a store from before they
    /// existed gets them at its next start and several nodes starting at once create each
    /// once: the immutable roles `admin`, `member` and `reader`, and the project `admin` in
    /// the Default domain, on which the administrator gets `admin` when it is created.
    pub async fn ensure_keystone_defaults(&self, admin_login: &str) -> Result<(), DomainError> {
        let audit = warden_store::Audit::new(
            warden_store::Actor::System,
            crate::request::current_request_id(),
            self.clock.now(),
        );
        let roles = self.store.list_roles().await.map_err(store_error)?;
        for name in BOOTSTRAP_ROLES {
            if roles
                .iter()
                .any(|r| r.domain_id.is_none() && r.name == name)
            {
                continue;
            }
            let role = KeystoneRole {
                id: RoleId::new_random(),
                name: name.to_owned(),
                domain_id: None,
                description: String::new(),
                immutable: true,
                created_at: self.clock.now(),
            };
            let written = self.store.insert_role(&role, &audit).await;
            self.role_cache.invalidate();
            match written {
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(store_error(e)),
            }
        }
        let root = self.root().await?;
        let children = self
            .store
            .child_tenants(root.id)
            .await
            .map_err(store_error)?;
        if children
            .iter()
            .any(|t| t.name.eq_ignore_ascii_case(ADMIN_PROJECT))
        {
            return Ok(());
        }
        let now = self.clock.now();
        let project = Tenant {
            id: TenantId::new_random(),
            parent_id: Some(root.id),
            ancestors: vec![root.id],
            kind: TenantKind::Customer,
            name: ADMIN_PROJECT.to_owned(),
            is_domain: false,
            enabled: true,
            language: root.language.clone(),
            owner_id: None,
            contact: Default::default(),
            customer_type: "default".to_owned(),
            customer_id: None,
            internal_tag: None,
            update_lock: Default::default(),
            ancestral_access: true,
            mfa_status: "disabled".to_owned(),
            pricing_mode: TenantKind::Customer.initial_pricing_mode().to_owned(),
            has_children: false,
            description: "Bootstrap project for initializing the cloud.".to_owned(),
            tags: Vec::new(),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        match self.store.insert_tenant(&project, &audit).await {
            Ok(_) => {}
            // Another node created it meanwhile.
            Err(StoreError::Conflict(_)) => return Ok(()),
            Err(e) => return Err(store_error(e)),
        }
        let Ok(login) = Login::parse("admin_login", admin_login) else {
            return Ok(());
        };
        let Some(admin) = self
            .store
            .user_credentials_by_login(&login.key())
            .await
            .map_err(store_error)?
        else {
            return Ok(());
        };
        let grant = AccessPolicy {
            id: PolicyId::new_random(),
            trustee_id: admin.user.id.uuid(),
            trustee_type: TrusteeType::User,
            tenant_id: project.id,
            role: Role::admin_for(project.kind),
            reach: Reach::Tenant,
            issuer_id: admin.user.id.uuid(),
            version: 1,
            created_at: now,
        };
        self.store
            .grant_policy(&grant, admin.user.tenant_id, &audit)
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
