//! Subscriptions over `graphql-transport-ws` with a real WebSocket client: change events from
//! mutations and from plain SQL, live queries, tenant isolation, several gateway processes on one
//! database, a lost listening connection, slow consumers and the connection's limits.

use crate::fixture::Fixture;
use crate::support::{TestApp, TestDatabase};
use futures_util::{SinkExt, StreamExt};
use gateway::config::ServerArgs;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A `graphql-transport-ws` client.
pub(crate) struct Client {
    socket: Socket,
}

impl Client {
    /// Connects and completes `connection_init` (with a bearer token when given).
    pub(crate) async fn connect(app: &TestApp, token: Option<&str>) -> Self {
        Self::connect_to(app.address, token).await
    }

    /// Connects to a gateway at `address` and completes `connection_init`.
    pub(crate) async fn connect_to(address: std::net::SocketAddr, token: Option<&str>) -> Self {
        let mut client = Self::open(address).await;
        let payload = match token {
            Some(token) => json!({ "Authorization": format!("Bearer {token}") }),
            None => json!({}),
        };
        client
            .send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        let ack = client.next(5).await.expect("connection_ack");
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        client
    }

    /// Opens the WebSocket without `connection_init`.
    async fn open(address: std::net::SocketAddr) -> Self {
        let mut request = format!("ws://{address}/graphql/ws").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("WebSocket upgrade");
        Self { socket }
    }

    pub(crate) async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("send");
    }

    pub(crate) async fn subscribe(&mut self, id: &str, query: &str) {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query } }))
            .await;
    }

    /// The next protocol message (pings answered and skipped), or `None` after `seconds`.
    pub(crate) async fn next(&mut self, seconds: u64) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()??
                .ok()?;
            match message {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).expect("JSON message");
                    if value["type"] == "ping" {
                        self.send(json!({ "type": "pong" })).await;
                        continue;
                    }
                    return Some(value);
                }
                Message::Close(frame) => {
                    return Some(json!({ "type": "closed", "code": frame.map(|frame| u16::from(frame.code)) }));
                }
                _ => {}
            }
        }
    }

    /// The `data` of the next `next` message of subscription `id`.
    pub(crate) async fn data(&mut self, id: &str) -> Value {
        let message = self.next(10).await.unwrap_or_else(|| panic!("no event for {id}"));
        assert_eq!(message["type"], "next", "{message}");
        assert_eq!(message["id"], id, "{message}");
        assert!(message["payload"].get("errors").is_none(), "{message}");
        message["payload"]["data"].clone()
    }

    /// The next message, failing the test after 10 s.
    pub(crate) async fn next_message(&mut self) -> Value {
        self.next(10).await.expect("a message within 10 s")
    }

    /// Asserts that nothing arrives for `millis`.
    pub(crate) async fn quiet(&mut self, millis: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(millis);
        while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, self.socket.next()).await {
            if let Message::Text(text) = &message
                && text.contains("\"ping\"")
            {
                continue;
            }
            if matches!(message, Message::Ping(_) | Message::Pong(_)) {
                continue;
            }
            panic!("expected nothing, got {message:?}");
        }
    }
}

async fn sql(connection: &DatabaseConnection, statement: &str) {
    connection.execute_unprepared(statement).await.expect(statement);
}

const TASK_EVENTS: &str = "subscription { taskChanged(filter: { projectId: { eq: 1 } }) {
    op row { id title status project { name } } oldKey { id } } }";

