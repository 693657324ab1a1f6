//! Subscription benchmark: commit-to-delivery latency for 1, 100 and 1,000 subscribers to change
//! events and to a live query, and the gateway's memory per subscriber.
//!
//! `cargo bench --bench subscriptions` builds the gateway in release mode, recreates the database
//! `gateway_bench_subscriptions` on the local PostgreSQL (`BENCH_ADMIN_URL`), migrates and seeds it
//! (scale 0.1), starts the gateway as a child process and, for each subscriber count, opens one
//! WebSocket per subscriber, then commits `ROUNDS` updates of one row, 250 ms apart, timing each
//! from the moment the UPDATE's commit returns to the moment each subscriber has the event.
//! Memory is the resident set size of a fresh gateway process after the subscribers joined, minus
//! before (each measurement starts its own gateway).
//! `BENCH_DEBOUNCE` sets `GATEWAY_SUBSCRIPTION_DEBOUNCE` (default 50ms: the floor of the latency).

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const DATABASE: &str = "gateway_bench_subscriptions";
const ADDRESS: &str = "127.0.0.1:8766";
const ROUNDS: usize = 20;
const EVENTS: &str = "subscription { taskChanged(filter: { id: { eq: 1 } }) { op row { id title } } }";
const LIVE: &str = "subscription { tasksLive(filter: { id: { eq: 1 } }) { nodes { id title } } }";

fn admin_url() -> String {
    std::env::var("BENCH_ADMIN_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn database_url() -> String {
    let admin = admin_url();
    let base = admin.rsplit_once('/').map(|(base, _)| base).unwrap_or(&admin);
    format!("{base}/{DATABASE}")
}

fn gateway(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gateway"));
    command
        .args(args)
        .env("DATABASE_URL", database_url())
        .env("GATEWAY_LOG", "error")
        .stdout(Stdio::null());
    command
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

async fn prepare() {
    let mut admin = PgConnection::connect(&admin_url())
        .await
        .expect("connect to BENCH_ADMIN_URL");
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"
        )))
        .await
        .expect("drop");
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {DATABASE}")))
        .await
        .expect("create");
    for args in [&["migrate", "up"][..], &["seed", "--scale", "0.1"][..]] {
        let status = gateway(args).status().expect("run the gateway");
        assert!(status.success(), "gateway {args:?} failed");
    }
}

fn start(debounce: &str) -> Child {
    let mut child = gateway(&[])
        .env("GATEWAY_LISTEN", ADDRESS)
        .env("GATEWAY_SUBSCRIPTION_DEBOUNCE", debounce)
        .env("GATEWAY_MAX_SUBSCRIPTIONS", "100000")
        .env("GATEWAY_POOL_MAX_CONNECTIONS", "8")
        .spawn()
        .expect("start the gateway");
    for _ in 0..100 {
        if std::net::TcpStream::connect(ADDRESS).is_ok() {
            return child;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the gateway did not start");
}

/// Opens a subscriber; it reports `(round, when)` for each update it sees.
async fn subscriber(
    query: &'static str,
    report: mpsc::UnboundedSender<(usize, Instant)>,
) -> tokio::task::JoinHandle<()> {
    let mut request = format!("ws://{ADDRESS}/graphql/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("connect");
    socket
        .send(Message::Text(json!({ "type": "connection_init" }).to_string().into()))
        .await
        .unwrap();
    let ack = socket.next().await.unwrap().unwrap();
    assert!(ack.to_text().unwrap().contains("connection_ack"));
    socket
        .send(Message::Text(
            json!({ "id": "1", "type": "subscribe", "payload": { "query": query } })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    tokio::spawn(async move {
        while let Some(Ok(message)) = socket.next().await {
            let Message::Text(text) = message else { continue };
            let at = Instant::now();
            let value: Value = serde_json::from_str(&text).unwrap_or_default();
            if value["type"] == "ping" {
                let _ = socket.send(Message::Text(r#"{"type":"pong"}"#.into())).await;
                continue;
            }
            let data = &value["payload"]["data"];
            let title = data["taskChanged"]["row"]["title"]
                .as_str()
                .or_else(|| data["tasksLive"]["nodes"][0]["title"].as_str())
                .unwrap_or_default();
            if let Some(round) = title.strip_prefix("round ").and_then(|round| round.parse().ok()) {
                let _ = report.send((round, at));
            }
        }
    })
}

fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * fraction).round() as usize]
}

async fn measure(debounce: &str, kind: &str, query: &'static str, count: usize, writer: &mut PgConnection) {
    writer
        .execute("UPDATE tasks SET title = 'start' WHERE id = 1")
        .await
        .expect("reset");
    // A fresh gateway per measurement, so memory freed by an earlier one does not hide growth.
    let mut child = start(debounce);
    let pid = child.id();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(pid);
    let (report, mut reports) = mpsc::unbounded_channel();
    let mut clients = Vec::with_capacity(count);
    for _ in 0..count {
        clients.push(subscriber(query, report.clone()).await);
    }
    // Let every subscription register (and live queries send their first result).
    tokio::time::sleep(Duration::from_millis(500 + count as u64)).await;
    let after = rss_kib(pid);
    let mut committed = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        writer
            .execute(sqlx::AssertSqlSafe(format!(
                "UPDATE tasks SET title = 'round {round}' WHERE id = 1"
            )))
            .await
            .expect("update");
        committed.push(Instant::now());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut latencies = Vec::new();
    while let Ok((round, at)) = reports.try_recv() {
        latencies.push(at.saturating_duration_since(committed[round]).as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "{kind:<7} {count:>6} {:>9} {:>9.1} {:>9.1} {:>11.1}",
        format!("{}/{}", latencies.len(), count * ROUNDS),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        (after.saturating_sub(before)) as f64 / count as f64,
    );
    for client in clients {
        client.abort();
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::main]
async fn main() {
    let debounce = std::env::var("BENCH_DEBOUNCE").unwrap_or_else(|_| "50ms".into());
    prepare().await;
    let mut writer = PgConnection::connect(&database_url()).await.expect("connect");
    println!("debounce {debounce}, {ROUNDS} commits per row, one WebSocket per subscriber");
    println!("kind    subscr  received   p50 ms    p99 ms  KiB/subscr");
    for count in [1, 100, 1000] {
        measure(&debounce, "events", EVENTS, count, &mut writer).await;
        measure(&debounce, "live", LIVE, count, &mut writer).await;
    }
}
