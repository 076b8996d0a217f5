//! PostgreSQL implementation of [`warden_store::KeystoneStore`].

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use uuid::Uuid;
use warden_domain::{
    AccessPolicy, Group, GroupId, KeystoneRole, Reach, RoleId, TenantId, Timestamp, User,
};
use warden_store::{Audit, Change, KeystoneStore, ObjectType, PolicyQuery, StoreError};

use crate::audit::record;
use crate::rows::{policy_from_row, user_from_row, POLICY_COLUMNS, USER_COLUMNS};
use crate::{insert_policy_on, map_err, PostgresStore};

fn role_from_row(row: &PgRow) -> Result<KeystoneRole, StoreError> {
    let domain: Option<Uuid> = row.try_get("domain_id").map_err(map_err)?;
    Ok(KeystoneRole {
        id: RoleId::from_uuid(row.try_get("id").map_err(map_err)?),
        name: row.try_get("name").map_err(map_err)?,
        domain_id: domain.map(TenantId::from_uuid),
        description: row.try_get("description").map_err(map_err)?,
        immutable: row.try_get("immutable").map_err(map_err)?,
        created_at: Timestamp::from_micros(row.try_get("created_at").map_err(map_err)?),
    })
}

fn group_from_row(row: &PgRow) -> Result<Group, StoreError> {
    Ok(Group {
        id: GroupId::from_uuid(row.try_get("id").map_err(map_err)?),
        domain_id: TenantId::from_uuid(row.try_get("domain_id").map_err(map_err)?),
        name: row.try_get("name").map_err(map_err)?,
        description: row.try_get("description").map_err(map_err)?,
        created_at: Timestamp::from_micros(row.try_get("created_at").map_err(map_err)?),
    })
}

/// Where a role's events are recorded: its domain, or the root for a global role.
async fn role_home(conn: &mut PgConnection, role: &KeystoneRole) -> Result<TenantId, StoreError> {
    match role.domain_id {
        Some(domain) => Ok(domain),
        None => {
            let root: Uuid = sqlx::query_scalar("SELECT id FROM tenants WHERE parent_id IS NULL")
                .fetch_one(conn)
                .await
                .map_err(map_err)?;
            Ok(TenantId::from_uuid(root))
        }
    }
}

