//! Executes a [`WritePlan`] inside the operation's transaction and reads the written rows back.
//!
//! Inserts and upserts return the new keys with `RETURNING`; updates and deletes first select
//! (and on PostgreSQL lock, `FOR UPDATE`) the keys of the rows they apply to, so the rows a
//! delete returns are read before they go and concurrent writers queue instead of racing.
//! Keys are processed in chunks so bind-parameter limits are never reached.
//!
//! Every statement is compiled through the session's [`Access`], like reads: a target filter
//! gets the role's row filters wherever it reaches another table, targets the role cannot read
//! are NOT_FOUND, every foreign key a write sets must name a row the role may read, and links
//! written through `…Ids` are junction rows inserted and deleted under the junction's own rules
//! (links the caller cannot see stay as they are). A rule's own filter and check are the
//! policy's word and are compiled as written.

use super::{Compiler, column};
use crate::error::GatewayError;
use crate::metadata::{EntityId, Registry, RelationKind, ScalarKind};
use crate::permission::{Access, WriteAccess, WriteKind as Permission};
use crate::plan::write::{
    Assignments, Children, InsertRow, Links, ManyOutput, Returning, Target, WriteKind, WritePlan,
};
use crate::plan::{ConnectionOutput, ConnectionPlan, LookupPlan, OrderKey, Page, Plan, Predicate};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, LockType, OnConflict, Query, ReturningClause};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, QueryResult, Value};
use serde_json::Value as Json;

/// Keys per statement when a write or a read-back names rows by key.
const KEYS_PER_STATEMENT: usize = 1000;

type Key = Vec<Value>;

/// Runs `plan` in `transaction`; returns the mutation field's JSON.
pub async fn execute(
    transaction: &DatabaseTransaction,
    registry: &Registry,
    access: &Access,
    plan: &WritePlan,
) -> Result<Json, GatewayError> {
    let backend = transaction.get_database_backend();
    let writer = Writer {
        registry,
        backend,
        entity: plan.entity,
        access,
    };
    let (keys, deleted) = match &plan.kind {
        WriteKind::Insert(rows) => (writer.insert(transaction, rows).await?, None),
        WriteKind::Upsert { row, conflict, update } => (writer.upsert(transaction, row, conflict, update).await?, None),
        WriteKind::Update { target, set, links } => {
            let rule = access.write(registry, plan.entity, Permission::Update)?;
            let set = authorized(registry, plan.entity, rule, set)?;
            let keys = writer.target_keys(transaction, target, rule).await?;
            writer.update(transaction, &keys, &set).await?;
            for link in links {
                writer.replace_links(transaction, &keys, link).await?;
            }
            writer.verify(transaction, &keys, rule).await?;
            writer
                .verify_references(transaction, &keys, &written_columns([&set]), rule)
                .await?;
            (keys, None)
        }
        WriteKind::Delete(target) => {
            let rule = access.write(registry, plan.entity, Permission::Delete)?;
            let keys = writer.target_keys(transaction, target, rule).await?;
            // Read what goes before it goes.
            let json = writer.read_back(transaction, &keys, &plan.returning).await?;
            writer.delete(transaction, &keys).await?;
            (keys, Some(json))
        }
    };
    match deleted {
        Some(json) => Ok(json),
        None => writer.read_back(transaction, &keys, &plan.returning).await,
    }
}

struct Writer<'r> {
    registry: &'r Registry,
    backend: DbBackend,
    entity: EntityId,
    /// What the session may write (and read back).
    access: &'r Access,
}

/// The columns some of `rows` set.
fn written_columns<'a>(rows: impl IntoIterator<Item = &'a Assignments>) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    for (column, _) in rows.into_iter().flatten() {
        if !columns.contains(column) {
            columns.push(column.clone());
        }
    }
    columns
}

