//! Reads an existing database's tables with `sea-schema`, the discovery `sea-orm-cli` uses, and
//! says which ones cannot become entities (no primary key, partitions of another table, views)
//! rather than failing on them.

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

/// Tables the gateway itself keeps in a database: never entities.
fn own_table(name: &str) -> bool {
    name == "seaql_migrations" || name == crate::sql::change::CHANGE_LOG
}

/// Discovers the tables of `url` (`postgres://…` in `schema`, or `sqlite:…`).
pub async fn discover(url: &str, schema: &str) -> Result<Discovered, GenerateError> {
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        "postgres" | "postgresql" => postgres(url, schema).await,
        "sqlite" => sqlite(url).await,
        _ => Err(GenerateError::UnsupportedUrl(scheme.to_owned())),
    }
}

async fn postgres(url: &str, schema: &str) -> Result<Discovered, GenerateError> {
    use sea_schema::postgres::discovery::SchemaDiscovery;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .map_err(GenerateError::Connect)?;
    // Partitions are served through their parent; views have no key to look rows up by.
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
    let discovered = SchemaDiscovery::new(pool, schema)
        .discover()
        .await
        .map_err(GenerateError::Discover)?;
    let mut notes: Vec<Note> = views
        .into_iter()
        .map(|view| Note::left_out(&view, "a view: it has no primary key to look rows up by"))
        .collect();
    let mut tables = Vec::new();
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
        if table.primary_key_constraints.is_empty() {
            notes.push(Note::left_out(&name, "no primary key"));
            continue;
        }
        // A partial unique index is not a unique column; `sea-orm-cli` drops them too.
        table.unique_constraints.retain(|constraint| !constraint.is_partial);
        for column in table.columns.iter().filter(|column| column.generated.is_some()) {
            notes.push(Note::column(
                &name,
                &column.name,
                "a generated column, not written back yet",
            ));
        }
        table.columns.retain(|column| column.generated.is_none());
        let statement = table.write();
        table.reference_constraints.clear();
        tables.push(Table {
            name,
            statement,
            bare: table.write(),
        });
    }
    Ok(Discovered::sorted(DbBackend::Postgres, tables, notes))
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
        for column in table.columns.iter().filter(|column| generated(column)) {
            notes.push(Note::column(
                &name,
                &column.name,
                "a generated column, not written back yet",
            ));
        }
        table.columns.retain(|column| !generated(column));
        let statement = table.write();
        table.foreign_keys.clear();
        tables.push(Table {
            name,
            statement,
            bare: table.write(),
        });
    }
    Ok(Discovered::sorted(DbBackend::Sqlite, tables, notes))
}
