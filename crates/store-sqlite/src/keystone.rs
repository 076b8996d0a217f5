//! SQLite implementation of [`warden_store::KeystoneStore`].

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};
use warden_domain::{
    AccessPolicy, Group, GroupId, KeystoneRole, Reach, RoleId, TenantId, Timestamp, User,
};
use warden_store::{Audit, Change, KeystoneStore, ObjectType, PolicyQuery, StoreError};

use crate::audit::record;
use crate::policies::insert_policy_on;
use crate::rows::{policy_from_row, user_from_row, USER_COLUMNS};
use crate::{map_err, SqliteStore};

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("corrupt {what} in the database"))
}

fn role_from_row(row: &SqliteRow) -> Result<KeystoneRole, StoreError> {
    let id: String = row.try_get("id").map_err(map_err)?;
    let domain: Option<String> = row.try_get("domain_id").map_err(map_err)?;
    Ok(KeystoneRole {
        id: RoleId::parse(&id).ok_or_else(|| corrupt("role id"))?,
        name: row.try_get("name").map_err(map_err)?,
        domain_id: domain
            .map(|d| TenantId::parse(&d).ok_or_else(|| corrupt("role domain")))
            .transpose()?,
        description: row.try_get("description").map_err(map_err)?,
        immutable: row.try_get("immutable").map_err(map_err)?,
        created_at: Timestamp::from_micros(row.try_get("created_at").map_err(map_err)?),
    })
}

fn group_from_row(row: &SqliteRow) -> Result<Group, StoreError> {
    let id: String = row.try_get("id").map_err(map_err)?;
    let domain: String = row.try_get("domain_id").map_err(map_err)?;
    Ok(Group {
        id: GroupId::parse(&id).ok_or_else(|| corrupt("group id"))?,
        domain_id: TenantId::parse(&domain).ok_or_else(|| corrupt("group domain"))?,
        name: row.try_get("name").map_err(map_err)?,
        description: row.try_get("description").map_err(map_err)?,
        created_at: Timestamp::from_micros(row.try_get("created_at").map_err(map_err)?),
    })
}

