//! The rows an update or delete applies to (selected, and on PostgreSQL locked, first), and the
//! update and delete statements themselves.

use super::*;

impl Writer<'_> {
    /// The keys of the rows a target names within `filter` (a grant's target filter), locked for
    /// the rest of the transaction on PostgreSQL.
    pub(super) async fn target_keys(
        &self,
        transaction: &DatabaseTransaction,
        target: &Target,
        filter: Option<&Predicate>,
    ) -> Result<Vec<Key>, GatewayError> {
        let meta = self.meta();
        let rows = transaction.query_all(&self.target_select(target, filter)?).await?;
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

    /// `SELECT` of the keys a target names: the role's row filter and the grant's `filter` apply.
    pub(super) fn target_select(
        &self,
        target: &Target,
        filter: Option<&Predicate>,
    ) -> Result<sea_orm::sea_query::SelectStatement, GatewayError> {
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
        if let Some(filter) = filter {
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
        Ok(select)
    }

    pub(super) async fn update(
        &self,
        transaction: &DatabaseTransaction,
        keys: &[Key],
        set: &[(String, Value)],
    ) -> Result<(), GatewayError> {
        if set.is_empty() || keys.is_empty() {
            return Ok(());
        }
        for chunk in keys.chunks(KEYS_PER_STATEMENT) {
            transaction
                .execute(&self.update_statement(chunk, set))
                .await
                .map_err(|error| self.explain(error, None))?;
        }
        Ok(())
    }

    /// `UPDATE` of the rows keyed `keys` (timestamps touched on update set to now).
    pub(super) fn update_statement(
        &self,
        keys: &[Key],
        set: &[(String, Value)],
    ) -> sea_orm::sea_query::UpdateStatement {
        let mut update = Query::update();
        update.table(self.table());
        for (name, value) in set {
            update.value(Alias::new(name), self.compiler().bind(self.entity, name, value.clone()));
        }
        for touched in self.meta().columns.iter().filter(|column| column.touched_on_update) {
            update.value(Alias::new(&touched.name), self.compiler().dialect.now());
        }
        update.and_where(self.key_condition(keys));
        update
    }

    /// `DELETE` of the rows keyed `keys`.
    pub(super) fn delete_statement(&self, keys: &[Key]) -> sea_orm::sea_query::DeleteStatement {
        Query::delete()
            .from_table(self.table())
            .and_where(self.key_condition(keys))
            .take()
    }

    pub(super) async fn delete(&self, transaction: &DatabaseTransaction, keys: &[Key]) -> Result<(), GatewayError> {
        for chunk in keys.chunks(KEYS_PER_STATEMENT) {
            transaction
                .execute(&self.delete_statement(chunk))
                .await
                .map_err(|error| self.explain(error, None))?;
        }
        Ok(())
    }
}