#[tokio::test]
async fn change_events_arrive_for_mutations_and_plain_sql() {
    let fixture = Fixture::postgres().await;
    let mut client = Client::connect(&fixture.app, None).await;
    client.subscribe("1", TASK_EVENTS).await;
    // Let the subscription register before changing anything.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let project = fixture.data("{ project(id: 1) { name } }").await["project"]["name"].clone();

    let created = fixture
        .data(r#"mutation { createTask(input: { projectId: 1, title: "From GraphQL", status: TODO, priority: 1 }) { id } }"#)
        .await;
    let id = created["createTask"]["id"].as_str().unwrap().to_owned();
    let event = client.data("1").await["taskChanged"].clone();
    assert_eq!(event["op"], "INSERT");
    assert_eq!(event["row"]["id"], id.as_str());
    assert_eq!(event["row"]["title"], "From GraphQL");
    assert_eq!(
        event["row"]["project"]["name"], project,
        "nested selections are fetched"
    );
    assert_eq!(event["oldKey"], Value::Null);

    sql(
        &fixture.connection,
        &format!("UPDATE tasks SET status = 'done' WHERE id = {id}"),
    )
    .await;
    let event = client.data("1").await["taskChanged"].clone();
    assert_eq!(event["op"], "UPDATE");
    assert_eq!(event["row"]["status"], "DONE");
    assert_eq!(event["oldKey"]["id"], id.as_str());

    // A change outside the filter sends nothing.
    sql(
        &fixture.connection,
        "UPDATE tasks SET title = 'elsewhere' WHERE project_id = 2",
    )
    .await;
    client.quiet(400).await;

    sql(&fixture.connection, &format!("DELETE FROM tasks WHERE id = {id}")).await;
    let event = client.data("1").await["taskChanged"].clone();
    assert_eq!(event, json!({ "op": "DELETE", "row": null, "oldKey": { "id": id } }));

    // A row moved out of the filter arrives as a delete; moved back, as an insert.
    let moved = fixture
        .scalar_i64("SELECT min(id) FROM tasks WHERE project_id = 1")
        .await;
    sql(
        &fixture.connection,
        &format!("UPDATE tasks SET project_id = 2 WHERE id = {moved}"),
    )
    .await;
    let event = client.data("1").await["taskChanged"].clone();
    assert_eq!(event["op"], "DELETE", "{event}");
    sql(
        &fixture.connection,
        &format!("UPDATE tasks SET project_id = 1 WHERE id = {moved}"),
    )
    .await;
    let event = client.data("1").await["taskChanged"].clone();
    assert_eq!(event["op"], "INSERT", "{event}");

    // `ops` narrows the operations.
    client
        .subscribe("2", "subscription { taskChanged(ops: [DELETE]) { op oldKey { id } } }")
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    sql(
        &fixture.connection,
        &format!("UPDATE tasks SET title = 'again' WHERE id = {moved}"),
    )
    .await;
    let event = client.data("1").await["taskChanged"].clone();
    assert_eq!(event["op"], "UPDATE");
    client.quiet(300).await;
    fixture.app_stop().await;
}

#[tokio::test]
async fn live_queries_push_only_when_their_result_changes() {
    let fixture = Fixture::postgres().await;
    let mut client = Client::connect(&fixture.app, None).await;
    client
        .subscribe(
            "live",
            "subscription { tasksLive(filter: { projectId: { eq: 1 } }, orderBy: [{ id: ASC }], first: 3) {
                nodes { id title project { name } } totalCount } }",
        )
        .await;
    let first = client.data("live").await["tasksLive"].clone();
    let ids: Vec<i64> = crate::fixture::node_ids(&first["nodes"]);
    let expected = fixture
        .ids("SELECT id FROM tasks WHERE project_id = 1 ORDER BY id LIMIT 3")
        .await;
    assert_eq!(ids, expected, "the result is sent at once");
    let total = fixture
        .scalar_i64("SELECT count(*) FROM tasks WHERE project_id = 1")
        .await;
    assert_eq!(first["totalCount"], total);

    // A table the query does not read, and a row of another project: nothing is sent.
    sql(&fixture.connection, "UPDATE tags SET name = name || '!'").await;
    sql(
        &fixture.connection,
        "UPDATE tasks SET title = 'not mine' WHERE project_id = 2",
    )
    .await;
    client.quiet(500).await;

    // A row of the page changes: the new result is sent, once for a burst of changes.
    let target = expected[0];
    for step in 0..5 {
        sql(
            &fixture.connection,
            &format!("UPDATE tasks SET title = 'step {step}' WHERE id = {target}"),
        )
        .await;
    }
    let mut latest = client.data("live").await["tasksLive"].clone();
    // The burst may straddle a debounce window: take what follows until it settles.
    while let Some(more) = client.next(1).await {
        latest = more["payload"]["data"]["tasksLive"].clone();
    }
    assert_eq!(latest["nodes"][0]["title"], "step 4");

    // A change through a relation the selection reads (the project's name) is seen too.
    sql(&fixture.connection, "UPDATE projects SET name = 'Renamed' WHERE id = 1").await;
    let renamed = client.data("live").await["tasksLive"].clone();
    assert_eq!(renamed["nodes"][0]["project"]["name"], "Renamed");

    // An insert into the filter changes totalCount.
    fixture
        .data(r#"mutation { createTask(input: { projectId: 1, title: "New", status: TODO, priority: 1 }) { id } }"#)
        .await;
    let grown = client.data("live").await["tasksLive"].clone();
    assert_eq!(grown["totalCount"], total + 1);

    // Completing the subscription stops it.
    client.send(json!({ "id": "live", "type": "complete" })).await;
    assert_eq!(
        client.next(5).await.unwrap(),
        json!({ "type": "complete", "id": "live" })
    );
    sql(
        &fixture.connection,
        &format!("UPDATE tasks SET title = 'after' WHERE id = {target}"),
    )
    .await;
    client.quiet(400).await;
    fixture.app_stop().await;
}

