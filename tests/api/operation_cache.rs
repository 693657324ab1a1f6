//! The operation cache and the streamed path: a repeated query is not parsed, validated, planned
//! or compiled again (counted in the process's own `/metrics`), and what the streamed path answers
//! — data, errors, aliases, fragments, directives, several root fields — is what async-graphql
//! answers for the same request with the cache off.

use crate::fixture::in_order;
use crate::support::process::GatewayProcess;
use crate::support::{TestApp, TestDatabase};
use gateway::config::ServerArgs;
use serde_json::json;

/// The value of the counter `name` (summed over its labels matching `label`) in `/metrics`.
async fn counter(gateway: &GatewayProcess, name: &str, label: &str) -> u64 {
    let text = reqwest::get(gateway.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .filter(|line| line.starts_with(name) && line.contains(label))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test]
async fn a_repeated_query_is_parsed_and_compiled_once() {
    let (database, _) = TestDatabase::seeded(0.1).await;
    let gateway = GatewayProcess::start(&[("DATABASE_URL", &database.url)]);
    let query = "query Page($n: Int) { tasks(first: $n, orderBy: [{id: ASC}]) { nodes { id title } } }";
    let parsed = || counter(&gateway, "gateway_documents_parsed_total", "");
    let compiled = || counter(&gateway, "gateway_operation_compilations_total", "");
    let hits = || counter(&gateway, "gateway_operation_cache_total", "hit");
    let (parsed_before, compiled_before, hits_before) = (parsed().await, compiled().await, hits().await);

    let first = gateway.graphql_with(query, json!({ "n": 3 })).await;
    // Validated by a dry run and streamed from its first run: its statement was compiled for it.
    assert_eq!(compiled().await - compiled_before, 1);
    let second = gateway.graphql_with(query, json!({ "n": 3 })).await;
    let third = gateway.graphql_with(query, json!({ "n": 3 })).await;
    assert_eq!(first, second);
    assert_eq!(first, third);
    assert_eq!(
        first["data"]["tasks"]["nodes"].as_array().map(Vec::len),
        Some(3),
        "{first}"
    );
    // Parsed and validated once, compiled once (for the first request); the second and the third
    // found its statements compiled.
    assert_eq!(parsed().await - parsed_before, 1);
    assert_eq!(hits().await - hits_before, 2);
    assert_eq!(compiled().await - compiled_before, 1);

    // Other variables: the document is not parsed again; the statement is compiled for them.
    let other = gateway.graphql_with(query, json!({ "n": 5 })).await;
    assert_eq!(
        other["data"]["tasks"]["nodes"].as_array().map(Vec::len),
        Some(5),
        "{other}"
    );
    assert_eq!(parsed().await - parsed_before, 1);
    assert_eq!(compiled().await - compiled_before, 2);

    // Mutations are parsed every time; introspection is kept parsed but executed by async-graphql
    // (never compiled).
    let mutation = "mutation ($name: String!) { createTag(input: {name: $name, organizationId: 1}) { id } }";
    for round in 0..2 {
        let created = gateway
            .graphql_with(mutation, json!({ "name": format!("cached {round}") }))
            .await;
        assert!(created["data"]["createTag"]["id"].is_string(), "{created}");
        let schema = gateway
            .graphql_with("{ __schema { queryType { name } } }", json!({}))
            .await;
        assert_eq!(schema["data"]["__schema"]["queryType"]["name"], "Query", "{schema}");
    }
    assert_eq!(parsed().await - parsed_before, 4);
    assert_eq!(compiled().await - compiled_before, 2);
}

/// A cached gateway and one without the cache, on one database.
struct Processes {
    cached: GatewayProcess,
    plain: GatewayProcess,
}

impl Processes {
    fn start(env: &[(&str, &str)]) -> Self {
        let mut plain = env.to_vec();
        plain.push(("GATEWAY_OPERATION_CACHE_SIZE", "0"));
        Self {
            cached: GatewayProcess::start(env),
            plain: GatewayProcess::start(&plain),
        }
    }

    /// `query` with `variables` on both: the same answer, which has no error.
    async fn same(&self, query: &str, variables: serde_json::Value) -> serde_json::Value {
        let cached = self.cached.graphql_with(query, variables.clone()).await;
        let plain = self.plain.graphql_with(query, variables.clone()).await;
        assert_eq!(cached, plain, "{query} with {variables}");
        assert!(cached.get("errors").is_none(), "{cached}");
        cached
    }

    async fn compilations(&self) -> u64 {
        counter(&self.cached, "gateway_operation_compilations_total", "").await
    }
}

/// Variables only compared with columns or looked up by are slots: one compilation serves
/// every value, each request's values bound into the statements; a variable that also decides
/// the SQL (a page size here) keeps being compiled per value. On both backends.
async fn slots_take_new_values_without_compiling(gateway: &Processes) {
    let lookup = "query One($id: ID!) { task(id: $id) { id title project { id } } }";
    let before = gateway.compilations().await;
    let mut found = 0;
    for id in [1, 2, 3, 4, 5, 2, 999_999] {
        let answer = gateway.same(lookup, json!({ "id": id })).await;
        let task = &answer["data"]["task"];
        if !task.is_null() {
            assert_eq!(task["id"], id.to_string(), "{answer}");
            found += 1;
        }
    }
    assert!(found >= 3, "the role reads some of the first tasks");
    assert_eq!(gateway.compilations().await - before, 1, "one compilation for every id");

    let filtered = "query Of($project: ID!, $status: TaskStatus!, $min: Int!, $n: Int!) {
        tasks(first: $n, orderBy: [{id: ASC}], filter: {projectId: {eq: $project}, status: {in: [$status]}, priority: {gte: $min}}) {
          totalCount nodes { id priority status project { id } }
        }
      }";
    let before = gateway.compilations().await;
    for (project, status, min) in [(1, "TODO", 1), (2, "DONE", 3), (3, "IN_PROGRESS", 0), (1, "TODO", 5)] {
        let answer = gateway
            .same(
                filtered,
                json!({ "project": project, "status": status, "min": min, "n": 5 }),
            )
            .await;
        for node in answer["data"]["tasks"]["nodes"].as_array().expect("nodes") {
            assert_eq!(node["project"]["id"], project.to_string(), "{answer}");
            assert_eq!(node["status"], status, "{answer}");
            assert!(node["priority"].as_i64() >= Some(min), "{answer}");
        }
    }
    assert_eq!(
        gateway.compilations().await - before,
        1,
        "one compilation for every filter value"
    );
    // Another page size is another statement.
    gateway
        .same(filtered, json!({ "project": 1, "status": "TODO", "min": 1, "n": 6 }))
        .await;
    assert_eq!(gateway.compilations().await - before, 2);

    // Used as a page size too, a variable is never a slot: each value is its own statement.
    let both = "query ($n: Int!) { tasks(first: $n, filter: {priority: {lte: $n}}) { nodes { id priority } } }";
    let before = gateway.compilations().await;
    for n in [2, 3] {
        let answer = gateway.same(both, json!({ "n": n })).await;
        let nodes = answer["data"]["tasks"]["nodes"].as_array().expect("nodes").clone();
        assert!(
            nodes.len() <= n as usize && nodes.iter().all(|node| node["priority"].as_i64() <= Some(n)),
            "{answer}"
        );
    }
    assert_eq!(gateway.compilations().await - before, 2);

    // So is one that decides whether a field is there.
    let shown = "query ($id: ID!, $show: Boolean!) { task(id: $id) { id title @include(if: $show) } }";
    let shown_title = gateway.same(shown, json!({ "id": 1, "show": true })).await;
    assert!(shown_title["data"]["task"]["title"].is_string(), "{shown_title}");
    let hidden = gateway.same(shown, json!({ "id": 2, "show": false })).await;
    assert_eq!(hidden["data"]["task"], json!({ "id": "2" }));

    // A slot's value the planner refuses is refused as without the cache, in the same words.
    for variables in [
        json!({ "id": "x" }),
        json!({ "id": "99999999999999999999" }),
        json!({ "id": 1.5 }),
    ] {
        let cached = gateway.cached.graphql_with(lookup, variables.clone()).await;
        let plain = gateway.plain.graphql_with(lookup, variables.clone()).await;
        assert_eq!(cached, plain, "{variables}");
        assert!(cached["errors"][0]["extensions"]["code"].is_string(), "{cached}");
    }
    let refused = gateway
        .cached
        .graphql_with(
            filtered,
            json!({ "project": 1, "status": "NOT_A_STATUS", "min": 1, "n": 5 }),
        )
        .await;
    assert!(refused["errors"][0]["extensions"]["code"].is_string(), "{refused}");
}

