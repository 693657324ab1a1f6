//! Statements end with their requests: a request that times out or whose client goes away stops
//! its statement in PostgreSQL within a second, and a statement PostgreSQL stops
//! (`statement_timeout`) is a `TIMEOUT`, not an internal error.

use crate::support::{TestApp, TestDatabase};
use gateway::config::{DatabaseArgs, PoolArgs, ServerArgs};
use migration::MigratorTrait;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Makes every read of `tags` take `seconds` in the database (the table behind a sleeping view;
/// after the gateway started, so its change-feed trigger stays on the table).
pub(crate) async fn slow_tags(connection: &DatabaseConnection, seconds: u32) {
    gateway::sample::seed::seed(connection, 0.1).await.expect("seed");
    for sql in [
        "ALTER TABLE tags RENAME TO tags_stored".to_owned(),
        // An uncorrelated subquery is an InitPlan: the statement sleeps once, not once per row.
        format!("CREATE VIEW tags AS SELECT * FROM tags_stored WHERE (SELECT pg_sleep({seconds})::text) IS NOT NULL"),
    ] {
        connection.execute_unprepared(&sql).await.expect(&sql);
    }
}

/// Statements of this database still running the sleeping view.
async fn running(connection: &DatabaseConnection, database: &str) -> i64 {
    let row = connection
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND state = 'active' \
             AND query LIKE '%tags%' AND query NOT LIKE '%pg_stat_activity%'",
            [database.into()],
        ))
        .await
        .expect("pg_stat_activity")
        .expect("a row");
    row.try_get_by_index(0).expect("a count")
}

