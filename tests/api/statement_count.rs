//! One SQL statement per root field, whatever the depth and the number of rows: counted by the
//! database itself (`log_statement = 'all'` on a throwaway cluster), not by the gateway.

use crate::support::TestApp;
use crate::support::cluster::{Auth, Cluster};
use gateway::config::DatabaseArgs;
use migration::MigratorTrait;
use sea_orm::ConnectionTrait;
use serde_json::json;

const APPLICATION: &str = "gw_statement_count";

/// Statements the gateway's sessions ran since `from` bytes into the server log.
fn statements_since(cluster: &Cluster, from: usize) -> Vec<String> {
    all_statements_since(cluster, from)
        .into_iter()
        // The change feed's own statements (LISTEN, trimming its log) run in the background.
        .filter(|line| !line.contains("gateway_change"))
        .collect()
}

fn all_statements_since(cluster: &Cluster, from: usize) -> Vec<String> {
    let log = std::fs::read_to_string(cluster.log_path()).expect("read the server log");
    log[from..]
        .lines()
        .filter(|line| line.starts_with(&format!("{APPLICATION}|")))
        .filter(|line| line.contains("LOG:  execute") || line.contains("LOG:  statement:"))
        .map(str::to_owned)
        .collect()
}

fn log_length(cluster: &Cluster) -> usize {
    std::fs::metadata(cluster.log_path())
        .map(|metadata| metadata.len() as usize)
        .unwrap_or(0)
}

/// A throwaway cluster, migrated and seeded, logging every statement with its application name.
async fn logging_cluster() -> Cluster {
    let cluster = Cluster::start(Auth::Trust).expect("PostgreSQL is installed");
    let admin = sea_orm::Database::connect(cluster.url("postgres", None, "postgres"))
        .await
        .expect("connect");
    migration::Migrator::up(&admin, None).await.expect("migrate");
    gateway::sample::seed::seed(&admin, 0.1).await.expect("seed");
    admin
        .execute_unprepared("ALTER SYSTEM SET log_statement = 'all'")
        .await
        .expect("log statements");
    admin
        .execute_unprepared("ALTER SYSTEM SET log_line_prefix = '%a|'")
        .await
        .expect("log prefix");
    admin
        .execute_unprepared("SELECT pg_reload_conf()")
        .await
        .expect("reload");
    admin.close().await.expect("close");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    cluster
}

fn app_url(cluster: &Cluster) -> String {
    format!(
        "{}?application_name={APPLICATION}",
        cluster.url("postgres", None, "postgres")
    )
}

#[tokio::test]
async fn a_four_level_query_is_one_statement_per_root_field_for_any_number_of_rows() {
    let cluster = logging_cluster().await;
    let app = TestApp::spawn(&DatabaseArgs::with_url(Some(&app_url(&cluster)))).await;
    for size in [1, 3, 10] {
        let query = format!(
            "{{ organizations(first: {size}) {{ nodes {{ slug projects(first: {size}) {{ totalCount nodes {{ name
                 tasks(first: {size}) {{ pageInfo {{ hasNextPage }} nodes {{ title
                   comments(first: {size}) {{ nodes {{ body author {{ displayName }} }} }} }} }} }} }} }} }} }}"
        );
        let before = log_length(&cluster);
        let answer = app.graphql(&query, json!({})).await;
        assert!(answer.get("errors").is_none(), "{answer}");
        let projects = answer["data"]["organizations"]["nodes"][0]["projects"]["nodes"]
            .as_array()
            .expect("projects")
            .len();
        assert_eq!(projects, size, "the query returned {size} projects");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let statements = statements_since(&cluster, before);
        assert_eq!(
            statements.len(),
            1,
            "exactly one statement for one root field at size {size}: {statements:#?}"
        );
    }

    let before = log_length(&cluster);
    let answer = app
        .graphql("{ tasks(first: 5) { nodes { id tags { nodes { name } } } } tasksAggregate { count groupBy(columns: [STATUS]) { count } } }", json!({}))
        .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        statements_since(&cluster, before).len(),
        2,
        "two root fields, two statements"
    );

    // Aggregates through relations, groups with keys through relations and time buckets, and
    // orderings by related aggregates: still one statement per root field.
    let before = log_length(&cluster);
    let answer = app
        .graphql(
            "{ organizations { nodes { projects(first: 5, orderBy: [{tasksAggregate: {filter: {status: {ne: DONE}}, count: DESC}}]) {
                 nodes { name tasksAggregate { count avg { priority } groupBy(by: [{createdAt: MONTH}, {status: VALUE}]) { count } }
                   tasks(first: 3, orderBy: [{commentsAggregate: {count: DESC}}]) { nodes { title commentsAggregate { count } } } } } } }
               tasksAggregate { groupBy(by: [{project: {organizationId: VALUE}}], having: {count: {gt: 1}}, orderBy: [{avg: {priority: DESC}}], first: 3) { count } } }",
            json!({}),
        )
        .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let statements = statements_since(&cluster, before);
    assert_eq!(statements.len(), 2, "two root fields, two statements: {statements:#?}");
    app.stop().await;
}

