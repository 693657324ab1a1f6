//! Statements of the change feed: which logged old rows a subscriber could see.
//!
//! An update or a delete keeps the row as it was in `gateway_change_log` (see the change-feed
//! migration). To learn whether a subscriber saw the row before the change, the old row is
//! turned back into a row of its table and tested with the subscriber's row filter and the
//! subscription's own filter, compiled exactly as for a read.

use super::{Compiler, column};
use crate::metadata::{EntityId, ScalarKind};
use crate::plan::Predicate;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Query, SelectStatement};

/// The change log table the triggers write.
pub const CHANGE_LOG: &str = "gateway_change_log";

impl Compiler<'_> {
    /// `SELECT id` of the log entries among `entries` whose old row of `entity` the session could
    /// see and that matches `filter`.
    pub fn visible_old_rows(
        &mut self,
        entity: EntityId,
        filter: Option<&Predicate>,
        entries: &[i64],
    ) -> SelectStatement {
        let meta = self.registry.entity(entity);
        let alias = self.alias();
        let log = "gateway_log";
        let mut query = Query::select();
        query.expr(column(log, "id"));
        if self.dialect.postgres() {
            // The old row, typed as a row of its table.
            let record = Expr::cust(format!("NULL::\"{}\"", meta.table.replace('"', "\"\"")));
            query
                .from_as(Alias::new(CHANGE_LOG), Alias::new(log))
                .from_function(
                    Func::cust("jsonb_populate_record")
                        .arg(record)
                        .arg(column(log, "old_row")),
                    Alias::new(&alias),
                )
                .and_where(column(log, "id").is_in(entries.iter().copied()));
        } else {
            // SQLite: a derived table reading each column out of the logged JSON.
            let mut image = Query::select();
            image.expr_as(column(log, "id"), Alias::new("gateway_entry"));
            for meta_column in &meta.columns {
                let path = format!("$.\"{}\"", meta_column.name.replace('"', "\\\""));
                let value = Func::cust("json_extract").arg(column(log, "old_row")).arg(path);
                // The triggers log blobs (UUIDs) as hex.
                let value: Expr = match meta_column.kind {
                    ScalarKind::Uuid => Func::cust("unhex").arg(value).into(),
                    _ => value.into(),
                };
                image.expr_as(value, Alias::new(&meta_column.name));
            }
            image
                .from_as(Alias::new(CHANGE_LOG), Alias::new(log))
                .and_where(column(log, "id").is_in(entries.iter().copied()));
            query = Query::select();
            query
                .expr(column(&alias, "gateway_entry"))
                .from_subquery(image, Alias::new(&alias));
        }
        if let Some(visible) = self.visible(entity, &alias) {
            query.and_where(visible);
        }
        if let Some(filter) = filter {
            let condition = self.predicate(entity, filter, &alias);
            query.and_where(condition);
        }
        query
    }
}