#[tokio::test]
async fn slots_take_new_values_without_compiling_on_postgres() {
    let (database, _) = TestDatabase::seeded(0.1).await;
    let gateway = Processes::start(&[("DATABASE_URL", &database.url)]);
    slots_take_new_values_without_compiling(&gateway).await;
}

#[tokio::test]
async fn slots_take_new_values_without_compiling_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("embedded.db");
    let path = path.to_str().expect("a UTF-8 path");
    // The first gateway migrates and seeds the embedded file; the second serves it as it is.
    let cached = GatewayProcess::start(&[("GATEWAY_SQLITE_PATH", path)]);
    let plain = GatewayProcess::start(&[("GATEWAY_SQLITE_PATH", path), ("GATEWAY_OPERATION_CACHE_SIZE", "0")]);
    slots_take_new_values_without_compiling(&Processes { cached, plain }).await;
}

/// A policy's claims are slots too: members of different organizations share one compilation,
/// each answered with their own organization's rows, and a token without the claim is refused
/// as without the cache.
#[tokio::test]
async fn members_of_other_organizations_share_one_compilation() {
    let database = TestDatabase::new().await;
    gateway::sample::seed::seed(&database.connect().await, 0.2)
        .await
        .expect("seed");
    let policy = concat!(env!("CARGO_MANIFEST_DIR"), "/policy.toml");
    let gateway = Processes::start(&[
        ("DATABASE_URL", &database.url),
        ("GATEWAY_JWT_SECRET", crate::permissions::SECRET),
        ("GATEWAY_POLICY_FILE", policy),
    ]);
    let query =
        "{ tasks(first: 50, orderBy: [{id: ASC}]) { totalCount nodes { id project { organization { id } } } } }";
    let before = gateway.compilations().await;
    let mut totals = Vec::new();
    for organization in [1, 2, 1, 2] {
        let token = crate::permissions::token("member", Some(organization));
        let cached = gateway.cached.graphql_as(Some(&token), query, json!({})).await;
        let plain = gateway.plain.graphql_as(Some(&token), query, json!({})).await;
        assert_eq!(cached, plain, "organization {organization}");
        let nodes = cached["data"]["tasks"]["nodes"].as_array().expect("nodes").clone();
        assert!(!nodes.is_empty(), "{cached}");
        for node in nodes {
            assert_eq!(
                node["project"]["organization"]["id"],
                organization.to_string(),
                "{cached}"
            );
        }
        totals.push(cached["data"]["tasks"]["totalCount"].clone());
    }
    assert_ne!(totals[0], json!(0));
    assert_eq!(
        gateway.compilations().await - before,
        1,
        "one compilation for both organizations"
    );
    // No `org_id` claim: FORBIDDEN, as without the cache.
    let unclaimed = crate::permissions::token("member", None);
    let cached = gateway.cached.graphql_as(Some(&unclaimed), query, json!({})).await;
    assert_eq!(
        cached,
        gateway.plain.graphql_as(Some(&unclaimed), query, json!({})).await
    );
    assert_eq!(cached["errors"][0]["extensions"]["code"], "FORBIDDEN", "{cached}");
}