/// The values a write may set under `rule`: only allowed columns, then the rule's presets.
fn authorized(
    registry: &Registry,
    entity: EntityId,
    rule: Option<&WriteAccess>,
    values: &Assignments,
) -> Result<Assignments, GatewayError> {
    let Some(rule) = rule else { return Ok(values.clone()) };
    let meta = registry.entity(entity);
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

impl Writer<'_> {
    fn meta(&self) -> &crate::metadata::Entity {
        self.registry.entity(self.entity)
    }

    fn table(&self) -> Alias {
        Alias::new(&self.meta().table)
    }

    /// A compiler with the session's access: every table a statement reads is filtered for it.
    fn compiler(&self) -> Compiler<'_> {
        Compiler::new(self.registry, self.backend, self.access)
    }

    fn key_kinds(&self) -> Vec<ScalarKind> {
        let meta = self.meta();
        meta.primary_key
            .iter()
            .map(|name| meta.column(name).expect("key columns exist").kind.clone())
            .collect()
    }

    fn returning_keys(&self) -> ReturningClause {
        Query::returning().columns(self.meta().primary_key.iter().map(Alias::new))
    }

    fn keys_of(&self, rows: &[QueryResult]) -> Result<Vec<Key>, GatewayError> {
        let kinds = self.key_kinds();
        rows.iter()
            .map(|row| {
                kinds
                    .iter()
                    .enumerate()
                    .map(|(index, kind)| read_value(row, index, kind))
                    .collect()
            })
            .collect::<Result<_, DbErr>>()
            .map_err(GatewayError::from)
    }

    /// `(key columns) IN keys`, on the unqualified table of an UPDATE or DELETE.
    fn key_condition(&self, keys: &[Key]) -> Expr {
        self.compiler()
            .key_in(self.entity, &self.meta().primary_key, keys, None)
    }

    /// The bind parameters of one row to insert.
    fn row_values(&self, row: &InsertRow) -> Vec<Expr> {
        let compiler = self.compiler();
        row.values
            .iter()
            .map(|(name, value)| compiler.bind(self.entity, name, value.clone()))
            .collect()
    }

    async fn insert(&self, transaction: &DatabaseTransaction, rows: &[InsertRow]) -> Result<Vec<Key>, GatewayError> {
        let rule = self.access.write(self.registry, self.entity, Permission::Insert)?;
        let rows = rows
            .iter()
            .map(|row| {
                Ok(InsertRow {
                    values: authorized(self.registry, self.entity, rule, &row.values)?,
                    ..row.clone()
                })
            })
            .collect::<Result<Vec<_>, GatewayError>>()?;
        let keys = self.insert_rows(transaction, &rows).await?;
        self.verify(transaction, &keys, rule).await?;
        self.verify_references(
            transaction,
            &keys,
            &written_columns(rows.iter().map(|row| &row.values)),
            rule,
        )
        .await?;
        Ok(keys)
    }

    /// Fails when a written row's foreign key (among `columns`, the ones the write set) names a
    /// row the role may not read, unless the rule lists it in `unchecked_references`. The answer is
    /// the same as for a row that does not exist, so it tells nothing about other tenants.
    async fn verify_references(
        &self,
        transaction: &DatabaseTransaction,
        keys: &[Key],
        columns: &[String],
        rule: Option<&WriteAccess>,
    ) -> Result<(), GatewayError> {
        if !self.access.is_restricted() || keys.is_empty() {
            return Ok(());
        }
        let meta = self.meta();
        for (index, relation) in meta.relations.iter().enumerate() {
            let checked = relation.kind == RelationKind::ManyToOne
                && relation.from_columns.iter().any(|column| columns.contains(column))
                && !rule.is_some_and(|rule| {
                    relation
                        .from_columns
                        .iter()
                        .any(|column| rule.unchecked_references.contains(column))
                });
            if !checked {
                continue;
            }
            let target = self.registry.entity(relation.target);
            for chunk in keys.chunks(KEYS_PER_STATEMENT) {
                let mut compiler = self.compiler();
                let alias = "written";
                let mut condition = compiler.key_in(self.entity, &meta.primary_key, chunk, Some(alias));
                for name in &relation.from_columns {
                    condition = condition.and(column(alias, name).is_not_null());
                }
                let child = compiler.alias();
                let mut link = compiler.join_condition(self.entity, index, alias, &child);
                if let Some(readable) = compiler.readable_rows(relation.target, &child) {
                    link = link.and(readable);
                }
                condition = condition.and(Expr::not_exists(
                    Query::select()
                        .expr(Expr::cust("1"))
                        .from_as(Alias::new(&target.table), Alias::new(&child))
                        .and_where(link)
                        .to_owned(),
                ));
                let failing = Query::select()
                    .expr(Expr::cust("1"))
                    .from_as(self.table(), Alias::new(alias))
                    .and_where(condition)
                    .limit(1)
                    .to_owned();
                if transaction.query_one(&failing).await?.is_some() {
                    return Err(super::constraint::missing_reference(self.registry, self.entity, index));
                }
            }
        }
        Ok(())
    }

    /// Fails when a written row does not satisfy the rule's check (in the same transaction, so
    /// the failure undoes the write).
    async fn verify(
        &self,
        transaction: &DatabaseTransaction,
        keys: &[Key],
        rule: Option<&WriteAccess>,
    ) -> Result<(), GatewayError> {
        let Some(check) = rule.and_then(|rule| rule.check.as_ref()) else {
            return Ok(());
        };
        let meta = self.meta();
        for chunk in keys.chunks(KEYS_PER_STATEMENT) {
            let mut compiler = self.compiler();
            let alias = "written";
            let keys = compiler.key_in(self.entity, &meta.primary_key, chunk, Some(alias));
            let passes = compiler.policy_predicate(self.entity, check, alias);
            let failing = Query::select()
                .expr(Expr::cust("1"))
                .from_as(self.table(), Alias::new(alias))
                .and_where(keys.and(compiler.dialect.template("({}) IS NOT TRUE", vec![passes])))
                .limit(1)
                .to_owned();
            if transaction.query_one(&failing).await?.is_some() {
                return Err(GatewayError::Forbidden(format!(
                    "a written {} row is outside what this role may write",
                    meta.type_name
                )));
            }
        }
        Ok(())
    }

    async fn insert_rows(
        &self,
        transaction: &DatabaseTransaction,
        rows: &[InsertRow],
    ) -> Result<Vec<Key>, GatewayError> {
        let mut keys = Vec::with_capacity(rows.len());
        let mut start = 0;
        // Consecutive rows naming the same columns share one multi-row INSERT.
        while start < rows.len() {
            let columns: Vec<&String> = rows[start].values.iter().map(|(name, _)| name).collect();
            let mut end = start + 1;
            while end < rows.len()
                && rows[end]
                    .values
                    .iter()
                    .map(|(name, _)| name)
                    .eq(columns.iter().copied())
            {
                end += 1;
            }
            for chunk_start in (start..end).step_by(KEYS_PER_STATEMENT) {
                let chunk = &rows[chunk_start..end.min(chunk_start + KEYS_PER_STATEMENT)];
                let mut insert = Query::insert();
                insert.into_table(self.table()).returning(self.returning_keys());
                if columns.is_empty() {
                    insert.or_default_values();
                } else {
                    insert.columns(columns.iter().map(|name| Alias::new(name.as_str())));
                    for row in chunk {
                        insert
                            .values(self.row_values(row))
                            .map_err(|_| GatewayError::Internal)?;
                    }
                }
                let returned = transaction
                    .query_all(&insert)
                    .await
                    .map_err(|error| self.explain(error, Some((chunk_start, chunk))))?;
                let chunk_keys = self.keys_of(&returned)?;
                for (row, key) in chunk.iter().zip(&chunk_keys) {
                    for link in &row.links {
                        self.replace_links(transaction, std::slice::from_ref(key), link).await?;
                    }
                    for children in &row.children {
                        self.insert_children(transaction, key, children).await?;
                    }
                }
                keys.extend(chunk_keys);
            }
            start = end;
        }
        Ok(keys)
    }

    /// Inserts a row's new children with their reference to it filled in.
    async fn insert_children(
        &self,
        transaction: &DatabaseTransaction,
        key: &Key,
        children: &Children,
    ) -> Result<(), GatewayError> {
        let meta = self.meta();
        let relation = &meta.relations[children.relation];
        let reference: Assignments = relation
            .to_columns
            .iter()
            .zip(&relation.from_columns)
            .filter_map(|(child, parent)| {
                let index = meta.primary_key.iter().position(|column| column == parent)?;
                Some((child.clone(), key[index].clone()))
            })
            .collect();
        let rows: Vec<InsertRow> = children
            .rows
            .iter()
            .map(|row| InsertRow {
                values: reference.iter().cloned().chain(row.values.iter().cloned()).collect(),
                ..row.clone()
            })
            .collect();
        let writer = Writer {
            entity: relation.target,
            ..*self
        };
        Box::pin(writer.insert(transaction, &rows)).await.map(|_| ())
    }

    async fn upsert(
        &self,
        transaction: &DatabaseTransaction,
        row: &InsertRow,
        conflict: &[String],
        update: &[String],
    ) -> Result<Vec<Key>, GatewayError> {
        let meta = self.meta();
        // An upsert may insert or update, so the role needs both rules.
        let insert_rule = self.access.write(self.registry, self.entity, Permission::Insert)?;
        let update_rule = self.access.write(self.registry, self.entity, Permission::Update)?;
        let row = &InsertRow {
            values: authorized(self.registry, self.entity, insert_rule, &row.values)?,
            ..row.clone()
        };
        if let Some(allowed) = update_rule.and_then(|rule| rule.columns.as_ref())
            && let Some(column) = update.iter().find(|column| !allowed.contains(*column))
        {
            return Err(GatewayError::Forbidden(format!(
                "{}.{column} may not be updated by this role",
                meta.type_name
            )));
        }
        let mut on_conflict = OnConflict::columns(conflict.iter().map(Alias::new));
        // Always update something, so RETURNING yields the existing row too.
        let update: Vec<&String> = if update.is_empty() {
            conflict.iter().take(1).collect()
        } else {
            update.iter().collect()
        };
        on_conflict.update_columns(update.iter().map(|name| Alias::new(name.as_str())));
        for touched in meta.columns.iter().filter(|column| column.touched_on_update) {
            on_conflict.value(Alias::new(&touched.name), self.compiler().dialect.now());
        }
        // Only a conflicting row the role may read and update is updated (and so returned).
        let mut compiler = self.compiler();
        let mut updatable = Vec::new();
        if let Some(filter) = update_rule.and_then(|rule| rule.filter.as_ref()) {
            updatable.push(compiler.policy_predicate(self.entity, filter, &meta.table));
        }
        updatable.extend(compiler.readable_rows(self.entity, &meta.table));
        if !updatable.is_empty() {
            on_conflict.action_and_where(compiler.dialect.join(true, updatable));
        }
        let mut insert = Query::insert();
        insert
            .into_table(self.table())
            .columns(row.values.iter().map(|(name, _)| Alias::new(name)))
            .on_conflict(on_conflict)
            .returning(self.returning_keys());
        insert
            .values(self.row_values(row))
            .map_err(|_| GatewayError::Internal)?;
        let returned = transaction
            .query_all(&insert)
            .await
            .map_err(|error| self.explain(error, None))?;
        let keys = self.keys_of(&returned)?;
        if keys.is_empty() {
            return Err(GatewayError::Forbidden(format!(
                "the {} row this conflicts with is outside what this role may update",
                meta.type_name
            )));
        }
        self.verify(transaction, &keys, insert_rule).await?;
        self.verify(transaction, &keys, update_rule).await?;
        let mut written = written_columns([&row.values]);
        written.extend(update.iter().map(|column| (*column).clone()));
        self.verify_references(transaction, &keys, &written, insert_rule)
            .await?;
        for link in &row.links {
            self.replace_links(transaction, &keys, link).await?;
        }
        for key in &keys {
            for children in &row.children {
                self.insert_children(transaction, key, children).await?;
            }
        }
        Ok(keys)
    }

    /// The keys of the rows a target names, locked for the rest of the transaction on PostgreSQL.
    async fn target_keys(
        &self,
        transaction: &DatabaseTransaction,
        target: &Target,
        rule: Option<&WriteAccess>,
    ) -> Result<Vec<Key>, GatewayError> {
        let meta = self.meta();
        let mut compiler = self.compiler();
        let alias = "target";
        let mut condition = match target {
            Target::Key(key) => key
                .iter()
                .map(|(name, value)| column(alias, name).eq(compiler.bind(self.entity, name, value.clone())))
                .reduce(ExprTrait::and)
                .unwrap_or_else(|| Expr::cust("FALSE")),
            Target::Filter(Some(predicate)) => {
                self.access.check_filter(self.registry, self.entity, predicate)?;
                compiler.predicate(self.entity, predicate, alias)
            }
            Target::Filter(None) => Expr::cust("TRUE"),
        };
        // Rows the role cannot read, or outside its rule, are as good as absent (NOT_FOUND, never
        // "forbidden").
        if let Some(readable) = compiler.readable_rows(self.entity, alias) {
            condition = condition.and(readable);
        }
        if let Some(filter) = rule.and_then(|rule| rule.filter.as_ref()) {
            condition = condition.and(compiler.policy_predicate(self.entity, filter, alias));
        }
        let mut select = Query::select();
        for name in &meta.primary_key {
            select.expr(column(alias, name));
        }
        select.from_as(self.table(), Alias::new(alias)).and_where(condition);
        for name in &meta.primary_key {
            select.order_by_expr(column(alias, name), sea_orm::sea_query::Order::Asc);
        }
        if self.backend == DbBackend::Postgres {
            select.lock(LockType::Update);
        }
        let rows = transaction.query_all(&select).await?;
        let keys = self.keys_of(&rows)?;
        if let (Target::Key(key), true) = (target, keys.is_empty()) {
            let described: Vec<String> = key
                .iter()
                .map(|(name, value)| {
                    format!(
                        "{} {}",
                        meta.column(name).map(|c| c.field.as_str()).unwrap_or(name),
                        display(value)
                    )
                })
                .collect();
            return Err(GatewayError::NotFound(format!(
                "no {} with {}",
                meta.type_name,
                described.join(", ")
            )));
        }
        Ok(keys)
    }

    async fn update(
        &self,
        transaction: &DatabaseTransaction,
        keys: &[Key],
        set: &[(String, Value)],
    ) -> Result<(), GatewayError> {
        if set.is_empty() || keys.is_empty() {
            return Ok(());
        }
        let meta = self.meta();
        for chunk in keys.chunks(KEYS_PER_STATEMENT) {
            let mut update = Query::update();
            update.table(self.table());
            for (name, value) in set {
                update.value(Alias::new(name), self.compiler().bind(self.entity, name, value.clone()));
            }
            for touched in meta.columns.iter().filter(|column| column.touched_on_update) {
                update.value(Alias::new(&touched.name), self.compiler().dialect.now());
            }
            update.and_where(self.key_condition(chunk));
            transaction
                .execute(&update)
                .await
                .map_err(|error| self.explain(error, None))?;
        }
        Ok(())
    }

    async fn delete(&self, transaction: &DatabaseTransaction, keys: &[Key]) -> Result<(), GatewayError> {
        for chunk in keys.chunks(KEYS_PER_STATEMENT) {
            let delete = Query::delete()
                .from_table(self.table())
                .and_where(self.key_condition(chunk))
                .to_owned();
            transaction
                .execute(&delete)
                .await
                .map_err(|error| self.explain(error, None))?;
        }
        Ok(())
    }

    /// Makes the links of each row through a junction that the role can see exactly
    /// `link.targets`: junction rows are deleted and inserted by a writer of the junction, so its
    /// own delete and insert rules (filters, checks, references) apply; links the role cannot see
    /// are left as they are.
    async fn replace_links(
        &self,
        transaction: &DatabaseTransaction,
        keys: &[Key],
        link: &Links,
    ) -> Result<(), GatewayError> {
        let relation = &self.meta().relations[link.relation];
        self.require_visible(transaction, relation.target, &relation.to_columns, &link.targets)
            .await?;
        let RelationKind::ManyToMany {
            junction,
            junction_from,
            junction_to,
        } = &relation.kind
        else {
            return Err(GatewayError::Internal);
        };
        let junction_meta = self.registry.entity(*junction);
        // The junction's own reference to the target, through which a link's visibility is read.
        let to_target = junction_meta
            .relations
            .iter()
            .position(|candidate| {
                candidate.kind == RelationKind::ManyToOne
                    && candidate.target == relation.target
                    && candidate.from_columns == *junction_to
            })
            .ok_or(GatewayError::Internal)?;
        let target_position = junction_meta
            .primary_key
            .iter()
            .position(|column| *column == junction_to[0])
            .ok_or(GatewayError::Internal)?;
        let junction_writer = Writer {
            entity: *junction,
            ..*self
        };
        let mut targets: Vec<Value> = Vec::new();
        for target in &link.targets {
            if !targets.contains(target) {
                targets.push(target.clone());
            }
        }
        for key in keys {
            let owner: Vec<Predicate> = junction_from
                .iter()
                .zip(key)
                .map(|(column, value)| Predicate::Compare {
                    column: column.clone(),
                    operator: crate::plan::Comparison::Eq,
                    value: value.clone(),
                })
                .collect();
            let mut visible_links = owner.clone();
            visible_links.push(Predicate::Related {
                relation: to_target,
                quantifier: crate::plan::Quantifier::One,
                predicate: Box::new(Predicate::And(Vec::new())),
            });
            let current = junction_writer
                .target_keys(transaction, &Target::Filter(Some(Predicate::And(visible_links))), None)
                .await?;
            let stale: Vec<Key> = current
                .iter()
                .filter(|link| !targets.contains(&link[target_position]))
                .cloned()
                .collect();
            if !stale.is_empty() {
                let rule = self.access.write(self.registry, *junction, Permission::Delete)?;
                let deletable = junction_writer
                    .target_keys(
                        transaction,
                        &Target::Filter(Some(Predicate::KeyIn {
                            columns: junction_meta.primary_key.clone(),
                            keys: stale.clone(),
                        })),
                        rule,
                    )
                    .await?;
                if deletable.len() != stale.len() {
                    return Err(GatewayError::Forbidden(format!(
                        "{}: a current link is outside what this role may unlink",
                        crate::plan::write::links_field(&relation.field)
                    )));
                }
                junction_writer.delete(transaction, &deletable).await?;
            }
            let rows: Vec<InsertRow> = targets
                .iter()
                .filter(|target| !current.iter().any(|link| link[target_position] == **target))
                .map(|target| InsertRow {
                    values: junction_from
                        .iter()
                        .cloned()
                        .zip(key.iter().cloned())
                        .chain(std::iter::once((junction_to[0].clone(), target.clone())))
                        .collect(),
                    ..InsertRow::default()
                })
                .collect();
            if !rows.is_empty() {
                Box::pin(junction_writer.insert(transaction, &rows))
                    .await
                    .map_err(|error| {
                        let target = self.registry.entity(relation.target);
                        match error {
                            GatewayError::ConstraintViolation(_) => GatewayError::ConstraintViolation(format!(
                                "{}: every id must name an existing {} this role can read",
                                crate::plan::write::links_field(&relation.field),
                                target.type_name
                            )),
                            other => other,
                        }
                    })?;
            }
        }
        Ok(())
    }

    /// Fails unless every row of `entity` keyed by `values` (one column) exists and is readable
    /// by the role: links may only point at rows the role can see.
    async fn require_visible(
        &self,
        transaction: &DatabaseTransaction,
        entity: EntityId,
        key_columns: &[String],
        values: &[Value],
    ) -> Result<(), GatewayError> {
        if !self.access.is_restricted() || values.is_empty() {
            return Ok(());
        }
        let unreadable = || {
            GatewayError::Forbidden(format!(
                "every linked {} must exist and be visible to this role",
                self.registry.entity(entity).type_name
            ))
        };
        if !self.access.readable(entity) {
            return Err(unreadable());
        }
        let mut distinct: Vec<Vec<Value>> = Vec::new();
        for value in values {
            if !distinct.iter().any(|key| key[0] == *value) {
                distinct.push(vec![value.clone()]);
            }
        }
        let mut compiler = Compiler::new(self.registry, self.backend, self.access);
        let alias = "linked";
        let mut condition = compiler.key_in(entity, key_columns, &distinct, Some(alias));
        if let Some(visible) = compiler.visible(entity, alias) {
            condition = condition.and(visible);
        }
        let count = Query::select()
            .expr(Expr::cust("count(*)"))
            .from_as(Alias::new(&self.registry.entity(entity).table), Alias::new(alias))
            .and_where(condition)
            .to_owned();
        let row = transaction.query_one(&count).await?.ok_or(GatewayError::Internal)?;
        let found: i64 = row.try_get_by_index(0)?;
        if found as usize != distinct.len() {
            return Err(unreadable());
        }
        Ok(())
    }

    /// Reads the written rows through the query machinery, as the mutation's selection asks.
    async fn read_back(
        &self,
        transaction: &DatabaseTransaction,
        keys: &[Key],
        returning: &Returning,
    ) -> Result<Json, GatewayError> {
        let meta = self.meta();
        match returning {
            Returning::One(node) => {
                let Some(key) = keys.first() else { return Ok(Json::Null) };
                let lookup = LookupPlan {
                    entity: self.entity,
                    key: meta.primary_key.iter().cloned().zip(key.iter().cloned()).collect(),
                    node: node.clone(),
                };
                let plan = Plan::Lookup(lookup);
                // The written row is returned only as far as the role may read it.
                self.access.check(self.registry, &plan)?;
                super::execute(transaction, self.registry, self.access, &plan).await
            }
            Returning::Many(outputs) => {
                let mut object = serde_json::Map::new();
                for (response_key, output) in outputs {
                    let value = match output {
                        ManyOutput::AffectedRows => Json::from(keys.len()),
                        ManyOutput::Rows(node) => {
                            let mut rows = Vec::with_capacity(keys.len());
                            for chunk in keys.chunks(KEYS_PER_STATEMENT) {
                                let plan = Plan::Connection(self.rows_plan(chunk, node.clone()));
                                self.access.check(self.registry, &plan)?;
                                let json = super::execute(transaction, self.registry, self.access, &plan).await?;
                                if let Some(Json::Array(items)) = json.get("rows").cloned() {
                                    rows.extend(items);
                                }
                            }
                            Json::Array(rows)
                        }
                    };
                    object.insert(response_key.clone(), value);
                }
                Ok(Json::Object(object))
            }
        }
    }

    /// A connection over exactly `keys`, in key order, whose nodes are `node`.
    fn rows_plan(&self, keys: &[Key], node: crate::plan::NodePlan) -> ConnectionPlan {
        let meta = self.meta();
        let filter = Predicate::KeyIn {
            columns: meta.primary_key.clone(),
            keys: keys.to_vec(),
        };
        let order = meta
            .primary_key
            .iter()
            .map(|name| OrderKey {
                path: Vec::new(),
                column: name.clone(),
                descending: false,
                nulls_first: false,
            })
            .collect();
        ConnectionPlan {
            entity: self.entity,
            filter: Some(filter),
            order,
            order_signature: String::new(),
            page: Page::default(),
            outputs: vec![("rows".to_owned(), ConnectionOutput::Nodes(node))],
        }
    }

    /// A database error of a write, in the API's terms.
    fn explain(&self, error: DbErr, rows: Option<(usize, &[InsertRow])>) -> GatewayError {
        super::constraint::explain(self.registry, self.entity, error, rows)
    }
}

