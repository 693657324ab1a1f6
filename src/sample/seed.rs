//! The deterministic sample data set (`gateway seed --scale N`).
//!
//! Every value comes from a ChaCha8 stream with a fixed seed and from fixed timestamps, and rows
//! carry explicit ids, so the same scale always produces byte-identical data on any machine.
//! Sizes are per organization (20 users, 50 projects, 40 tasks per project, 3 comments and 2 tags
//! per task, 10 tags), so scale 1 (10 organizations) gives 200 users, 500 projects, 20,000 tasks and
//! 60,000 comments, and the data grows linearly with the scale. Everything is written in one transaction with multi-row INSERTs.

use entity::enums::{OrganizationPlan, TaskStatus, UserRole};
use entity::{comment, organization, project, tag, task, task_tag, user};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sea_orm::prelude::{ChronoDateTimeWithTimeZone, Decimal, Json, Uuid};
use sea_orm::sea_query::{Alias, Expr, Func, Query};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, PaginatorTrait,
    TransactionTrait,
};
use std::time::{Duration, Instant};

const ORGANIZATIONS_PER_SCALE: f64 = 10.0;
const USERS_PER_ORGANIZATION: i64 = 20;
const PROJECTS_PER_ORGANIZATION: i64 = 50;
const TASKS_PER_PROJECT: i64 = 40;
const COMMENTS_PER_TASK: i64 = 3;
const TAGS_PER_ORGANIZATION: i64 = 10;
const TAGS_PER_TASK: i64 = 2;
/// Rows per INSERT statement: well under the bind-parameter limits of PostgreSQL and SQLite.
const ROWS_PER_INSERT: usize = 1000;
const SEED: u64 = 0x6761_7465_7761_7921;

const WORDS: &[&str] = &[
    "billing",
    "search",
    "onboarding",
    "export",
    "login",
    "dashboard",
    "invoice",
    "report",
    "cache",
    "upload",
    "profile",
    "settings",
    "audit",
    "webhook",
    "queue",
    "mobile",
    "email",
    "import",
    "release",
    "metrics",
];
const VERBS: &[&str] = &[
    "Fix", "Add", "Refactor", "Document", "Test", "Speed up", "Review", "Remove", "Design", "Ship",
];
const FIRST_NAMES: &[&str] = &[
    "Ada", "Grace", "Linus", "Barbara", "Ken", "Margaret", "Dennis", "Frances", "Alan", "Radia",
];
const LAST_NAMES: &[&str] = &[
    "Lovelace", "Hopper", "Torvalds", "Liskov", "Thompson", "Hamilton", "Ritchie", "Allen", "Turing", "Perlman",
];

/// Why seeding did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("table `{table}` already has rows; seed an empty database (run `gateway migrate fresh` first)")]
    NotEmpty { table: &'static str },
    #[error("seeding failed: {0}")]
    Database(#[from] DbErr),
}

/// Rows written per table, and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedReport {
    pub organizations: u64,
    pub users: u64,
    pub projects: u64,
    pub tasks: u64,
    pub comments: u64,
    pub tags: u64,
    pub task_tags: u64,
    pub elapsed: Duration,
}

/// Parses `--scale`: a positive number (fractions give smaller data sets, at least one organization).
pub fn parse_scale(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(scale) if scale > 0.0 && scale <= 1000.0 => Ok(scale),
        _ => Err("the scale must be a number greater than 0 and at most 1000 (e.g. 0.1, 1, 10)".into()),
    }
}