#[tokio::test]
async fn the_cache_can_be_turned_off() {
    let database = TestDatabase::new().await;
    let gateway = GatewayProcess::start(&[("DATABASE_URL", &database.url), ("GATEWAY_OPERATION_CACHE_SIZE", "0")]);
    let before = counter(&gateway, "gateway_documents_parsed_total", "").await;
    for _ in 0..3 {
        gateway.graphql_with("{ tasks { totalCount } }", json!({})).await;
    }
    assert_eq!(
        counter(&gateway, "gateway_documents_parsed_total", "").await - before,
        3
    );
    assert_eq!(counter(&gateway, "gateway_operation_cache_total", "hit").await, 0);
}

/// Two gateways on one database: one with the cache (its second answer is streamed), one without.
struct Pair {
    cached: TestApp,
    plain: TestApp,
    _database: TestDatabase,
}

impl Pair {
    async fn new(server: ServerArgs) -> Self {
        let (database, _) = TestDatabase::seeded(0.1).await;
        let cached = TestApp::builder(&database.args()).server(server.clone()).spawn().await;
        let plain = TestApp::builder(&database.args())
            .server(ServerArgs {
                operations: gateway::config::OperationArgs {
                    operation_cache_size: 0,
                    ..server.operations
                },
                ..server
            })
            .spawn()
            .await;
        Self {
            cached,
            plain,
            _database: database,
        }
    }

