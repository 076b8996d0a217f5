//! PostgreSQL implementation of [`warden_store::CatalogStore`]. Every catalog write takes one
//! transaction-scoped advisory lock: under READ COMMITTED two concurrent re-parentings could
//! otherwise each pass the cycle check and together make a cycle, and an endpoint could be
//! added below a region being deleted. Catalog writes are rare; serialising them costs nothing.

use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use warden_domain::{TenantId, Timestamp, UserId};
use warden_store::{
    Audit, CatalogStore, Change, EndpointFilter, EndpointRecord, Extra, Interface,
    KeystoneCredentialRecord, ObjectType, RegionRecord, ServiceRecord, StoreError,
};

use crate::audit::record;
use crate::{advisory_xact_lock, map_err, PostgresStore};

/// Serialises catalog writes, the region tree's above all.
const CATALOG_LOCK: i64 = 0x5761_7264_656e_0052;

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("corrupt {what} in the database"))
}

fn extra_of(row: &PgRow) -> Result<Extra, StoreError> {
    let Json(extra) = row.try_get("extra").map_err(map_err)?;
    Ok(extra)
}

fn region_from_row(row: &PgRow) -> Result<RegionRecord, StoreError> {
    Ok(RegionRecord {
        id: row.try_get("id").map_err(map_err)?,
        parent_region_id: row.try_get("parent_region_id").map_err(map_err)?,
        description: row.try_get("description").map_err(map_err)?,
        extra: extra_of(row)?,
    })
}

fn service_from_row(row: &PgRow) -> Result<ServiceRecord, StoreError> {
    Ok(ServiceRecord {
        id: row.try_get("id").map_err(map_err)?,
        service_type: row.try_get("type").map_err(map_err)?,
        name: row.try_get("name").map_err(map_err)?,
        description: row.try_get("description").map_err(map_err)?,
        enabled: row.try_get("enabled").map_err(map_err)?,
        extra: extra_of(row)?,
    })
}

fn endpoint_from_row(row: &PgRow) -> Result<EndpointRecord, StoreError> {
    let interface: String = row.try_get("interface").map_err(map_err)?;
    Ok(EndpointRecord {
        id: row.try_get("id").map_err(map_err)?,
        service_id: row.try_get("service_id").map_err(map_err)?,
        region_id: row.try_get("region_id").map_err(map_err)?,
        interface: Interface::parse(&interface).ok_or_else(|| corrupt("interface"))?,
        url: row.try_get("url").map_err(map_err)?,
        enabled: row.try_get("enabled").map_err(map_err)?,
        extra: extra_of(row)?,
    })
}

fn credential_from_row(row: &PgRow) -> Result<KeystoneCredentialRecord, StoreError> {
    Ok(KeystoneCredentialRecord {
        id: row.try_get("id").map_err(map_err)?,
        user_id: UserId::from_uuid(row.try_get("user_id").map_err(map_err)?),
        project_id: row.try_get("project_id").map_err(map_err)?,
        credential_type: row.try_get("type").map_err(map_err)?,
        blob_sealed: row.try_get("blob_sealed").map_err(map_err)?,
        extra: extra_of(row)?,
        created_at: Timestamp::from_micros(row.try_get("created_at").map_err(map_err)?),
    })
}

/// Records the event of a catalog change in the root tenant, where catalog objects live.
async fn root_event(
    conn: &mut PgConnection,
    audit: &Audit,
    object: ObjectType,
    id: &str,
    action: &'static str,
) -> Result<(), StoreError> {
    let root: uuid::Uuid = sqlx::query_scalar("SELECT id FROM tenants WHERE kind = 'root'")
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
    let root = TenantId::from_uuid(root);
    record(conn, audit, Change::new(object, id, root, action)).await
}

/// Records the event of a change of a credential in the tenant of the user owning it.
async fn user_event(
    conn: &mut PgConnection,
    audit: &Audit,
    user: UserId,
    id: &str,
    action: &'static str,
) -> Result<(), StoreError> {
    user_object_event(
        conn,
        audit,
        ObjectType::KeystoneCredential,
        user,
        id,
        action,
    )
    .await
}