fn member(organization: i64) -> String {
    crate::permissions::token("member", Some(organization))
}

#[tokio::test]
async fn members_of_two_organizations_never_see_each_others_rows() {
    let database = TestDatabase::new().await;
    let connection = database.connect().await;
    gateway::sample::seed::seed(&connection, 0.2).await.expect("seed");
    let app = TestApp::builder(&database.args())
        .auth(&crate::permissions::auth())
        .spawn()
        .await;
    let project_of = |organization: i64| {
        let connection = connection.clone();
        async move {
            let row = connection
                .query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    format!("SELECT min(id) FROM projects WHERE organization_id = {organization}"),
                ))
                .await
                .unwrap()
                .unwrap();
            row.try_get_by_index::<i64>(0).unwrap()
        }
    };
    let (first_project, second_project) = (project_of(1).await, project_of(2).await);
    let query = "subscription { taskChanged { op row { id title project { organizationId } } oldKey { id } } }";
    let live =
        "subscription { tasksLive(orderBy: [{ id: DESC }], first: 1) { nodes { id project { organizationId } } } }";
    let mut first = Client::connect(&app, Some(&member(1))).await;
    let mut second = Client::connect(&app, Some(&member(2))).await;
    first.subscribe("events", query).await;
    second.subscribe("events", query).await;
    first.subscribe("live", live).await;
    second.subscribe("live", live).await;
    let first_live = first.data("live").await;
    let second_live = second.data("live").await;
    assert_eq!(first_live["tasksLive"]["nodes"][0]["project"]["organizationId"], "1");
    assert_eq!(second_live["tasksLive"]["nodes"][0]["project"]["organizationId"], "2");

    // A task of the first organization changes: only its member hears of it.
    let task = {
        let row = connection
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!("SELECT min(id) FROM tasks WHERE project_id = {first_project}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    };
    sql(
        &connection,
        &format!("UPDATE tasks SET title = 'secret plan' WHERE id = {task}"),
    )
    .await;
    let event = first.data("events").await["taskChanged"].clone();
    assert_eq!(event["op"], "UPDATE");
    assert_eq!(event["row"]["title"], "secret plan");
    second.quiet(500).await;

    // Moved to the other organization's project: a delete for the first, an insert for the second.
    sql(
        &connection,
        &format!("UPDATE tasks SET project_id = {second_project} WHERE id = {task}"),
    )
    .await;
    let left = first.data("events").await["taskChanged"].clone();
    assert_eq!(
        left,
        json!({ "op": "DELETE", "row": null, "oldKey": { "id": task.to_string() } })
    );
    let arrived = second.data("events").await["taskChanged"].clone();
    assert_eq!(arrived["op"], "INSERT");
    assert_eq!(arrived["row"]["project"]["organizationId"], "2");
    // The live lists (newest task by id) are unaffected unless the moved task is the newest.
    first.quiet(300).await;

    // A new task in the second organization's project: never sent to the first.
    sql(
        &connection,
        &format!(
            "INSERT INTO tasks (project_id, title, status, priority, created_at, updated_at)
             VALUES ({second_project}, 'theirs', 'todo', 1, now(), now())"
        ),
    )
    .await;
    let mut seen = Vec::new();
    while let Some(message) = second.next(1).await {
        seen.push(message);
    }
    assert!(
        seen.iter().any(|message| message["id"] == "events"
            && message["payload"]["data"]["taskChanged"]["row"]["title"] == "theirs"),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|message| message["id"] == "live"),
        "the second organization's live list shows its new task: {seen:?}"
    );
    first.quiet(500).await;
    app.stop().await;
}