/// Where a role's events are recorded: its domain, or the root for a global role.
async fn role_home(
    conn: &mut sqlx::SqliteConnection,
    role: &KeystoneRole,
) -> Result<TenantId, StoreError> {
    match role.domain_id {
        Some(domain) => Ok(domain),
        None => {
            let root: String = sqlx::query_scalar("SELECT id FROM tenants WHERE parent_id IS NULL")
                .fetch_one(conn)
                .await
                .map_err(map_err)?;
            TenantId::parse(&root).ok_or_else(|| corrupt("root id"))
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
impl KeystoneStore for SqliteStore {
    async fn insert_role(&self, role: &KeystoneRole, audit: &Audit) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        sqlx::query(
            "INSERT INTO roles (id, name, domain_id, description, immutable, created_at) \
             VALUES (?,?,?,?,?,?)",
        )
        .bind(role.id.to_string())
        .bind(&role.name)
        .bind(role.domain_id.map(|d| d.to_string()))
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
        let row = sqlx::query("SELECT * FROM roles WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        role_from_row(&row)
    }

    async fn list_roles(&self) -> Result<Vec<KeystoneRole>, StoreError> {
        let rows = sqlx::query("SELECT * FROM roles ORDER BY name, id")
            .fetch_all(&self.reader)
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
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let done = sqlx::query("UPDATE roles SET name = ?, description = ? WHERE id = ?")
            .bind(&role.name)
            .bind(&role.description)
            .bind(role.id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        done_one(done.rows_affected())?;
        if let Some((old, new)) = renamed {
            sqlx::query("UPDATE access_policies SET role = ? WHERE role = ?")
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
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let home = role_home(&mut tx, role).await?;
        record(
            &mut tx,
            audit,
            Change::new(ObjectType::Role, role.id, home, "delete"),
        )
        .await?;
        let done = sqlx::query("DELETE FROM roles WHERE id = ?")
            .bind(role.id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        done_one(done.rows_affected())?;
        for name in held_as {
            sqlx::query("DELETE FROM access_policies WHERE role = ?")
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn add_role_inference(
        &self,
        prior: &KeystoneRole,
        implied: &KeystoneRole,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let done = sqlx::query(
            "INSERT OR IGNORE INTO implied_roles (prior_role_id, implied_role_id) VALUES (?, ?)",
        )
        .bind(prior.id.to_string())
        .bind(implied.id.to_string())
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
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let done = sqlx::query(
            "DELETE FROM implied_roles WHERE prior_role_id = ? AND implied_role_id = ?",
        )
        .bind(prior.id.to_string())
        .bind(implied.id.to_string())
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
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT prior_role_id, implied_role_id FROM implied_roles")
                .fetch_all(&self.reader)
                .await
                .map_err(map_err)?;
        rows.iter()
            .map(
                |(prior, implied)| match (RoleId::parse(prior), RoleId::parse(implied)) {
                    (Some(p), Some(i)) => Ok((p, i)),
                    _ => Err(corrupt("implied role")),
                },
            )
            .collect()
    }

    async fn insert_group(&self, group: &Group, audit: &Audit) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        sqlx::query(
            "INSERT INTO groups (id, domain_id, name, description, created_at) \
             VALUES (?,?,?,?,?)",
        )
        .bind(group.id.to_string())
        .bind(group.domain_id.to_string())
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
        let row = sqlx::query("SELECT * FROM groups WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.reader)
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
        let mut sql: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT * FROM groups WHERE 1 = 1");
        if let Some(domain) = domain {
            sql.push(" AND domain_id = ").push_bind(domain.to_string());
        }
        if let Some(name) = name {
            sql.push(" AND name = ").push_bind(name.to_owned());
        }
        sql.push(" ORDER BY name, id");
        let rows = sql.build().fetch_all(&self.reader).await.map_err(map_err)?;
        rows.iter().map(group_from_row).collect()
    }

    async fn update_group(&self, group: &Group, audit: &Audit) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let done = sqlx::query("UPDATE groups SET name = ?, description = ? WHERE id = ?")
            .bind(&group.name)
            .bind(&group.description)
            .bind(group.id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        done_one(done.rows_affected())?;
        let change = Change::new(ObjectType::Group, group.id, group.domain_id, "update");
        record(&mut tx, audit, change).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn delete_group(&self, group: &Group, audit: &Audit) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let change = Change::new(ObjectType::Group, group.id, group.domain_id, "delete");
        record(&mut tx, audit, change).await?;
        let id = group.id.to_string();
        sqlx::query("DELETE FROM access_policies WHERE trustee_id = ?")
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        // Memberships go with the group (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM groups WHERE id = ?")
            .bind(&id)
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
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let done =
            sqlx::query("INSERT OR IGNORE INTO group_members (group_id, user_id) VALUES (?, ?)")
                .bind(group.id.to_string())
                .bind(user.id.to_string())
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
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let done = sqlx::query("DELETE FROM group_members WHERE group_id = ? AND user_id = ?")
            .bind(group.id.to_string())
            .bind(user.id.to_string())
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

    async fn is_group_member(&self, group: GroupId, user: uuid::Uuid) -> Result<bool, StoreError> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM group_members WHERE group_id = ? AND user_id = ?")
                .bind(group.to_string())
                .bind(user.to_string())
                .fetch_optional(&self.reader)
                .await
                .map_err(map_err)?;
        Ok(found.is_some())
    }

    async fn group_members(&self, group: GroupId) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id IN \
             (SELECT user_id FROM group_members WHERE group_id = ?) ORDER BY login_key"
        ))
        .bind(group.to_string())
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn user_groups(&self, user: uuid::Uuid) -> Result<Vec<Group>, StoreError> {
        let rows = sqlx::query(
            "SELECT g.* FROM groups g JOIN group_members m ON m.group_id = g.id \
             WHERE m.user_id = ? ORDER BY g.name, g.id",
        )
        .bind(user.to_string())
        .fetch_all(&self.reader)
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
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let held = sqlx::query(
            "SELECT * FROM access_policies \
             WHERE trustee_id = ? AND tenant_id = ? AND role = ? AND reach = ?",
        )
        .bind(policy.trustee_id.to_string())
        .bind(policy.tenant_id.to_string())
        .bind(policy.role.as_str())
        .bind(policy.reach.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        if let Some(row) = held {
            return policy_from_row(&row);
        }
        insert_policy_on(&mut tx, policy).await?;
        let change = Change::new(ObjectType::Policies, policy.trustee_id, home, "grant");
        record(&mut tx, audit, change).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(policy.clone())
    }

    async fn revoke_policies(
        &self,
        trustee: uuid::Uuid,
        tenant: TenantId,
        reaches: &[Reach],
        roles: &[String],
        home: TenantId,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let mut sql: QueryBuilder<Sqlite> =
            QueryBuilder::new("DELETE FROM access_policies WHERE trustee_id = ");
        sql.push_bind(trustee.to_string())
            .push(" AND tenant_id = ")
            .push_bind(tenant.to_string())
            .push(" AND reach IN (");
        let mut list = sql.separated(", ");
        for reach in reaches {
            list.push_bind(reach.as_str());
        }
        sql.push(") AND role IN (");
        let mut list = sql.separated(", ");
        for role in roles {
            list.push_bind(role.clone());
        }
        sql.push(")");
        let done = sql.build().execute(&mut *tx).await.map_err(map_err)?;
        done_one(done.rows_affected())?;
        let change = Change::new(ObjectType::Policies, trustee, home, "revoke");
        record(&mut tx, audit, change).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn find_policies(
        &self,
        query: &PolicyQuery<'_>,
    ) -> Result<Vec<AccessPolicy>, StoreError> {
        let mut sql: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT * FROM access_policies WHERE 1 = 1");
        if let Some(trustees) = query.trustees {
            if trustees.is_empty() {
                return Ok(Vec::new());
            }
            sql.push(" AND trustee_id IN (");
            let mut list = sql.separated(", ");
            for trustee in trustees {
                list.push_bind(trustee.to_string());
            }
            sql.push(")");
        }
        if let Some(tenants) = query.tenants {
            if tenants.is_empty() {
                return Ok(Vec::new());
            }
            sql.push(" AND tenant_id IN (");
            let mut list = sql.separated(", ");
            for tenant in tenants {
                list.push_bind(tenant.to_string());
            }
            sql.push(")");
        }
        if let Some(roles) = query.roles {
            if roles.is_empty() {
                return Ok(Vec::new());
            }
            sql.push(" AND role IN (");
            let mut list = sql.separated(", ");
            for role in roles {
                list.push_bind(role.clone());
            }
            sql.push(")");
        }
        sql.push(" ORDER BY created_at, id");
        let rows = sql.build().fetch_all(&self.reader).await.map_err(map_err)?;
        rows.iter().map(policy_from_row).collect()
    }

    async fn held_policies(&self, user: uuid::Uuid) -> Result<Vec<AccessPolicy>, StoreError> {
        let read = async {
            let id = user.to_string();
            let rows = sqlx::query(
                "SELECT * FROM access_policies WHERE trustee_id = ? OR trustee_id IN \
                 (SELECT group_id FROM group_members WHERE user_id = ?) ORDER BY created_at, id",
            )
            .bind(&id)
            .bind(&id)
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
            rows.iter().map(policy_from_row).collect()
        };
        self.cache.held_policies(user, read).await
    }
}
