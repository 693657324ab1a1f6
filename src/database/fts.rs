//! SQLite FTS5 tables that index a searchable column: found at start-up in `sqlite_master`, so
//! `search` on that column asks the index (`MATCH`, ranked by `bm25`) instead of the word-matching
//! fallback. An external-content table qualifies when it names the served table as its `content`
//! and the table's one-column primary key as its `content_rowid`:
//!
//! ```sql
//! CREATE VIRTUAL TABLE tasks_fts USING fts5(title, content='tasks', content_rowid='id');
//! ```
//!
//! (Keeping it in step with the table — triggers, or `INSERT INTO tasks_fts(tasks_fts)
//! VALUES ('rebuild')` — is the database's business, as FTS5's documentation describes.)

use crate::metadata::Registry;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use std::sync::Arc;

/// One FTS5 table's definition, as far as the gateway reads it.
#[derive(Debug, PartialEq)]
struct Index {
    name: String,
    columns: Vec<String>,
    content: Option<String>,
    content_rowid: Option<String>,
}

/// Reads `CREATE VIRTUAL TABLE <name> USING fts5(<arguments>)`.
fn parse(name: &str, sql: &str) -> Option<Index> {
    let lower = sql.to_ascii_lowercase();
    let start = lower.find("fts5(")? + "fts5(".len();
    let end = sql.rfind(')')?;
    let unquote = |text: &str| {
        text.trim()
            .trim_matches(|c| matches!(c, '\'' | '"' | '`' | '[' | ']'))
            .to_owned()
    };
    let mut index = Index {
        name: name.to_owned(),
        columns: Vec::new(),
        content: None,
        content_rowid: None,
    };
    for argument in sql.get(start..end)?.split(',') {
        match argument.split_once('=') {
            Some((option, value)) => match option.trim().to_ascii_lowercase().as_str() {
                "content" => index.content = Some(unquote(value)),
                "content_rowid" => index.content_rowid = Some(unquote(value)),
                _ => {}
            },
            None => {
                let mut words = argument.split_whitespace();
                let column = words.next().map(unquote)?;
                // An UNINDEXED column is stored, not searchable.
                if !words.any(|word| word.eq_ignore_ascii_case("unindexed")) {
                    index.columns.push(column);
                }
            }
        }
    }
    Some(index)
}

/// `registry` with every searchable column that an FTS5 table of the SQLite database indexes
/// marked with that table (unchanged on PostgreSQL, or when nothing is searchable).
pub async fn attach(connection: &DatabaseConnection, registry: Arc<Registry>) -> Arc<Registry> {
    let searchable = registry
        .entities()
        .iter()
        .any(|entity| entity.columns.iter().any(|column| column.searchable));
    if connection.get_database_backend() != DbBackend::Sqlite || !searchable {
        return registry;
    }
    let statement = Statement::from_string(
        DbBackend::Sqlite,
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%fts5%'",
    );
    let rows = match connection.query_all_raw(statement).await {
        Ok(rows) => rows,
        Err(error) => {
            tracing::warn!(%error, "cannot read the FTS5 tables: search uses word matching");
            return registry;
        }
    };
    let mut marked = (*registry).clone();
    for row in rows {
        let (Ok(name), Ok(sql)) = (row.try_get_by_index::<String>(0), row.try_get_by_index::<String>(1)) else {
            continue;
        };
        let Some(index) = parse(&name, &sql) else { continue };
        let (Some(content), Some(rowid)) = (&index.content, &index.content_rowid) else {
            continue;
        };
        for column in &index.columns {
            if marked.with_search_index(content, rowid, column, &index.name) {
                tracing::info!(table = %content, %column, index = %index.name, "search reads the FTS5 table");
            }
        }
    }
    Arc::new(marked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_content_tables_are_read_from_their_definition() {
        let index = parse(
            "tasks_fts",
            "CREATE VIRTUAL TABLE tasks_fts USING fts5(title, body UNINDEXED, \"notes\", content='tasks', content_rowid=\"id\")",
        )
        .expect("an FTS5 table");
        assert_eq!(
            index,
            Index {
                name: "tasks_fts".into(),
                columns: vec!["title".into(), "notes".into()],
                content: Some("tasks".into()),
                content_rowid: Some("id".into()),
            }
        );
        assert!(parse("x", "CREATE VIRTUAL TABLE x USING rtree(id, a, b)").is_none());
    }
}
