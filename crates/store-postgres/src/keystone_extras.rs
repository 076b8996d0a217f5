//! PostgreSQL implementation of [`warden_store::KeystoneExtrasStore`]: each write is one row and
//! its event in the root tenant, in one transaction (under the catalog's lock).

use async_trait::async_trait;
use serde_json::{Map, Value};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{Postgres, QueryBuilder, Row};
use warden_store::{
    Audit, EndpointGroupRecord, KeystoneExtrasStore, KeystonePolicyRecord, OauthConsumerRecord,
    ObjectType, StoreError,
};

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
}