#[tokio::test]
async fn a_change_through_one_gateway_reaches_subscribers_of_another() {
    let database = TestDatabase::new().await;
    let connection = database.connect().await;
    gateway::sample::seed::seed(&connection, 0.1).await.expect("seed");
    let writer = TestApp::spawn(&database.args()).await;
    let reader = TestApp::spawn(&database.args()).await;
    let mut client = Client::connect(&reader, None).await;
    client.subscribe("1", TASK_EVENTS).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer = writer
        .graphql(
            r#"mutation { updateTask(id: 1, patch: { title: "via the writer" }) { id } }"#,
            json!({}),
        )
        .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let event = client.data("1").await["taskChanged"].clone();
    assert_eq!(event["op"], "UPDATE");
    assert_eq!(event["row"]["title"], "via the writer");
    writer.stop().await;
    reader.stop().await;
}

#[tokio::test]
async fn subscribers_survive_a_lost_listening_connection() {
    let fixture = Fixture::postgres().await;
    let mut client = Client::connect(&fixture.app, None).await;
    client.subscribe("events", TASK_EVENTS).await;
    client
        .subscribe(
            "live",
            "subscription { tasksLive(filter: { id: { eq: 1 } }) { nodes { id title } } }",
        )
        .await;
    let initial = client.data("live").await;
    assert_eq!(initial["tasksLive"]["nodes"][0]["id"], "1");

    // The listener connects in the background; wait until it is there.
    for _ in 0..50 {
        let listening = fixture
            .scalar_i64(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
            )
            .await;
        if listening == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Kill the listener and change the row before it is back: the change made in the gap shows.
    let terminated = fixture
        .scalar_i64(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
        )
        .await;
    assert_eq!(terminated, 1, "one listening connection");
    sql(
        &fixture.connection,
        "UPDATE tasks SET title = 'changed in the gap' WHERE id = 1",
    )
    .await;
    let mut events = Vec::new();
    let mut live_title = None;
    while let Some(message) = client.next(3).await {
        if message["id"] == "live" {
            live_title = Some(message["payload"]["data"]["tasksLive"]["nodes"][0]["title"].clone());
        } else {
            events.push(message["payload"]["data"]["taskChanged"]["op"].clone());
        }
    }
    assert_eq!(live_title, Some(json!("changed in the gap")));
    assert!(
        events.contains(&json!("RESYNC")) || events.contains(&json!("UPDATE")),
        "event subscribers learn of the gap: {events:?}"
    );

    // After the reconnect, changes flow as before.
    sql(
        &fixture.connection,
        "UPDATE tasks SET title = 'after the reconnect' WHERE id = 1",
    )
    .await;
    let mut seen_update = false;
    let mut seen_live = false;
    while let Some(message) = client.next(3).await {
        if message["id"] == "events"
            && message["payload"]["data"]["taskChanged"]["row"]["title"] == "after the reconnect"
        {
            seen_update = true;
        }
        if message["id"] == "live"
            && message["payload"]["data"]["tasksLive"]["nodes"][0]["title"] == "after the reconnect"
        {
            seen_live = true;
        }
        if seen_update && seen_live {
            break;
        }
    }
    assert!(seen_update && seen_live);
    fixture.app_stop().await;
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_consumer_that_stops_reading_is_disconnected_and_memory_stays_flat() {
    let database = TestDatabase::new().await;
    let connection = database.connect().await;
    gateway::sample::seed::seed(&connection, 0.1).await.expect("seed");
    let server = ServerArgs {
        subscriptions: gateway::config::SubscriptionArgs {
            subscription_queue: 2,
            ..Default::default()
        },
        ..ServerArgs::default()
    };
    let app = TestApp::builder(&database.args()).server(server).spawn().await;
    let mut slow = Client::connect(&app, None).await;
    slow.subscribe("1", "subscription { taskChanged { op row { id title } } }")
        .await;
    let mut healthy = Client::connect(&app, None).await;
    healthy
        .subscribe("1", "subscription { taskChanged(filter: { id: { eq: 1 } }) { op } }")
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss_kib();
    // Each round changes 2,000 rows with 2 KB titles: far more than socket buffers hold.
    for round in 0..15 {
        sql(
            &connection,
            &format!("UPDATE tasks SET title = repeat('x', 2000) || '{round}'"),
        )
        .await;
        let event = healthy.data("1").await;
        assert_eq!(event["taskChanged"]["op"], "UPDATE", "a reading client keeps receiving");
    }
    let after = rss_kib();
    // The slow client reads at last: what was buffered, then the end of the connection (with a
    // 1008 close frame when it still fitted into the socket's buffers).
    let ended = loop {
        match tokio::time::timeout(Duration::from_secs(10), slow.socket.next()).await {
            Err(_) => break None,
            Ok(None | Some(Err(_))) => break Some(None),
            Ok(Some(Ok(Message::Close(frame)))) => break Some(frame.map(|frame| u16::from(frame.code))),
            Ok(Some(Ok(_))) => {}
        }
    };
    assert!(
        matches!(ended, Some(None | Some(1008))),
        "the server ended the slow consumer's connection: {ended:?}"
    );
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("gateway_slow_consumers_total ")),
        "{metrics}"
    );
    let growth_mib = after.saturating_sub(before) / 1024;
    assert!(
        growth_mib < 64,
        "memory grew {growth_mib} MiB while 30,000 events were produced for a client that did not read"
    );
    app.stop().await;
}

