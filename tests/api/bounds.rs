//! Every bound on every path: the same operation is refused with the same code over HTTP POST,
//! HTTP GET, in a batch, over the WebSocket, on its first run and from the operation cache; live
//! queries run within their own admission slots, the deadline and the answer bound, on their
//! first run and on re-runs; metrics labels cannot be grown by clients.

use crate::subscriptions::Client;
use crate::support::{TestApp, TestDatabase};
use gateway::config::ServerArgs;
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The code of the first error of an HTTP answer, or `OK`.
fn code(answer: &Value) -> String {
    answer["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or(if answer.get("errors").is_some() {
            "UNCODED"
        } else {
            "OK"
        })
        .to_owned()
}

async fn post(app: &TestApp, body: &Value) -> Value {
    app.client
        .post(app.url("/graphql"))
        .json(body)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON")
}

async fn get(app: &TestApp, query: &str) -> Value {
    app.client
        .get(app.url("/graphql"))
        .query(&[("query", query)])
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON")
}

/// The code a WebSocket operation ends with (its `error` message, or the first error of its
/// `next`), or `OK`.
async fn ws_code(client: &mut Client, id: &str, query: &str) -> String {
    client.subscribe(id, query).await;
    loop {
        let message = client.next_message().await;
        if message["id"] != id {
            continue;
        }
        return match message["type"].as_str() {
            Some("error") => message["payload"][0]["extensions"]["code"]
                .as_str()
                .unwrap_or("UNCODED")
                .to_owned(),
            Some("next") => code(&message["payload"]),
            other => panic!("unexpected message {other:?}: {message}"),
        };
    }
}

/// Inserts `count` tasks titled `prefix xxx…n` (about 50 bytes each) in one statement, by SQL.
async fn insert_tasks(connection: &sea_orm::DatabaseConnection, prefix: &str, count: usize) {
    connection
        .execute_unprepared(&format!(
            "INSERT INTO tasks (project_id, title, status, priority) \
             SELECT (SELECT min(id) FROM projects), '{prefix} ' || repeat('x', 40) || n, 'todo', 1 \
             FROM generate_series(1, {count}) n"
        ))
        .await
        .expect("insert tasks");
}

/// The operations each bound refuses, with the code they are refused with.
fn refused() -> Vec<(&'static str, String)> {
    let or: Vec<String> = (0..5_001).map(|id| format!("{{id: {{eq: \"{id}\"}}}}")).collect();
    vec![
        // Connections hidden in fragments weigh what they return.
        (
            "QUERY_LIMIT_EXCEEDED",
            "{ tasks(first: 10000) { ... { nodes { project { tasks(first: 10000) { ... { nodes { id } } } } } } } }".into(),
        ),
        (
            "QUERY_LIMIT_EXCEEDED",
            "{ tasks(first: 10000) { ...Rows } } fragment Rows on TaskConnection { nodes { project { tasks(first: 10000) { ... on TaskConnection { nodes { id } } } } } }".into(),
        ),
        // Lists without `first` weigh what they can return (GATEWAY_MAX_PAGE_SIZE).
        ("QUERY_LIMIT_EXCEEDED", "{ tasks { nodes { project { tasks { nodes { id } } } } } }".into()),
        // A pattern ending in the escape character.
        (
            "BAD_USER_INPUT",
            r#"{ tasks(filter: {title: {like: "abc\\"}}) { totalCount } }"#.into(),
        ),
        // A flat `or` past the bound on conditions.
        (
            "BAD_USER_INPUT",
            format!("{{ tasks(filter: {{or: [{}]}}) {{ totalCount }} }}", or.join(",")),
        ),
    ]
}

