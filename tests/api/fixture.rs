//! A seeded gateway on either backend, with a direct connection for checking answers
//! independently of the gateway.

use crate::support::{TestApp, TestDatabase};
use gateway::config::DatabaseArgs;
use migration::MigratorTrait;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

/// Scale 0.1: one organization, 20 users, 50 projects, 2,000 tasks, 6,000 comments.
pub const SCALE: f64 = 0.1;

/// The fixture's server answers a document's first run through async-graphql's resolvers, so
/// that [`Fixture::data`] compares that path with the streamed one on every read.
fn executed_first() -> gateway::config::ServerArgs {
    gateway::config::ServerArgs {
        operations: gateway::config::OperationArgs {
            stream_first_run: false,
            ..Default::default()
        },
        ..gateway::config::ServerArgs::default()
    }
}

pub struct Fixture {
    pub app: TestApp,
    pub connection: DatabaseConnection,
    // Kept alive for the fixture's lifetime (dropping them deletes the database).
    _postgres: Option<TestDatabase>,
    _sqlite: Option<tempfile::TempDir>,
}

/// The sample's entities with task titles and comment bodies searchable (English stemming).
pub fn searchable() -> gateway::metadata::Registry {
    gateway::entities::registry()
        .expect("registry")
        .with_search(&["tasks.title".into(), "comments.body".into()], "english")
        .expect("searchable columns")
}

impl Fixture {
    pub async fn postgres() -> Self {
        let (database, connection) = TestDatabase::seeded(SCALE).await;
        let app = TestApp::builder(&database.args())
            .server(executed_first())
            .registry(searchable())
            .spawn()
            .await;
        Self {
            app,
            connection,
            _postgres: Some(database),
            _sqlite: None,
        }
    }

    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("fixture.db").display());
        let connection = sea_orm::Database::connect(&url).await.expect("open SQLite");
        migration::Migrator::up(&connection, None).await.expect("migrate");
        gateway::sample::seed::seed(&connection, SCALE).await.expect("seed");
        // Task titles are searched through an FTS5 table (comment bodies by word matching).
        for sql in [
            "CREATE VIRTUAL TABLE tasks_fts USING fts5(title, content='tasks', content_rowid='id')",
            "INSERT INTO tasks_fts(tasks_fts) VALUES ('rebuild')",
        ] {
            connection.execute_unprepared(sql).await.expect(sql);
        }
        let app = TestApp::builder(&DatabaseArgs::with_url(Some(&url)))
            .server(executed_first())
            .registry(searchable())
            .spawn()
            .await;
        Self {
            app,
            connection,
            _postgres: None,
            _sqlite: Some(dir),
        }
    }

    pub async fn on(backend: DbBackend) -> Self {
        match backend {
            DbBackend::Sqlite => Self::sqlite().await,
            _ => Self::postgres().await,
        }
    }

    /// The URL of the fixture's PostgreSQL database.
    pub fn connection_url(&self) -> String {
        self._postgres
            .as_ref()
            .map(|database| database.url.clone())
            .expect("a PostgreSQL fixture")
    }

    /// Stops the gateway (the databases go when the fixture is dropped).
    pub async fn app_stop(self) {
        self.app.stop().await;
    }

    /// Runs a GraphQL query and returns `data`, failing the test on any error.
    ///
    /// Every query is sent twice: async-graphql executes the first, and the second (its document
    /// now cached) is streamed from the database's JSON when it can be. Both answers must be the
    /// same JSON, key order included, so every read test checks the two paths against each other.
    pub async fn data(&self, query: &str) -> serde_json::Value {
        self.data_with(query, serde_json::json!({})).await
    }

    /// [`Fixture::data`] with `variables`.
    pub async fn data_with(&self, query: &str, variables: serde_json::Value) -> serde_json::Value {
        let first = self.app.graphql_text(query, variables.clone()).await;
        if is_query(query) {
            let second = self.app.graphql_text(query, variables).await;
            assert_eq!(
                in_order(&first),
                in_order(&second),
                "the second (streamed) answer differs from the first for {query}"
            );
        }
        let answer: serde_json::Value = serde_json::from_str(&first).expect("JSON response");
        assert!(
            answer.get("errors").is_none(),
            "unexpected errors for {query}: {answer}"
        );
        answer["data"].clone()
    }

    /// Runs a GraphQL query and returns its first error's code.
    pub async fn error_code(&self, query: &str) -> String {
        let answer = self.app.graphql(query, serde_json::json!({})).await;
        answer["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("expected an error: {answer}"))
            .to_owned()
    }

    /// The first column of every row of hand-written SQL, as i64.
    pub async fn ids(&self, sql: &str) -> Vec<i64> {
        let rows = self
            .connection
            .query_all_raw(Statement::from_string(self.connection.get_database_backend(), sql))
            .await
            .expect("query");
        rows.iter()
            .map(|row| row.try_get_by_index::<i64>(0).expect("an integer"))
            .collect()
    }

    /// The first column of every row of hand-written SQL, as text (NULL as `None`).
    pub async fn texts(&self, sql: &str) -> Vec<Option<String>> {
        let rows = self
            .connection
            .query_all_raw(Statement::from_string(self.connection.get_database_backend(), sql))
            .await
            .expect("query");
        rows.iter()
            .map(|row| row.try_get_by_index::<Option<String>>(0).expect("text"))
            .collect()
    }

    pub fn on_postgres(&self) -> bool {
        self.connection.get_database_backend() == DbBackend::Postgres
    }

    pub async fn scalar_i64(&self, sql: &str) -> i64 {
        self.ids(sql).await[0]
    }
}

/// Whether `document` parses and is made of queries only (sending it twice changes nothing).
fn is_query(document: &str) -> bool {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    async_graphql::parser::parse_query(document).is_ok_and(|document| match &document.operations {
        DocumentOperations::Single(operation) => operation.node.ty == OperationType::Query,
        DocumentOperations::Multiple(operations) => operations
            .values()
            .all(|operation| operation.node.ty == OperationType::Query),
    })
}

/// A JSON text re-serialized compactly with its keys in the order they came (async-graphql's
/// values keep it), so two answers compare in content and order but not in whitespace.
pub fn in_order(text: &str) -> String {
    let value: async_graphql::Value = serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"));
    serde_json::to_string(&value).expect("serializable")
}

/// The `id`s of a list of nodes, as numbers.
pub fn node_ids(nodes: &serde_json::Value) -> Vec<i64> {
    nodes
        .as_array()
        .expect("a list")
        .iter()
        .map(|node| {
            node["id"]
                .as_str()
                .expect("ids are strings")
                .parse()
                .expect("numeric id")
        })
        .collect()
}

/// Runs an async test body once on PostgreSQL and once on SQLite, as two tests.
macro_rules! on_both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn postgres() {
                ($body)(crate::fixture::Fixture::on(sea_orm::DbBackend::Postgres).await).await
            }
            #[tokio::test]
            async fn sqlite() {
                ($body)(crate::fixture::Fixture::on(sea_orm::DbBackend::Sqlite).await).await
            }
        }
    };
}
pub(crate) use on_both_backends;