/// A connection that sends nothing — no answer to the WebSocket pings, no message: a dead peer,
/// or a frame dripped too slowly to complete — is closed with 1001 after
/// `GATEWAY_WS_IDLE_TIMEOUT`; one that reads (and so answers the pings) stays open past it.
#[tokio::test]
async fn silent_websockets_are_closed_after_the_idle_timeout() {
    let fixture = Fixture::postgres().await;
    let server = ServerArgs {
        subscriptions: gateway::config::SubscriptionArgs {
            ws_keepalive: Duration::from_millis(200),
            ws_idle_timeout: Duration::from_secs(1),
            ..Default::default()
        },
        ..ServerArgs::default()
    };
    let app = TestApp::builder(&gateway::config::DatabaseArgs::with_url(Some(
        &fixture.connection_url(),
    )))
    .server(server)
    .spawn()
    .await;
    // The silent client speaks WebSocket by hand, so that nothing (no library) answers pings.
    let mut silent = tokio::net::TcpStream::connect(app.address).await.expect("connect");
    let handshake = format!(
        "GET /graphql/ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n",
        app.address
    );
    silent.write_all(handshake.as_bytes()).await.expect("handshake");
    let init = br#"{"type":"connection_init"}"#;
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    let mut frame = vec![0x81, 0x80 | init.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(init.iter().enumerate().map(|(index, byte)| byte ^ mask[index % 4]));
    silent.write_all(&frame).await.expect("connection_init");
    let mut reader = Client::connect(&app, None).await;
    reader.subscribe("tags", "subscription { tagChanged { op } }").await;
    let started = std::time::Instant::now();
    assert_eq!(reader.next(3).await, None, "a connection that reads stays open");
    // The silent one never answered a ping: by now it was closed, with a 1001 close frame
    // (opcode 0x88, then the code) after the handshake, the ack and the pings it did not answer.
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), silent.read_to_end(&mut received)).await;
    assert!(read.is_ok(), "the server closed the silent connection");
    let code = received
        .windows(4)
        .find(|window| window[0] == 0x88 && window[1] >= 2)
        .map(|window| u16::from_be_bytes([window[2], window[3]]));
    assert_eq!(code, Some(1001), "closed after {:?}", started.elapsed());
    app.stop().await;
}

