//! PostgreSQL implementation of [`warden_store::KeystoneExtrasStore`]: each write is one row and
//! its event in the root tenant, in one transaction (under the catalog's lock).

use async_trait::async_trait;
use serde_json::{Map, Value};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{Postgres, QueryBuilder, Row};
use warden_domain::TenantId;
use warden_store::{
    Audit, Change, DomainConfigRecord, EndpointGroupRecord, KeystoneExtrasStore,
    KeystonePolicyRecord, OauthConsumerRecord, ObjectType, StoreError,
};

use crate::audit::record;
use crate::{map_err, PostgresStore};

fn json_of(row: &PgRow, column: &str) -> Result<Map<String, Value>, StoreError> {
    let Json(object) = row.try_get(column).map_err(map_err)?;
    Ok(object)
}

fn policy_from_row(row: &PgRow) -> Result<KeystonePolicyRecord, StoreError> {
    Ok(KeystonePolicyRecord {
        id: row.try_get("id").map_err(map_err)?,
        policy_type: row.try_get("type").map_err(map_err)?,
        blob: row.try_get("blob").map_err(map_err)?,
        project_id: row.try_get("project_id").map_err(map_err)?,
        user_id: row.try_get("user_id").map_err(map_err)?,
        extra: json_of(row, "extra")?,
    })
}

fn consumer_from_row(row: &PgRow) -> Result<OauthConsumerRecord, StoreError> {
    Ok(OauthConsumerRecord {
        id: row.try_get("id").map_err(map_err)?,
        description: row.try_get("description").map_err(map_err)?,
        secret_hash: row.try_get("secret_hash").map_err(map_err)?,
        extra: json_of(row, "extra")?,
    })
}

fn group_from_row(row: &PgRow) -> Result<EndpointGroupRecord, StoreError> {
    Ok(EndpointGroupRecord {
        id: row.try_get("id").map_err(map_err)?,
        name: row.try_get("name").map_err(map_err)?,
        description: row.try_get("description").map_err(map_err)?,
        filters: json_of(row, "filters")?,
        extra: json_of(row, "extra")?,
    })
}

impl PostgresStore {
    async fn list_all<T>(
        &self,
        mut q: QueryBuilder<'_, Postgres>,
        convert: fn(&PgRow) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        q.push(" ORDER BY id");
        let rows = q.build().fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(convert).collect()
    }

    async fn delete_row(
        &self,
        table: &str,
        object: ObjectType,
        id: &str,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let sql = format!("DELETE FROM {table} WHERE id = $1");
        let statement = sqlx::query(&sql).bind(id);
        self.catalog_write(statement, (object, id, "delete"), audit)
            .await
    }
}

#[async_trait]
impl KeystoneExtrasStore for PostgresStore {
    async fn insert_keystone_policy(
        &self,
        p: &KeystonePolicyRecord,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let statement = sqlx::query(
            "INSERT INTO keystone_policies (id, type, blob, project_id, user_id, extra) \
             VALUES ($1,$2,$3,$4,$5,$6)",
        )
        .bind(&p.id)
        .bind(&p.policy_type)
        .bind(&p.blob)
        .bind(&p.project_id)
        .bind(&p.user_id)
        .bind(Json(&p.extra));
        let change = (ObjectType::KeystonePolicy, p.id.as_str(), "create");
        self.catalog_write(statement, change, audit).await
    }

    async fn get_keystone_policy(
        &self,
        id: &str,
    ) -> Result<Option<KeystonePolicyRecord>, StoreError> {
        self.fetch_one_by_id("keystone_policies", id, policy_from_row)
            .await
    }

    async fn list_keystone_policies(
        &self,
        policy_type: Option<&str>,
    ) -> Result<Vec<KeystonePolicyRecord>, StoreError> {
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new("SELECT * FROM keystone_policies");
        if let Some(policy_type) = policy_type {
            q.push(" WHERE type = ").push_bind(policy_type.to_owned());
        }
        self.list_all(q, policy_from_row).await
    }

    async fn update_keystone_policy(
        &self,
        p: &KeystonePolicyRecord,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let statement = sqlx::query(
            "UPDATE keystone_policies SET type = $1, blob = $2, project_id = $3, user_id = $4, \
             extra = $5 WHERE id = $6",
        )
        .bind(&p.policy_type)
        .bind(&p.blob)
        .bind(&p.project_id)
        .bind(&p.user_id)
        .bind(Json(&p.extra))
        .bind(&p.id);
        let change = (ObjectType::KeystonePolicy, p.id.as_str(), "update");
        self.catalog_write(statement, change, audit).await
    }

    async fn delete_keystone_policy(&self, id: &str, audit: &Audit) -> Result<(), StoreError> {
        self.delete_row("keystone_policies", ObjectType::KeystonePolicy, id, audit)
            .await
    }

    async fn insert_oauth_consumer(
        &self,
        c: &OauthConsumerRecord,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let statement = sqlx::query(
            "INSERT INTO oauth_consumers (id, description, secret_hash, extra) VALUES ($1,$2,$3,$4)",
        )
        .bind(&c.id)
        .bind(&c.description)
        .bind(&c.secret_hash)
        .bind(Json(&c.extra));
        let change = (ObjectType::OauthConsumer, c.id.as_str(), "create");
        self.catalog_write(statement, change, audit).await
    }

