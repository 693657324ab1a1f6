//! A role's write rules, as one write needs them. For one kind of write of one table
//! ([`Access::grant`]) this decides everything the policy says: which values the write may set
//! (allowed columns, then the presets), which existing rows it may touch (the rule's filter, on
//! top of the role's row filter that every compiled statement carries), what the written rows
//! must satisfy (the check) and which of their references must name rows the role may read. The
//! executor (`database::write`) compiles and runs what this returns and decides nothing itself;
//! its refusals are worded here, so a write forbidden one way reads the same on every path.

use super::{Access, WriteAccess};
use crate::error::GatewayError;
use crate::metadata::{EntityId, Registry, RelationKind};
use crate::plan::write::{Assignments, InsertRow};
use crate::plan::{Predicate, RowOp};

/// What a role may do in one kind of write of one table: its policy rule, or no restriction.
#[derive(Debug, Clone, Copy)]
pub struct WriteGrant<'a> {
    registry: &'a Registry,
    entity: EntityId,
    restricted: bool,
    rule: Option<&'a WriteAccess>,
}

impl Access {
    /// The role's grant for an `op` write of `entity`; `FORBIDDEN` when its policy has no such
    /// rule.
    pub fn grant<'a>(
        &'a self,
        registry: &'a Registry,
        entity: EntityId,
        op: RowOp,
    ) -> Result<WriteGrant<'a>, GatewayError> {
        Ok(WriteGrant {
            registry,
            entity,
            restricted: self.is_restricted(),
            rule: self.write(registry, entity, op)?,
        })
    }

    /// Whether links (`…Ids`) to rows of `entity` must be checked for being readable: never
    /// unrestricted; `FORBIDDEN` when the role cannot read `entity` at all.
    pub fn check_link_targets(&self, registry: &Registry, entity: EntityId) -> Result<bool, GatewayError> {
        if !self.is_restricted() {
            return Ok(false);
        }
        if !self.readable(entity) {
            return Err(unreadable_link(registry, entity));
        }
        Ok(true)
    }
}

/// The refusal of a link to a row of `entity` that does not exist or the role cannot read.
pub fn unreadable_link(registry: &Registry, entity: EntityId) -> GatewayError {
    GatewayError::Forbidden(format!(
        "every linked {} must exist and be visible to this role",
        registry.entity(entity).type_name
    ))
}

/// The refusal of replacing links when a current link is outside what the role may unlink.
pub fn forbidden_unlink(links_field: &str) -> GatewayError {
    GatewayError::Forbidden(format!(
        "{links_field}: a current link is outside what this role may unlink"
    ))
}

impl WriteGrant<'_> {
    fn type_name(&self) -> &str {
        &self.registry.entity(self.entity).type_name
    }

    /// The values the write sets: the client's, when every column is one it may set (else
    /// `FORBIDDEN`), with the rule's presets in place of whatever the client sent for them.
    pub fn values(&self, values: &Assignments) -> Result<Assignments, GatewayError> {
        let Some(rule) = self.rule else {
            return Ok(values.clone());
        };
        let meta = self.registry.entity(self.entity);
        // Without a column list, the role sets every column but those the database generates.
        let allowed = |name: &String| match &rule.columns {
            Some(allowed) => allowed.contains(name),
            None => !meta.column(name).is_some_and(crate::metadata::Column::generated),
        };
        if let Some((column, _)) = values.iter().find(|(column, _)| !allowed(column)) {
            let field = meta
                .column(column)
                .map(|column| column.field.as_str())
                .unwrap_or(column);
            return Err(GatewayError::Forbidden(format!(
                "{}.{field} may not be written by this role",
                meta.type_name
            )));
        }
        let mut values: Assignments = values
            .iter()
            .filter(|(column, _)| !rule.presets.iter().any(|(preset, _)| preset == column))
            .cloned()
            .collect();
        values.extend(rule.presets.iter().cloned());
        Ok(values)
    }

    /// `rows` with [`values`](Self::values) applied to each.
    pub fn rows(&self, rows: &[InsertRow]) -> Result<Vec<InsertRow>, GatewayError> {
        rows.iter()
            .map(|row| {
                Ok(InsertRow {
                    values: self.values(&row.values)?,
                    ..row.clone()
                })
            })
            .collect()
    }

    /// Refuses an upsert that would update, on conflict, a column the role may not update.
    pub fn updatable(&self, columns: &[String]) -> Result<(), GatewayError> {
        if let Some(allowed) = self.rule.and_then(|rule| rule.columns.as_ref())
            && let Some(column) = columns.iter().find(|column| !allowed.contains(*column))
        {
            return Err(GatewayError::Forbidden(format!(
                "{}.{column} may not be updated by this role",
                self.type_name()
            )));
        }
        Ok(())
    }

    /// Which existing rows the write may touch besides what the role may read (the rule's
    /// filter); rows outside it are as good as absent.
    pub fn target_filter(&self) -> Option<&Predicate> {
        self.rule.and_then(|rule| rule.filter.as_ref())
    }

    /// What every written row must satisfy, checked in the write's transaction.
    pub fn check(&self) -> Option<&Predicate> {
        self.rule.and_then(|rule| rule.check.as_ref())
    }

    /// The refusal of a written row that fails [`check`](Self::check).
    pub fn check_failed(&self) -> GatewayError {
        GatewayError::Forbidden(format!(
            "a written {} row is outside what this role may write",
            self.type_name()
        ))
    }

    /// The refusal of an upsert whose conflicting row is outside what the role may update.
    pub fn conflict_refused(&self) -> GatewayError {
        GatewayError::Forbidden(format!(
            "the {} row this conflicts with is outside what this role may update",
            self.type_name()
        ))
    }

    /// The foreign keys (relation indexes) among `columns`, the ones the write set, whose
    /// references must name a row the role may read: all of them for a restricted role, but
    /// those the rule lists in `unchecked_references`.
    pub fn checked_references(&self, columns: &[String]) -> Vec<usize> {
        if !self.restricted {
            return Vec::new();
        }
        let relations = &self.registry.entity(self.entity).relations;
        (0..relations.len())
            .filter(|index| {
                let relation = &relations[*index];
                relation.kind == RelationKind::ManyToOne
                    && relation.from_columns.iter().any(|column| columns.contains(column))
                    && !self.rule.is_some_and(|rule| {
                        relation
                            .from_columns
                            .iter()
                            .any(|column| rule.unchecked_references.contains(column))
                    })
            })
            .collect()
    }
}