#[tokio::test]
async fn connections_are_limited_pinged_and_refuse_duplicate_ids() {
    let fixture = Fixture::postgres().await;
    let database_args = {
        // The same database, a gateway with tight WebSocket settings.
        gateway::config::DatabaseArgs::with_url(Some(&fixture.connection_url()))
    };
    let server = ServerArgs {
        subscriptions: gateway::config::SubscriptionArgs {
            max_subscriptions_per_connection: 2,
            ws_keepalive: Duration::from_millis(300),
            ..Default::default()
        },
        ..ServerArgs::default()
    };
    let app = TestApp::builder(&database_args).server(server).spawn().await;
    let mut client = Client::connect(&app, None).await;

    // Keep-alive: the server pings an idle connection (the protocol's ping; WebSocket pings too).
    let ping = loop {
        let frame = tokio::time::timeout(Duration::from_secs(3), client.socket.next())
            .await
            .expect("a ping within 3 s")
            .unwrap()
            .unwrap();
        if !matches!(frame, Message::Ping(_) | Message::Pong(_)) {
            break frame;
        }
    };
    assert_eq!(
        serde_json::from_str::<Value>(ping.to_text().unwrap()).unwrap()["type"],
        "ping"
    );

    let events = "subscription { tagChanged { op } }";
    client.subscribe("a", events).await;
    client.subscribe("b", events).await;
    client.subscribe("c", events).await;
    // Which of the three runs first is up to the server; one of them is refused.
    let refused = client.next(5).await.unwrap();
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "QUERY_LIMIT_EXCEEDED",
        "{refused}"
    );
    let refused_id = refused["id"].as_str().unwrap().to_owned();
    assert_eq!(
        client.next(5).await.unwrap(),
        json!({ "type": "complete", "id": refused_id })
    );
    let running: Vec<&str> = ["a", "b", "c"].into_iter().filter(|id| *id != refused_id).collect();
    // Completing one frees a place.
    client.send(json!({ "id": running[0], "type": "complete" })).await;
    assert_eq!(
        client.next(5).await.unwrap(),
        json!({ "type": "complete", "id": running[0] })
    );
    client.subscribe(&refused_id, events).await;
    client.quiet(300).await;

    // An id in use closes the connection with 4409.
    client.subscribe(running[1], events).await;
    let mut code = None;
    while let Some(message) = client.next(5).await {
        if message["type"] == "closed" {
            code = message["code"].as_u64();
            break;
        }
    }
    assert_eq!(code, Some(4409));

    // A subscribe before the handshake is 4401.
    let mut early = Client::open(app.address).await;
    early.subscribe("x", events).await;
    assert_eq!(early.next(5).await.unwrap()["code"], 4401);
    app.stop().await;
    fixture.app_stop().await;
}

