//! The change feed behind subscriptions: every insert, update and delete on a tracked table is
//! announced, so every gateway process can tell its subscribers, whoever made the change (the
//! gateway, another replica, or plain SQL).
//!
//! PostgreSQL: a row trigger sends `NOTIFY gateway_changes` with the table, the operation and the
//! primary key only (a payload is limited to 8000 bytes). Updates and deletes also keep the row as
//! it was in `gateway_change_log`, and the notification names that entry: the gateway needs the
//! old row to decide whether a subscriber could see it before the change (a row leaving a
//! subscriber's view arrives as a delete, and only for those who saw it). The log is unlogged
//! and the gateway trims it.
//!
//! SQLite has no NOTIFY: triggers write every change to the same log, which the gateway reads
//! every 100 ms.
//!
//! The engine owns this DDL: `gateway changes install` creates the log ([`install_log`]) and puts
//! a trigger on every table the gateway serves ([`track`], [`is_tracked`]), `gateway changes
//! remove` takes them and the log away again ([`untrack`], [`remove_log`]); the sample's
//! migrations call the same functions. A crate of its own so that both the gateway and the
//! sample's migration crate (which the gateway uses) can depend on it.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

const POSTGRES_SETUP: &str = r#"
CREATE UNLOGGED TABLE IF NOT EXISTS gateway_change_log (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    table_name text NOT NULL,
    op text NOT NULL,
    row_key jsonb,
    old_key jsonb,
    old_row jsonb
);
CREATE INDEX IF NOT EXISTS gateway_change_log_created_at ON gateway_change_log (created_at);

CREATE OR REPLACE FUNCTION gateway_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    new_row jsonb;
    old_row jsonb;
    new_key jsonb := '{}';
    old_key jsonb := '{}';
    image bigint;
    key_column text;
    -- The served table: the trigger's first argument `table=<name>` (PostgreSQL clones a
    -- partitioned table's trigger onto every partition, where TG_TABLE_NAME is the partition),
    -- else, for triggers installed before it had one, the table the trigger fired on.
    served text := TG_TABLE_NAME;
    key_columns text[] := TG_ARGV;
BEGIN
    IF TG_NARGS > 0 AND TG_ARGV[0] LIKE 'table=%' THEN
        served := substr(TG_ARGV[0], 7);
        key_columns := TG_ARGV[1:];
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_row := to_jsonb(NEW);
    END IF;
    IF TG_OP <> 'INSERT' THEN
        old_row := to_jsonb(OLD);
    END IF;
    FOREACH key_column IN ARRAY key_columns LOOP
        IF new_row IS NOT NULL THEN
            new_key := new_key || jsonb_build_object(key_column, new_row -> key_column);
        END IF;
        IF old_row IS NOT NULL THEN
            old_key := old_key || jsonb_build_object(key_column, old_row -> key_column);
        END IF;
    END LOOP;
    IF old_row IS NOT NULL THEN
        INSERT INTO gateway_change_log (table_name, op, row_key, old_key, old_row)
        VALUES (served, TG_OP, CASE WHEN new_row IS NULL THEN NULL ELSE new_key END, old_key, old_row)
        RETURNING id INTO image;
    END IF;
    PERFORM pg_notify('gateway_changes', jsonb_build_object(
        't', served,
        'op', TG_OP,
        'k', CASE WHEN new_row IS NULL THEN NULL ELSE new_key END,
        'ok', CASE WHEN old_row IS NULL THEN NULL ELSE old_key END,
        'i', image,
        -- PostgreSQL drops a notification identical to one already sent in the transaction.
        'at', clock_timestamp()
    )::text);
    RETURN NULL;
END
$$;
"#;

const SQLITE_SETUP: &str = r#"
CREATE TABLE IF NOT EXISTS gateway_change_log (
    id integer PRIMARY KEY AUTOINCREMENT,
    created_at text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    table_name text NOT NULL,
    op text NOT NULL,
    row_key text,
    old_key text,
    old_row text
);
CREATE INDEX IF NOT EXISTS gateway_change_log_created_at ON gateway_change_log (created_at);
"#;

/// Creates the change log and (PostgreSQL) the trigger function, if they are missing.
pub async fn install_log<C: ConnectionTrait>(connection: &C) -> Result<(), DbErr> {
    let setup = match connection.get_database_backend() {
        DbBackend::Postgres => POSTGRES_SETUP,
        DbBackend::Sqlite => SQLITE_SETUP,
        _ => return Err(DbErr::Custom("the change feed supports PostgreSQL and SQLite".into())),
    };
    connection.execute_unprepared(setup).await.map(|_| ())
}

/// PostgreSQL: a row when the table named `$1` has the change-feed trigger.
pub const POSTGRES_TRACKED: &str =
    "SELECT 1 FROM pg_trigger WHERE tgname = 'gateway_changes' AND tgrelid = to_regclass(quote_ident($1))";

/// PostgreSQL: the statement that turns `table`'s change-feed trigger off, or on again (inside a
/// transaction that replaces the table's rows, nobody else sees it off). SQLite cannot: there the
/// trigger is taken away ([`untrack`]) and put back ([`track`]).
pub fn postgres_switch(table: &str, on: bool) -> String {
    format!(
        "ALTER TABLE \"{}\" {} TRIGGER gateway_changes",
        table.replace('"', "\"\""),
        if on { "ENABLE" } else { "DISABLE" }
    )
}

