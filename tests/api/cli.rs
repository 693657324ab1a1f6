//! The command line: help never shows secrets, and `gateway schema` prints the SDL that
//! `schema.graphql` stores.

use crate::support::run_gateway;

#[test]
fn help_does_not_show_secret_values_from_the_environment() {
    let (success, stdout, _) = run_gateway(
        &["--help"],
        &[
            ("DATABASE_URL", "postgres://app:TopSecret123@db:5432/app"),
            ("PGPASSWORD", "TopSecret123"),
        ],
    );
    assert!(success);
    assert!(stdout.contains("DATABASE_URL"), "{stdout}");
    assert!(!stdout.contains("TopSecret123"), "{stdout}");
}

#[test]
fn schema_file_matches_the_served_schema() {
    let (success, stdout, stderr) = run_gateway(&["schema"], &[]);
    assert!(success, "{stderr}");
    let file = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql exists at the repository root");
    assert_eq!(
        file, stdout,
        "schema.graphql drifted from the served schema; regenerate it with `cargo run -q -- schema > schema.graphql`"
    );
}

#[test]
fn unknown_database_scheme_is_refused_clearly() {
    let (success, _, stderr) = run_gateway(&["check"], &[("DATABASE_URL", "mysql://root@localhost/test")]);
    assert!(!success);
    assert!(stderr.contains("scheme `mysql` is not supported"), "{stderr}");
}

#[tokio::test]
async fn changes_remove_and_install_track_every_served_table_once() {
    let database = crate::support::TestDatabase::new().await;
    let env = [("DATABASE_URL", database.url.as_str())];
    // The sample's migrations installed the feed; `remove` takes it all away.
    let (success, stdout, stderr) = run_gateway(&["changes", "remove"], &env);
    assert!(success, "{stderr}");
    assert!(
        stdout.contains(
            "removed the change-feed trigger from organizations, users, projects, tasks, comments, tags, task_tags"
        ) && stdout.contains("removed the change log"),
        "{stdout}"
    );
    let (success, stdout, stderr) = run_gateway(&["changes", "remove"], &env);
    assert!(
        success && stdout.contains("no served table announces its changes"),
        "{stdout}{stderr}"
    );
    let (success, stdout, stderr) = run_gateway(&["changes", "install"], &env);
    assert!(success, "{stderr}");
    assert!(
        stdout.contains("installed the change-feed trigger on") && stdout.contains("task_tags"),
        "{stdout}"
    );
    let (success, stdout, stderr) = run_gateway(&["changes", "install"], &env);
    assert!(success, "{stderr}");
    assert!(stdout.contains("already announces its changes"), "{stdout}");
}

#[test]
fn logs_written_to_a_pipe_have_no_colours() {
    let (_, _, stderr) = run_gateway(
        &["serve"],
        &[
            ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none"),
            ("GATEWAY_STARTUP_TIMEOUT", "0s"),
        ],
    );
    assert!(stderr.contains("authentication is off"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "ANSI escapes in piped logs: {stderr:?}");
}

#[tokio::test]
async fn migrations_run_quietly() {
    let database = crate::support::TestDatabase::new().await;
    let env = [("DATABASE_URL", database.url.as_str())];
    for _ in 0..2 {
        let (success, _, stderr) = run_gateway(&["migrate", "up"], &env);
        assert!(success, "{stderr}");
        assert!(
            !stderr.contains("already exists"),
            "PostgreSQL notices in the log: {stderr}"
        );
    }
}

/// A database the gateway did not migrate (one of the user's own) gets no migrator bookkeeping
/// table when the gateway serves it.
#[tokio::test]
async fn serving_a_database_the_gateway_did_not_migrate_leaves_it_alone() {
    use sea_orm::ConnectionTrait;
    let database = crate::support::TestDatabase::new().await;
    let connection = database.connect().await;
    connection
        .execute_unprepared("DROP TABLE seaql_migrations")
        .await
        .expect("drop the bookkeeping table");
    let gateway = crate::support::process::GatewayProcess::start(&[("DATABASE_URL", &database.url)]);
    let answer = gateway.graphql("{ organizations { totalCount } }").await;
    assert_eq!(answer["data"]["organizations"]["totalCount"], 0, "{answer}");
    let row = connection
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) FROM pg_tables WHERE tablename = 'seaql_migrations'",
        ))
        .await
        .expect("query")
        .expect("row");
    assert_eq!(row.try_get_by_index::<i64>(0).expect("count"), 0);
}

/// `serve` refuses to start when a served column is gone or changed to a type its entity cannot
/// read, naming each (a migration the entities were not regenerated for).
#[tokio::test]
async fn serve_refuses_a_database_whose_columns_changed() {
    use sea_orm::ConnectionTrait;
    let database = crate::support::TestDatabase::new().await;
    let connection = database.connect().await;
    for sql in [
        "ALTER TABLE tasks ALTER COLUMN priority TYPE text",
        "ALTER TABLE comments DROP COLUMN body",
    ] {
        connection.execute_unprepared(sql).await.expect(sql);
    }
    // Were the check to pass, serving would still fail on a port already taken: never a hang.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = taken.local_addr().expect("its address").to_string();
    let (success, _, stderr) = run_gateway(
        &["serve"],
        &[
            ("DATABASE_URL", database.url.as_str()),
            ("GATEWAY_LISTEN", address.as_str()),
            ("GATEWAY_ALLOW_ALL", "true"),
        ],
    );
    assert!(!success, "{stderr}");
    assert!(
        stderr.contains("`tasks.priority` is `text`") && stderr.contains("`comments.body` is missing"),
        "{stderr}"
    );
}
