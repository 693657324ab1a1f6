//! `gateway migrate` and `gateway seed`: documented row counts, byte-identical data from the same
//! scale, and refusal to seed over existing data.

use crate::support::{TestDatabase, run_gateway};
use sha2::{Digest, Sha256};

fn pg_dump_hash(url: &str) -> String {
    let pg_dump = ["pg_dump".to_owned()]
        .into_iter()
        .chain(
            std::fs::read_dir("/usr/lib/postgresql")
                .into_iter()
                .flatten()
                .flatten()
                .map(|entry| entry.path().join("bin/pg_dump").display().to_string()),
        )
        .find(|candidate| std::process::Command::new(candidate).arg("--version").output().is_ok())
        .expect("pg_dump is installed");
    let output = std::process::Command::new(pg_dump)
        .args(["--data-only", "--no-owner", "--exclude-table=seaql_migrations", url])
        .output()
        .expect("run pg_dump");
    assert!(
        output.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // pg_dump 15.14+ brackets the dump with a random `\restrict` key; everything else is data.
    let dump = String::from_utf8_lossy(&output.stdout);
    let data: Vec<&str> = dump
        .lines()
        .filter(|line| !line.starts_with("\\restrict ") && !line.starts_with("\\unrestrict "))
        .collect();
    format!("{:x}", Sha256::digest(data.join("\n").as_bytes()))
}

fn fresh_and_seed(url: &str) -> String {
    let (success, stdout, stderr) = run_gateway(&["migrate", "fresh"], &[("DATABASE_URL", url)]);
    assert!(success, "migrate fresh: {stdout}{stderr}");
    assert!(stdout.contains("applied  m20261126_000001_sample_schema"), "{stdout}");
    let (success, stdout, stderr) = run_gateway(&["seed", "--scale", "1"], &[("DATABASE_URL", url)]);
    assert!(success, "seed: {stdout}{stderr}");
    stdout
}

#[tokio::test]
async fn seeding_scale_one_twice_from_fresh_gives_the_documented_counts_and_identical_dumps() {
    let database = TestDatabase::new().await;
    let report = fresh_and_seed(&database.url);
    assert!(
        report.contains(
            "10 organizations, 200 users, 500 projects, 20000 tasks, 60000 comments, 100 tags, 40000 task_tags"
        ),
        "{report}"
    );
    let connection = database.connect().await;
    use sea_orm::{EntityTrait, PaginatorTrait};
    assert_eq!(
        entity::organization::Entity::find().count(&connection).await.unwrap(),
        10
    );
    assert_eq!(entity::user::Entity::find().count(&connection).await.unwrap(), 200);
    assert_eq!(entity::project::Entity::find().count(&connection).await.unwrap(), 500);
    assert_eq!(entity::task::Entity::find().count(&connection).await.unwrap(), 20_000);
    assert_eq!(
        entity::comment::Entity::find().count(&connection).await.unwrap(),
        60_000
    );
    assert_eq!(entity::tag::Entity::find().count(&connection).await.unwrap(), 100);
    assert_eq!(
        entity::task_tag::Entity::find().count(&connection).await.unwrap(),
        40_000
    );
    connection.close().await.unwrap();
    let first = pg_dump_hash(&database.url);

    fresh_and_seed(&database.url);
    let second = pg_dump_hash(&database.url);
    assert_eq!(first, second, "the same scale gives byte-identical data");
}

#[tokio::test]
async fn seed_refuses_a_database_that_already_has_data_and_sequences_continue_after_it() {
    let database = TestDatabase::new().await;
    let (success, _, stderr) = run_gateway(&["seed", "--scale", "0.1"], &[("DATABASE_URL", &database.url)]);
    assert!(success, "{stderr}");
    let (success, _, stderr) = run_gateway(&["seed", "--scale", "0.1"], &[("DATABASE_URL", &database.url)]);
    assert!(!success);
    assert!(stderr.contains("already has rows"), "{stderr}");

    // New rows take ids after the seeded ones (the sequences were moved past them).
    let connection = database.connect().await;
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let created = entity::organization::ActiveModel {
        slug: Set("after-seed".into()),
        name: Set("After seed".into()),
        plan: Set(entity::enums::OrganizationPlan::Free),
        created_at: Set(chrono::Utc::now().fixed_offset()),
        ..Default::default()
    }
    .insert(&connection)
    .await
    .expect("insert after seeding");
    assert_eq!(created.id, 2);
}

#[test]
fn scale_must_be_positive() {
    let (success, _, stderr) = run_gateway(&["seed", "--scale", "0"], &[]);
    assert!(!success);
    assert!(stderr.contains("greater than 0"), "{stderr}");
}