/// Fills an empty, migrated database with the sample data set at `scale`.
pub async fn seed(connection: &DatabaseConnection, scale: f64) -> Result<SeedReport, SeedError> {
    let started = Instant::now();
    refuse_non_empty(connection).await?;
    let organizations = ((scale * ORGANIZATIONS_PER_SCALE).round() as i64).max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let transaction = connection.begin().await?;

    let epoch = ChronoDateTimeWithTimeZone::parse_from_rfc3339("2026-01-01T00:00:00+00:00")
        .map_err(|error| DbErr::Custom(error.to_string()))?;
    let at = |minutes: i64| epoch + chrono::Duration::minutes(minutes);
    let plans = [
        OrganizationPlan::Free,
        OrganizationPlan::Team,
        OrganizationPlan::Enterprise,
    ];
    let statuses = [TaskStatus::Todo, TaskStatus::InProgress, TaskStatus::Done];

    let organization_rows: Vec<organization::ActiveModel> = (1..=organizations)
        .map(|id| organization::ActiveModel {
            id: Set(id),
            slug: Set(format!("org-{id}")),
            name: Set(format!("Organization {id}")),
            plan: Set(plans[(id as usize) % plans.len()]),
            created_at: Set(at(id)),
        })
        .collect();
    let users = organizations * USERS_PER_ORGANIZATION;
    let user_rows: Vec<user::ActiveModel> = (1..=users)
        .map(|id| {
            let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
            let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
            user::ActiveModel {
                id: Set(id),
                organization_id: Set(organization_of_user(id)),
                email: Set(format!(
                    "{}.{}{id}@example.com",
                    first.to_lowercase(),
                    last.to_lowercase()
                )),
                display_name: Set(format!("{first} {last}")),
                role: Set(if id % USERS_PER_ORGANIZATION == 1 {
                    UserRole::Admin
                } else {
                    UserRole::Member
                }),
                external_id: Set(Uuid::from_bytes(rng.random::<[u8; 16]>())),
                created_at: Set(at(1_000 + id)),
            }
        })
        .collect();
    let projects = organizations * PROJECTS_PER_ORGANIZATION;
    let project_rows: Vec<project::ActiveModel> = (1..=projects)
        .map(|id| project::ActiveModel {
            id: Set(id),
            organization_id: Set((id - 1) / PROJECTS_PER_ORGANIZATION + 1),
            name: Set(format!(
                "{} {}",
                capitalized(WORDS[rng.random_range(0..WORDS.len())]),
                id
            )),
            description: Set(rng.random_bool(0.7).then(|| format!("Everything about project {id}."))),
            is_public: Set(rng.random_bool(0.2)),
            created_at: Set(at(10_000 + id)),
        })
        .collect();
    let tags = organizations * TAGS_PER_ORGANIZATION;
    let tag_rows: Vec<tag::ActiveModel> = (1..=tags)
        .map(|id| tag::ActiveModel {
            id: Set(id),
            organization_id: Set((id - 1) / TAGS_PER_ORGANIZATION + 1),
            name: Set(format!(
                "{}-{}",
                WORDS[((id - 1) % TAGS_PER_ORGANIZATION) as usize],
                (id - 1) % TAGS_PER_ORGANIZATION
            )),
        })
        .collect();

    insert_all(&transaction, organization_rows).await?;
    insert_all(&transaction, user_rows).await?;
    insert_all(&transaction, project_rows).await?;
    insert_all(&transaction, tag_rows).await?;

    let tasks = projects * TASKS_PER_PROJECT;
    let mut task_rows = Vec::with_capacity(ROWS_PER_INSERT);
    let mut comment_rows = Vec::with_capacity(ROWS_PER_INSERT);
    let mut link_rows = Vec::with_capacity(ROWS_PER_INSERT);
    let mut comment_id = 0;
    for id in 1..=tasks {
        let project_id = (id - 1) / TASKS_PER_PROJECT + 1;
        let organization_id = (project_id - 1) / PROJECTS_PER_ORGANIZATION + 1;
        let first_user = (organization_id - 1) * USERS_PER_ORGANIZATION + 1;
        let created = 100_000 + id * 7;
        task_rows.push(task::ActiveModel {
            id: Set(id),
            project_id: Set(project_id),
            assignee_id: Set(rng
                .random_bool(0.8)
                .then(|| first_user + rng.random_range(0..USERS_PER_ORGANIZATION))),
            title: Set(format!(
                "{} {} #{id}",
                VERBS[rng.random_range(0..VERBS.len())],
                WORDS[rng.random_range(0..WORDS.len())]
            )),
            status: Set(statuses[rng.random_range(0..statuses.len())]),
            priority: Set(rng.random_range(0..5)),
            due_on: Set(rng
                .random_bool(0.6)
                .then(|| epoch.date_naive() + chrono::Duration::days(rng.random_range(0..365)))),
            estimate_hours: Set(rng
                .random_bool(0.7)
                .then(|| Decimal::new(rng.random_range(25..4000), 2))),
            metadata: Set(rng.random_bool(0.3).then(|| metadata(&mut rng))),
            created_at: Set(at(created)),
            updated_at: Set(at(created + rng.random_range(0..10_000))),
        });
        for _ in 0..COMMENTS_PER_TASK {
            comment_id += 1;
            comment_rows.push(comment::ActiveModel {
                id: Set(comment_id),
                task_id: Set(id),
                author_id: Set(first_user + rng.random_range(0..USERS_PER_ORGANIZATION)),
                body: Set(format!(
                    "Looked at the {} part; {}.",
                    WORDS[rng.random_range(0..WORDS.len())],
                    if rng.random_bool(0.5) {
                        "looks good"
                    } else {
                        "needs work"
                    }
                )),
                created_at: Set(at(created + 60 + comment_id % 1_000)),
            });
        }
        let first_tag = (organization_id - 1) * TAGS_PER_ORGANIZATION + 1;
        let offset = rng.random_range(0..TAGS_PER_ORGANIZATION);
        for step in 0..TAGS_PER_TASK {
            link_rows.push(task_tag::ActiveModel {
                task_id: Set(id),
                tag_id: Set(first_tag + (offset + step * 3) % TAGS_PER_ORGANIZATION),
            });
        }
        if task_rows.len() >= ROWS_PER_INSERT || id == tasks {
            insert_all(&transaction, std::mem::take(&mut task_rows)).await?;
            insert_all(&transaction, std::mem::take(&mut comment_rows)).await?;
            insert_all(&transaction, std::mem::take(&mut link_rows)).await?;
        }
    }

    if transaction.get_database_backend() == DbBackend::Postgres {
        for (table, last_id) in [
            ("organizations", organizations),
            ("users", users),
            ("projects", projects),
            ("tags", tags),
            ("tasks", tasks),
            ("comments", comment_id),
        ] {
            reset_sequence(&transaction, table, last_id).await?;
        }
    }
    transaction.commit().await?;
    let count = |n: i64| n as u64;
    Ok(SeedReport {
        organizations: count(organizations),
        users: count(users),
        projects: count(projects),
        tasks: count(tasks),
        comments: count(comment_id),
        tags: count(tags),
        task_tags: count(tasks * TAGS_PER_TASK),
        elapsed: started.elapsed(),
    })
}

