//! The integration-test harness: real PostgreSQL, a fresh database per test, the real app over HTTP.
//!
//! The server is `TEST_DATABASE_URL` or `DATABASE_URL` when set, else the local server on
//! 127.0.0.1:5432; when none answers and PostgreSQL is installed, a throwaway cluster is started for
//! this test process and stopped when the process exits. Each test database is cloned from a
//! template migrated once per process, so tests are independent and fast. Databases left behind by
//! crashed runs are dropped the next time the harness starts.

pub mod cluster;
pub mod process;

use cluster::Cluster;
use gateway::config::{DatabaseArgs, ServerArgs};
use gateway::server::Application;
use sqlx::{Connection, PgConnection};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::OnceCell;
use url::Url;

const LOCAL_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The PostgreSQL server the tests use, as a URL to its maintenance database.
pub async fn server_url() -> Url {
    static SERVER: OnceLock<Url> = OnceLock::new();
    if let Some(url) = SERVER.get() {
        return url.clone();
    }
    let configured = std::env::var("TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .ok();
    let url = match configured {
        Some(url) => Url::parse(&url).expect("TEST_DATABASE_URL/DATABASE_URL is a valid URL"),
        None if PgConnection::connect(LOCAL_SERVER).await.is_ok() => Url::parse(LOCAL_SERVER).expect("valid URL"),
        None => {
            // Leaked on purpose: it lives as long as the process, and its watchdog stops it after.
            let cluster = Box::leak(Box::new(Cluster::start(cluster::Auth::Trust).expect(
                "no PostgreSQL answers on 127.0.0.1:5432 and none could be started (are initdb and pg_ctl installed?)",
            )));
            cluster.stop_when_process_exits();
            Url::parse(&cluster.url("postgres", None, "postgres")).expect("valid URL")
        }
    };
    SERVER.get_or_init(|| url).clone()
}

/// The URL of database `name` on the test server.
pub async fn database_url(name: &str) -> String {
    let mut url = server_url().await;
    url.set_path(name);
    url.to_string()
}

/// Runs administrative SQL built from names the harness made itself (never from input).
async fn execute(admin: &mut PgConnection, sql: String) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(admin).await.map(|_| ())
}

async fn admin() -> PgConnection {
    PgConnection::connect(server_url().await.as_str())
        .await
        .expect("connect to the test server")
}

fn template_name() -> String {
    format!("gw_tpl_{}", std::process::id())
}

/// Creates (once per process) the migrated template every test database is cloned from.
async fn template() -> &'static str {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            let mut admin = admin().await;
            drop_stale_databases(&mut admin).await;
            let name = template_name();
            execute(&mut admin, format!(r#"CREATE DATABASE "{name}""#))
                .await
                .expect("create the template");
            let url = database_url(&name).await;
            let connection = sea_orm::Database::connect(url.as_str())
                .await
                .expect("connect to the template");
            use migration::MigratorTrait;
            migration::Migrator::up(&connection, None)
                .await
                .expect("migrate the template");
            connection.close().await.expect("close the template");
            name
        })
        .await
}

/// Creates (once per process and scale) a template seeded at `scale`, cloned from the migrated one.
async fn seeded_template(scale: f64) -> &'static str {
    static TEMPLATES: std::sync::Mutex<Vec<(u64, &'static OnceCell<String>)>> = std::sync::Mutex::new(Vec::new());
    let cell = {
        let mut templates = TEMPLATES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match templates.iter().find(|(bits, _)| *bits == scale.to_bits()) {
            Some((_, cell)) => *cell,
            None => {
                let cell: &'static OnceCell<String> = Box::leak(Box::new(OnceCell::new()));
                templates.push((scale.to_bits(), cell));
                cell
            }
        }
    };
    cell.get_or_init(|| async {
        let seeded = TestDatabase::clone_of(template().await).await;
        let connection = seeded.connect().await;
        gateway::sample::seed::seed(&connection, scale)
            .await
            .expect("seed the template");
        connection.close().await.expect("close the template");
        // Kept for the process: its clones are made from it.
        let name = seeded.name.clone();
        std::mem::forget(seeded);
        name
    })
    .await
}