/// Relay's `nodes` is one statement per type, however many ids.
#[tokio::test]
async fn nodes_are_one_statement_per_type() {
    let cluster = logging_cluster().await;
    let app = TestApp::spawn(&DatabaseArgs::with_url(Some(&app_url(&cluster)))).await;
    let mut ids: Vec<String> = (1..=30).map(|id| hex::encode(format!(r#"["Task", "{id}"]"#))).collect();
    ids.extend((1..=4).map(|id| hex::encode(format!(r#"["Project", "{id}"]"#))));
    let query = "query($ids: [ID!]!) { nodes(nodeIds: $ids) { nodeId ... on Task { title } ... on Project { name } } }";
    let before = log_length(&cluster);
    let answer = app.graphql(query, json!({ "ids": ids })).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    assert_eq!(answer["data"]["nodes"].as_array().map(Vec::len), Some(34));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let statements = statements_since(&cluster, before);
    assert_eq!(statements.len(), 2, "one statement per type: {statements:#?}");
    app.stop().await;
}

/// Federation's `_entities` is one statement per entity type, however many representations.
#[tokio::test]
async fn entities_are_one_statement_per_type() {
    let cluster = logging_cluster().await;
    let server = gateway::config::ServerArgs {
        operations: gateway::config::OperationArgs {
            federation: true,
            ..Default::default()
        },
        ..gateway::config::ServerArgs::default()
    };
    let app = TestApp::builder(&DatabaseArgs::with_url(Some(&app_url(&cluster))))
        .server(server)
        .spawn()
        .await;
    let mut representations: Vec<serde_json::Value> =
        (1..=40).map(|id| json!({ "__typename": "Task", "id": id })).collect();
    representations.extend((1..=5).map(|id| json!({ "__typename": "Project", "id": id })));
    let query = "query($r: [_Any!]!) { _entities(representations: $r) {
        ... on Task { title project { name } comments(first: 2) { nodes { body } } }
        ... on Project { name } } }";
    let before = log_length(&cluster);
    let answer = app.graphql(query, json!({ "r": representations })).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    assert_eq!(answer["data"]["_entities"].as_array().map(Vec::len), Some(45));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let statements = statements_since(&cluster, before);
    assert_eq!(statements.len(), 2, "one statement per type: {statements:#?}");
    app.stop().await;
}

#[tokio::test]
async fn subscribers_of_one_shape_share_one_statement_per_batch() {
    use crate::subscriptions::Client;
    let cluster = logging_cluster().await;
    let app = TestApp::spawn(&DatabaseArgs::with_url(Some(&app_url(&cluster)))).await;
    let events = "subscription { taskChanged(filter: { projectId: { eq: 1 } }) { op row { id title } } }";
    let live = "subscription { tasksLive(filter: { projectId: { eq: 1 } }, first: 3) { nodes { id title } } }";
    let mut clients = Vec::new();
    for _ in 0..10 {
        let mut client = Client::connect(&app, None).await;
        client.subscribe("events", events).await;
        client.subscribe("live", live).await;
        client.data("live").await;
        clients.push(client);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let before = log_length(&cluster);
    let writer = sea_orm::Database::connect(cluster.url("postgres", None, "postgres"))
        .await
        .expect("connect");
    writer
        .execute_unprepared(
            "UPDATE tasks SET title = 'shared' WHERE id = (SELECT min(id) FROM tasks WHERE project_id = 1)",
        )
        .await
        .expect("update");
    for client in &mut clients {
        let mut seen = Vec::new();
        for _ in 0..2 {
            seen.push(client.next_message().await);
        }
        assert!(seen.iter().any(|message| message["id"] == "events"), "{seen:?}");
        assert!(seen.iter().any(|message| message["id"] == "live"), "{seen:?}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let statements: Vec<String> = all_statements_since(&cluster, before)
        .into_iter()
        .filter(|line| line.contains("\"tasks\""))
        .collect();
    // The changed row as it is now, whether the old row was visible, and the live list: three
    // statements for twenty subscriptions.
    assert_eq!(statements.len(), 3, "{statements:#?}");
    app.stop().await;
}
