//! Custom roles and role grants, in PostgreSQL.

use portcullis_store::{
    AuditEvent, GrantScopeKind, GranteeKind, GroupMember, StoreError, StoredGroup, StoredRole,
    StoredRoleGrant,
};

use time::OffsetDateTime;

use crate::PostgresStore;
use crate::error::from_sqlx;

type RoleRow = (
    String,
    String,
    String,
    Option<String>,
    OffsetDateTime,
    OffsetDateTime,
);
type GrantRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    OffsetDateTime,
);

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn role_from_row(row: RoleRow) -> Result<StoredRole, StoreError> {
    let (name, inherits, permissions, description, created_at, updated_at) = row;
    Ok(StoredRole {
        name,
        inherits: lines(&inherits),
        permissions: lines(&permissions),
        description,
        created_at,
        updated_at,
    })
}

fn grant_from_row(row: GrantRow) -> Result<StoredRoleGrant, StoreError> {
    let (id, grantee_kind, grantee, role, scope_kind, scope, created_at) = row;
    let damaged = |what: &str| StoreError::Backend(format!("role grant {id}: unknown {what}"));
    Ok(StoredRoleGrant {
        grantee_kind: GranteeKind::parse(&grantee_kind).ok_or_else(|| damaged("grantee kind"))?,
        scope_kind: GrantScopeKind::parse(&scope_kind).ok_or_else(|| damaged("scope kind"))?,
        id,
        grantee,
        role,
        scope,
        created_at,
    })
}

impl PostgresStore {
    pub(crate) async fn put_role(
        &self,
        role: &StoredRole,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO roles (name, inherits, permissions, description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO UPDATE SET \
             inherits = excluded.inherits, permissions = excluded.permissions, \
             description = excluded.description, updated_at = excluded.updated_at",
        )
        .bind(&role.name)
        .bind(role.inherits.join("\n"))
        .bind(role.permissions.join("\n"))
        .bind(role.description.as_deref())
        .bind(role.created_at)
        .bind(role.updated_at);
        self.write_audited(query, audit).await.map(|_| ())
    }

    pub(crate) async fn delete_role(
        &self,
        name: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        // Lock the role's row first, so a grant inserted meanwhile waits for this decision.
        sqlx::query("SELECT name FROM roles WHERE name = $1 FOR UPDATE")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        let (granted,): (i64,) = sqlx::query_as("SELECT count(*) FROM role_grants WHERE role = $1")
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        if granted > 0 {
            return Err(StoreError::Conflict(format!(
                "the role {name:?} is granted; revoke its grants first"
            )));
        }
        let deleted = sqlx::query("DELETE FROM roles WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?
            .rows_affected();
        crate::audit::commit(tx, audit).await?;
        Ok(deleted > 0)
    }

    pub(crate) async fn roles(&self) -> Result<Vec<StoredRole>, StoreError> {
        let rows: Vec<RoleRow> = sqlx::query_as(
            "SELECT name, inherits, permissions, description, created_at, updated_at \
             FROM roles ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        rows.into_iter().map(role_from_row).collect()
    }

    pub(crate) async fn insert_role_grant(
        &self,
        grant: &StoredRoleGrant,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO role_grants (id, grantee_kind, grantee, role, scope_kind, scope, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&grant.id)
        .bind(grant.grantee_kind.as_str())
        .bind(&grant.grantee)
        .bind(&grant.role)
        .bind(grant.scope_kind.as_str())
        .bind(&grant.scope)
        .bind(grant.created_at);
        self.write_audited(query, audit).await.map(|_| ())
    }

    pub(crate) async fn delete_role_grant(
        &self,
        id: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let query = sqlx::query("DELETE FROM role_grants WHERE id = $1").bind(id);
        Ok(self.write_audited(query, audit).await? > 0)
    }

    pub(crate) async fn role_grants(&self) -> Result<Vec<StoredRoleGrant>, StoreError> {
        let rows: Vec<GrantRow> = sqlx::query_as(
            "SELECT id, grantee_kind, grantee, role, scope_kind, scope, created_at \
             FROM role_grants ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        rows.into_iter().map(grant_from_row).collect()
    }

    pub(crate) async fn insert_group(
        &self,
        group: &StoredGroup,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO local_groups (name, tenant, description, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&group.name)
        .bind(group.tenant.as_deref())
        .bind(group.description.as_deref())
        .bind(group.created_at);
        self.write_audited(query, audit).await.map(|_| ())
    }

    pub(crate) async fn delete_group(
        &self,
        name: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        // Its memberships go with it (ON DELETE CASCADE).
        let query = sqlx::query("DELETE FROM local_groups WHERE name = $1").bind(name);
        Ok(self.write_audited(query, audit).await? > 0)
    }

    pub(crate) async fn groups(&self) -> Result<Vec<StoredGroup>, StoreError> {
        let rows: Vec<(String, Option<String>, Option<String>, OffsetDateTime)> = sqlx::query_as(
            "SELECT name, tenant, description, created_at FROM local_groups ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        rows.into_iter()
            .map(|(name, tenant, description, created_at)| {
                Ok(StoredGroup {
                    name,
                    tenant,
                    description,
                    created_at,
                })
            })
            .collect()
    }

    pub(crate) async fn insert_group_member(
        &self,
        member: &GroupMember,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let query =
            sqlx::query("INSERT INTO local_group_members (group_name, user_id) VALUES ($1, $2)")
                .bind(&member.group)
                .bind(&member.user_id);
        self.write_audited(query, audit).await.map(|_| ())
    }

    pub(crate) async fn delete_group_member(
        &self,
        member: &GroupMember,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let query =
            sqlx::query("DELETE FROM local_group_members WHERE group_name = $1 AND user_id = $2")
                .bind(&member.group)
                .bind(&member.user_id);
        Ok(self.write_audited(query, audit).await? > 0)
    }

    pub(crate) async fn group_memberships(&self) -> Result<Vec<GroupMember>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT group_name, user_id FROM local_group_members ORDER BY group_name, user_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        Ok(rows
            .into_iter()
            .map(|(group, user_id)| GroupMember { group, user_id })
            .collect())
    }

    pub(crate) async fn read_authorization_version(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT version FROM authorization_version WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(from_sqlx)
    }
}