    async fn get_oauth_consumer(
        &self,
        id: &str,
    ) -> Result<Option<OauthConsumerRecord>, StoreError> {
        self.fetch_one_by_id("oauth_consumers", id, consumer_from_row)
            .await
    }

    async fn list_oauth_consumers(&self) -> Result<Vec<OauthConsumerRecord>, StoreError> {
        let q = QueryBuilder::new("SELECT * FROM oauth_consumers");
        self.list_all(q, consumer_from_row).await
    }

    async fn update_oauth_consumer(
        &self,
        c: &OauthConsumerRecord,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let statement =
            sqlx::query("UPDATE oauth_consumers SET description = $1, extra = $2 WHERE id = $3")
                .bind(&c.description)
                .bind(Json(&c.extra))
                .bind(&c.id);
        let change = (ObjectType::OauthConsumer, c.id.as_str(), "update");
        self.catalog_write(statement, change, audit).await
    }

    async fn delete_oauth_consumer(&self, id: &str, audit: &Audit) -> Result<(), StoreError> {
        self.delete_row("oauth_consumers", ObjectType::OauthConsumer, id, audit)
            .await
    }

    async fn insert_endpoint_group(
        &self,
        g: &EndpointGroupRecord,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let statement = sqlx::query(
            "INSERT INTO endpoint_groups (id, name, description, filters, extra) \
             VALUES ($1,$2,$3,$4,$5)",
        )
        .bind(&g.id)
        .bind(&g.name)
        .bind(&g.description)
        .bind(Json(&g.filters))
        .bind(Json(&g.extra));
        let change = (ObjectType::EndpointGroup, g.id.as_str(), "create");
        self.catalog_write(statement, change, audit).await
    }

    async fn get_endpoint_group(
        &self,
        id: &str,
    ) -> Result<Option<EndpointGroupRecord>, StoreError> {
        self.fetch_one_by_id("endpoint_groups", id, group_from_row)
            .await
    }

    async fn list_endpoint_groups(&self) -> Result<Vec<EndpointGroupRecord>, StoreError> {
        let q = QueryBuilder::new("SELECT * FROM endpoint_groups");
        self.list_all(q, group_from_row).await
    }

    async fn update_endpoint_group(
        &self,
        g: &EndpointGroupRecord,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let statement = sqlx::query(
            "UPDATE endpoint_groups SET name = $1, description = $2, filters = $3, extra = $4 \
             WHERE id = $5",
        )
        .bind(&g.name)
        .bind(&g.description)
        .bind(Json(&g.filters))
        .bind(Json(&g.extra))
        .bind(&g.id);
        let change = (ObjectType::EndpointGroup, g.id.as_str(), "update");
        self.catalog_write(statement, change, audit).await
    }

    async fn delete_endpoint_group(&self, id: &str, audit: &Audit) -> Result<(), StoreError> {
        self.delete_row("endpoint_groups", ObjectType::EndpointGroup, id, audit)
            .await
    }

    async fn get_domain_config(
        &self,
        domain_id: TenantId,
    ) -> Result<Option<DomainConfigRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM domain_configs WHERE domain_id = $1")
            .bind(domain_id.uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(|row| {
            Ok(DomainConfigRecord {
                domain_id,
                config: json_of(&row, "config")?,
                sealed_sensitive: row.try_get("sensitive").map_err(map_err)?,
                version: row.try_get("version").map_err(map_err)?,
            })
        })
        .transpose()
    }

    async fn put_domain_config(
        &self,
        config: &DomainConfigRecord,
        expected_version: Option<i64>,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let id = config.domain_id.uuid();
        let mut tx = self.begin().await?;
        let done = match expected_version {
            None => sqlx::query(
                "INSERT INTO domain_configs (domain_id, config, sensitive, version) \
                 VALUES ($1,$2,$3,$4) ON CONFLICT (domain_id) DO NOTHING",
            )
            .bind(id)
            .bind(Json(&config.config))
            .bind(&config.sealed_sensitive)
            .bind(config.version),
            Some(expected) => sqlx::query(
                "UPDATE domain_configs SET config = $2, sensitive = $3, version = $4 \
                 WHERE domain_id = $1 AND version = $5",
            )
            .bind(id)
            .bind(Json(&config.config))
            .bind(&config.sealed_sensitive)
            .bind(config.version)
            .bind(expected),
        }
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::VersionMismatch);
        }
        let action = if expected_version.is_some() {
            "update"
        } else {
            "create"
        };
        let change = Change::new(
            ObjectType::DomainConfig,
            config.domain_id,
            config.domain_id,
            action,
        )
        .versions(expected_version, Some(config.version));
        record(&mut tx, audit, change).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn delete_domain_config(
        &self,
        domain_id: TenantId,
        expected_version: i64,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("DELETE FROM domain_configs WHERE domain_id = $1 AND version = $2")
            .bind(domain_id.uuid())
            .bind(expected_version)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            let exists = sqlx::query("SELECT 1 FROM domain_configs WHERE domain_id = $1")
                .bind(domain_id.uuid())
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
            return Err(if exists.is_some() {
                StoreError::VersionMismatch
            } else {
                StoreError::NotFound
            });
        }
        let change = Change::new(ObjectType::DomainConfig, domain_id, domain_id, "delete")
            .versions(Some(expected_version), None);
        record(&mut tx, audit, change).await?;
        tx.commit().await.map_err(map_err)
    }
}
