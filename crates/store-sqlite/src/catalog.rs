//! SQLite implementation of [`warden_store::CatalogStore`]. The single writer connection
//! serialises every transaction, so the region tree checks (no cycle, no endpoints below a
//! deleted region) cannot race with another write.

use async_trait::async_trait;
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use warden_domain::{TenantId, Timestamp, UserId};
use warden_store::{
    Audit, CatalogStore, Change, EndpointFilter, EndpointRecord, Extra, Interface,
    KeystoneCredentialRecord, ObjectType, RegionRecord, ServiceRecord, StoreError,
};

use crate::audit::record;
use crate::{map_err, SqliteStore};

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("corrupt {what} in the database"))
}

fn extra_text(extra: &Extra) -> String {
    serde_json::to_string(extra).unwrap_or_else(|_| "{}".to_owned())
}

fn extra_of(row: &SqliteRow) -> Result<Extra, StoreError> {
    let raw: String = row.try_get("extra").map_err(map_err)?;
    serde_json::from_str(&raw).map_err(|_| corrupt("extra"))
}

fn region_from_row(row: &SqliteRow) -> Result<RegionRecord, StoreError> {
    Ok(RegionRecord {
        id: row.try_get("id").map_err(map_err)?,
        parent_region_id: row.try_get("parent_region_id").map_err(map_err)?,
        description: row.try_get("description").map_err(map_err)?,
        extra: extra_of(row)?,
    })
}

fn service_from_row(row: &SqliteRow) -> Result<ServiceRecord, StoreError> {
    Ok(ServiceRecord {
        id: row.try_get("id").map_err(map_err)?,
        service_type: row.try_get("type").map_err(map_err)?,
        name: row.try_get("name").map_err(map_err)?,
        description: row.try_get("description").map_err(map_err)?,
        enabled: row.try_get("enabled").map_err(map_err)?,
        extra: extra_of(row)?,
    })
}

fn endpoint_from_row(row: &SqliteRow) -> Result<EndpointRecord, StoreError> {
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

fn credential_from_row(row: &SqliteRow) -> Result<KeystoneCredentialRecord, StoreError> {
    let user: String = row.try_get("user_id").map_err(map_err)?;
    Ok(KeystoneCredentialRecord {
        id: row.try_get("id").map_err(map_err)?,
        user_id: UserId::parse(&user).ok_or_else(|| corrupt("user_id"))?,
        project_id: row.try_get("project_id").map_err(map_err)?,
        credential_type: row.try_get("type").map_err(map_err)?,
        blob_sealed: row.try_get("blob_sealed").map_err(map_err)?,
        extra: extra_of(row)?,
        created_at: Timestamp::from_micros(row.try_get("created_at").map_err(map_err)?),
    })
}

/// Records the event of a catalog change in the root tenant, where catalog objects live.
async fn root_event(
    conn: &mut SqliteConnection,
    audit: &Audit,
    object: ObjectType,
    id: &str,
    action: &'static str,
) -> Result<(), StoreError> {
    let root: String = sqlx::query_scalar("SELECT id FROM tenants WHERE kind = 'root'")
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
    let root = TenantId::parse(&root).ok_or_else(|| corrupt("tenant id"))?;
    record(conn, audit, Change::new(object, id, root, action)).await
}

/// Records the event of a change of a credential in the tenant of the user owning it.
async fn user_event(
    conn: &mut SqliteConnection,
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
    conn: &mut SqliteConnection,
    audit: &Audit,
    object: ObjectType,
    user: UserId,
    id: &str,
    action: &'static str,
) -> Result<(), StoreError> {
    let tenant: String = sqlx::query_scalar("SELECT tenant_id FROM users WHERE id = ?")
        .bind(user.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
    let tenant = TenantId::parse(&tenant).ok_or_else(|| corrupt("tenant id"))?;
    let change = Change::new(object, id, tenant, action);
    record(conn, audit, change).await
}

/// `NotFound` unless the statement changed exactly one row.
fn one_row(done: sqlx::sqlite::SqliteQueryResult) -> Result<(), StoreError> {
    if done.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound)
    }
}