/// Each bound refuses the same operation with the same code on every path, on its first run and
/// again (when a cached document would answer).
#[tokio::test]
async fn every_bound_refuses_alike_on_every_path() {
    let database = TestDatabase::new().await;
    let app = TestApp::builder(&database.args())
        .server(ServerArgs {
            limits: gateway::config::LimitArgs {
                // An empty database: every table is weighed at its smallest (100 rows), so the
                // nested lists below are 100 × 100 rows and more, the small pages far less.
                max_cost: 5_000,
                ..Default::default()
            },
            ..ServerArgs::default()
        })
        .spawn()
        .await;
    let mut client = Client::connect(&app, None).await;
    for (index, (expected, query)) in refused().into_iter().enumerate() {
        for run in 0..2 {
            let body = json!({ "query": query });
            assert_eq!(code(&post(&app, &body).await), expected, "POST run {run}: {query}");
            let batch = post(&app, &json!([body, { "query": "{ __typename }" }])).await;
            assert_eq!(code(&batch[0]), expected, "batch run {run}: {query}");
            assert_eq!(code(&batch[1]), "OK", "the rest of the batch runs: {batch}");
            if query.len() < 4_000 {
                assert_eq!(code(&get(&app, &query).await), expected, "GET run {run}: {query}");
            }
            let id = format!("q{index}-{run}");
            assert_eq!(
                ws_code(&mut client, &id, &query).await,
                expected,
                "WebSocket run {run}: {query}"
            );
        }
    }
    // The same lists are fine with small pages.
    let small = "{ tasks(first: 10) { ... { nodes { project { tasks(first: 10) { ... { nodes { id } } } } } } } }";
    assert_eq!(code(&post(&app, &json!({ "query": small })).await), "OK");
    assert_eq!(ws_code(&mut client, "small", small).await, "OK");
    app.stop().await;
}

/// Live queries run in their own slots (`GATEWAY_MAX_CONCURRENT_LIVE`), so subscriptions whose
/// statements hang cannot take the pooled connections another tenant's requests need; each run
/// ends at the request deadline with `TIMEOUT` (or `OVERLOADED` when it waited too long for a
/// slot), which ends its subscription; a connection runs at most
/// `GATEWAY_MAX_LIVE_QUERIES_PER_CONNECTION` of them.
#[tokio::test]
async fn live_queries_cannot_take_the_connections_of_requests() {
    let (database, connection) = TestDatabase::seeded(0.05).await;
    let mut args = database.args();
    args.pool.pool_max_connections = 4;
    args.pool.acquire_timeout = Duration::from_secs(3);
    let app = TestApp::builder(&args)
        .server(ServerArgs {
            limits: gateway::config::LimitArgs {
                request_timeout: Duration::from_secs(4),
                max_concurrent_live: 1,
                ..Default::default()
            },
            subscriptions: gateway::config::SubscriptionArgs {
                max_live_queries_per_connection: 5,
                ..Default::default()
            },
            ..ServerArgs::default()
        })
        .spawn()
        .await;
    // Every statement that reads tasks waits for this lock.
    let lock = connection.begin().await.expect("begin");
    lock.execute_unprepared("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let live = "subscription { tasksLive(first: 5) { nodes { id project { tasks(first: 5) { nodes { id } } } } } }";
    let mut attackers = [Client::connect(&app, None).await, Client::connect(&app, None).await];
    // Six on the first connection (one over its limit), five on the second.
    for (index, client) in attackers.iter_mut().enumerate() {
        for id in 0..6 - index {
            client.subscribe(&format!("live{index}-{id}"), live).await;
        }
    }
    // Meanwhile other requests are served from the rest of the pool, without waiting for it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let requests = (0..3).map(|_| async {
        let started = Instant::now();
        let answer = post(
            &app,
            &json!({ "query": "{ organizations { totalCount nodes { name } } }" }),
        )
        .await;
        (answer, started.elapsed())
    });
    for (answer, took) in futures_util::future::join_all(requests).await {
        assert_eq!(code(&answer), "OK", "{answer}");
        assert!(
            took < Duration::from_secs(1),
            "a request waited {took:?} for a connection"
        );
    }
    // Every live query ends with one coded error, then `complete`.
    let mut codes = Vec::new();
    for (index, client) in attackers.iter_mut().enumerate() {
        let mut open: std::collections::HashSet<String> =
            (0..6 - index).map(|id| format!("live{index}-{id}")).collect();
        while !open.is_empty() {
            let message = client.next(20).await.expect("every live query ends");
            let id = message["id"].as_str().unwrap_or_default().to_owned();
            match message["type"].as_str() {
                Some("next") => codes.push(code(&message["payload"])),
                Some("complete") => assert!(open.remove(&id), "{message}"),
                _ => panic!("unexpected {message}"),
            }
        }
    }
    let count = |wanted: &str| codes.iter().filter(|code| *code == wanted).count();
    assert_eq!(
        count("QUERY_LIMIT_EXCEEDED"),
        1,
        "one over the connection's limit: {codes:?}"
    );
    assert_eq!(count("TIMEOUT") + count("OVERLOADED"), 10, "{codes:?}");
    assert!(count("TIMEOUT") >= 1, "{codes:?}");
    lock.rollback().await.expect("unlock");
    app.stop().await;
}

