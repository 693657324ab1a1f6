//! Running past one process and one server: several gateway processes on one database behave as
//! one, and reads go to a streaming read replica (falling back to the primary without it).

use crate::subscriptions::Client;
use crate::support::TestDatabase;
use crate::support::process::GatewayProcess;
use serde_json::{Value, json};

/// Sends each request to the next gateway in turn, as a round-robin load balancer would.
struct RoundRobin<'a> {
    gateways: &'a [GatewayProcess],
    next: usize,
    client: reqwest::Client,
}

impl RoundRobin<'_> {
    async fn graphql(&mut self, query: &str) -> Value {
        let gateway = &self.gateways[self.next % self.gateways.len()];
        self.next += 1;
        let answer: Value = self
            .client
            .post(gateway.url("/graphql"))
            .json(&json!({ "query": query }))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON");
        assert!(answer.get("errors").is_none(), "{answer}");
        answer["data"].clone()
    }
}

#[tokio::test]
async fn three_gateway_processes_behave_as_one() {
    let database = TestDatabase::new().await;
    let connection = database.connect().await;
    gateway::sample::seed::seed(&connection, 0.1).await.expect("seed");
    let gateways: Vec<GatewayProcess> = (0..3)
        .map(|_| GatewayProcess::start(&[("DATABASE_URL", &database.url)]))
        .collect();
    // A subscriber on each process.
    let mut subscribers = Vec::new();
    for gateway in &gateways {
        let mut client = Client::connect_to(gateway.address, None).await;
        client
            .subscribe("1", "subscription { tagChanged(ops: [INSERT]) { row { name } } }")
            .await;
        subscribers.push(client);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut balancer = RoundRobin {
        gateways: &gateways,
        next: 0,
        client: reqwest::Client::new(),
    };
    // Writes through each process in turn; every read, whichever process answers, sees all of them.
    for step in 0..6 {
        balancer
            .graphql(&format!(
                r#"mutation {{ createTag(input: {{ organizationId: 1, name: "scaled-{step}" }}) {{ id }} }}"#
            ))
            .await;
        let seen = balancer
            .graphql(r#"{ tags(filter: { name: { startsWith: "scaled-" } }) { totalCount } }"#)
            .await;
        assert_eq!(
            seen["tags"]["totalCount"],
            step + 1,
            "read after write through another process"
        );
    }
    // Each subscriber, on whichever process, heard of every write.
    for (index, subscriber) in subscribers.iter_mut().enumerate() {
        let mut names = Vec::new();
        while names.len() < 6 {
            let data = subscriber.data("1").await;
            names.push(data["tagChanged"]["row"]["name"].as_str().unwrap().to_owned());
        }
        names.sort();
        let expected: Vec<String> = (0..6).map(|step| format!("scaled-{step}")).collect();
        assert_eq!(names, expected, "subscriber on process {index}");
    }
}

#[tokio::test]
async fn reads_go_to_a_streaming_replica_and_fall_back_to_the_primary() {
    use crate::support::TestApp;
    use crate::support::cluster::{Auth, Cluster};
    use migration::MigratorTrait;
    use sea_orm::ConnectionTrait;
    use std::time::Duration;

    const APPLICATION: &str = "gw_replica_test";
    let primary = Cluster::start(Auth::Trust).expect("PostgreSQL is installed");
    let admin = sea_orm::Database::connect(primary.url("postgres", None, "postgres"))
        .await
        .expect("connect");
    migration::Migrator::up(&admin, None).await.expect("migrate");
    gateway::sample::seed::seed(&admin, 0.1).await.expect("seed");
    let replica = primary
        .replica("-c log_statement=all -c log_line_prefix=%a:")
        .expect("a replica");
    let replica_log = || std::fs::read_to_string(replica.log_path()).unwrap_or_default();

    let with_name = |url: String| format!("{url}?application_name={APPLICATION}");
    let mut args = gateway::config::DatabaseArgs::with_url(Some(&with_name(primary.url("postgres", None, "postgres"))));
    args.replicas.read_url = Some(with_name(replica.url("postgres", None, "postgres")).into());
    args.replicas.read_check_interval = Duration::from_millis(200);
    let app = TestApp::spawn(&args).await;
    let ready = || async {
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .expect("readyz")
            .json::<Value>()
            .await
            .expect("JSON")
    };
    let mut report = Value::Null;
    for _ in 0..50 {
        report = ready().await;
        if report["replicas"][0]["state"] == "ready" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(report["replicas"][0]["state"], "ready", "{report}");

    // A query runs on the replica (its log shows the gateway's statement).
    let before = replica_log().len();
    let answer = app.graphql("{ tasks { totalCount } }", json!({})).await;
    assert_eq!(answer["data"]["tasks"]["totalCount"], 2000, "{answer}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let since = replica_log()[before..].to_owned();
    assert!(
        since
            .lines()
            .any(|line| line.starts_with(&format!("{APPLICATION}:")) && line.contains("\"tasks\"")),
        "the replica ran the query:\n{since}"
    );

    // A write goes to the primary (a replica refuses writes) and reaches reads once replayed.
    let created = app
        .graphql(
            r#"mutation { createTag(input: { organizationId: 1, name: "replicated" }) { id } }"#,
            json!({}),
        )
        .await;
    assert!(created.get("errors").is_none(), "{created}");
    let mut seen = 0;
    for _ in 0..50 {
        let answer = app
            .graphql(
                r#"{ tags(filter: { name: { eq: "replicated" } }) { totalCount } }"#,
                json!({}),
            )
            .await;
        seen = answer["data"]["tags"]["totalCount"].as_i64().unwrap_or(0);
        if seen == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, 1, "the replica replays the primary's write");

    // The replica stops: queries keep answering from the primary, readiness reports it.
    replica.stop();
    for _ in 0..5 {
        let answer = app.graphql("{ tasks { totalCount } }", json!({})).await;
        assert_eq!(answer["data"]["tasks"]["totalCount"], 2000, "{answer}");
    }
    let mut report = Value::Null;
    for _ in 0..50 {
        report = ready().await;
        if report["replicas"][0]["state"] == "down" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(report["status"], "ready", "{report}");
    assert_eq!(report["replicas"][0]["state"], "down", "{report}");
    admin.execute_unprepared("SELECT 1").await.expect("the primary is fine");
    app.stop().await;
}

/// PgBouncer in transaction mode in front of the test server, run by the test.
struct Bouncer {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Bouncer {
    fn start(server: &url::Url) -> Self {
        let binary = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .find(|path| std::path::Path::new(path).exists())
            .expect("PgBouncer is installed (apt-get install pgbouncer)");
        let dir = tempfile::Builder::new().prefix("gw-pgbouncer-").tempdir().unwrap();
        let port = crate::support::closed_port();
        let config = format!(
            "[databases]\n* = host={host} port={server_port}\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
             unix_socket_dir =\nauth_type = trust\nauth_file = {dir}/users.txt\npool_mode = transaction\n\
             default_pool_size = 3\nmax_client_conn = 500\nignore_startup_parameters = extra_float_digits\n\
             server_reset_query_always = 1\n\
             logfile = {dir}/pgbouncer.log\npidfile = {dir}/pgbouncer.pid\n",
            host = server.host_str().unwrap_or("127.0.0.1"),
            server_port = server.port().unwrap_or(5432),
            dir = dir.path().display(),
        );
        std::fs::write(dir.path().join("pgbouncer.ini"), config).unwrap();
        std::fs::write(dir.path().join("users.txt"), "\"postgres\" \"\"\n").unwrap();
        // PgBouncer refuses to run as root.
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|output| output.stdout.starts_with(b"0\n"));
        let mut command = if root {
            let _ = std::process::Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status();
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--", binary]);
            command
        } else {
            std::process::Command::new(binary)
        };
        let mut child = command
            .arg(dir.path().join("pgbouncer.ini"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start PgBouncer");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self { child, port, _dir: dir };
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "PgBouncer did not start: {}",
            std::fs::read_to_string(dir.path().join("pgbouncer.log")).unwrap_or_default()
        );
    }
}

impl Bouncer {
    /// Gateway settings that reach `direct`'s database through this PgBouncer.
    fn args(&self, direct: &url::Url) -> gateway::config::DatabaseArgs {
        let mut through = direct.clone();
        let _ = through.set_port(Some(self.port));
        let mut args = gateway::config::DatabaseArgs::with_url(Some(through.as_str()));
        args.pool.pgbouncer = true;
        args
    }

    /// A PgBouncer in front of `database`, and settings that use it (subscriptions LISTEN on the
    /// database directly).
    fn in_front_of(database: &TestDatabase) -> (Self, gateway::config::DatabaseArgs) {
        let direct = url::Url::parse(&database.url).unwrap();
        let bouncer = Self::start(&direct);
        let mut args = bouncer.args(&direct);
        args.direct_url = Some(database.url.clone().into());
        (bouncer, args)
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_gateway_works_behind_pgbouncer_in_transaction_mode() {
    use crate::support::TestApp;
    let database = TestDatabase::new().await;
    let connection = database.connect().await;
    gateway::sample::seed::seed(&connection, 0.1).await.expect("seed");
    let direct = url::Url::parse(&database.url).unwrap();
    let bouncer = Bouncer::start(&direct);
    let mut args = bouncer.args(&direct);
    // More client connections than PgBouncer has server connections (3): statements of one
    // client connection land on different server connections.
    args.pool.pool_max_connections = 20;
    // Subscriptions cannot LISTEN through PgBouncer: without a direct URL the gateway refuses.
    let refused = gateway::database::Routing::from_args(&args)
        .await
        .err()
        .expect("refused");
    assert!(refused.to_string().contains("DATABASE_DIRECT_URL"), "{refused}");
    args.direct_url = Some(database.url.clone().into());
    let app = TestApp::spawn(&args).await;

    let mut subscriber = Client::connect(&app, None).await;
    subscriber
        .subscribe("1", "subscription { tagChanged(ops: [INSERT]) { row { name } } }")
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    // 200 concurrent requests, reads and writes mixed.
    let requests = (0..200).map(|index| {
        let app = &app;
        async move {
            let query = if index % 10 == 0 {
                format!(
                    r#"mutation {{ createTag(input: {{ organizationId: 1, name: "bounced-{index}" }}) {{ id name }} }}"#
                )
            } else {
                format!("{{ tasks(first: 5, offset: {index}) {{ nodes {{ id title project {{ name }} }} }} }}")
            };
            app.graphql(&query, json!({})).await
        }
    });
    let answers = futures_util::future::join_all(requests).await;
    for answer in &answers {
        assert!(answer.get("errors").is_none(), "{answer}");
    }
    let tags = app
        .graphql(
            r#"{ tags(filter: { name: { startsWith: "bounced-" } }) { totalCount } }"#,
            json!({}),
        )
        .await;
    assert_eq!(tags["data"]["tags"]["totalCount"], 20, "{tags}");
    // Subscriptions listen on the direct connection and still see the writes.
    let mut names = Vec::new();
    while names.len() < 20 {
        let data = subscriber.data("1").await;
        names.push(data["tagChanged"]["row"]["name"].as_str().unwrap().to_owned());
    }
    app.stop().await;
}

/// Behind PgBouncer a read runs in a transaction whose server connection PgBouncer keeps when
/// the gateway's client connection goes: a timed-out read ends its backend, so the statement
/// stops within a second; the next read is served.
#[tokio::test]
async fn behind_pgbouncer_a_timed_out_read_stops_its_statement() {
    let database = TestDatabase::new().await;
    let (bouncer, args) = Bouncer::in_front_of(&database);
    crate::resilience::a_timed_out_read_stops(&database, args).await;
    drop(bouncer);
}
