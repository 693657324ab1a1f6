//! The deterministic sample data set (`gateway seed --scale N`).
//!
//! Every value comes from a ChaCha8 stream with a fixed seed and from fixed timestamps, and rows
//! carry explicit ids, so the same scale always produces byte-identical data on any machine.
//! Sizes are per organization (20 users, 50 projects, 40 tasks per project, 3 comments and 2 tags
//! per task, 10 tags), so scale 1 (10 organizations) gives 200 users, 500 projects, 20,000 tasks and
//! 60,000 comments, and the data grows linearly with the scale. Everything is written in one transaction with multi-row INSERTs.
//!
//! Rows are written by table and column name, not through the sample's entity types, so the
//! engine builds whatever `entity/` holds: after `gateway generate` replaces the sample's entities
//! this module still compiles, and `gateway seed` explains that it needs the sample schema.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sea_orm::prelude::{ChronoDateTimeWithTimeZone, Decimal, Json, Uuid};
use sea_orm::sea_query::{Alias, Expr, Func, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, TransactionTrait};
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
    #[error("the sample data set needs the sample schema (`gateway migrate up`); table `{0}` is missing")]
    NotSampleSchema(&'static str),
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
    let plans = ["free", "team", "enterprise"];
    let statuses = ["todo", "in_progress", "done"];
    let timestamp = |minutes: i64| Expr::val(at(minutes));

    let mut organization_rows = Rows::new("organizations", &["id", "slug", "name", "plan", "created_at"]);
    for id in 1..=organizations {
        organization_rows.push([
            Expr::val(id),
            Expr::val(format!("org-{id}")),
            Expr::val(format!("Organization {id}")),
            label("organization_plan", plans[(id as usize) % plans.len()]),
            timestamp(id),
        ]);
    }
    let users = organizations * USERS_PER_ORGANIZATION;
    let mut user_rows = Rows::new(
        "users",
        &[
            "id",
            "organization_id",
            "email",
            "display_name",
            "role",
            "external_id",
            "created_at",
        ],
    );
    for id in 1..=users {
        let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
        let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
        user_rows.push([
            Expr::val(id),
            Expr::val(organization_of_user(id)),
            Expr::val(format!(
                "{}.{}{id}@example.com",
                first.to_lowercase(),
                last.to_lowercase()
            )),
            Expr::val(format!("{first} {last}")),
            label(
                "user_role",
                if id % USERS_PER_ORGANIZATION == 1 {
                    "admin"
                } else {
                    "member"
                },
            ),
            Expr::val(Uuid::from_bytes(rng.random::<[u8; 16]>())),
            timestamp(1_000 + id),
        ]);
    }
    let projects = organizations * PROJECTS_PER_ORGANIZATION;
    let mut project_rows = Rows::new(
        "projects",
        &[
            "id",
            "organization_id",
            "name",
            "description",
            "is_public",
            "created_at",
        ],
    );
    for id in 1..=projects {
        project_rows.push([
            Expr::val(id),
            Expr::val((id - 1) / PROJECTS_PER_ORGANIZATION + 1),
            Expr::val(format!(
                "{} {}",
                capitalized(WORDS[rng.random_range(0..WORDS.len())]),
                id
            )),
            Expr::val(rng.random_bool(0.7).then(|| format!("Everything about project {id}."))),
            Expr::val(rng.random_bool(0.2)),
            timestamp(10_000 + id),
        ]);
    }
    let tags = organizations * TAGS_PER_ORGANIZATION;
    let mut tag_rows = Rows::new("tags", &["id", "organization_id", "name"]);
    for id in 1..=tags {
        tag_rows.push([
            Expr::val(id),
            Expr::val((id - 1) / TAGS_PER_ORGANIZATION + 1),
            Expr::val(format!(
                "{}-{}",
                WORDS[((id - 1) % TAGS_PER_ORGANIZATION) as usize],
                (id - 1) % TAGS_PER_ORGANIZATION
            )),
        ]);
    }

    organization_rows.write(&transaction).await?;
    user_rows.write(&transaction).await?;
    project_rows.write(&transaction).await?;
    tag_rows.write(&transaction).await?;

    let tasks = projects * TASKS_PER_PROJECT;
    let mut task_rows = Rows::new(
        "tasks",
        &[
            "id",
            "project_id",
            "assignee_id",
            "title",
            "status",
            "priority",
            "due_on",
            "estimate_hours",
            "metadata",
            "created_at",
            "updated_at",
        ],
    );
    let mut comment_rows = Rows::new("comments", &["id", "task_id", "author_id", "body", "created_at"]);
    let mut link_rows = Rows::new("task_tags", &["task_id", "tag_id"]);
    let mut comment_id = 0;
    for id in 1..=tasks {
        let project_id = (id - 1) / TASKS_PER_PROJECT + 1;
        let organization_id = (project_id - 1) / PROJECTS_PER_ORGANIZATION + 1;
        let first_user = (organization_id - 1) * USERS_PER_ORGANIZATION + 1;
        let created = 100_000 + id * 7;
        let assignee_id: Option<i64> = rng
            .random_bool(0.8)
            .then(|| first_user + rng.random_range(0..USERS_PER_ORGANIZATION));
        let title = format!(
            "{} {} #{id}",
            VERBS[rng.random_range(0..VERBS.len())],
            WORDS[rng.random_range(0..WORDS.len())]
        );
        let status = statuses[rng.random_range(0..statuses.len())];
        let priority: i32 = rng.random_range(0..5);
        let due_on = rng
            .random_bool(0.6)
            .then(|| epoch.date_naive() + chrono::Duration::days(rng.random_range(0..365)));
        let estimate_hours = rng
            .random_bool(0.7)
            .then(|| Decimal::new(rng.random_range(25..4000), 2));
        let metadata = rng.random_bool(0.3).then(|| metadata(&mut rng));
        let updated = created + rng.random_range(0..10_000);
        task_rows.push([
            Expr::val(id),
            Expr::val(project_id),
            Expr::val(assignee_id),
            Expr::val(title),
            label("task_status", status),
            Expr::val(priority),
            Expr::val(due_on),
            Expr::val(estimate_hours),
            Expr::val(metadata),
            timestamp(created),
            timestamp(updated),
        ]);
        for _ in 0..COMMENTS_PER_TASK {
            comment_id += 1;
            comment_rows.push([
                Expr::val(comment_id),
                Expr::val(id),
                Expr::val(first_user + rng.random_range(0..USERS_PER_ORGANIZATION)),
                Expr::val(format!(
                    "Looked at the {} part; {}.",
                    WORDS[rng.random_range(0..WORDS.len())],
                    if rng.random_bool(0.5) {
                        "looks good"
                    } else {
                        "needs work"
                    }
                )),
                timestamp(created + 60 + comment_id % 1_000),
            ]);
        }
        let first_tag = (organization_id - 1) * TAGS_PER_ORGANIZATION + 1;
        let offset = rng.random_range(0..TAGS_PER_ORGANIZATION);
        for step in 0..TAGS_PER_TASK {
            link_rows.push([
                Expr::val(id),
                Expr::val(first_tag + (offset + step * 3) % TAGS_PER_ORGANIZATION),
            ]);
        }
        // Parents before children: a task's comments and tags reference it.
        if task_rows.len() >= ROWS_PER_INSERT || id == tasks {
            task_rows.write(&transaction).await?;
            comment_rows.write(&transaction).await?;
            link_rows.write(&transaction).await?;
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

/// A label of the PostgreSQL enum `type_name` (plain text on SQLite).
fn label(type_name: &'static str, value: &'static str) -> SimpleExpr {
    use sea_orm::sea_query::ExprTrait;
    Expr::val(value).as_enum(Alias::new(type_name))
}

/// One table's pending rows, written in multi-row statements of [`ROWS_PER_INSERT`].
struct Rows {
    table: &'static str,
    columns: &'static [&'static str],
    pending: Vec<Vec<SimpleExpr>>,
}

impl Rows {
    fn new(table: &'static str, columns: &'static [&'static str]) -> Self {
        Self {
            table,
            columns,
            pending: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.pending.len()
    }

    fn push<const N: usize>(&mut self, row: [SimpleExpr; N]) {
        debug_assert_eq!(N, self.columns.len(), "one value per column of `{}`", self.table);
        self.pending.push(row.into());
    }

    /// Writes and forgets the pending rows.
    async fn write(&mut self, connection: &impl ConnectionTrait) -> Result<(), DbErr> {
        let mut rows = std::mem::take(&mut self.pending).into_iter().peekable();
        while rows.peek().is_some() {
            let mut insert = Query::insert();
            insert
                .into_table(Alias::new(self.table))
                .columns(self.columns.iter().map(|column| Alias::new(*column)));
            for row in rows.by_ref().take(ROWS_PER_INSERT) {
                insert.values(row).map_err(|error| DbErr::Custom(error.to_string()))?;
            }
            connection.execute(&insert).await?;
        }
        Ok(())
    }
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

/// Refuses a database that already holds sample rows, or that does not have the sample's tables.
async fn refuse_non_empty(connection: &DatabaseConnection) -> Result<(), SeedError> {
    for table in ["organizations", "tasks"] {
        let count = Query::select()
            .expr(Expr::cust("COUNT(*)"))
            .from(Alias::new(table))
            .to_owned();
        let rows = match connection.query_one(&count).await {
            Ok(row) => row.map(|row| row.try_get_by_index::<i64>(0)).transpose()?.unwrap_or(0),
            Err(error) if missing_table(&error) => return Err(SeedError::NotSampleSchema(table)),
            Err(error) => return Err(error.into()),
        };
        if rows > 0 {
            return Err(SeedError::NotEmpty { table });
        }
    }
    Ok(())
}

/// PostgreSQL's `undefined_table` (42P01) or SQLite's "no such table".
fn missing_table(error: &DbErr) -> bool {
    let text = error.to_string();
    text.contains("42P01") || text.contains("does not exist") || text.contains("no such table")
}
