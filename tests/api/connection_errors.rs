//! Each class of connection failure, produced for real, is explained without leaking a password.

use crate::support::cluster::{Auth, Cluster};
use crate::support::{closed_port, run_gateway, server_url};

const PASSWORD: &str = "Sup3r-Secret-Pw";

fn check(url: &str, extra: &[(&str, &str)]) -> String {
    let mut env = vec![("DATABASE_URL", url)];
    env.extend_from_slice(extra);
    let (success, stdout, stderr) = run_gateway(&["check"], &env);
    assert!(!success, "check must fail for {url}; stdout: {stdout}");
    let output = format!("{stdout}{stderr}");
    assert!(!output.contains(PASSWORD), "the password leaked: {output}");
    output
}

#[test]
fn refused_connection_names_the_endpoint_and_asks_whether_the_server_runs() {
    let port = closed_port();
    let output = check(&format!("postgres://app:{PASSWORD}@127.0.0.1:{port}/app"), &[]);
    assert!(
        output.contains(&format!("connection refused by 127.0.0.1:{port}")),
        "{output}"
    );
    assert!(output.contains("is PostgreSQL running"), "{output}");
    assert!(
        output.contains("postgres://app:***@127.0.0.1"),
        "the target is shown redacted: {output}"
    );
}

#[test]
fn wrong_password_points_at_credentials_and_pg_hba() {
    let cluster = Cluster::start(Auth::Scram("right-password")).expect("PostgreSQL is installed");
    let output = check(&cluster.url("postgres", Some(PASSWORD), "postgres"), &[]);
    assert!(
        output.contains("password authentication failed for user \"postgres\""),
        "{output}"
    );
    assert!(output.contains("pg_hba.conf"), "{output}");
}

#[test]
fn right_password_connects() {
    let cluster = Cluster::start(Auth::Scram(PASSWORD)).expect("PostgreSQL is installed");
    let (success, stdout, stderr) = run_gateway(
        &["check"],
        &[("DATABASE_URL", &cluster.url("postgres", Some(PASSWORD), "postgres"))],
    );
    assert!(success, "{stdout}{stderr}");
    assert!(stdout.contains("connected: PostgreSQL"), "{stdout}");
    assert!(!format!("{stdout}{stderr}").contains(PASSWORD), "the password leaked");
}

#[tokio::test]
async fn missing_database_says_how_to_create_it() {
    let mut url = server_url().await;
    url.set_path("gw_no_such_database");
    let output = check(url.as_str(), &[]);
    assert!(
        output.contains("database \"gw_no_such_database\" does not exist"),
        "{output}"
    );
    assert!(output.contains("createdb"), "{output}");
}

#[test]
fn silent_server_times_out_with_a_firewall_hint() {
    // Accepts connections and never answers, like a black-holed port.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let held = std::thread::spawn(move || {
        let mut held = Vec::new();
        if let Ok((stream, _)) = listener.accept() {
            held.push(stream);
            std::thread::sleep(std::time::Duration::from_secs(5));
        }
    });
    let started = std::time::Instant::now();
    let output = check(
        &format!("postgres://app:{PASSWORD}@127.0.0.1:{port}/app"),
        &[("GATEWAY_CONNECT_TIMEOUT", "1s")],
    );
    assert!(
        output.contains(&format!("no answer from 127.0.0.1:{port} within 1s")),
        "{output}"
    );
    assert!(output.contains("firewall"), "{output}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "the timeout is honoured"
    );
    drop(held);
}

#[test]
fn tls_required_by_the_client_but_not_offered_by_the_server() {
    let cluster = Cluster::start(Auth::Trust).expect("PostgreSQL is installed");
    let url = format!("{}?sslmode=require", cluster.url("postgres", None, "postgres"));
    let output = check(&url, &[]);
    assert!(
        output.contains("does not offer TLS, but sslmode is `require`"),
        "{output}"
    );
}

#[test]
fn libpq_variables_are_used_and_their_password_is_not_shown() {
    let port = closed_port();
    let port_text = port.to_string();
    let (success, stdout, stderr) = run_gateway(
        &["check"],
        &[
            ("PGHOST", "127.0.0.1"),
            ("PGPORT", &port_text),
            ("PGUSER", "app"),
            ("PGPASSWORD", PASSWORD),
        ],
    );
    assert!(!success);
    let output = format!("{stdout}{stderr}");
    assert!(
        output.contains(&format!("connection refused by 127.0.0.1:{port}")),
        "{output}"
    );
    assert!(!output.contains(PASSWORD), "{output}");
}

#[test]
fn startup_retries_with_backoff_and_says_what_it_waits_for() {
    let port = closed_port();
    let started = std::time::Instant::now();
    let (success, stdout, stderr) = run_gateway(
        &["serve", "--listen", "127.0.0.1:0"],
        &[
            (
                "DATABASE_URL",
                &format!("postgres://app:{PASSWORD}@127.0.0.1:{port}/app"),
            ),
            ("GATEWAY_STARTUP_TIMEOUT", "2s"),
        ],
    );
    assert!(!success);
    let output = format!("{stdout}{stderr}");
    assert!(
        output.matches("waiting for the database").count() >= 2,
        "it retried: {output}"
    );
    assert!(output.contains("connection refused"), "{output}");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1500),
        "it waited before giving up"
    );
    assert!(!output.contains(PASSWORD), "{output}");
}

#[test]
fn startup_waits_for_a_server_that_comes_up() {
    let cluster = Cluster::start(Auth::Trust).expect("PostgreSQL is installed");
    cluster.stop();
    let url = cluster.url("postgres", None, "postgres");
    // `migrate status` goes through the patient start-up path (`check` diagnoses once).
    let migrate = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["migrate", "status"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &url)
        .env("GATEWAY_STARTUP_TIMEOUT", "20s")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the gateway");
    std::thread::sleep(std::time::Duration::from_secs(2));
    cluster.start_again();
    let output = migrate.wait_with_output().expect("the gateway finishes");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("waiting for the database"), "{stderr}");
    assert!(stdout.contains("pending  m20261126_000001_sample_schema"), "{stdout}");
}
