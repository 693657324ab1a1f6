//! What a write must satisfy besides its own statement, as its grant (`permission::write`) says:
//! every foreign key it sets names a row the role may read, the rule's check holds for the rows as
//! written, linked rows are visible. This compiles and runs those checks; it decides none.

use super::*;

impl Writer<'_> {
    /// Fails when a written row's foreign key (among `columns`, the ones the write set) names a
    /// row the role may not read, where the grant says to check it. The answer is the same as for
    /// a row that does not exist, so it tells nothing about other tenants.
    pub(super) async fn verify_references(
        &self,
        transaction: &DatabaseTransaction,
        keys: &[Key],
        columns: &[String],
        grant: &WriteGrant<'_>,
    ) -> Result<(), GatewayError> {
        if keys.is_empty() {
            return Ok(());
        }
        for index in grant.checked_references(columns) {
            for chunk in keys.chunks(KEYS_PER_STATEMENT) {
                if transaction
                    .query_one(&self.reference_check(chunk, index))
                    .await?
                    .is_some()
                {
                    return Err(crate::sql::constraint::missing_reference(
                        self.registry,
                        self.entity,
                        index,
                    ));
                }
            }
        }
        Ok(())
    }

    /// `SELECT 1` of a row keyed `keys` whose relation `index` names no row the role may read.
    pub(super) fn reference_check(&self, keys: &[Key], index: usize) -> sea_orm::sea_query::SelectStatement {
        let meta = self.meta();
        let relation = &meta.relations[index];
        let target = self.registry.entity(relation.target);
        let mut compiler = self.compiler();
        let alias = "written";
        let mut condition = compiler.key_in(self.entity, &meta.primary_key, keys, Some(alias));
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
                .take(),
        ));
        Query::select()
            .expr(Expr::cust("1"))
            .from_as(self.table(), Alias::new(alias))
            .and_where(condition)
            .limit(1)
            .take()
    }

    /// `SELECT 1` of a row keyed `keys` that fails `check`.
    pub(super) fn check_select(&self, keys: &[Key], check: &Predicate<Value>) -> sea_orm::sea_query::SelectStatement {
        let mut compiler = self.compiler();
        let alias = "written";
        let keys = compiler.key_in(self.entity, &self.meta().primary_key, keys, Some(alias));
        let passes = compiler.policy_predicate(self.entity, check, alias);
        Query::select()
            .expr(Expr::cust("1"))
            .from_as(self.table(), Alias::new(alias))
            .and_where(keys.and(compiler.dialect.template("({}) IS NOT TRUE", vec![passes])))
            .limit(1)
            .take()
    }

    /// Fails when a written row does not satisfy the grant's check (in the same transaction, so
    /// the failure undoes the write).
    pub(super) async fn verify(
        &self,
        transaction: &DatabaseTransaction,
        keys: &[Key],
        grant: &WriteGrant<'_>,
    ) -> Result<(), GatewayError> {
        let Some(check) = grant.check() else {
            return Ok(());
        };
        for chunk in keys.chunks(KEYS_PER_STATEMENT) {
            if transaction.query_one(&self.check_select(chunk, check)).await?.is_some() {
                return Err(grant.check_failed());
            }
        }
        Ok(())
    }

    /// Fails unless every row of `entity` keyed by `values` (one column) exists and is readable
    /// by the role: links may only point at rows the role can see.
    pub(super) async fn require_visible(
        &self,
        transaction: &DatabaseTransaction,
        entity: EntityId,
        key_columns: &[String],
        values: &[Value],
    ) -> Result<(), GatewayError> {
        if values.is_empty() || !self.access.check_link_targets(self.registry, entity)? {
            return Ok(());
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
            .take();
        let row = transaction.query_one(&count).await?.ok_or(GatewayError::Internal)?;
        let found: i64 = row.try_get_by_index(0)?;
        if found as usize != distinct.len() {
            return Err(crate::permission::unreadable_link(self.registry, entity));
        }
        Ok(())
    }
}
