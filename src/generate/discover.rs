//! Reads an existing database's tables with `sea-schema`, the discovery `sea-orm-cli` uses, and
//! says which ones cannot become entities (partitions of another table; views and tables without
//! a primary key unless the names file declares their key, which makes them read-only) rather
//! than failing on them.

use super::relations::DeclaredKey;
use super::{GenerateError, Note};
use sea_orm::DbBackend;
use sea_orm::sea_query::TableCreateStatement;

/// One table as the database describes it.
pub struct Table {
    pub name: String,
    /// With its foreign keys: what the relations are built from.
    pub statement: TableCreateStatement,
    /// Without them: what `sea-orm-codegen` turns into the entity's columns (the relations are
    /// written by [`super::render`], named from the foreign-key columns).
    pub bare: TableCreateStatement,
    /// Served for reading only, and why (a view, a table whose key the names file declares).
    pub read_only: Option<String>,
    /// Generated columns: the database computes them.
    pub computed: Vec<String>,
    /// `NOT NULL` columns without a default that a `BEFORE INSERT` row trigger's function
    /// assigns: optional inputs (the database refuses the row, as a `CONSTRAINT_VIOLATION` naming
    /// the field, when it leaves one empty).
    pub filled: Vec<String>,
}

/// Every table that can become an entity (by name: the catalogs' order is not stable, the
/// generated files must be), and what was left out.
pub struct Discovered {
    pub backend: DbBackend,
    pub tables: Vec<Table>,
    pub notes: Vec<Note>,
}

impl Discovered {
    fn sorted(backend: DbBackend, mut tables: Vec<Table>, notes: Vec<Note>) -> Self {
        tables.sort_by(|left, right| left.name.cmp(&right.name));
        Self { backend, tables, notes }
    }
}

/// The read-only reason of a view: the registration file marks it `.view()`.
pub const VIEW: &str = "a view";

/// Tables the gateway itself keeps in a database: never entities.
fn own_table(name: &str) -> bool {
    name == "seaql_migrations" || name == crate::sql::change::CHANGE_LOG
}

/// Discovers the tables of `url` (`postgres://…` in `schema`, or `sqlite:…`).
pub async fn discover(url: &str, schema: &str, keys: &[DeclaredKey]) -> Result<Discovered, GenerateError> {
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        "postgres" | "postgresql" => postgres(url, schema, keys).await,
        "sqlite" => sqlite(url).await,
        _ => Err(GenerateError::UnsupportedUrl(scheme.to_owned())),
    }
}