impl SqliteStore {
    pub(crate) async fn fetch_one_by_id<T>(
        &self,
        table: &str,
        id: &str,
        convert: fn(&SqliteRow) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let row = sqlx::query(&format!("SELECT * FROM {table} WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.as_ref().map(convert).transpose()
    }

    /// Runs one statement changing one catalog row, with its event in the root tenant, in one
    /// transaction; `NotFound` when the statement changed no row.
    pub(crate) async fn catalog_write<'q>(
        &self,
        statement: Query<'q, Sqlite, SqliteArguments<'q>>,
        change: (ObjectType, &str, &'static str),
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let (object, id, action) = change;
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        one_row(statement.execute(&mut *tx).await.map_err(map_err)?)?;
        root_event(&mut tx, audit, object, id, action).await?;
        tx.commit().await.map_err(map_err)
    }
}

#[async_trait]
impl CatalogStore for SqliteStore {
    async fn insert_region(&self, region: &RegionRecord, audit: &Audit) -> Result<(), StoreError> {
        let statement = sqlx::query(
            "INSERT INTO regions (id, parent_region_id, description, extra) VALUES (?,?,?,?)",
        )
        .bind(&region.id)
        .bind(&region.parent_region_id)
        .bind(&region.description)
        .bind(extra_text(&region.extra));
        let change = (ObjectType::Region, region.id.as_str(), "create");
        self.catalog_write(statement, change, audit).await
    }

    async fn get_region(&self, id: &str) -> Result<Option<RegionRecord>, StoreError> {
        self.fetch_one_by_id("regions", id, region_from_row).await
    }

    async fn list_regions(&self, parent: Option<&str>) -> Result<Vec<RegionRecord>, StoreError> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT * FROM regions");
        if let Some(parent) = parent {
            q.push(" WHERE parent_region_id = ").push_bind(parent);
        }
        q.push(" ORDER BY id");
        let rows = q.build().fetch_all(&self.reader).await.map_err(map_err)?;
        rows.iter().map(region_from_row).collect()
    }

    async fn update_region(&self, region: &RegionRecord, audit: &Audit) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        if let Some(parent) = &region.parent_region_id {
            // The new parent and every region above it; the region must not be among them.
            let cycle: bool = sqlx::query_scalar(
                "WITH RECURSIVE up(id) AS (SELECT ? UNION SELECT r.parent_region_id \
                 FROM regions r JOIN up ON r.id = up.id WHERE r.parent_region_id IS NOT NULL) \
                 SELECT EXISTS (SELECT 1 FROM up WHERE id = ?)",
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
            "UPDATE regions SET parent_region_id = ?, description = ?, extra = ? WHERE id = ?",
        )
        .bind(&region.parent_region_id)
        .bind(&region.description)
        .bind(extra_text(&region.extra))
        .bind(&region.id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        one_row(done)?;
        root_event(&mut tx, audit, ObjectType::Region, &region.id, "update").await?;
        tx.commit().await.map_err(map_err)
    }

    async fn delete_region(&self, id: &str, audit: &Audit) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let has_endpoints: bool = sqlx::query_scalar(
            "WITH RECURSIVE below(id) AS (SELECT ? UNION SELECT r.id FROM regions r \
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
        let done = sqlx::query("DELETE FROM regions WHERE id = ?")
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
             VALUES (?,?,?,?,?,?)",
        )
        .bind(&service.id)
        .bind(&service.service_type)
        .bind(&service.name)
        .bind(&service.description)
        .bind(service.enabled)
        .bind(extra_text(&service.extra));
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
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT * FROM services");
        if let Some(service_type) = service_type {
            q.push(" WHERE type = ").push_bind(service_type);
        }
        q.push(" ORDER BY id");
        let rows = q.build().fetch_all(&self.reader).await.map_err(map_err)?;
        rows.iter().map(service_from_row).collect()
    }

    async fn update_service(
        &self,
        service: &ServiceRecord,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let statement = sqlx::query(
            "UPDATE services SET type = ?, name = ?, description = ?, enabled = ?, extra = ? \
             WHERE id = ?",
        )
        .bind(&service.service_type)
        .bind(&service.name)
        .bind(&service.description)
        .bind(service.enabled)
        .bind(extra_text(&service.extra))
        .bind(&service.id);
        let change = (ObjectType::Service, service.id.as_str(), "update");
        self.catalog_write(statement, change, audit).await
    }

    async fn delete_service(&self, id: &str, audit: &Audit) -> Result<(), StoreError> {
        // Its endpoints go with it (ON DELETE CASCADE).
        let statement = sqlx::query("DELETE FROM services WHERE id = ?").bind(id);
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
             VALUES (?,?,?,?,?,?,?)",
        )
        .bind(&endpoint.id)
        .bind(&endpoint.service_id)
        .bind(&endpoint.region_id)
        .bind(endpoint.interface.as_str())
        .bind(&endpoint.url)
        .bind(endpoint.enabled)
        .bind(extra_text(&endpoint.extra));
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
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT * FROM endpoints WHERE 1 = 1");
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
        let rows = q.build().fetch_all(&self.reader).await.map_err(map_err)?;
        rows.iter().map(endpoint_from_row).collect()
    }

