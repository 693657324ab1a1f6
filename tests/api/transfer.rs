//! `gateway export` / `gateway import`: round trips between SQLite and PostgreSQL at scale 1 give
//! identical data (per-table hashes of the rows), typed values survive exactly, and bad files are
//! refused with their line number while nothing is written.

use crate::support::{TestDatabase, run_gateway};
use gateway::transfer::{ImportMode, TransferError, export, import};
use migration::MigratorTrait;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

fn registry() -> gateway::metadata::Registry {
    gateway::entities::registry().expect("the sample entities are valid")
}

/// A migrated SQLite file in `dir`.
async fn sqlite(dir: &Path, name: &str) -> DatabaseConnection {
    let url = format!("sqlite://{}?mode=rwc", dir.join(name).display());
    let connection = sea_orm::Database::connect(&url).await.expect("open SQLite");
    migration::Migrator::up(&connection, None).await.expect("migrate");
    connection
}

/// SHA-256 of each table's row lines (the header names the backend, so it is left out).
fn table_hashes(path: &Path) -> BTreeMap<String, String> {
    let reader = std::io::BufReader::new(zstd::Decoder::new(std::fs::File::open(path).unwrap()).unwrap());
    let mut hashers: BTreeMap<String, Sha256> = BTreeMap::new();
    for line in reader.lines().skip(1) {
        let line = line.unwrap();
        let value: Value = serde_json::from_str(&line).unwrap();
        if let Some(table) = value["table"].as_str() {
            hashers.entry(table.to_owned()).or_default().update(line.as_bytes());
        }
    }
    hashers
        .into_iter()
        .map(|(table, hasher)| (table, format!("{:x}", hasher.finalize())))
        .collect()
}

async fn one_text(connection: &DatabaseConnection, sql: &str) -> String {
    let row = connection
        .query_one_raw(Statement::from_string(connection.get_database_backend(), sql))
        .await
        .expect(sql)
        .expect("a row");
    row.try_get_by_index::<String>(0).expect("text")
}

/// Rows the seeder never writes: the extremes of each type.
async fn add_extremes(connection: &DatabaseConnection) {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let created = chrono::DateTime::parse_from_rfc3339("2026-05-04T03:02:01.123456+05:30").unwrap();
    entity::organization::ActiveModel {
        id: Set(9_007_199_254_740_993),
        slug: Set("extreme".into()),
        name: Set("Ünïcode \"quoted\" \\ name\nwith a newline".into()),
        plan: Set(entity::enums::OrganizationPlan::Enterprise),
        created_at: Set(created),
    }
    .insert(connection)
    .await
    .expect("organization");
    entity::project::ActiveModel {
        id: Set(9_007_199_254_740_994),
        organization_id: Set(9_007_199_254_740_993),
        name: Set("Extremes".into()),
        description: Set(None),
        is_public: Set(true),
        created_at: Set(created),
    }
    .insert(connection)
    .await
    .expect("project");
    entity::task::ActiveModel {
        id: Set(9_007_199_254_740_995),
        project_id: Set(9_007_199_254_740_994),
        assignee_id: Set(None),
        title: Set("Big id".into()),
        status: Set(entity::enums::TaskStatus::InProgress),
        priority: Set(i32::MAX),
        due_on: Set(Some(chrono::NaiveDate::from_ymd_opt(2028, 2, 29).unwrap())),
        estimate_hours: Set(Some("9999.99".parse().unwrap())),
        metadata: Set(Some(
            json!({ "nested": { "list": [1, 2.5, "x", null, 12345678901234567890u64] }, "b": true }),
        )),
        created_at: Set(created),
        updated_at: Set(created),
    }
    .insert(connection)
    .await
    .expect("task");
}