async fn postgres(url: &str, schema: &str, keys: &[DeclaredKey]) -> Result<Discovered, GenerateError> {
    use sea_schema::postgres::def::{PrimaryKey, TableDef, TableInfo};
    use sea_schema::postgres::discovery::SchemaDiscovery;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .map_err(GenerateError::Connect)?;
    // Partitions are served through their parent.
    let partitions: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relispartition ORDER BY 1",
    )
    .bind(schema)
    .fetch_all(&pool)
    .await
    .map_err(GenerateError::Discover)?;
    let views: Vec<String> =
        sqlx::query_scalar("SELECT table_name::text FROM information_schema.views WHERE table_schema = $1 ORDER BY 1")
            .bind(schema)
            .fetch_all(&pool)
            .await
            .map_err(GenerateError::Discover)?;
    let discovery = SchemaDiscovery::new(pool.clone(), schema);
    let discovered = discovery.discover().await.map_err(GenerateError::Discover)?;
    let declared = |name: &str| keys.iter().find(|key| key.table == name);
    let mut notes = Vec::new();
    let mut tables = Vec::new();
    let mut definitions: Vec<(TableDef, Option<String>)> = Vec::new();
    for mut table in discovered.tables {
        let name = table.info.name.clone();
        if own_table(&name) {
            continue;
        }
        if partitions.contains(&name) {
            notes.push(Note::left_out(
                &name,
                "a partition: its rows are served through the partitioned table",
            ));
            continue;
        }
        let mut read_only = None;
        if table.primary_key_constraints.is_empty() {
            let Some(key) = declared(&name) else {
                notes.push(Note::left_out(
                    &name,
                    &undeclared("a table without a primary key", &name),
                ));
                continue;
            };
            table.primary_key_constraints.push(PrimaryKey {
                name: format!("{name}_declared_key"),
                columns: key.columns.clone(),
            });
            read_only = Some("a table without a primary key; gateway-names.toml declares its key".to_owned());
        }
        // A partial unique index is not a unique column; `sea-orm-cli` drops them too.
        table.unique_constraints.retain(|constraint| !constraint.is_partial);
        definitions.push((table, read_only));
    }
    // sea-schema discovers base tables only: a view's columns come from the catalog, typed by
    // sea-schema's own type parser, and it is served when the names file declares its key.
    let enums = discovery.discover_enums().await.map_err(GenerateError::Discover)?;
    for view in views {
        let Some(key) = declared(&view) else {
            notes.push(Note::left_out(&view, &undeclared("a view", &view)));
            continue;
        };
        let columns: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text, udt_name::text FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
        )
        .bind(schema)
        .bind(&view)
        .fetch_all(&pool)
        .await
        .map_err(GenerateError::Discover)?;
        let typed = |data_type: &str, udt: &str| view_column_type(data_type, udt, &enums);
        definitions.push((
            TableDef {
                info: TableInfo {
                    name: view.clone(),
                    of_type: None,
                },
                columns: columns
                    .into_iter()
                    .map(|(name, data_type, udt)| sea_schema::postgres::def::ColumnInfo {
                        col_type: typed(&data_type, &udt),
                        // A view says every column may be null; its declared key may not.
                        not_null: key
                            .columns
                            .contains(&name)
                            .then_some(sea_schema::postgres::def::NotNull),
                        default: None,
                        generated: None,
                        is_identity: false,
                        name,
                    })
                    .collect(),
                check_constraints: Vec::new(),
                not_null_constraints: Vec::new(),
                unique_constraints: Vec::new(),
                primary_key_constraints: vec![PrimaryKey {
                    name: format!("{view}_declared_key"),
                    columns: key.columns.clone(),
                }],
                reference_constraints: Vec::new(),
                exclusion_constraints: Vec::new(),
            },
            Some(VIEW.to_owned()),
        ));
    }
    // The sources of `BEFORE INSERT` row triggers' functions (tgtype bits: row 1, before 2,
    // insert 4), per table: the columns they assign are filled by the database.
    let triggers: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, p.prosrc FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_proc p ON p.oid = t.tgfoid \
         WHERE n.nspname = $1 AND NOT t.tgisinternal AND (t.tgtype::int & 7) = 7 ORDER BY 1, 2",
    )
    .bind(schema)
    .fetch_all(&pool)
    .await
    .map_err(GenerateError::Discover)?;
    for (mut table, read_only) in definitions {
        let name = table.info.name.clone();
        let computed: Vec<String> = table
            .columns
            .iter()
            .filter(|column| column.generated.is_some())
            .map(|column| column.name.clone())
            .collect();
        let assigned: Vec<String> = triggers
            .iter()
            .filter(|(table, _)| *table == name)
            .flat_map(|(_, source)| assigned_columns(source))
            .collect();
        let filled: Vec<String> = table
            .columns
            .iter()
            .filter(|column| {
                column.not_null.is_some()
                    && column.default.is_none()
                    && column.generated.is_none()
                    && !column.is_identity
                    && assigned.contains(&column.name.to_lowercase())
            })
            .map(|column| column.name.clone())
            .collect();
        let statement = table.write();
        table.reference_constraints.clear();
        tables.push(Table {
            name,
            statement,
            bare: table.write(),
            read_only,
            computed,
            filled,
        });
    }
    Ok(Discovered::sorted(DbBackend::Postgres, tables, notes))
}

