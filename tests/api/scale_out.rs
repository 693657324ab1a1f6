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
    gateway::seed::seed(&connection, 0.1).await.expect("seed");
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
    gateway::seed::seed(&admin, 0.1).await.expect("seed");
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