#[tokio::test]
async fn on_sqlite_the_gateways_own_writes_feed_subscriptions() {
    let fixture = Fixture::sqlite().await;
    let mut client = Client::connect(&fixture.app, None).await;
    client.subscribe("1", TASK_EVENTS).await;
    client
        .subscribe(
            "live",
            "subscription { tasksLive(filter: { id: { eq: 1 } }) { nodes { title } } }",
        )
        .await;
    let initial = client.data("live").await;
    assert!(initial["tasksLive"]["nodes"][0]["title"].is_string());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer = fixture
        .data(r#"mutation { updateTask(id: 1, patch: { title: "on SQLite" }) { id } }"#)
        .await;
    assert_eq!(answer["updateTask"]["id"], "1");
    let mut got_event = false;
    let mut got_live = false;
    while let Some(message) = client.next(3).await {
        if message["id"] == "1" {
            let event = &message["payload"]["data"]["taskChanged"];
            assert_eq!(event["op"], "UPDATE", "{message}");
            assert_eq!(event["row"]["title"], "on SQLite");
            got_event = true;
        } else {
            assert_eq!(
                message["payload"]["data"]["tasksLive"]["nodes"][0]["title"],
                "on SQLite"
            );
            got_live = true;
        }
        if got_event && got_live {
            break;
        }
    }
    assert!(got_event && got_live);
    let created = fixture
        .data(r#"mutation { createTask(input: { projectId: 1, title: "Short-lived", status: TODO, priority: 1 }) { id } }"#)
        .await;
    let id = created["createTask"]["id"].as_str().unwrap().to_owned();
    fixture
        .data(&format!("mutation {{ deleteTask(id: {id}) {{ id }} }}"))
        .await;
    let mut ops = Vec::new();
    while let Some(message) = client.next(2).await {
        if message["id"] == "1" {
            ops.push(message["payload"]["data"]["taskChanged"]["op"].clone());
        }
    }
    // Within one debounce window the two fold into nothing; across two, an insert then a delete.
    assert!(
        ops.is_empty() || ops == vec![json!("INSERT"), json!("DELETE")],
        "{ops:?}"
    );
    fixture.app_stop().await;
}

#[tokio::test]
async fn the_process_runs_at_most_the_configured_number_of_subscriptions() {
    let database = TestDatabase::new().await;
    let server = ServerArgs {
        subscriptions: gateway::config::SubscriptionArgs {
            max_subscriptions: 2,
            ..Default::default()
        },
        ..ServerArgs::default()
    };
    let app = TestApp::builder(&database.args()).server(server).spawn().await;
    let events = "subscription { tagChanged { op } }";
    let mut first = Client::connect(&app, None).await;
    first.subscribe("a", events).await;
    first.subscribe("b", events).await;
    first.quiet(300).await;
    let mut second = Client::connect(&app, None).await;
    second.subscribe("c", events).await;
    let refused = second.next(5).await.unwrap();
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "QUERY_LIMIT_EXCEEDED",
        "{refused}"
    );
    assert!(
        refused["payload"]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("GATEWAY_MAX_SUBSCRIPTIONS"),
        "{refused}"
    );
    assert_eq!(second.next(5).await.unwrap(), json!({ "type": "complete", "id": "c" }));
    // A closed connection gives its places back.
    drop(first);
    tokio::time::sleep(Duration::from_millis(300)).await;
    second.subscribe("d", events).await;
    second.quiet(300).await;
    app.stop().await;
}

#[tokio::test]
async fn a_bulk_write_reaches_a_reading_client_whole_however_small_its_queue() {
    let database = TestDatabase::new().await;
    let connection = database.connect().await;
    gateway::sample::seed::seed(&connection, 0.1).await.expect("seed");
    let server = ServerArgs {
        subscriptions: gateway::config::SubscriptionArgs {
            subscription_queue: 4,
            ..Default::default()
        },
        ..ServerArgs::default()
    };
    let app = TestApp::builder(&database.args()).server(server).spawn().await;
    let mut client = Client::connect(&app, None).await;
    client
        .subscribe("1", "subscription { taskChanged { op row { id } } }")
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // 2,000 rows in one statement: one batch, far more events than the queue's 4 places.
    sql(&connection, "UPDATE tasks SET priority = priority + 1").await;
    let mut ids = std::collections::HashSet::new();
    while ids.len() < 2000 {
        let message = client.next(10).await.expect("every event arrives");
        assert_eq!(message["type"], "next", "the client is not disconnected: {message}");
        assert_eq!(message["payload"]["data"]["taskChanged"]["op"], "UPDATE");
        ids.insert(
            message["payload"]["data"]["taskChanged"]["row"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn over_the_websocket_each_role_sees_its_own_schema() {
    let database = TestDatabase::new().await;
    let app = TestApp::builder(&database.args())
        .auth(&crate::permissions::auth())
        .spawn()
        .await;
    let fields_of_user = |role: &str| {
        let token = crate::permissions::token(role, Some(1));
        let app = &app;
        async move {
            let mut client = Client::connect(app, Some(&token)).await;
            client
                .subscribe("1", r#"{ __type(name: "User") { fields { name } } }"#)
                .await;
            let data = client.data("1").await;
            data["__type"]["fields"]
                .as_array()
                .expect("fields")
                .iter()
                .map(|field| field["name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let member = fields_of_user("member").await;
    let admin = fields_of_user("admin").await;
    assert!(
        !member.contains(&"email".to_owned()),
        "a member's view has no email: {member:?}"
    );
    assert!(admin.contains(&"email".to_owned()), "{admin:?}");
    app.stop().await;
}

#[tokio::test]
async fn an_invalid_subscription_gets_the_protocols_error_message() {
    let database = crate::support::TestDatabase::new().await;
    let app = TestApp::spawn(&database.args()).await;
    let mut client = Client::connect(&app, None).await;
    client.subscribe("bad", "subscription { noSuchField { op } }").await;
    let message = client.next_message().await;
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(message["id"], "bad");
    assert_eq!(
        message["payload"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{message}"
    );
    // `error` ends the operation: no `complete` follows, and the id may be used again.
    client.quiet(300).await;
    client.subscribe("bad", "subscription { tagChanged { op } }").await;
    client.quiet(300).await;
    app.stop().await;
}

/// Changes made through a partition are announced as the partitioned table's: its trigger,
/// which PostgreSQL clones onto each partition, names the served table.
#[tokio::test]
async fn changes_in_a_partition_are_announced_as_the_partitioned_tables() {
    let database = TestDatabase::blank().await;
    let connection = database.connect().await;
    for sql in [
        "CREATE TABLE sale (id bigint NOT NULL, sold_on date NOT NULL, amount integer NOT NULL, \
         PRIMARY KEY (id, sold_on)) PARTITION BY RANGE (sold_on)",
        "CREATE TABLE sale_2026_h1 PARTITION OF sale FOR VALUES FROM ('2026-01-01') TO ('2026-07-01')",
        "CREATE TABLE sale_2026_h2 PARTITION OF sale FOR VALUES FROM ('2026-07-01') TO ('2027-01-01')",
    ] {
        connection.execute_unprepared(sql).await.expect(sql);
    }
    change_feed::install_log(&connection).await.expect("the change log");
    change_feed::track(&connection, "sale", &["id", "sold_on"])
        .await
        .expect("track");
    // A partition created after the trigger gets a clone of it too.
    connection
        .execute_unprepared("CREATE TABLE sale_2027 PARTITION OF sale FOR VALUES FROM ('2027-01-01') TO ('2028-01-01')")
        .await
        .expect("a later partition");
    for sql in [
        "INSERT INTO sale VALUES (1, '2026-03-01', 10), (2, '2026-09-01', 20), (3, '2027-02-01', 30)",
        "UPDATE sale SET amount = amount + 1",
        "DELETE FROM sale WHERE id = 2",
    ] {
        connection.execute_unprepared(sql).await.expect(sql);
    }
    let rows = connection
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT table_name, op FROM gateway_change_log ORDER BY id",
        ))
        .await
        .expect("the change log");
    let logged: Vec<(String, String)> = rows
        .iter()
        .map(|row| (row.try_get_by_index(0).unwrap(), row.try_get_by_index(1).unwrap()))
        .collect();
    assert_eq!(
        logged.len(),
        4,
        "three updates and a delete keep their old rows: {logged:?}"
    );
    assert!(logged.iter().all(|(table, _)| table == "sale"), "{logged:?}");
    // A trigger installed before the table argument existed still reports its own table.
    connection
        .execute_unprepared(
            "CREATE TABLE plain (id bigint PRIMARY KEY, note text); \
             CREATE TRIGGER gateway_changes AFTER INSERT OR UPDATE OR DELETE ON plain \
             FOR EACH ROW EXECUTE FUNCTION gateway_notify_change('id'); \
             INSERT INTO plain VALUES (1, 'a'); UPDATE plain SET note = 'b'",
        )
        .await
        .expect("an older trigger");
    let row = connection
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT table_name, old_key::text FROM gateway_change_log ORDER BY id DESC LIMIT 1",
        ))
        .await
        .expect("the change log")
        .expect("a row");
    assert_eq!(row.try_get_by_index::<String>(0).unwrap(), "plain");
    assert_eq!(row.try_get_by_index::<String>(1).unwrap(), r#"{"id": 1}"#);
}