fn done_one(rows: u64) -> Result<(), StoreError> {
    if rows == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

#[async_trait]
impl KeystoneStore for PostgresStore {
    async fn insert_role(&self, role: &KeystoneRole, audit: &Audit) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO roles (id, name, domain_id, description, immutable, created_at) \
             VALUES ($1,$2,$3,$4,$5,$6)",
        )
        .bind(role.id.uuid())
        .bind(&role.name)
        .bind(role.domain_id.map(|d| d.uuid()))
        .bind(&role.description)
        .bind(role.immutable)
        .bind(role.created_at.micros())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        let home = role_home(&mut tx, role).await?;
        record(
            &mut tx,
            audit,
            Change::new(ObjectType::Role, role.id, home, "create"),
        )
        .await?;
        tx.commit().await.map_err(map_err)
    }

    async fn get_role(&self, id: RoleId) -> Result<KeystoneRole, StoreError> {
        let row = sqlx::query("SELECT * FROM roles WHERE id = $1")
            .bind(id.uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        role_from_row(&row)
    }

    async fn list_roles(&self) -> Result<Vec<KeystoneRole>, StoreError> {
        let rows = sqlx::query("SELECT * FROM roles ORDER BY name, id")
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter().map(role_from_row).collect()
    }

    async fn update_role(
        &self,
        role: &KeystoneRole,
        renamed: Option<(&str, &str)>,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE roles SET name = $1, description = $2 WHERE id = $3")
            .bind(&role.name)
            .bind(&role.description)
            .bind(role.id.uuid())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        done_one(done.rows_affected())?;
        if let Some((old, new)) = renamed {
            sqlx::query("UPDATE access_policies SET role = $1 WHERE role = $2")
                .bind(new)
                .bind(old)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        let home = role_home(&mut tx, role).await?;
        record(
            &mut tx,
            audit,
            Change::new(ObjectType::Role, role.id, home, "update"),
        )
        .await?;
        tx.commit().await.map_err(map_err)
    }

    async fn delete_role(
        &self,
        role: &KeystoneRole,
        held_as: &[String],
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let home = role_home(&mut tx, role).await?;
        record(
            &mut tx,
            audit,
            Change::new(ObjectType::Role, role.id, home, "delete"),
        )
        .await?;
        let done = sqlx::query("DELETE FROM roles WHERE id = $1")
            .bind(role.id.uuid())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        done_one(done.rows_affected())?;
        sqlx::query("DELETE FROM access_policies WHERE role = ANY($1)")
            .bind(held_as)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn add_role_inference(
        &self,
        prior: &KeystoneRole,
        implied: &KeystoneRole,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "INSERT INTO implied_roles (prior_role_id, implied_role_id) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(prior.id.uuid())
        .bind(implied.id.uuid())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if done.rows_affected() == 1 {
            let home = role_home(&mut tx, prior).await?;
            let change = Change::new(ObjectType::Role, prior.id, home, "add_implied");
            record(&mut tx, audit, change).await?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn remove_role_inference(
        &self,
        prior: &KeystoneRole,
        implied: &KeystoneRole,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "DELETE FROM implied_roles WHERE prior_role_id = $1 AND implied_role_id = $2",
        )
        .bind(prior.id.uuid())
        .bind(implied.id.uuid())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        done_one(done.rows_affected())?;
        let home = role_home(&mut tx, prior).await?;
        let change = Change::new(ObjectType::Role, prior.id, home, "remove_implied");
        record(&mut tx, audit, change).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn role_inferences(&self) -> Result<Vec<(RoleId, RoleId)>, StoreError> {
        let rows: Vec<(Uuid, Uuid)> =
            sqlx::query_as("SELECT prior_role_id, implied_role_id FROM implied_roles")
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
        Ok(rows
            .into_iter()
            .map(|(p, i)| (RoleId::from_uuid(p), RoleId::from_uuid(i)))
            .collect())
    }

    async fn insert_group(&self, group: &Group, audit: &Audit) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO groups (id, domain_id, name, description, created_at) \
             VALUES ($1,$2,$3,$4,$5)",
        )
        .bind(group.id.uuid())
        .bind(group.domain_id.uuid())
        .bind(&group.name)
        .bind(&group.description)
        .bind(group.created_at.micros())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        let change = Change::new(ObjectType::Group, group.id, group.domain_id, "create");
        record(&mut tx, audit, change).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn get_group(&self, id: GroupId) -> Result<Group, StoreError> {
        let row = sqlx::query("SELECT * FROM groups WHERE id = $1")
            .bind(id.uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        group_from_row(&row)
    }

    async fn list_groups(
        &self,
        domain: Option<TenantId>,
        name: Option<&str>,
    ) -> Result<Vec<Group>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM groups WHERE ($1::uuid IS NULL OR domain_id = $1) \
             AND ($2::text IS NULL OR name = $2) ORDER BY name, id",
        )
        .bind(domain.map(|d| d.uuid()))
        .bind(name)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(group_from_row).collect()
    }

    async fn update_group(&self, group: &Group, audit: &Audit) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE groups SET name = $1, description = $2 WHERE id = $3")
            .bind(&group.name)
            .bind(&group.description)
            .bind(group.id.uuid())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        done_one(done.rows_affected())?;
        let change = Change::new(ObjectType::Group, group.id, group.domain_id, "update");
        record(&mut tx, audit, change).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn delete_group(&self, group: &Group, audit: &Audit) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let change = Change::new(ObjectType::Group, group.id, group.domain_id, "delete");
        record(&mut tx, audit, change).await?;
        sqlx::query("DELETE FROM access_policies WHERE trustee_id = $1")
            .bind(group.id.uuid())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        // Memberships go with the group (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM groups WHERE id = $1")
            .bind(group.id.uuid())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        done_one(done.rows_affected())?;
        tx.commit().await.map_err(map_err)
    }

    async fn add_group_member(
        &self,
        group: &Group,
        user: &User,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(group.id.uuid())
        .bind(user.id.uuid())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if done.rows_affected() == 1 {
            let change = Change::new(ObjectType::Group, group.id, group.domain_id, "add_member");
            record(&mut tx, audit, change).await?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn remove_group_member(
        &self,
        group: &Group,
        user: &User,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
            .bind(group.id.uuid())
            .bind(user.id.uuid())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        done_one(done.rows_affected())?;
        let change = Change::new(
            ObjectType::Group,
            group.id,
            group.domain_id,
            "remove_member",
        );
        record(&mut tx, audit, change).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn is_group_member(&self, group: GroupId, user: Uuid) -> Result<bool, StoreError> {
        let found: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM group_members WHERE group_id = $1 AND user_id = $2")
                .bind(group.uuid())
                .bind(user)
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
        Ok(found.is_some())
    }

    async fn group_members(&self, group: GroupId) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id IN \
             (SELECT user_id FROM group_members WHERE group_id = $1) ORDER BY login_key"
        ))
        .bind(group.uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn user_groups(&self, user: Uuid) -> Result<Vec<Group>, StoreError> {
        let rows = sqlx::query(
            "SELECT g.* FROM groups g JOIN group_members m ON m.group_id = g.id \
             WHERE m.user_id = $1 ORDER BY g.name, g.id",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(group_from_row).collect()
    }

    async fn grant_policy(
        &self,
        policy: &AccessPolicy,
        home: TenantId,
        audit: &Audit,
    ) -> Result<AccessPolicy, StoreError> {
        let mut tx = self.begin().await?;
        let held = sqlx::query(&format!(
            "SELECT {POLICY_COLUMNS} FROM access_policies \
             WHERE trustee_id = $1 AND tenant_id = $2 AND role = $3 AND reach = $4"
        ))
        .bind(policy.trustee_id)
        .bind(policy.tenant_id.uuid())
        .bind(policy.role.as_str())
        .bind(policy.reach.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        if let Some(row) = held {
            return policy_from_row(&row);
        }
        insert_policy_on(&mut *tx, policy).await?;
        let change = Change::new(ObjectType::Policies, policy.trustee_id, home, "grant");
        record(&mut tx, audit, change).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(policy.clone())
    }

    async fn revoke_policies(
        &self,
        trustee: Uuid,
        tenant: TenantId,
        reaches: &[Reach],
        roles: &[String],
        home: TenantId,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "DELETE FROM access_policies WHERE trustee_id = $1 AND tenant_id = $2 \
             AND reach = ANY($3) AND role = ANY($4)",
        )
        .bind(trustee)
        .bind(tenant.uuid())
        .bind(reaches.iter().map(Reach::as_str).collect::<Vec<_>>())
        .bind(roles)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        done_one(done.rows_affected())?;
        let change = Change::new(ObjectType::Policies, trustee, home, "revoke");
        record(&mut tx, audit, change).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn find_policies(
        &self,
        query: &PolicyQuery<'_>,
    ) -> Result<Vec<AccessPolicy>, StoreError> {
        let mut sql: QueryBuilder<Postgres> = QueryBuilder::new(format!(
            "SELECT {POLICY_COLUMNS} FROM access_policies WHERE TRUE"
        ));
        if let Some(trustees) = query.trustees {
            sql.push(" AND trustee_id = ANY(")
                .push_bind(trustees.to_vec())
                .push(")");
        }
        if let Some(tenants) = query.tenants {
            let ids: Vec<Uuid> = tenants.iter().map(TenantId::uuid).collect();
            sql.push(" AND tenant_id = ANY(").push_bind(ids).push(")");
        }
        if let Some(roles) = query.roles {
            sql.push(" AND role = ANY(")
                .push_bind(roles.to_vec())
                .push(")");
        }
        sql.push(" ORDER BY created_at, id");
        let rows = sql.build().fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(policy_from_row).collect()
    }

    async fn held_policies(&self, user: Uuid) -> Result<Vec<AccessPolicy>, StoreError> {
        // Built once: a cached answer needs no statement.
        static HELD_POLICIES: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!(
                "SELECT {POLICY_COLUMNS} FROM access_policies WHERE trustee_id = $1 OR trustee_id IN \
                 (SELECT group_id FROM group_members WHERE user_id = $1) ORDER BY created_at, id"
            )
        });
        let read = async {
            let rows = sqlx::query(&HELD_POLICIES)
                .bind(user)
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
            rows.iter().map(policy_from_row).collect()
        };
        self.cache.held_policies(user, read).await
    }
}