    /// Sends `query` with `warm` (to cache it) and then `variables` to the cached gateway, and
    /// `variables` to the plain one; the answers must be the same.
    async fn same(&self, query: &str, warm: serde_json::Value, variables: serde_json::Value) -> serde_json::Value {
        let warming = self.cached.graphql(query, warm).await;
        assert!(warming.get("errors").is_none(), "warming {query}: {warming}");
        let streamed = self.cached.graphql_text(query, variables.clone()).await;
        let plain = self.plain.graphql_text(query, variables).await;
        assert_eq!(in_order(&streamed), in_order(&plain), "{query}");
        serde_json::from_str(&plain).expect("JSON")
    }

    /// Like [`Pair::same`], and the cached gateway's answer came from the streamed path: its bytes
    /// are PostgreSQL's own JSON text (`json_build_object` writes `"key" : value`), which
    /// async-graphql's serializer never writes.
    async fn streamed(&self, query: &str, warm: serde_json::Value, variables: serde_json::Value) -> serde_json::Value {
        let answer = self.same(query, warm, variables.clone()).await;
        let streamed = self.cached.graphql_text(query, variables).await;
        assert!(streamed.contains("\" : "), "not streamed: {streamed}");
        answer
    }
}

#[tokio::test]
async fn streamed_answers_equal_executed_ones() {
    let pair = Pair::new(gateway::config::defaults()).await;
    // Several root fields, aliases, `__typename`, fragments, directives from variables.
    let query = r#"
        query Mixed($skip: Boolean!, $n: Int!, $status: TaskStatus) {
          __typename
          first: tasks(first: $n, filter: {status: {eq: $status}}, orderBy: [{priority: DESC}]) {
            ...Page
            totalCount
          }
          one: task(id: 7) { id @include(if: $skip) title project { name organization { name } } }
          missing: task(id: 999999) { id }
          counts: tasksAggregate {
            __typename count @skip(if: $skip) min { __typename priority }
            groupBy(columns: [STATUS]) { __typename key { __typename status } count }
          }
          ... on Query { projects(first: 2) { __typename edges { __typename cursor node { __typename id isPublic createdAt } } } }
        }
        fragment Page on TaskConnection {
          __typename
          nodes { __typename id status priority dueOn estimateHours metadata createdAt comments(first: 1) { nodes { body } } }
          nodes { id project { __typename id } }
          pageInfo { __typename hasNextPage hasPreviousPage startCursor endCursor }
        }"#;
    let warm = json!({ "skip": false, "n": 2, "status": "TODO" });
    for variables in [
        warm.clone(),
        json!({ "skip": true, "n": 4, "status": "IN_PROGRESS" }),
        json!({ "skip": false, "n": 1, "status": "DONE" }),
    ] {
        let answer = pair.streamed(query, warm.clone(), variables).await;
        assert!(answer.get("errors").is_none(), "{answer}");
    }
    // Cursors the streamed path wrote page on as well as the executed path's.
    let page = pair
        .same(
            "query ($after: String) { tasks(first: 3, after: $after) { nodes { id } pageInfo { endCursor } } }",
            json!({ "after": null }),
            json!({ "after": null }),
        )
        .await;
    let cursor = page["data"]["tasks"]["pageInfo"]["endCursor"].clone();
    let next = pair
        .same(
            "query ($after: String) { tasks(first: 3, after: $after) { nodes { id } pageInfo { endCursor } } }",
            json!({ "after": null }),
            json!({ "after": cursor }),
        )
        .await;
    assert_eq!(next["data"]["tasks"]["nodes"][0]["id"], "4", "{next}");
}