/// A live answer over `GATEWAY_MAX_RESPONSE_BYTES` ends the subscription with the code the same
/// selection gets as a query, on its first run and on a re-run after a change.
#[tokio::test]
async fn live_answers_are_bounded_like_queries() {
    let (database, connection) = TestDatabase::seeded(0.05).await;
    let app = TestApp::builder(&database.args())
        .server(ServerArgs {
            limits: gateway::config::LimitArgs {
                max_response_bytes: 2_000,
                ..Default::default()
            },
            ..ServerArgs::default()
        })
        .spawn()
        .await;
    let selection = "tasksLive(first: 200) { nodes { id title } }";
    let query = format!("{{ {} }}", selection.replace("tasksLive", "tasks"));
    let refused = code(&post(&app, &json!({ "query": query })).await);
    assert_eq!(refused, "QUERY_LIMIT_EXCEEDED");
    let mut client = Client::connect(&app, None).await;
    assert_eq!(
        ws_code(&mut client, "first", &format!("subscription {{ {selection} }}")).await,
        refused
    );
    let complete = client.next_message().await;
    assert_eq!(complete["type"], "complete", "{complete}");
    // Small at first, too large once rows arrive.
    let growing =
        r#"subscription { tasksLive(first: 200, filter: {title: {startsWith: "zz-bound"}}) { nodes { id title } } }"#;
    client.subscribe("rerun", growing).await;
    let first = client.data("rerun").await;
    assert_eq!(first["tasksLive"]["nodes"], json!([]));
    insert_tasks(&connection, "zz-bound", 100).await;
    let message = client.next_message().await;
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(code(&message["payload"]), refused, "{message}");
    let complete = client.next_message().await;
    assert_eq!(complete["type"], "complete", "{complete}");
    app.stop().await;
}