#[tokio::test]
async fn round_trips_between_sqlite_and_postgresql_keep_every_row_and_value() {
    let registry = registry();
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| dir.path().join(name);

    // SQLite (scale 1 and the extremes) → PostgreSQL → SQLite, and PostgreSQL → PostgreSQL.
    let source = sqlite(dir.path(), "source.db").await;
    gateway::sample::seed::seed(&source, 1.0).await.expect("seed");
    add_extremes(&source).await;
    export(&source, &registry, &file("1-sqlite.ndjson.zst"))
        .await
        .expect("export SQLite");

    let first = TestDatabase::new().await;
    let first_pg = first.connect().await;
    let report = import(
        &first_pg,
        &registry,
        &file("1-sqlite.ndjson.zst"),
        ImportMode::IntoEmpty,
    )
    .await
    .expect("import into PostgreSQL");
    let tasks = report.rows.iter().find(|(table, _)| table == "tasks").unwrap().1;
    assert_eq!(tasks, 20_001, "scale 1 has 20,000 tasks, plus the extreme one");
    export(&first_pg, &registry, &file("2-postgres.ndjson.zst"))
        .await
        .expect("export PostgreSQL");

    let back = sqlite(dir.path(), "back.db").await;
    import(&back, &registry, &file("2-postgres.ndjson.zst"), ImportMode::IntoEmpty)
        .await
        .expect("import into SQLite");
    export(&back, &registry, &file("3-sqlite.ndjson.zst"))
        .await
        .expect("export SQLite again");

    let second = TestDatabase::new().await;
    let second_pg = second.connect().await;
    import(
        &second_pg,
        &registry,
        &file("2-postgres.ndjson.zst"),
        ImportMode::IntoEmpty,
    )
    .await
    .expect("import into a second PostgreSQL");
    export(&second_pg, &registry, &file("4-postgres.ndjson.zst"))
        .await
        .expect("export it");

    let hashes: Vec<BTreeMap<String, String>> = ["1-sqlite", "2-postgres", "3-sqlite", "4-postgres"]
        .iter()
        .map(|name| table_hashes(&file(&format!("{name}.ndjson.zst"))))
        .collect();
    assert_eq!(hashes[0].len(), registry.entities().len(), "every table is in the file");
    for (index, other) in hashes.iter().enumerate().skip(1) {
        assert_eq!(&hashes[0], other, "export {} differs from the first", index + 1);
    }

    // The values themselves, read back by SQL on PostgreSQL.
    assert_eq!(
        one_text(
            &second_pg,
            "SELECT concat_ws('|', t.id, t.priority, t.estimate_hours, t.due_on, t.status, t.metadata::text,
                     t.created_at = '2026-05-04T03:02:01.123456+05:30'::timestamptz, o.plan, o.name)
             FROM tasks t JOIN projects p ON p.id = t.project_id JOIN organizations o ON o.id = p.organization_id
             WHERE t.id = 9007199254740995",
        )
        .await,
        "9007199254740995|2147483647|9999.99|2028-02-29|in_progress|{\"b\": true, \"nested\": {\"list\": [1, 2.5, \"x\", null, 12345678901234567890]}}|t|enterprise|Ünïcode \"quoted\" \\ name\nwith a newline"
    );
    // Sequences continue after the imported keys.
    assert_eq!(
        one_text(&second_pg, "SELECT nextval('tasks_id_seq')::text").await,
        "9007199254740996"
    );
    assert_eq!(
        one_text(
            &first_pg,
            "SELECT (SELECT count(*) FROM comments)::text || ' ' || (SELECT count(*) FROM task_tags)::text"
        )
        .await,
        "60000 40000"
    );
}

/// A small export to corrupt, from PostgreSQL at scale 0.1.
async fn small_export(dir: &Path) -> (PathBuf, Vec<String>) {
    let database = TestDatabase::new().await;
    let connection = database.connect().await;
    gateway::sample::seed::seed(&connection, 0.1).await.expect("seed");
    let path = dir.join("small.ndjson");
    export(&connection, &registry(), &path).await.expect("export");
    let lines = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    (path, lines)
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut file = std::fs::File::create(path).unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
}

/// The 1-based line of the first row of `table`.
fn first_line_of(lines: &[String], table: &str) -> usize {
    lines
        .iter()
        .position(|line| line.contains(&format!("\"table\":\"{table}\"")))
        .unwrap()
        + 1
}

#[tokio::test]
async fn bad_files_are_refused_with_the_line_and_nothing_is_written() {
    let registry = registry();
    let dir = tempfile::tempdir().unwrap();
    let (_, lines) = small_export(dir.path()).await;
    let target = TestDatabase::new().await;
    let connection = target.connect().await;

    let refused = |name: &str, lines: Vec<String>| {
        let path = dir.path().join(name);
        write_lines(&path, &lines);
        path
    };
    let task_line = first_line_of(&lines, "tasks");
    let mut cases: Vec<(PathBuf, String)> = Vec::new();

    // Cut off before the end line.
    cases.push((
        refused("truncated.ndjson", lines[..lines.len() - 40].to_vec()),
        format!("line {}: the file ends without its end line", lines.len() - 39),
    ));
    // An unknown version.
    let mut unknown = lines.clone();
    unknown[0] = unknown[0].replace("\"version\":1", "\"version\":7");
    cases.push((
        refused("version.ndjson", unknown),
        "line 1: unknown format version 7".into(),
    ));
    // A value that does not fit its column.
    let mut wrong = lines.clone();
    let mut task: Value = serde_json::from_str(&wrong[task_line + 2]).unwrap();
    task["row"]["priority"] = json!("urgent");
    wrong[task_line + 2] = task.to_string();
    cases.push((
        refused("value.ndjson", wrong),
        format!(
            "line {}: tasks.priority: expected an integer, got \"urgent\"",
            task_line + 3
        ),
    ));
    // A row whose parent is missing.
    let mut orphan = lines.clone();
    let mut task: Value = serde_json::from_str(&orphan[task_line + 5]).unwrap();
    task["row"]["project_id"] = json!("999999");
    orphan[task_line + 5] = task.to_string();
    cases.push((
        refused("orphan.ndjson", orphan),
        format!("line {}: `tasks` refused the row", task_line + 6),
    ));
    // Not JSON at all.
    let mut garbage = lines.clone();
    garbage[task_line] = "{\"table\": \"tasks\", \"row\": ".into();
    cases.push((
        refused("garbage.ndjson", garbage),
        format!("line {}: not a JSON object", task_line + 1),
    ));

    for (path, expected) in cases {
        let error = import(&connection, &registry, &path, ImportMode::IntoEmpty)
            .await
            .expect_err("refused");
        assert!(
            matches!(error, TransferError::Line { .. }) && error.to_string().starts_with(&expected),
            "{}: expected `{expected}…`, got `{error}`",
            path.display()
        );
        assert_eq!(
            one_text(
                &connection,
                "SELECT (SELECT count(*) FROM organizations) + (SELECT count(*) FROM tasks) || ''"
            )
            .await,
            "0",
            "{}: nothing was written",
            path.display()
        );
    }
}