/// Whether changes of `table` are announced (its trigger is installed).
pub async fn is_tracked<C: ConnectionTrait>(connection: &C, table: &str) -> Result<bool, DbErr> {
    let backend = connection.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => POSTGRES_TRACKED,
        _ => "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? AND name LIKE 'gateway_changes_%'",
    };
    let found = connection
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [table.into()]))
        .await?;
    Ok(found.is_some())
}

/// Announces every change of `table` (primary key `key`) on the change feed.
pub async fn track<C: ConnectionTrait>(connection: &C, table: &str, key: &[&str]) -> Result<(), DbErr> {
    let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
    match connection.get_database_backend() {
        DbBackend::Postgres => {
            // The table first, so that the partitions of a partitioned table report it.
            let arguments: Vec<String> = std::iter::once(format!("table={table}"))
                .chain(key.iter().map(|column| (*column).to_owned()))
                .map(|argument| format!("'{}'", argument.replace('\'', "''")))
                .collect();
            connection
                .execute_unprepared(&format!(
                    "CREATE TRIGGER gateway_changes AFTER INSERT OR UPDATE OR DELETE ON {} \
                     FOR EACH ROW EXECUTE FUNCTION gateway_notify_change({})",
                    quote(table),
                    arguments.join(", ")
                ))
                .await?;
        }
        DbBackend::Sqlite => {
            let rows = connection
                .query_all_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    "SELECT name FROM pragma_table_info(?) ORDER BY cid",
                    [table.into()],
                ))
                .await?;
            let columns = rows
                .iter()
                .map(|row| row.try_get_by_index::<String>(0))
                .collect::<Result<Vec<_>, _>>()?;
            let object = |image: &str, names: &[String]| {
                let pairs: Vec<String> = names
                    .iter()
                    .map(|name| {
                        // JSON holds no blobs (SQLite's UUIDs): those are logged as hex.
                        let value = format!("{image}.{}", quote(name));
                        format!(
                            "'{}', CASE typeof({value}) WHEN 'blob' THEN lower(hex({value})) ELSE {value} END",
                            name.replace('\'', "''")
                        )
                    })
                    .collect();
                format!("json_object({})", pairs.join(", "))
            };
            let key: Vec<String> = key.iter().map(|column| (*column).to_owned()).collect();
            let literal = format!("'{}'", table.replace('\'', "''"));
            let triggers = [
                (
                    "insert",
                    "INSERT",
                    format!("{literal}, 'INSERT', {}, NULL, NULL", object("NEW", &key)),
                ),
                (
                    "update",
                    "UPDATE",
                    format!(
                        "{literal}, 'UPDATE', {}, {}, {}",
                        object("NEW", &key),
                        object("OLD", &key),
                        object("OLD", &columns)
                    ),
                ),
                (
                    "delete",
                    "DELETE",
                    format!(
                        "{literal}, 'DELETE', NULL, {}, {}",
                        object("OLD", &key),
                        object("OLD", &columns)
                    ),
                ),
            ];
            for (suffix, event, values) in triggers {
                connection
                    .execute_unprepared(&format!(
                        "CREATE TRIGGER {} AFTER {event} ON {} BEGIN \
                         INSERT INTO gateway_change_log (table_name, op, row_key, old_key, old_row) VALUES ({values}); END",
                        quote(&format!("gateway_changes_{table}_{suffix}")),
                        quote(table),
                    ))
                    .await?;
            }
        }
        _ => return Err(DbErr::Custom("the change feed supports PostgreSQL and SQLite".into())),
    }
    Ok(())
}

/// Stops announcing changes of `table`.
pub async fn untrack<C: ConnectionTrait>(connection: &C, table: &str) -> Result<(), DbErr> {
    let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
    match connection.get_database_backend() {
        DbBackend::Postgres => {
            connection
                .execute_unprepared(&format!("DROP TRIGGER IF EXISTS gateway_changes ON {}", quote(table)))
                .await?;
        }
        _ => {
            for suffix in ["insert", "update", "delete"] {
                connection
                    .execute_unprepared(&format!(
                        "DROP TRIGGER IF EXISTS {}",
                        quote(&format!("gateway_changes_{table}_{suffix}"))
                    ))
                    .await?;
            }
        }
    }
    Ok(())
}

/// The tables whose changes are announced.
pub async fn tracked_tables<C: ConnectionTrait>(connection: &C) -> Result<Vec<String>, DbErr> {
    let backend = connection.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT DISTINCT tgrelid::regclass::text FROM pg_trigger WHERE tgname = 'gateway_changes'"
        }
        _ => "SELECT DISTINCT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'gateway_changes_%'",
    };
    connection
        .query_all_raw(Statement::from_string(backend, sql))
        .await?
        .iter()
        .map(|row| row.try_get_by_index::<String>(0))
        .collect()
}

/// Drops the change log and (PostgreSQL) the trigger function when no table is tracked any more;
/// `false` when some table still is (its triggers need them).
pub async fn remove_log<C: ConnectionTrait>(connection: &C) -> Result<bool, DbErr> {
    if !tracked_tables(connection).await?.is_empty() {
        return Ok(false);
    }
    let teardown = match connection.get_database_backend() {
        DbBackend::Postgres => {
            "DROP TABLE IF EXISTS gateway_change_log; DROP FUNCTION IF EXISTS gateway_notify_change();"
        }
        _ => "DROP TABLE IF EXISTS gateway_change_log;",
    };
    connection.execute_unprepared(teardown).await?;
    Ok(true)
}