/// Clients cannot grow `/metrics` with operation names: a name the document does not contain is
/// not a label, and a long name is `other`.
#[tokio::test]
async fn operation_names_in_metrics_are_bounded() {
    let database = TestDatabase::new().await;
    let app = TestApp::spawn(&database.args()).await;
    let metrics = || async { reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap() };
    post(&app, &json!({ "query": "{ __typename }" })).await;
    let before = metrics().await.len();
    let huge = "N".repeat(200_000);
    for index in 0..3 {
        let name = format!("{huge}{index}");
        post(&app, &json!({ "query": "{ __typename }", "operationName": name })).await;
    }
    for index in 0..100 {
        post(
            &app,
            &json!({ "query": "query Real { __typename }", "operationName": format!("junk{index}") }),
        )
        .await;
    }
    let long = format!("query {} {{ __typename }}", "L".repeat(100));
    post(&app, &json!({ "query": long })).await;
    post(&app, &json!({ "query": "query Real { __typename }" })).await;
    let text = metrics().await;
    assert!(
        !text.contains("NNNN") && !text.contains("junk") && !text.contains("LLLL"),
        "hostile labels"
    );
    assert!(
        text.contains(r#"operation="Real""#),
        "the real operation keeps its label"
    );
    assert!(
        text.len() < before + 20_000,
        "metrics grew from {before} to {} bytes",
        text.len()
    );
    app.stop().await;
}

/// A request's values are coerced alike whether its document is new or cached: a database enum
/// label (`in_progress`) where the type's name (`IN_PROGRESS`) belongs is refused both times.
#[tokio::test]
async fn variables_are_coerced_alike_on_first_and_cached_runs() {
    let (database, _connection) = TestDatabase::seeded(0.02).await;
    let app = TestApp::spawn(&database.args()).await;
    let query = "query($s: TaskStatus!) { tasks(filter: {status: {eq: $s}}) { totalCount } }";
    let app = &app;
    let ask = |query: &str, status: &str| {
        let body = json!({ "query": query, "variables": { "s": status } });
        async move { post(app, &body).await }
    };
    // Cached after a valid run.
    for _ in 0..2 {
        let answer = ask(query, "IN_PROGRESS").await;
        assert_eq!(code(&answer), "OK", "{answer}");
    }
    let fresh = ask(&format!("{query} "), "in_progress").await;
    let expected = code(&fresh);
    assert_ne!(expected, "OK", "{fresh}");
    for _ in 0..2 {
        let cached = ask(query, "in_progress").await;
        assert_eq!(code(&cached), expected, "{cached}");
        assert!(cached["data"].is_null(), "{cached}");
    }
}

/// One role cannot take the process's subscriptions from the others: anonymous clients are
/// refused past `GATEWAY_MAX_SUBSCRIPTIONS_PER_ROLE` while members still subscribe.
#[tokio::test]
async fn one_role_cannot_take_every_subscription() {
    let database = TestDatabase::new().await;
    let app = TestApp::builder(&database.args())
        .auth(&crate::permissions::auth())
        .server(ServerArgs {
            subscriptions: gateway::config::SubscriptionArgs {
                max_subscriptions: 10,
                max_subscriptions_per_role: 2,
                ..Default::default()
            },
            ..ServerArgs::default()
        })
        .spawn()
        .await;
    let events = "subscription { taskChanged { op } }";
    let mut anonymous = Client::connect(&app, None).await;
    anonymous.subscribe("a", events).await;
    anonymous.subscribe("b", events).await;
    // Registered (subscribes of one connection are set up concurrently).
    anonymous.quiet(300).await;
    assert_eq!(ws_code(&mut anonymous, "c", events).await, "QUERY_LIMIT_EXCEEDED");
    let member = crate::permissions::token("member", Some(1));
    let mut client = Client::connect(&app, Some(&member)).await;
    client.subscribe("m1", events).await;
    client.subscribe("m2", events).await;
    client.quiet(300).await;
    app.stop().await;
}

/// Change events are answer memory like any answer: the changed rows' statement is charged to it,
/// and so are the events waiting in a subscriber's queue. A batch that does not fit is never
/// delivered whole: the subscriber is told to re-read (`RESYNC`, when the rows could not be
/// read) or its subscription ends with `OVERLOADED` (when its events could not be queued).
#[tokio::test]
async fn queued_events_count_in_the_answer_memory() {
    let (database, connection) = TestDatabase::seeded(0.02).await;
    let app = TestApp::builder(&database.args())
        .server(ServerArgs {
            limits: gateway::config::LimitArgs {
                max_response_bytes_total: 1_000,
                ..Default::default()
            },
            ..ServerArgs::default()
        })
        .spawn()
        .await;
    let mut client = Client::connect(&app, None).await;
    client
        .subscribe("events", "subscription { taskChanged { op row { id title } } }")
        .await;
    client.quiet(300).await;
    insert_tasks(&connection, "queued", 40).await;
    let message = client.next_message().await;
    assert_eq!(message["type"], "next", "{message}");
    let resync = message["payload"]["data"]["taskChanged"]["op"] == "RESYNC";
    assert!(resync || code(&message["payload"]) == "OVERLOADED", "{message}");
    if !resync {
        let complete = client.next_message().await;
        assert_eq!(complete["type"], "complete", "{complete}");
    }
    // None of the 40 inserts arrives as an event.
    while let Some(message) = client.next(1).await {
        assert_ne!(message["payload"]["data"]["taskChanged"]["op"], "INSERT", "{message}");
    }
    app.stop().await;
}

/// PostgreSQL's JIT is off on the gateway's connections unless configured: JIT-compiling a large
/// filter takes CPU that neither `statement_timeout` nor a cancel stops.
#[tokio::test]
async fn jit_is_off_on_the_gateways_connections_unless_configured() {
    use sea_orm::ConnectionTrait;
    let database = TestDatabase::new().await;
    for (jit, expected) in [(false, "off"), (true, "on")] {
        let mut args = database.args();
        args.pool.jit = jit;
        let target = args.target().expect("a target");
        let pool = gateway::database::connect(&target, &args.pool).await.expect("connect");
        let row = pool
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SHOW jit",
            ))
            .await
            .expect("show jit")
            .expect("a row");
        assert_eq!(row.try_get_by_index::<String>(0).expect("text"), expected);
        pool.close().await.expect("close");
    }
}

