//! Whether the served columns are still there, of a type the entities can read: checked when
//! `serve` starts, so a migration the entities were not regenerated for is named at start-up
//! instead of failing requests one by one (`gateway generate --check` catches it in CI).
//!
//! On PostgreSQL every registered column must exist with a compatible type (an `integer` column
//! the entity reads as `bigint` is not: the driver refuses to decode it); on SQLite, whose column
//! types are affinities, only that it exists.

use crate::metadata::{Registry, ScalarKind};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};
use std::collections::HashMap;

/// Whether a PostgreSQL column of `udt_name` (information_schema's) holds what `kind` reads.
fn compatible(kind: &ScalarKind, udt: &str) -> bool {
    match kind {
        ScalarKind::Int => matches!(udt, "int2" | "int4"),
        ScalarKind::BigInt => udt == "int8",
        ScalarKind::Float => matches!(udt, "float4" | "float8"),
        ScalarKind::Decimal { .. } => udt == "numeric",
        ScalarKind::Boolean => udt == "bool",
        ScalarKind::String => matches!(udt, "text" | "varchar" | "bpchar" | "name" | "citext"),
        ScalarKind::Uuid => udt == "uuid",
        ScalarKind::Date => udt == "date",
        ScalarKind::DateTime => matches!(udt, "timestamptz" | "timestamp"),
        ScalarKind::Json => matches!(udt, "json" | "jsonb"),
        ScalarKind::Bytes => udt == "bytea",
        ScalarKind::Textual { sql_type, .. } => {
            udt == sql_type || (sql_type.starts_with("time") && udt.starts_with("time"))
        }
        ScalarKind::Array { .. } => udt.starts_with('_'),
        ScalarKind::Enum { name, .. } => udt == name,
    }
}

/// Each registered column that is missing, or (PostgreSQL) of a type its entity cannot read, as
/// `table.column` and why.
pub async fn mismatches(connection: &DatabaseConnection, registry: &Registry) -> Result<Vec<String>, DbErr> {
    let backend = connection.get_database_backend();
    // In a transaction: behind PgBouncer a statement and its preparation share a server connection.
    let transaction = connection.begin().await?;
    let mut found: HashMap<(String, String), String> = HashMap::new();
    match backend {
        DbBackend::Postgres => {
            let rows = transaction
                .query_all_raw(Statement::from_string(
                    backend,
                    "SELECT table_name::text, column_name::text, udt_name::text FROM information_schema.columns \
                     WHERE table_schema = ANY (current_schemas(false))",
                ))
                .await?;
            for row in rows {
                let table: String = row.try_get_by_index(0)?;
                let column: String = row.try_get_by_index(1)?;
                let udt: String = row.try_get_by_index(2)?;
                found.entry((table, column)).or_insert(udt);
            }
        }
        _ => {
            for entity in registry.entities() {
                let rows = transaction
                    .query_all_raw(Statement::from_sql_and_values(
                        backend,
                        "SELECT name FROM pragma_table_info(?)",
                        [entity.table.clone().into()],
                    ))
                    .await?;
                for row in rows {
                    let column: String = row.try_get_by_index(0)?;
                    found.insert((entity.table.clone(), column), String::new());
                }
            }
        }
    }
    transaction.commit().await?;
    let mut problems = Vec::new();
    for entity in registry.entities() {
        for column in &entity.columns {
            match found.get(&(entity.table.clone(), column.name.clone())) {
                None => problems.push(format!("`{}.{}` is missing", entity.table, column.name)),
                Some(udt) if backend == DbBackend::Postgres && !compatible(&column.kind, udt) => {
                    problems.push(format!(
                        "`{}.{}` is `{udt}`, which its entity cannot read",
                        entity.table, column.name
                    ))
                }
                Some(_) => {}
            }
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_the_entities_read_are_compatible_and_others_are_not() {
        assert!(compatible(&ScalarKind::Int, "int4"));
        assert!(!compatible(&ScalarKind::Int, "text"));
        assert!(!compatible(&ScalarKind::BigInt, "int4"));
        assert!(compatible(&ScalarKind::DateTime, "timestamp"));
        let status = ScalarKind::Enum {
            name: "task_status".into(),
            values: Vec::new(),
        };
        assert!(compatible(&status, "task_status"));
        assert!(!compatible(&status, "text"));
    }
}