    async fn update_endpoint(
        &self,
        endpoint: &EndpointRecord,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let statement = sqlx::query(
            "UPDATE endpoints SET service_id = ?, region_id = ?, interface = ?, url = ?, \
             enabled = ?, extra = ? WHERE id = ?",
        )
        .bind(&endpoint.service_id)
        .bind(&endpoint.region_id)
        .bind(endpoint.interface.as_str())
        .bind(&endpoint.url)
        .bind(endpoint.enabled)
        .bind(extra_text(&endpoint.extra))
        .bind(&endpoint.id);
        let change = (ObjectType::Endpoint, endpoint.id.as_str(), "update");
        self.catalog_write(statement, change, audit).await
    }

    async fn delete_endpoint(&self, id: &str, audit: &Audit) -> Result<(), StoreError> {
        let statement = sqlx::query("DELETE FROM endpoints WHERE id = ?").bind(id);
        self.catalog_write(statement, (ObjectType::Endpoint, id, "delete"), audit)
            .await
    }

    async fn insert_keystone_credential(
        &self,
        credential: &KeystoneCredentialRecord,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        sqlx::query(
            "INSERT INTO keystone_credentials (id, user_id, project_id, type, blob_sealed, \
             extra, created_at) VALUES (?,?,?,?,?,?,?)",
        )
        .bind(&credential.id)
        .bind(credential.user_id.to_string())
        .bind(&credential.project_id)
        .bind(&credential.credential_type)
        .bind(&credential.blob_sealed)
        .bind(extra_text(&credential.extra))
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
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT * FROM keystone_credentials WHERE 1 = 1");
        if let Some(user) = user {
            q.push(" AND user_id = ").push_bind(user.to_string());
        }
        if let Some(credential_type) = credential_type {
            q.push(" AND type = ").push_bind(credential_type);
        }
        q.push(" ORDER BY created_at, id");
        let rows = q.build().fetch_all(&self.reader).await.map_err(map_err)?;
        rows.iter().map(credential_from_row).collect()
    }

    async fn update_keystone_credential(
        &self,
        credential: &KeystoneCredentialRecord,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let done = sqlx::query(
            "UPDATE keystone_credentials SET user_id = ?, project_id = ?, type = ?, \
             blob_sealed = ?, extra = ? WHERE id = ?",
        )
        .bind(credential.user_id.to_string())
        .bind(&credential.project_id)
        .bind(&credential.credential_type)
        .bind(&credential.blob_sealed)
        .bind(extra_text(&credential.extra))
        .bind(&credential.id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        one_row(done)?;
        user_event(&mut tx, audit, credential.user_id, &credential.id, "update").await?;
        tx.commit().await.map_err(map_err)
    }

    async fn delete_keystone_credential(&self, id: &str, audit: &Audit) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let user: String =
            sqlx::query_scalar("DELETE FROM keystone_credentials WHERE id = ? RETURNING user_id")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?
                .ok_or(StoreError::NotFound)?;
        let user = UserId::parse(&user).ok_or_else(|| corrupt("user_id"))?;
        user_event(&mut tx, audit, user, id, "delete").await?;
        tx.commit().await.map_err(map_err)
    }
}