#[tokio::test]
async fn streamed_errors_equal_executed_ones() {
    let server = ServerArgs {
        limits: gateway::config::LimitArgs {
            max_response_bytes: 4096,
            ..Default::default()
        },
        ..gateway::config::defaults()
    };
    let pair = Pair::new(server).await;
    // One root field: with two, which one passes the shared bound first is a race on both paths.
    let query = "query ($n: Int!) { tasks(first: $n) { nodes { id title metadata } } }";
    // Within the response bound first, past it the second time: the streamed path fails and
    // async-graphql's path answers, as it would have without the cache.
    let answer = pair.same(query, json!({ "n": 1 }), json!({ "n": 200 })).await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "QUERY_LIMIT_EXCEEDED",
        "{answer}"
    );
    // Values the planner refuses are answered by async-graphql's path, in its words.
    let lookup = "query ($id: ID!) { task(id: $id) { id } }";
    for variables in [json!({ "id": "not a number" }), json!({ "id": null }), json!({})] {
        let answer = pair.same(lookup, json!({ "id": 1 }), variables).await;
        assert!(answer["errors"][0]["extensions"]["code"].is_string(), "{answer}");
    }
    let page = "query ($n: Int) { tasks(first: $n) { totalCount } }";
    for variables in [
        json!({ "n": "3" }),
        json!({ "n": 1.5 }),
        json!({ "n": 3_000_000_000_u64 }),
    ] {
        let answer = pair.same(page, json!({ "n": 1 }), variables).await;
        assert!(answer["errors"][0]["extensions"]["code"].is_string(), "{answer}");
    }
}

#[tokio::test]
async fn queries_over_websocket_use_the_cache_too() {
    let (database, _) = TestDatabase::seeded(0.1).await;
    let gateway = GatewayProcess::start(&[("DATABASE_URL", &database.url)]);
    let query = "{ tasks(first: 3, orderBy: [{id: DESC}]) { totalCount nodes { id title status project { name } } } }";
    let over_http = gateway.graphql(query).await;
    assert!(over_http.get("errors").is_none(), "{over_http}");
    let (compiled, hits) = (
        counter(&gateway, "gateway_operation_compilations_total", "").await,
        counter(&gateway, "gateway_operation_cache_total", "hit").await,
    );
    let mut client = crate::subscriptions::Client::connect_to(gateway.address, None).await;
    for id in ["1", "2"] {
        client.subscribe(id, query).await;
        assert_eq!(client.data(id).await, over_http["data"], "answer {id} over WebSocket");
        assert_eq!(client.next_message().await["type"], "complete");
    }
    // The document was cached, and streamed from its first run, by the HTTP request: both
    // WebSocket answers were streamed with the statements compiled then.
    assert_eq!(
        counter(&gateway, "gateway_operation_cache_total", "hit").await - hits,
        2
    );
    assert_eq!(compiled, 1, "compiled by the first run");
    assert_eq!(
        counter(&gateway, "gateway_operation_compilations_total", "").await - compiled,
        0
    );
}