fn organization_of_user(id: i64) -> i64 {
    (id - 1) / USERS_PER_ORGANIZATION + 1
}

fn capitalized(word: &str) -> String {
    let mut characters = word.chars();
    characters
        .next()
        .map(|first| first.to_uppercase().chain(characters).collect())
        .unwrap_or_default()
}

fn metadata(rng: &mut ChaCha8Rng) -> Json {
    let source = ["web", "api", "email"][rng.random_range(0..3)];
    serde_json::json!({
        "source": source,
        "points": rng.random_range(1..13),
        "labels": [WORDS[rng.random_range(0..WORDS.len())]],
    })
}

/// Inserts rows in multi-row statements of [`ROWS_PER_INSERT`].
async fn insert_all<A: sea_orm::ActiveModelTrait>(
    connection: &impl ConnectionTrait,
    rows: Vec<A>,
) -> Result<(), DbErr> {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(ROWS_PER_INSERT).collect();
        A::Entity::insert_many(chunk).exec_without_returning(connection).await?;
    }
    Ok(())
}

/// Moves a `bigserial` sequence past the explicit ids the seeder wrote.
async fn reset_sequence(connection: &impl ConnectionTrait, table: &str, last_id: i64) -> Result<(), DbErr> {
    let statement = Query::select()
        .expr(
            Func::cust(Alias::new("setval")).args([
                Func::cust(Alias::new("pg_get_serial_sequence"))
                    .args([Expr::val(table), Expr::val("id")])
                    .into(),
                Expr::val(last_id.max(1)),
            ]),
        )
        .to_owned();
    connection.query_one(&statement).await?;
    Ok(())
}

async fn refuse_non_empty(connection: &DatabaseConnection) -> Result<(), SeedError> {
    if organization::Entity::find().count(connection).await? > 0 {
        return Err(SeedError::NotEmpty { table: "organizations" });
    }
    if task::Entity::find().count(connection).await? > 0 {
        return Err(SeedError::NotEmpty { table: "tasks" });
    }
    Ok(())
}