/// Drops databases of earlier test processes that are gone (their pid is in the name).
async fn drop_stale_databases(admin: &mut PgConnection) {
    let names: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'gw\\_%'")
        .fetch_all(&mut *admin)
        .await
        .expect("list databases");
    for name in names {
        let pid = name.split('_').nth(2).and_then(|pid| pid.parse::<u32>().ok());
        let alive = pid.is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let _ = execute(admin, format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#)).await;
        }
    }
}

/// A fresh, migrated, empty database for one test; dropped when the value is.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    pub async fn new() -> Self {
        Self::clone_of(template().await).await
    }

    /// A fresh database with nothing in it: no sample schema, no migration table (a user's own
    /// database before the gateway sees it).
    pub async fn blank() -> Self {
        Self::clone_of("template0").await
    }

    async fn clone_of(template: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "gw_t_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = admin().await;
        let statement = format!(r#"CREATE DATABASE "{name}" TEMPLATE "{template}""#);
        let mut attempts = 0;
        // Two clones of one template at the same instant can collide; a retry settles it.
        while let Err(error) = execute(&mut admin, statement.clone()).await {
            attempts += 1;
            assert!(attempts < 20, "create test database {name}: {error}");
            tokio::time::sleep(std::time::Duration::from_millis(50 * attempts)).await;
        }
        let url = database_url(&name).await;
        Self { name, url }
    }

    /// Gateway settings pointing at this database.
    pub fn args(&self) -> DatabaseArgs {
        DatabaseArgs::with_url(Some(&self.url))
    }

    /// A fresh database seeded at `scale`, with a connection to it: cloned from a template
    /// seeded once per process and scale (the seed is deterministic, so a clone holds what seeding
    /// it would have written, sequences included).
    pub async fn seeded(scale: f64) -> (Self, sea_orm::DatabaseConnection) {
        let database = Self::clone_of(seeded_template(scale).await).await;
        let connection = database.connect().await;
        (database, connection)
    }

    /// A SeaORM connection for arranging and checking data.
    pub async fn connect(&self) -> sea_orm::DatabaseConnection {
        let mut options = sea_orm::ConnectOptions::new(self.url.clone());
        options.sqlx_logging(false).max_connections(4);
        sea_orm::Database::connect(options)
            .await
            .expect("connect to the test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async context; a short-lived runtime on its own thread does the work.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let mut admin = admin().await;
                let _ = execute(&mut admin, format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#)).await;
            });
        })
        .join();
    }
}

/// How a [`TestApp`] starts: the sample entities (or `registry`), authentication off (or `auth`),
/// the default server settings (or `server`; its `listen` is ignored).
pub struct TestAppBuilder<'a> {
    database: &'a DatabaseArgs,
    registry: Option<gateway::metadata::Registry>,
    auth: gateway::config::AuthArgs,
    server: ServerArgs,
}

impl TestAppBuilder<'_> {
    /// Serves `registry` instead of the sample entities.
    pub fn registry(mut self, registry: gateway::metadata::Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    pub fn auth(mut self, auth: &gateway::config::AuthArgs) -> Self {
        self.auth = auth.clone();
        self
    }

    pub fn server(mut self, server: ServerArgs) -> Self {
        self.server = server;
        self
    }

    pub async fn spawn(self) -> TestApp {
        test_log();
        let registry = match self.registry {
            Some(registry) => registry,
            None => gateway::entities::registry().expect("the sample entities are valid"),
        };
        TestApp::start(self.database, registry, &self.auth, self.server).await
    }
}

/// With `TEST_LOG` set (to a filter such as `gateway=debug`, or to `1` for `info`), the in-process
/// gateways log through the test harness: a failing test shows its gateway's logs, a passing one
/// shows nothing (`cargo test` captures them; `-- --nocapture` shows them all).
fn test_log() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(filter) = std::env::var("TEST_LOG") else { return };
        let filter = match filter.as_str() {
            "" | "1" | "true" => "info".to_owned(),
            filter => filter.to_owned(),
        };
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    });
}