/// The columns a PL/pgSQL trigger function assigns (`NEW.search := …`, `NEW."Slug" = …`), lower
/// case; a function in another language assigns none that can be read.
fn assigned_columns(source: &str) -> Vec<String> {
    let lower = source.to_lowercase();
    let mut found = Vec::new();
    let mut rest = lower.as_str();
    while let Some(at) = rest.find("new.") {
        let after = &rest[at + 4..];
        let name: String = after
            .trim_start_matches('"')
            .chars()
            .take_while(|character| character.is_alphanumeric() || *character == '_')
            .collect();
        let tail = after.trim_start_matches('"')[name.len()..]
            .trim_start_matches('"')
            .trim_start();
        // An assignment starts a statement (`IF NEW.x = 0` compares).
        let before = lower[..lower.len() - rest.len() + at].trim_end();
        let preceded = before.is_empty()
            || before.ends_with(';')
            || ["begin", "then", "else", "loop", "declare"].iter().any(|keyword| {
                before.ends_with(keyword)
                    && before[..before.len() - keyword.len()]
                        .chars()
                        .next_back()
                        .is_none_or(|character| !(character.is_alphanumeric() || character == '_'))
            });
        if preceded
            && !name.is_empty()
            && (tail.starts_with(":=") || (tail.starts_with('=') && !tail.starts_with("==")))
        {
            found.push(name);
        }
        rest = after;
    }
    found
}

/// Why a table without a key is left out, and how to serve it.
fn undeclared(what: &str, name: &str) -> String {
    format!(
        "{what}; declare its key in the names file to serve it read-only \
         ([[key]] table = \"{name}\" columns = [\"…\"])"
    )
}

/// A view column's type, as sea-schema types a table's (`udt_name` `_text` is `text[]`).
fn view_column_type(
    data_type: &str,
    udt: &str,
    enums: &[sea_schema::postgres::def::EnumDef],
) -> sea_schema::postgres::def::Type {
    use sea_schema::postgres::def::{ArrayDef, Type};
    let scalar = |udt: &str| match enums.iter().find(|candidate| candidate.typename == udt) {
        Some(found) => Type::Enum(found.clone()),
        None => Type::from_str(udt, Some(udt), false),
    };
    if data_type.eq_ignore_ascii_case("array") {
        Type::Array(ArrayDef {
            col_type: Some(sea_orm::sea_query::RcOrArc::new(scalar(udt.trim_start_matches('_')))),
        })
    } else if data_type.eq_ignore_ascii_case("user-defined") {
        scalar(udt)
    } else {
        Type::from_str(data_type, Some(udt), false)
    }
}

async fn sqlite(url: &str) -> Result<Discovered, GenerateError> {
    use sea_schema::sqlite::def::ColumnVisibility;
    use sea_schema::sqlite::discovery::SchemaDiscovery;
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .map_err(GenerateError::Connect)?;
    let discovered = SchemaDiscovery::new(pool)
        .discover()
        .await
        .map_err(|error| GenerateError::Discover(sqlx::Error::Protocol(error.to_string())))?
        .merge_indexes_into_table();
    let mut notes = Vec::new();
    let mut tables = Vec::new();
    for mut table in discovered.tables {
        let name = table.name.clone();
        if own_table(&name) {
            continue;
        }
        if !table.columns.iter().any(|column| column.primary_key) {
            notes.push(Note::left_out(&name, "no primary key"));
            continue;
        }
        let generated = |column: &sea_schema::sqlite::def::ColumnInfo| {
            matches!(
                column.hidden,
                ColumnVisibility::GeneratedVirtual | ColumnVisibility::GeneratedStored
            )
        };
        let computed = table
            .columns
            .iter()
            .filter(|column| generated(column))
            .map(|column| column.name.clone())
            .collect();
        let statement = table.write();
        table.foreign_keys.clear();
        tables.push(Table {
            name,
            statement,
            bare: table.write(),
            read_only: None,
            computed,
            // A SQLite trigger cannot change the row it fires for: nothing is filled.
            filled: Vec::new(),
        });
    }
    Ok(Discovered::sorted(DbBackend::Sqlite, tables, notes))
}

#[cfg(test)]
mod tests {
    use super::assigned_columns;

    #[test]
    fn trigger_functions_assign_the_columns_they_set() {
        let source = "BEGIN\n  NEW.search := to_tsvector(NEW.full_name);\n  new.\"Slug\" = lower(NEW.title);\n  \
                      IF NEW.total = 0 THEN NEW.total := 1; END IF;\n  renew.x := 1;\nEND";
        assert_eq!(assigned_columns(source), ["search", "slug", "total"]);
    }
}