/// Waits up to `within` for the statements of `database` to end; returns how long it took.
async fn ended_within(connection: &DatabaseConnection, database: &str, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        if running(connection, database).await == 0 {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

const SLOW: &str = "{ tags { nodes { id } } }";

/// Sends the slow query in the background.
pub(crate) fn slow_request(app: &TestApp) -> tokio::task::JoinHandle<reqwest::Result<reqwest::Response>> {
    let client = app.client.clone();
    let url = app.url("/graphql");
    tokio::spawn(async move { client.post(url).json(&json!({ "query": SLOW })).send().await })
}

/// Serves `database` with `args` and a 1 s request timeout, sends a read that would run 30 s,
/// and asserts it is answered 504, its statement is gone from `pg_stat_activity` within a second,
/// and the next read is served.
pub(crate) async fn a_timed_out_read_stops(database: &TestDatabase, args: DatabaseArgs) {
    let connection = database.connect().await;
    let server = ServerArgs {
        limits: gateway::config::LimitArgs {
            request_timeout: Duration::from_secs(1),
            ..Default::default()
        },
        ..Default::default()
    };
    let app = TestApp::builder(&args).server(server).spawn().await;
    slow_tags(&connection, 30).await;
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": SLOW }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 504);
    let ended = ended_within(&connection, &database.name, Duration::from_secs(3)).await;
    assert!(ended.is_some_and(|after| after < Duration::from_secs(1)), "{ended:?}");
    // The pool is healthy afterwards: a normal read answers at once.
    let answer = app.graphql("{ projects(first: 1) { totalCount } }", json!({})).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    app.stop().await;
}

#[tokio::test]
async fn a_timed_out_request_stops_its_statement() {
    let database = TestDatabase::new().await;
    a_timed_out_read_stops(&database, database.args()).await;
}

/// The same on a read replica: its connections ask the server to watch for a vanished client
/// (the replica here is the primary's database under a second URL).
#[tokio::test]
async fn a_timed_out_read_on_a_replica_stops_its_statement() {
    let database = TestDatabase::new().await;
    let mut args = database.args();
    args.replicas.read_url = Some(database.url.clone().into());
    a_timed_out_read_stops(&database, args).await;
}

#[tokio::test]
async fn a_client_that_goes_away_stops_its_statement() {
    let database = TestDatabase::new().await;
    let connection = database.connect().await;
    let app = TestApp::spawn(&database.args()).await;
    slow_tags(&connection, 30).await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(700))
        .build()
        .expect("client");
    let gone = impatient
        .post(app.url("/graphql"))
        .json(&json!({ "query": SLOW }))
        .send()
        .await;
    assert!(gone.is_err(), "the client gave up");
    assert!(running(&connection, &database.name).await <= 1);
    let ended = ended_within(&connection, &database.name, Duration::from_secs(3)).await;
    assert!(
        ended.is_some_and(|after| after < Duration::from_millis(1500)),
        "{ended:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_statement_postgresql_stops_is_a_timeout() {
    let database = TestDatabase::new().await;
    let connection = database.connect().await;
    let args = DatabaseArgs {
        pool: PoolArgs {
            statement_timeout: Duration::from_millis(500),
            ..Default::default()
        },
        ..database.args()
    };
    let app = TestApp::spawn(&args).await;
    slow_tags(&connection, 30).await;
    let answer: Value = app.graphql(SLOW, json!({})).await;
    assert_eq!(answer["errors"][0]["extensions"]["code"], "TIMEOUT", "{answer}");
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .is_some_and(|message| message.contains("GATEWAY_STATEMENT_TIMEOUT")),
        "{answer}"
    );
    app.stop().await;
}

/// POSTs `body` and returns the status and the first error's code.
async fn refusal(app: &TestApp, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("accept", "application/graphql-response+json")
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let answer: Value = response.json().await.expect("JSON");
    (status, answer["errors"][0]["extensions"]["code"].clone())
}

#[tokio::test]
async fn input_gaps_are_coded_refusals() {
    let database = TestDatabase::new().await;
    let app = TestApp::spawn(&database.args()).await;
    let ids = |count: usize| (0..count).map(|id| format!("\"{id}\"")).collect::<Vec<_>>().join(",");
    // A long `in` list, and lists that together pass the driver's parameter limit.
    let long = format!("{{ tasks(filter: {{id: {{in: [{}]}}}}) {{ totalCount }} }}", ids(6000));
    assert_eq!(refusal(&app, json!({ "query": long })).await.1, "BAD_USER_INPUT");
    let lists = (0..14)
        .map(|_| format!("{{id: {{in: [{}]}}}}", ids(5000)))
        .collect::<Vec<_>>()
        .join(",");
    let many = format!("{{ tasks(filter: {{or: [{lists}]}}) {{ totalCount }} }}");
    assert_eq!(refusal(&app, json!({ "query": many })).await.1, "QUERY_LIMIT_EXCEEDED");
    // Text matching is bounded: its cost grows with the pattern.
    let pattern = format!(
        "{{ tasks(filter: {{title: {{ilike: \"%{}%\"}}}}) {{ totalCount }} }}",
        "a".repeat(100_000)
    );
    assert_eq!(refusal(&app, json!({ "query": pattern })).await.1, "BAD_USER_INPUT");
    // `Int` is 32 bits.
    let offset = json!({ "query": "{ tasks(offset: 3000000000) { totalCount } }" });
    assert_eq!(refusal(&app, offset).await.1, "BAD_USER_INPUT");
    // Operations that cannot be selected.
    let several = json!({ "query": "query A { __typename } query B { __typename }" });
    assert_eq!(refusal(&app, several).await, (400, json!("GRAPHQL_VALIDATION_FAILED")));
    let unknown = json!({ "query": "query A { __typename }", "operationName": "C" });
    assert_eq!(refusal(&app, unknown).await, (400, json!("GRAPHQL_VALIDATION_FAILED")));
    // An enum written in the document is an enum value, never a string literal — in filters,
    // orderings, lists, mutation inputs, fragments and variables' defaults. A variable's JSON
    // string is coerced, as the spec says.
    for query in [
        r#"{ tasks(filter: { status: { eq: "TODO" } }) { totalCount } }"#,
        r#"{ tasks(filter: { status: { in: [TODO, "DONE"] } }) { totalCount } }"#,
        r#"{ tasks(orderBy: [{ id: "DESC" }]) { totalCount } }"#,
        r#"{ ...F } fragment F on Query { tasks(filter: { status: { eq: "TODO" } }) { totalCount } }"#,
        r#"{ projects { nodes { ... on Project { tasks(filter: { status: { eq: "TODO" } }) { totalCount } } } } }"#,
        r#"query($s: TaskStatus = "TODO") { tasks(filter: { status: { eq: $s } }) { totalCount } }"#,
        r#"mutation { createTask(input: { projectId: 1, title: "t", status: "TODO" }) { id } }"#,
    ] {
        assert_eq!(
            refusal(&app, json!({ "query": query })).await,
            (400, json!("GRAPHQL_VALIDATION_FAILED")),
            "{query}"
        );
    }
    let coerced = app
        .graphql(
            "query($s: TaskStatus!) { tasks(filter: { status: { eq: $s } }) { totalCount } }",
            json!({ "s": "TODO" }),
        )
        .await;
    assert!(coerced.get("errors").is_none(), "{coerced}");
    // A subscription over HTTP names the transport that serves it.
    let subscription = json!({ "query": "subscription { taskChanged { op } }" });
    assert_eq!(refusal(&app, subscription).await, (400, json!("BAD_REQUEST")));
    // A body that ends before its Content-Length is malformed, not too large.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(app.address).await.expect("connect");
    socket
        .write_all(
            b"POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"query\":",
        )
        .await
        .expect("write");
    socket.shutdown().await.expect("half-close");
    let mut answer = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), socket.read_to_string(&mut answer)).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("BAD_REQUEST"), "{answer}");
    app.stop().await;
}