/// The gateway running in-process on a random port.
pub struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    /// Starts the gateway serving the sample entities from `database`, with authentication off
    /// and the default server settings; [`TestApp::builder`] for anything else.
    pub async fn spawn(database: &DatabaseArgs) -> Self {
        Self::builder(database).spawn().await
    }

    /// A gateway on `database` to configure before it starts.
    pub fn builder(database: &DatabaseArgs) -> TestAppBuilder<'_> {
        TestAppBuilder {
            database,
            registry: None,
            auth: gateway::config::AuthArgs::default(),
            server: ServerArgs::default(),
        }
    }

    async fn start(
        database: &DatabaseArgs,
        registry: gateway::metadata::Registry,
        auth: &gateway::config::AuthArgs,
        server: ServerArgs,
    ) -> Self {
        let authenticator =
            std::sync::Arc::new(gateway::auth::Authenticator::new(auth).expect("valid authentication settings"));
        let target = database.target().expect("valid target");
        let routing = gateway::database::Routing::from_args(database)
            .await
            .expect("valid read replica settings");
        let connection = routing
            .connect_primary(&target, &database.pool)
            .await
            .expect("connect the app");
        let server = ServerArgs {
            listen: "127.0.0.1:0".parse().expect("address"),
            ..server
        };
        let registry = std::sync::Arc::new(registry);
        let policy = auth.policy_file.as_ref().map(|path| {
            std::sync::Arc::new(
                gateway::permission::Policy::load(path, &registry, &auth.jwt_session_claims).expect("a valid policy"),
            )
        });
        let application = Application::build(&server, connection, registry, authenticator, policy, routing)
            .await
            .expect("build the app");
        let address = application.local_addr().expect("bound address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            application
                .run_until_stopped(async move {
                    let _ = stopped.await;
                })
                .await
                .expect("the app runs");
        });
        let app = Self {
            address,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        };
        // Subscriptions only hear of changes once the change feed listens: wait for it (unless the
        // database is not there at all, which some tests want).
        for _ in 0..100 {
            let Ok(response) = app.client.get(app.url("/readyz")).send().await else {
                break;
            };
            if response.status() != 200 {
                break;
            }
            let report: serde_json::Value = response.json().await.unwrap_or_default();
            if report["change_feed"] != "connecting" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        app
    }

    /// The body of `/readyz`.
    pub async fn readiness(&self) -> serde_json::Value {
        let response = self.client.get(self.url("/readyz")).send().await.expect("readyz");
        response.json().await.expect("JSON")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// The body of a GraphQL request's answer, as sent.
    pub async fn graphql_text(&self, query: &str, variables: serde_json::Value) -> String {
        self.client
            .post(self.url("/graphql"))
            .json(&serde_json::json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("a body")
    }

    /// POSTs a GraphQL query and returns the JSON response.
    pub async fn graphql(&self, query: &str, variables: serde_json::Value) -> serde_json::Value {
        let text = self.graphql_text(query, variables).await;
        serde_json::from_str(&text).unwrap_or_else(|error| panic!("a JSON response ({error}): {text}"))
    }

    /// Sends the shutdown signal without waiting (the app drains, then stops).
    pub fn signal_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Stops the app gracefully and waits until it has stopped.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("the app stops cleanly");
        }
    }
}

/// A TCP port nobody listens on (bound, then released).
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

/// Runs the gateway binary with a clean environment plus `env`, returning (success, stdout, stderr).
pub fn run_gateway(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (key, value) in env {
        command.env(key, value);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    command.current_dir(dir.path());
    let output = command.output().expect("run the gateway binary");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The Node.js tools of `tests/browser` (playwright-core, graphql-http, graphql-ws), installed from
/// its lock file on first use.
pub fn node_tools() -> &'static std::path::Path {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser"));
    let installed = ["playwright-core", "graphql-http", "graphql-ws", "ws"]
        .iter()
        .all(|package| dir.join("node_modules").join(package).exists());
    if !installed {
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(dir)
            .status()
            .expect("npm is installed (Node.js is needed for these tests)");
        assert!(status.success(), "npm ci in tests/browser failed");
    }
    dir
}
