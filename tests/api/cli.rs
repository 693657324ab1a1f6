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
async fn changes_install_tracks_every_served_table_once() {
    let database = crate::support::TestDatabase::new().await;
    let env = [("DATABASE_URL", database.url.as_str())];
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