#[tokio::test]
async fn a_busy_healthy_instance_stays_ready() {
    let database = TestDatabase::new().await;
    let connection = database.connect().await;
    let args = DatabaseArgs {
        pool: PoolArgs {
            pool_max_connections: 2,
            acquire_timeout: Duration::from_secs(10),
            ..Default::default()
        },
        ..database.args()
    };
    let app = TestApp::spawn(&args).await;
    slow_tags(&connection, 3).await;
    // Every pooled connection busy, and a request queueing for one.
    let busy: Vec<_> = (0..3).map(|_| slow_request(&app)).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(running(&connection, &database.name).await >= 2, "the pool is saturated");
    for _ in 0..5 {
        let started = Instant::now();
        let status = app
            .client
            .get(app.url("/readyz"))
            .send()
            .await
            .expect("readyz")
            .status();
        assert_eq!(status.as_u16(), 200);
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
    }
    for request in busy {
        let _ = request.await;
    }
    app.stop().await;
}

#[tokio::test]
async fn shutdown_is_bounded_and_tells_websocket_clients_to_go_elsewhere() {
    let database = TestDatabase::new().await;
    let connection = database.connect().await;
    let server = ServerArgs {
        shutdown_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    let app = TestApp::builder(&database.args()).server(server).spawn().await;
    slow_tags(&connection, 30).await;
    let mut socket = crate::subscriptions::Client::connect(&app, None).await;
    let slow = slow_request(&app);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    app.stop().await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1900),
        "shutdown took {took:?} with a 1 s timeout"
    );
    let closed = socket.next(3).await.expect("a close frame, not a dropped connection");
    assert_eq!(closed, json!({ "type": "closed", "code": 1001 }), "{closed}");
    let ended = ended_within(&connection, &database.name, Duration::from_secs(2)).await;
    assert!(ended.is_some_and(|after| after < Duration::from_secs(1)), "{ended:?}");
    let _ = slow.await;
}

#[tokio::test]
async fn slow_bodies_do_not_take_the_slots_of_ready_requests() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let database = TestDatabase::new().await;
    let server = ServerArgs {
        limits: gateway::config::LimitArgs {
            max_concurrent_requests: 16,
            queue_timeout: Duration::from_millis(200),
            ..Default::default()
        },
        http: gateway::config::HttpArgs {
            body_timeout: Duration::from_secs(2),
            ..Default::default()
        },
        ..Default::default()
    };
    let app = TestApp::builder(&database.args()).server(server).spawn().await;
    // 256 slow senders (the issue's measurement), 16 slots: each sends its headers and one byte
    // of a 1,000-byte body.
    let mut slow = Vec::new();
    for _ in 0..256 {
        let mut socket = tokio::net::TcpStream::connect(app.address).await.expect("connect");
        socket
            .write_all(
                b"POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{",
            )
            .await
            .expect("write");
        slow.push(socket);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..5 {
        let answer = app.graphql("{ projects(first: 1) { totalCount } }", json!({})).await;
        assert!(answer.get("errors").is_none(), "a ready request is served: {answer}");
    }
    for mut socket in slow {
        let mut response = vec![0; 4096];
        let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut response))
            .await
            .expect("answered within the body timeout")
            .expect("read");
        let response = String::from_utf8_lossy(&response[..read]);
        assert!(response.starts_with("HTTP/1.1 408"), "{response}");
        assert!(response.contains("REQUEST_TIMEOUT"), "{response}");
    }
    app.stop().await;
}