/// Records the event of a change of an object owned by `user` in the user's tenant.
pub(crate) async fn user_object_event(
    conn: &mut PgConnection,
    audit: &Audit,
    object: ObjectType,
    user: UserId,
    id: &str,
    action: &'static str,
) -> Result<(), StoreError> {
    let tenant: uuid::Uuid = sqlx::query_scalar("SELECT tenant_id FROM users WHERE id = $1")
        .bind(user.uuid())
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
    let tenant = TenantId::from_uuid(tenant);
    let change = Change::new(object, id, tenant, action);
    record(conn, audit, change).await
}

/// `NotFound` unless the statement changed exactly one row.
fn one_row(done: sqlx::postgres::PgQueryResult) -> Result<(), StoreError> {
    if done.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound)
    }
}

impl PostgresStore {
    pub(crate) async fn fetch_one_by_id<T>(
        &self,
        table: &str,
        id: &str,
        convert: fn(&PgRow) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let row = sqlx::query(&format!("SELECT * FROM {table} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(convert).transpose()
    }

    /// Runs one statement changing one catalog row, with its event in the root tenant, in one
    /// transaction; `NotFound` when the statement changed no row.
    pub(crate) async fn catalog_write(
        &self,
        statement: Query<'_, Postgres, PgArguments>,
        change: (ObjectType, &str, &'static str),
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let (object, id, action) = change;
        let mut tx = self.begin().await?;
        advisory_xact_lock(&mut tx, CATALOG_LOCK).await?;
        one_row(statement.execute(&mut *tx).await.map_err(map_err)?)?;
        root_event(&mut tx, audit, object, id, action).await?;
        tx.commit().await.map_err(map_err)
    }
}

#[async_trait]
impl CatalogStore for PostgresStore {
    async fn insert_region(&self, region: &RegionRecord, audit: &Audit) -> Result<(), StoreError> {
        let statement = sqlx::query(
            "INSERT INTO regions (id, parent_region_id, description, extra) VALUES ($1,$2,$3,$4)",
        )
        .bind(&region.id)
        .bind(&region.parent_region_id)
        .bind(&region.description)
        .bind(Json(&region.extra));
        let change = (ObjectType::Region, region.id.as_str(), "create");
        self.catalog_write(statement, change, audit).await
    }

    async fn get_region(&self, id: &str) -> Result<Option<RegionRecord>, StoreError> {
        self.fetch_one_by_id("regions", id, region_from_row).await
    }

    async fn list_regions(&self, parent: Option<&str>) -> Result<Vec<RegionRecord>, StoreError> {
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new("SELECT * FROM regions");
        if let Some(parent) = parent {
            q.push(" WHERE parent_region_id = ").push_bind(parent);
        }
        q.push(" ORDER BY id");
        let rows = q.build().fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(region_from_row).collect()
    }

    async fn update_region(&self, region: &RegionRecord, audit: &Audit) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        advisory_xact_lock(&mut tx, CATALOG_LOCK).await?;
        if let Some(parent) = &region.parent_region_id {
            // The new parent and every region above it; the region must not be among them.
            let cycle: bool = sqlx::query_scalar(
                "WITH RECURSIVE up(id) AS (SELECT $1::text UNION SELECT r.parent_region_id \
                 FROM regions r JOIN up ON r.id = up.id WHERE r.parent_region_id IS NOT NULL) \
                 SELECT EXISTS (SELECT 1 FROM up WHERE id = $2)",
            )
            .bind(parent)
            .bind(&region.id)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
            if cycle {
                return Err(StoreError::Conflict("region_cycle"));
            }
        }
        let done = sqlx::query(
            "UPDATE regions SET parent_region_id = $1, description = $2, extra = $3 WHERE id = $4",
        )
        .bind(&region.parent_region_id)
        .bind(&region.description)
        .bind(Json(&region.extra))
        .bind(&region.id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        one_row(done)?;
        root_event(&mut tx, audit, ObjectType::Region, &region.id, "update").await?;
        tx.commit().await.map_err(map_err)
    }

    async fn delete_region(&self, id: &str, audit: &Audit) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        advisory_xact_lock(&mut tx, CATALOG_LOCK).await?;
        let has_endpoints: bool = sqlx::query_scalar(
            "WITH RECURSIVE below(id) AS (SELECT $1::text UNION SELECT r.id FROM regions r \
             JOIN below ON r.parent_region_id = below.id) \
             SELECT EXISTS (SELECT 1 FROM endpoints WHERE region_id IN (SELECT id FROM below))",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
        if has_endpoints {
            return Err(StoreError::Conflict("region_endpoints"));
        }
        // The regions below go with it (ON DELETE CASCADE): one event, as for a tenant.
        let done = sqlx::query("DELETE FROM regions WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        one_row(done)?;
        root_event(&mut tx, audit, ObjectType::Region, id, "delete").await?;
        tx.commit().await.map_err(map_err)
    }

    async fn insert_service(
        &self,
        service: &ServiceRecord,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let statement = sqlx::query(
            "INSERT INTO services (id, type, name, description, enabled, extra) \
             VALUES ($1,$2,$3,$4,$5,$6)",
        )
        .bind(&service.id)
        .bind(&service.service_type)
        .bind(&service.name)
        .bind(&service.description)
        .bind(service.enabled)
        .bind(Json(&service.extra));
        let change = (ObjectType::Service, service.id.as_str(), "create");
        self.catalog_write(statement, change, audit).await
    }

    async fn get_service(&self, id: &str) -> Result<Option<ServiceRecord>, StoreError> {
        self.fetch_one_by_id("services", id, service_from_row).await
    }

    async fn list_services(
        &self,
        service_type: Option<&str>,
    ) -> Result<Vec<ServiceRecord>, StoreError> {
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new("SELECT * FROM services");
        if let Some(service_type) = service_type {
            q.push(" WHERE type = ").push_bind(service_type);
        }
        q.push(" ORDER BY id");
        let rows = q.build().fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(service_from_row).collect()
    }

    async fn update_service(
        &self,
        service: &ServiceRecord,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let statement = sqlx::query(
            "UPDATE services SET type = $1, name = $2, description = $3, enabled = $4, extra = $5 \
             WHERE id = $6",
        )
        .bind(&service.service_type)
        .bind(&service.name)
        .bind(&service.description)
        .bind(service.enabled)
        .bind(Json(&service.extra))
        .bind(&service.id);
        let change = (ObjectType::Service, service.id.as_str(), "update");
        self.catalog_write(statement, change, audit).await
    }

    async fn delete_service(&self, id: &str, audit: &Audit) -> Result<(), StoreError> {
        // Its endpoints go with it (ON DELETE CASCADE).
        let statement = sqlx::query("DELETE FROM services WHERE id = $1").bind(id);
        self.catalog_write(statement, (ObjectType::Service, id, "delete"), audit)
            .await
    }

    async fn insert_endpoint(
        &self,
        endpoint: &EndpointRecord,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let statement = sqlx::query(
            "INSERT INTO endpoints (id, service_id, region_id, interface, url, enabled, extra) \
             VALUES ($1,$2,$3,$4,$5,$6,$7)",
        )
        .bind(&endpoint.id)
        .bind(&endpoint.service_id)
        .bind(&endpoint.region_id)
        .bind(endpoint.interface.as_str())
        .bind(&endpoint.url)
        .bind(endpoint.enabled)
        .bind(Json(&endpoint.extra));
        let change = (ObjectType::Endpoint, endpoint.id.as_str(), "create");
        self.catalog_write(statement, change, audit).await
    }

    async fn get_endpoint(&self, id: &str) -> Result<Option<EndpointRecord>, StoreError> {
        self.fetch_one_by_id("endpoints", id, endpoint_from_row)
            .await
    }

    async fn list_endpoints(
        &self,
        filter: &EndpointFilter<'_>,
    ) -> Result<Vec<EndpointRecord>, StoreError> {
        let mut q: QueryBuilder<Postgres> =
            QueryBuilder::new("SELECT * FROM endpoints WHERE 1 = 1");
        if let Some(interface) = filter.interface {
            q.push(" AND interface = ").push_bind(interface.as_str());
        }
        if let Some(service) = filter.service_id {
            q.push(" AND service_id = ").push_bind(service);
        }
        if let Some(region) = filter.region_id {
            q.push(" AND region_id = ").push_bind(region);
        }
        q.push(" ORDER BY id");
        let rows = q.build().fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(endpoint_from_row).collect()
    }

    async fn update_endpoint(
        &self,
        endpoint: &EndpointRecord,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let statement = sqlx::query(
            "UPDATE endpoints SET service_id = $1, region_id = $2, interface = $3, url = $4, \
             enabled = $5, extra = $6 WHERE id = $7",
        )
        .bind(&endpoint.service_id)
        .bind(&endpoint.region_id)
        .bind(endpoint.interface.as_str())
        .bind(&endpoint.url)
        .bind(endpoint.enabled)
        .bind(Json(&endpoint.extra))
        .bind(&endpoint.id);
        let change = (ObjectType::Endpoint, endpoint.id.as_str(), "update");
        self.catalog_write(statement, change, audit).await
    }

    async fn delete_endpoint(&self, id: &str, audit: &Audit) -> Result<(), StoreError> {
        let statement = sqlx::query("DELETE FROM endpoints WHERE id = $1").bind(id);
        self.catalog_write(statement, (ObjectType::Endpoint, id, "delete"), audit)
            .await
    }

    async fn insert_keystone_credential(
        &self,
        credential: &KeystoneCredentialRecord,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO keystone_credentials (id, user_id, project_id, type, blob_sealed, \
             extra, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7)",
        )
        .bind(&credential.id)
        .bind(credential.user_id.uuid())
        .bind(&credential.project_id)
        .bind(&credential.credential_type)
        .bind(&credential.blob_sealed)
        .bind(Json(&credential.extra))
        .bind(credential.created_at.micros())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        user_event(&mut tx, audit, credential.user_id, &credential.id, "create").await?;
        tx.commit().await.map_err(map_err)
    }

    async fn get_keystone_credential(
        &self,
        id: &str,
    ) -> Result<Option<KeystoneCredentialRecord>, StoreError> {
        self.fetch_one_by_id("keystone_credentials", id, credential_from_row)
            .await
    }

    async fn list_keystone_credentials(
        &self,
        user: Option<UserId>,
        credential_type: Option<&str>,
    ) -> Result<Vec<KeystoneCredentialRecord>, StoreError> {
        let mut q: QueryBuilder<Postgres> =
            QueryBuilder::new("SELECT * FROM keystone_credentials WHERE 1 = 1");
        if let Some(user) = user {
            q.push(" AND user_id = ").push_bind(user.uuid());
        }
        if let Some(credential_type) = credential_type {
            q.push(" AND type = ").push_bind(credential_type);
        }
        q.push(" ORDER BY created_at, id");
        let rows = q.build().fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(credential_from_row).collect()
    }

    async fn update_keystone_credential(
        &self,
        credential: &KeystoneCredentialRecord,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE keystone_credentials SET user_id = $1, project_id = $2, type = $3, \
             blob_sealed = $4, extra = $5 WHERE id = $6",
        )
        .bind(credential.user_id.uuid())
        .bind(&credential.project_id)
        .bind(&credential.credential_type)
        .bind(&credential.blob_sealed)
        .bind(Json(&credential.extra))
        .bind(&credential.id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        one_row(done)?;
        user_event(&mut tx, audit, credential.user_id, &credential.id, "update").await?;
        tx.commit().await.map_err(map_err)
    }

    async fn delete_keystone_credential(&self, id: &str, audit: &Audit) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let user: uuid::Uuid =
            sqlx::query_scalar("DELETE FROM keystone_credentials WHERE id = $1 RETURNING user_id")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?
                .ok_or(StoreError::NotFound)?;
        let user = UserId::from_uuid(user);
        user_event(&mut tx, audit, user, id, "delete").await?;
        tx.commit().await.map_err(map_err)
    }
}
