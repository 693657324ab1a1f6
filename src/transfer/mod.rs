//! `gateway export` and `gateway import`: the data of every registered table as portable NDJSON,
//! to move it between databases (the SQLite default and PostgreSQL) or keep a backup.
//!
//! The format, one JSON document per line:
//! 1. a header: `{"format": "gateway-export", "version": 1, "backend": …, "tables": [{"name", "rows",
//!    "primary_key", "columns": [{"name", "type", "nullable"}]}]}`, tables parents first;
//! 2. one line per row: `{"table": "tasks", "row": {"id": "1", …}}`, table by table in that order;
//! 3. an end line: `{"end": {"rows": {"tasks": 20000, …}}}`, so a cut-off file is recognised.
//!
//! Values are written as the GraphQL API presents them, which is exact for every type: 64-bit
//! integers and decimals as strings, timestamps in RFC 3339 with their offset, enums by name,
//! JSON as JSON; import reads them with the API's own input parsers. A file name ending in `.zst`
//! or `.gz` is compressed. Both directions stream: memory does not grow with the data.

mod export;
mod file;
mod import;

pub use export::export;
pub use import::{ImportMode, import};

use crate::metadata::{EntityId, Registry, ScalarKind};
use serde::{Deserialize, Serialize};

/// The `format` of the header line.
pub const FORMAT: &str = "gateway-export";
/// The format version this gateway writes and reads.
pub const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub version: u32,
    pub backend: String,
    pub tables: Vec<TableHeader>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct TableHeader {
    pub name: String,
    pub rows: u64,
    pub primary_key: Vec<String>,
    pub columns: Vec<ColumnHeader>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct ColumnHeader {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub nullable: bool,
}

/// What went wrong; nothing is written by an import that fails.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("{path}: {source}")]
    File { path: String, source: std::io::Error },
    #[error("line {line}: {reason}")]
    Line { line: u64, reason: String },
    #[error(
        "the database already has rows in `{table}`: pass --truncate to replace the data or --upsert to merge into it"
    )]
    NotEmpty { table: String },
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("database error: {0}")]
    Postgres(#[from] sqlx::Error),
}

/// How a column's type is named in the header.
fn type_label(kind: &ScalarKind) -> String {
    match kind {
        ScalarKind::Int => "Int".into(),
        ScalarKind::BigInt => "BigInt".into(),
        ScalarKind::Float => "Float".into(),
        ScalarKind::Decimal { scale: Some(scale), .. } => format!("Decimal({scale})"),
        ScalarKind::Decimal { scale: None, .. } => "Decimal".into(),
        ScalarKind::Boolean => "Boolean".into(),
        ScalarKind::String => "String".into(),
        ScalarKind::Uuid => "UUID".into(),
        ScalarKind::Date => "Date".into(),
        ScalarKind::DateTime => "DateTime".into(),
        ScalarKind::Json => "JSON".into(),
        ScalarKind::Bytes => "Base64".into(),
        ScalarKind::Array { element, .. } => format!("List {}", type_label(element)),
        ScalarKind::Textual { sql_type, .. } => format!("Text {sql_type}"),
        ScalarKind::Enum { name, values } => format!("Enum {name}({})", values.join("|")),
    }
}

/// The header entry of `entity` (without its row count).
fn table_header(registry: &Registry, entity: EntityId, rows: u64) -> TableHeader {
    let meta = registry.entity(entity);
    TableHeader {
        name: meta.table.clone(),
        rows,
        primary_key: meta.primary_key.clone(),
        columns: meta
            .columns
            .iter()
            .map(|column| ColumnHeader {
                name: column.name.clone(),
                kind: type_label(&column.kind),
                nullable: column.nullable,
            })
            .collect(),
    }
}

/// Every table entity (views left out), each after the entities its foreign keys point at (a self-reference does not
/// count; rows of such a table come in key order).
pub fn dependency_order(registry: &Registry) -> Vec<EntityId> {
    let count = registry.entities().len();
    let mut placed = vec![false; count];
    let mut order = Vec::with_capacity(count);
    while order.len() < count {
        let before = order.len();
        for id in 0..count {
            if placed[id] {
                continue;
            }
            let ready = registry
                .entity(id)
                .relations
                .iter()
                .all(|relation| !relation.holds_key || relation.target == id || placed[relation.target]);
            if ready {
                placed[id] = true;
                order.push(id);
            }
        }
        if order.len() == before {
            // A cycle of foreign keys: the rest in registration order.
            order.extend((0..count).filter(|id| !placed[*id]));
            break;
        }
    }
    // Views hold other tables' rows: not exported, not imported.
    order.retain(|id| !registry.entity(*id).derived);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_come_before_children() {
        let registry = crate::entities::registry().unwrap();
        let order: Vec<&str> = dependency_order(&registry)
            .into_iter()
            .map(|id| registry.entity(id).table.as_str())
            .collect();
        let position = |table: &str| order.iter().position(|name| *name == table).unwrap();
        assert!(position("organizations") < position("users"));
        assert!(position("projects") < position("tasks"));
        assert!(position("users") < position("tasks"));
        assert!(position("tasks") < position("comments"));
        assert!(position("tags") < position("task_tags"));
        assert!(position("tasks") < position("task_tags"));
        assert_eq!(order.len(), registry.entities().len());
    }
}