/// Reads column `index` of a RETURNING/SELECT row as a typed value.
fn read_value(row: &QueryResult, index: usize, kind: &ScalarKind) -> Result<Value, DbErr> {
    Ok(match kind {
        ScalarKind::Int | ScalarKind::BigInt => Value::BigInt(Some(row.try_get_by_index::<i64>(index)?)),
        ScalarKind::String | ScalarKind::Enum { .. } => Value::String(Some(row.try_get_by_index::<String>(index)?)),
        ScalarKind::Uuid => Value::Uuid(Some(row.try_get_by_index(index)?)),
        ScalarKind::Date => Value::ChronoDate(Some(row.try_get_by_index(index)?)),
        ScalarKind::DateTime => Value::ChronoDateTimeWithTimeZone(Some(row.try_get_by_index(index)?)),
        ScalarKind::Decimal { .. } => Value::Decimal(Some(row.try_get_by_index(index)?)),
        ScalarKind::Boolean => Value::Bool(Some(row.try_get_by_index(index)?)),
        ScalarKind::Float => Value::Double(Some(row.try_get_by_index(index)?)),
        ScalarKind::Json => Value::Json(Some(Box::new(row.try_get_by_index(index)?))),
    })
}

/// A value as a person would write it in a message.
pub(super) fn display(value: &Value) -> String {
    match value {
        Value::String(Some(text)) => format!("\"{text}\""),
        Value::BigInt(Some(number)) => number.to_string(),
        other => format!("{other:?}"),
    }
}
