//! Inserts and upserts: rows (with their children and links) written with `RETURNING` keys, and
//! upserts that update only a conflicting row the role may read and update.

use super::*;

impl Writer<'_> {
    pub(super) async fn insert(
        &self,
        transaction: &DatabaseTransaction,
        rows: &[InsertRow],
    ) -> Result<Vec<Key>, GatewayError> {
        let grant = self.access.grant(self.registry, self.entity, RowOp::Insert)?;
        let rows = grant.rows(rows)?;
        let keys = self.insert_rows(transaction, &rows).await?;
        self.verify(transaction, &keys, &grant).await?;
        self.verify_references(
            transaction,
            &keys,
            &written_columns(rows.iter().map(|row| &row.values)),
            &grant,
        )
        .await?;
        Ok(keys)
    }

    pub(super) async fn insert_rows(
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
                let insert = self.insert_statement(&columns, chunk)?;
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

    /// A multi-row `INSERT … RETURNING` keys of `rows`, which all set `columns`.
    pub(super) fn insert_statement(
        &self,
        columns: &[&String],
        rows: &[InsertRow],
    ) -> Result<sea_orm::sea_query::InsertStatement, GatewayError> {
        let mut insert = Query::insert();
        insert.into_table(self.table()).returning(self.returning_keys());
        if columns.is_empty() {
            insert.or_default_values();
        } else {
            insert.columns(columns.iter().map(|name| Alias::new(name.as_str())));
            for row in rows {
                insert
                    .values(self.row_values(row))
                    .map_err(|_| GatewayError::Internal)?;
            }
        }
        Ok(insert)
    }

    /// Inserts a row's new children with their reference to it filled in.
    pub(super) async fn insert_children(
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

    pub(super) async fn upsert(
        &self,
        transaction: &DatabaseTransaction,
        row: &InsertRow,
        conflict: &[String],
        update: &[String],
    ) -> Result<Vec<Key>, GatewayError> {
        // An upsert may insert or update, so the role needs both rules.
        let insert_grant = self.access.grant(self.registry, self.entity, RowOp::Insert)?;
        let update_grant = self.access.grant(self.registry, self.entity, RowOp::Update)?;
        let row = &InsertRow {
            values: insert_grant.values(&row.values)?,
            ..row.clone()
        };
        update_grant.updatable(update)?;
        let insert = self.upsert_statement(row, conflict, update, update_grant.target_filter())?;
        let returned = transaction
            .query_all(&insert)
            .await
            .map_err(|error| self.explain(error, None))?;
        let keys = self.keys_of(&returned)?;
        if keys.is_empty() {
            return Err(update_grant.conflict_refused());
        }
        self.verify(transaction, &keys, &insert_grant).await?;
        self.verify(transaction, &keys, &update_grant).await?;
        let mut written = written_columns([&row.values]);
        written.extend(update.iter().cloned());
        if update.is_empty() {
            written.extend(conflict.iter().take(1).cloned());
        }
        self.verify_references(transaction, &keys, &written, &insert_grant)
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

    /// `INSERT … ON CONFLICT DO UPDATE … RETURNING` keys: only a conflicting row the role may read
    /// and update is updated (and so returned).
    pub(super) fn upsert_statement(
        &self,
        row: &InsertRow,
        conflict: &[String],
        update: &[String],
        update_filter: Option<&Predicate>,
    ) -> Result<sea_orm::sea_query::InsertStatement, GatewayError> {
        let meta = self.meta();
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
        if let Some(filter) = update_filter {
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
        Ok(insert)
    }
}