/// Asserts `query` is refused as `OVERLOADED` (503 + `Retry-After` in graphql-response+json), its
/// message naming `setting`.
async fn overloaded(app: &TestApp, query: &str, setting: &str) {
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["errors"][0]["extensions"]["code"], "OVERLOADED", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains(setting),
        "{body}"
    );
}

#[tokio::test]
async fn an_exhausted_pool_is_overloaded_not_down() {
    let database = TestDatabase::new().await;
    let connection = database.connect().await;
    let args = DatabaseArgs {
        pool: PoolArgs {
            pool_max_connections: 1,
            pool_min_connections: 1,
            acquire_timeout: Duration::from_millis(300),
            ..Default::default()
        },
        ..database.args()
    };
    let app = TestApp::spawn(&args).await;
    slow_tags(&connection, 3).await;
    let busy = slow_request(&app);
    tokio::time::sleep(Duration::from_millis(300)).await;
    overloaded(&app, "{ projects { totalCount } }", "GATEWAY_POOL_MAX_CONNECTIONS").await;
    // Busy is not down: once the connection is free, requests are served at once.
    let _ = busy.await;
    let answer = app.graphql("{ projects { totalCount } }", json!({})).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    app.stop().await;
}

/// Reads from `socket` until the server closes it; the time that took, or `None` if it stayed open
/// for `patience` (bytes the server sends first, such as a response, are read and skipped).
async fn closed_within(socket: &mut tokio::net::TcpStream, patience: Duration) -> Option<Duration> {
    use tokio::io::AsyncReadExt;
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(
            tokio::time::Instant::from_std(started + patience),
            socket.read(&mut buffer),
        )
        .await
        {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

/// Silent sockets, headers sent a byte at a time (slowloris) and idle keep-alive connections are
/// closed after `GATEWAY_HEADER_TIMEOUT`; they used to stay open indefinitely.
#[tokio::test]
async fn slow_silent_and_idle_connections_are_closed_after_the_header_timeout() {
    use tokio::io::AsyncWriteExt;
    let database = TestDatabase::new().await;
    let server = ServerArgs {
        http: gateway::config::HttpArgs {
            header_timeout: Duration::from_secs(1),
            ..Default::default()
        },
        ..ServerArgs::default()
    };
    let app = TestApp::builder(&database.args()).server(server).spawn().await;
    let patience = Duration::from_secs(5);

    let mut silent = tokio::net::TcpStream::connect(app.address).await.expect("connect");
    let closed = closed_within(&mut silent, patience).await;
    assert!(
        closed.is_some_and(|after| after < Duration::from_secs(3)),
        "silent socket: {closed:?}"
    );

    let mut slow = tokio::net::TcpStream::connect(app.address).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n")
        .await
        .expect("write");
    let dripping = async {
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if slow.write_all(b"X-Slow: 1\r\n").await.is_err() {
                return Instant::now();
            }
        }
        Instant::now()
    };
    let started = Instant::now();
    let refused_at = dripping.await;
    assert!(
        refused_at.duration_since(started) < Duration::from_secs(4),
        "a client dripping headers is cut off: {:?}",
        refused_at.duration_since(started)
    );

    let mut idle = tokio::net::TcpStream::connect(app.address).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
        .await
        .expect("write");
    let closed = closed_within(&mut idle, patience).await;
    assert!(
        closed.is_some_and(|after| after < Duration::from_secs(3)),
        "idle keep-alive: {closed:?}"
    );

    // Ordinary requests are unaffected.
    let answer = app.graphql("{ organizations { totalCount } }", json!({})).await;
    assert_eq!(answer["data"]["organizations"]["totalCount"], 0, "{answer}");
    app.stop().await;
}

/// The answers of all operations in flight share `GATEWAY_MAX_RESPONSE_BYTES_TOTAL`: while one
/// operation holds a large answer (its other root field still running), another large one is
/// refused with `OVERLOADED` (503 + `Retry-After`), and once the first ends its bytes are free
/// again — many large answers in a row all fit, on the executed and the streamed path.
#[tokio::test]
async fn answers_in_flight_share_one_memory_bound() {
    const LARGE: &str = "{ tasks(first: 2000) { nodes { id title status dueOn metadata createdAt } } }";
    let database = TestDatabase::new().await;
    let connection = database.connect().await;
    let measuring = TestApp::spawn(&database.args()).await;
    gateway::sample::seed::seed(&connection, 0.1).await.expect("seed");
    // Reading `tags` takes 3 s once per statement (an init plan, not per row).
    for sql in [
        "ALTER TABLE tags RENAME TO tags_stored",
        "CREATE VIEW tags AS SELECT * FROM tags_stored WHERE (SELECT pg_sleep(3)) IS NOT NULL",
    ] {
        connection.execute_unprepared(sql).await.expect(sql);
    }
    let size = measuring
        .client
        .post(measuring.url("/graphql"))
        .json(&json!({ "query": LARGE }))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body")
        .len();
    measuring.stop().await;
    assert!(size > 100_000, "a large answer: {size} bytes");
    // Room for one large answer (the database's text is ~10% larger than the response), not two.
    let app = TestApp::builder(&database.args())
        .server(ServerArgs {
            limits: gateway::config::LimitArgs {
                max_response_bytes_total: size * 3 / 2,
                ..Default::default()
            },
            ..ServerArgs::default()
        })
        .spawn()
        .await;
    for _ in 0..10 {
        let answer = app.graphql(LARGE, json!({})).await;
        assert!(answer.get("errors").is_none(), "released after each answer: {answer}");
    }
    let holding = {
        let client = app.client.clone();
        let url = app.url("/graphql");
        let query =
            "{ tasks(first: 2000) { nodes { id title status dueOn metadata createdAt } } tags { nodes { id } } }";
        tokio::spawn(async move { client.post(url).json(&json!({ "query": query })).send().await })
    };
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    overloaded(
        &app,
        "{ again: tasks(first: 2000) { nodes { id title status dueOn metadata createdAt } } }",
        "GATEWAY_MAX_RESPONSE_BYTES_TOTAL",
    )
    .await;
    let held: Value = holding
        .await
        .expect("join")
        .expect("response")
        .json()
        .await
        .expect("JSON");
    assert!(held.get("errors").is_none(), "the holder is served: {held}");
    let answer = app.graphql(LARGE, json!({})).await;
    assert!(answer.get("errors").is_none(), "free again: {answer}");
    app.stop().await;
}

/// Text matching costs its pattern's length times the rows its table holds (estimated from the
/// database's statistics, counted on SQLite), whatever page is asked for: a long pattern over
/// the 2,000 tasks is refused with `QUERY_LIMIT_EXCEEDED` even for `first: 1`, in `or` lists and
/// in a write's filter; the same pattern over the few tags is fine; an operand over
/// `GATEWAY_MAX_PATTERN_LENGTH` is `BAD_USER_INPUT`.
#[tokio::test]
async fn text_matching_costs_its_pattern_times_the_rows_it_scans() {
    let database = TestDatabase::new().await;
    let connection = database.connect().await;
    gateway::sample::seed::seed(&connection, 0.1).await.expect("seed");
    connection.execute_unprepared("ANALYZE").await.expect("analyze");
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite_url = format!("sqlite://{}?mode=rwc", dir.path().join("text.db").display());
    let sqlite = sea_orm::Database::connect(&sqlite_url).await.expect("open SQLite");
    migration::Migrator::up(&sqlite, None).await.expect("migrate");
    gateway::sample::seed::seed(&sqlite, 0.1).await.expect("seed");
    let server = || ServerArgs {
        limits: gateway::config::LimitArgs {
            // 2,000 tasks × 300 characters = 600,000: over; × 100 = 200,000: under.
            max_text_match_cost: 500_000,
            max_pattern_length: 400,
            ..Default::default()
        },
        ..ServerArgs::default()
    };
    for app in [
        TestApp::builder(&database.args()).server(server()).spawn().await,
        TestApp::builder(&DatabaseArgs::with_url(Some(&sqlite_url)))
            .server(server())
            .spawn()
            .await,
    ] {
        let pattern = |length: usize| "x".repeat(length);
        let costly = [
            format!(
                r#"{{ tasks(first: 1, filter: {{ title: {{ ilike: "%{}%" }} }}) {{ totalCount }} }}"#,
                pattern(298)
            ),
            format!(
                r#"{{ tasks(first: 1, filter: {{ or: [{{ title: {{ contains: "{0}" }} }}, {{ title: {{ startsWith: "{0}" }} }}] }}) {{ totalCount }} }}"#,
                pattern(150)
            ),
            format!(
                r#"{{ projects(first: 1) {{ nodes {{ tasks(filter: {{ title: {{ like: "{}%" }} }}) {{ totalCount }} }} }} }}"#,
                pattern(299)
            ),
            format!(
                r#"mutation {{ deleteTasks(filter: {{ title: {{ ilike: "{}" }} }}) {{ affectedRows }} }}"#,
                pattern(300)
            ),
            // What a write reads back is a read like any other.
            format!(
                r#"mutation {{ updateTag(id: 1, patch: {{ name: "n" }}) {{ tasks(filter: {{ title: {{ ilike: "{}" }} }}) {{ totalCount }} }} }}"#,
                pattern(300)
            ),
        ];
        for query in &costly {
            assert_eq!(
                refusal(&app, json!({ "query": query })).await.1,
                "QUERY_LIMIT_EXCEEDED",
                "{query}"
            );
        }
        // The bound is the operation's: two root fields of 200 characters each pass alone, not
        // together (on the first run and the next).
        let two = format!(
            r#"{{ a: tasks(filter: {{ title: {{ ilike: "{0}" }} }}) {{ totalCount }} b: tasks(filter: {{ title: {{ ilike: "{0}" }} }}) {{ totalCount }} }}"#,
            pattern(200)
        );
        for _ in 0..2 {
            assert_eq!(
                refusal(&app, json!({ "query": two })).await.1,
                "QUERY_LIMIT_EXCEEDED",
                "{two}"
            );
        }
        for query in [
            format!(
                r#"{{ a: tasks(filter: {{ title: {{ ilike: "{}" }} }}) {{ totalCount }} }}"#,
                pattern(200)
            ),
            format!(
                r#"{{ tasks(filter: {{ title: {{ ilike: "%{}%" }} }}) {{ totalCount }} }}"#,
                pattern(98)
            ),
            format!(
                r#"{{ tags(filter: {{ name: {{ ilike: "%{}%" }} }}) {{ totalCount }} }}"#,
                pattern(298)
            ),
        ] {
            let answer = app.graphql(&query, json!({})).await;
            assert!(answer.get("errors").is_none(), "{query}: {answer}");
        }
        let long = format!(
            r#"{{ tags(filter: {{ name: {{ ilike: "{}" }} }}) {{ totalCount }} }}"#,
            pattern(401)
        );
        assert_eq!(refusal(&app, json!({ "query": long })).await.1, "BAD_USER_INPUT");
        app.stop().await;
    }
    // Nothing was deleted.
    let row = connection
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) FROM tasks",
        ))
        .await
        .expect("count")
        .expect("a row");
    assert_eq!(row.try_get_by_index::<i64>(0).expect("a count"), 2_000);
}