#[tokio::test]
async fn a_non_empty_database_needs_truncate_or_upsert_and_the_cli_compresses_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = small_export(dir.path()).await;
    let target = TestDatabase::new().await;
    let url = target.url.clone();
    let count =
        |connection: DatabaseConnection| async move { one_text(&connection, "SELECT count(*)::text FROM tasks").await };

    let file = path.display().to_string();
    let (ok, _, stderr) = run_gateway(&["import", &file], &[("DATABASE_URL", &url)]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("imported 12081 rows"), "{stderr}");
    let (ok, _, stderr) = run_gateway(&["import", &file], &[("DATABASE_URL", &url)]);
    assert!(!ok);
    assert!(stderr.contains("already has rows in `organizations`"), "{stderr}");
    assert!(stderr.contains("--truncate"), "{stderr}");

    // Upsert merges: a changed title comes back, an extra row stays.
    let connection = target.connect().await;
    connection
        .execute_unprepared(
            "UPDATE tasks SET title = 'changed' WHERE id = 1;
             INSERT INTO tasks (project_id, title, status, priority) VALUES (1, 'extra', 'todo', 1)",
        )
        .await
        .unwrap();
    let (ok, _, stderr) = run_gateway(&["import", "--upsert", &file], &[("DATABASE_URL", &url)]);
    assert!(ok, "{stderr}");
    assert_ne!(
        one_text(&connection, "SELECT title FROM tasks WHERE id = 1").await,
        "changed"
    );
    assert_eq!(count(connection.clone()).await, "2001");
    // Truncate replaces, with the change feed silent (no log row for the thousands of deleted
    // rows), and says so; afterwards changes are announced again.
    let logged = |connection: DatabaseConnection| async move {
        one_text(&connection, "SELECT count(*)::text FROM gateway_change_log").await
    };
    connection
        .execute_unprepared("DELETE FROM gateway_change_log")
        .await
        .unwrap();
    let (ok, stdout, stderr) = run_gateway(&["import", "--truncate", &file], &[("DATABASE_URL", &url)]);
    assert!(ok, "{stderr}");
    assert_eq!(count(connection.clone()).await, "2000");
    assert_eq!(logged(connection.clone()).await, "0", "the import logged changes");
    assert!(
        stdout.contains("the change feed stayed silent for") && stdout.contains("tasks"),
        "{stdout}"
    );
    connection
        .execute_unprepared("UPDATE tasks SET title = 'after' WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(logged(connection.clone()).await, "1", "the trigger is on again");

    // gzip and zstd by file name, and back.
    for name in ["copy.ndjson.gz", "copy.ndjson.zst"] {
        let compressed = dir.path().join(name).display().to_string();
        let (ok, _, stderr) = run_gateway(&["export", &compressed], &[("DATABASE_URL", &url)]);
        assert!(ok, "{stderr}");
        let raw = std::fs::read(&compressed).unwrap();
        let magic: &[u8] = if name.ends_with(".gz") {
            &[0x1f, 0x8b]
        } else {
            &[0x28, 0xb5, 0x2f, 0xfd]
        };
        assert!(raw.starts_with(magic), "{name} is compressed");
        let (ok, _, stderr) = run_gateway(&["import", "--truncate", &compressed], &[("DATABASE_URL", &url)]);
        assert!(ok, "{stderr}");
        assert_eq!(count(connection.clone()).await, "2000");
    }
}