/// Subscriptions are weighed by what their operation may produce, like a query: the
/// subscriptions of one connection together may cost `GATEWAY_MAX_SUBSCRIPTION_COST_PER_CONNECTION`,
/// those of one role `GATEWAY_MAX_SUBSCRIPTION_COST_PER_ROLE`; a subscription that ends gives
/// its cost back.
#[tokio::test]
async fn subscriptions_are_capped_by_their_summed_cost() {
    let (database, _connection) = TestDatabase::seeded(0.02).await;
    let live = "subscription { tasksLive(first: 50) { nodes { id title project { name } } } }";
    // What one costs, as its refusal says.
    let probe = TestApp::builder(&database.args())
        .server(ServerArgs {
            subscriptions: gateway::config::SubscriptionArgs {
                max_subscription_cost_per_connection: 1,
                ..Default::default()
            },
            ..ServerArgs::default()
        })
        .spawn()
        .await;
    let mut client = Client::connect(&probe, None).await;
    client.subscribe("probe", live).await;
    let refusal = client.next_message().await;
    assert_eq!(code(&refusal["payload"]), "QUERY_LIMIT_EXCEEDED", "{refusal}");
    let message = refusal["payload"]["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let cost: u64 = message
        .split("this one costs ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no cost in {message:?}"));
    assert!(cost >= 50, "{message}");
    probe.stop().await;

    let app = TestApp::builder(&database.args())
        .auth(&crate::permissions::auth())
        .server(ServerArgs {
            subscriptions: gateway::config::SubscriptionArgs {
                max_subscription_cost_per_connection: cost * 2 + cost / 2,
                max_subscription_cost_per_role: cost * 3 + cost / 2,
                ..Default::default()
            },
            ..ServerArgs::default()
        })
        .spawn()
        .await;
    let mut first = Client::connect(&app, None).await;
    assert_eq!(ws_code(&mut first, "a", live).await, "OK");
    assert_eq!(ws_code(&mut first, "b", live).await, "OK");
    assert_eq!(
        ws_code(&mut first, "c", live).await,
        "QUERY_LIMIT_EXCEEDED",
        "over the connection's cost"
    );
    // A cheaper one still fits beside them.
    assert_eq!(
        ws_code(&mut first, "d", "subscription { tasksLive(first: 1) { nodes { id } } }").await,
        "OK"
    );
    let mut second = Client::connect(&app, None).await;
    assert_eq!(ws_code(&mut second, "e", live).await, "OK");
    assert_eq!(
        ws_code(&mut second, "f", live).await,
        "QUERY_LIMIT_EXCEEDED",
        "over the anonymous role's cost"
    );
    // Another role has its own share.
    let member = crate::permissions::token("member", Some(1));
    let mut third = Client::connect(&app, Some(&member)).await;
    assert_eq!(ws_code(&mut third, "g", live).await, "OK");
    // The first connection's subscriptions end with it, and give their cost back.
    drop(first);
    let mut freed = false;
    for attempt in 0..20 {
        if ws_code(&mut second, &format!("retry{attempt}"), live).await == "OK" {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(freed, "the closed connection's cost was not given back");
    app.stop().await;
}