/// A write whose request times out does not keep its statement: the gateway ends its backend
/// (while still in that transaction) within a second, the transaction rolls back, and the pool
/// serves the next request — here a write blocked by a lock another session holds, with a pool of
/// one connection.
#[tokio::test]
async fn a_timed_out_write_stops_its_statement() {
    let database = TestDatabase::new().await;
    let connection = database.connect().await;
    gateway::sample::seed::seed(&connection, 0.1).await.expect("seed");
    let args = DatabaseArgs {
        pool: PoolArgs {
            pool_max_connections: 1,
            pool_min_connections: 1,
            ..Default::default()
        },
        ..database.args()
    };
    let app = TestApp::builder(&args)
        .server(ServerArgs {
            limits: gateway::config::LimitArgs {
                request_timeout: Duration::from_secs(1),
                ..Default::default()
            },
            ..ServerArgs::default()
        })
        .spawn()
        .await;
    // Another session holds every tag row.
    let holder = sea_orm::TransactionTrait::begin(&connection).await.expect("begin");
    holder
        .execute_unprepared("SELECT * FROM tags FOR UPDATE")
        .await
        .expect("lock");
    let waiting = async || -> i64 {
        let row = connection
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
                [database.name.clone().into()],
            ))
            .await
            .expect("pg_stat_activity")
            .expect("a row");
        row.try_get_by_index(0).expect("a count")
    };
    let (status, code) = refusal(
        &app,
        json!({ "query": r#"mutation { updateTag(id: 1, patch: { name: "renamed" }) { id } }"# }),
    )
    .await;
    assert_eq!((status, code), (504, json!("TIMEOUT")));
    let started = Instant::now();
    while waiting().await > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the abandoned write still waits for its lock"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The one pooled connection is back (replaced): a read is served while the lock is held.
    let answer = app.graphql("{ tags(first: 1) { nodes { id } } }", json!({})).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    holder.rollback().await.expect("rollback");
    // And nothing of the abandoned write was kept.
    let answer = app.graphql("{ tag(id: 1) { name } }", json!({})).await;
    assert_ne!(answer["data"]["tag"]["name"], "renamed", "{answer}");
    app.stop().await;
}

/// A fresh database, a primary pool of `size` connections on it and its routing.
async fn primary_pool(size: u32) -> (TestDatabase, DatabaseConnection, gateway::database::Routing) {
    let database = TestDatabase::new().await;
    let args = DatabaseArgs {
        pool: PoolArgs {
            pool_max_connections: size,
            ..Default::default()
        },
        ..database.args()
    };
    let routing = gateway::database::Routing::from_args(&args).await.expect("routing");
    let primary = routing
        .connect_primary(&args.target().expect("target"), &args.pool)
        .await
        .expect("pool");
    (database, primary, routing)
}

/// A read that finished cleanly keeps its connection out of sqlx's pool for the next read, so the
/// ping sqlx sends when a connection goes back (a round trip per read) does not follow it. At most
/// half of the pool is kept; a failed read keeps nothing; kept connections older than the ping
/// threshold go back on their own, and releasing them all lets the pool close.
#[tokio::test]
async fn finished_reads_keep_their_connection_for_the_next_one() {
    let (_database, primary, routing) = primary_pool(4).await;
    let pool = primary.get_postgres_connection_pool();
    let read = async |sql: &str| {
        let statement = sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, sql);
        gateway::database::route::read(&primary, Some(&routing), &statement, None).await
    };
    for _ in 0..5 {
        assert_eq!(read("SELECT 'x'").await.expect("read").as_deref(), Some("x"));
        assert_eq!(routing.warm.count(), 1, "the connection is kept");
        assert_eq!(pool.num_idle(), 0, "not back in sqlx's pool");
    }
    assert_eq!(pool.size(), 1, "one connection served every read");

    // Three at once on three connections (the pool has room for a fourth): two are kept, the
    // third goes back to the pool.
    let slow = "SELECT pg_sleep(0.3)::text || 'y'";
    let answers = futures_util::future::join_all([read(slow), read(slow), read(slow)]).await;
    assert!(
        answers
            .iter()
            .all(|answer| matches!(answer, Ok(Some(text)) if text == "y")),
        "{answers:?}"
    );
    assert_eq!(routing.warm.count(), 2, "at most half of the pool is kept");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(pool.num_idle(), 1, "the other is the pool's");

    // A failed read does not keep its connection.
    assert!(read("SELECT (1 / 0)::text").await.is_err());
    assert_eq!(routing.warm.count(), 1);

    // Kept past the ping threshold (1 s), a connection goes back to the pool.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(routing.warm.count(), 0);
    assert_eq!(pool.num_idle() as u32, pool.size());

    // Released, the kept ones no longer hold the pool open.
    read("SELECT 'z'").await.expect("read");
    assert_eq!(routing.warm.count(), 1);
    routing.warm.release(None);
    tokio::time::timeout(Duration::from_secs(5), primary.close())
        .await
        .expect("the pool closes")
        .expect("closed");
}

/// Kept connections never starve what waits in the pool: with every connection busy, a finished
/// read hands its connection back, so a transaction (here: an acquire of the pool's own) gets one
/// while reads keep coming.
#[tokio::test]
async fn reads_that_keep_connections_leave_the_pool_to_others() {
    let (_database, primary, routing) = primary_pool(2).await;
    let pool = primary.get_postgres_connection_pool().clone();
    let reading = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (primary, routing, reading) = (primary.clone(), routing.clone(), reading.clone());
            tokio::spawn(async move {
                let statement =
                    sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, "SELECT pg_sleep(0.01)::text || 'r'");
                while reading.load(std::sync::atomic::Ordering::Relaxed) {
                    gateway::database::route::read(&primary, Some(&routing), &statement, None)
                        .await
                        .expect("read");
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..5 {
        let started = Instant::now();
        let connection = tokio::time::timeout(Duration::from_secs(2), pool.acquire())
            .await
            .expect("the pool's own acquire is served while reads run")
            .expect("a connection");
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        drop(connection);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    reading.store(false, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        reader.await.expect("reader");
    }
}
