//! The zero-configuration default: no database settings give an embedded SQLite file that is
//! created, migrated and seeded on first run, and the same API as on PostgreSQL.

use crate::support::TestApp;
use gateway::config::{DatabaseArgs, DatabaseTarget};
use migration::MigratorTrait;
use sea_orm::{EntityTrait, PaginatorTrait};

#[tokio::test]
async fn first_run_creates_migrates_and_seeds_the_embedded_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("data/gateway.db");
    let path_text = path.display().to_string();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["--listen", "127.0.0.1:0", "--sqlite-path", &path_text])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir.path())
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the gateway");
    // The file is seeded before the server starts listening; wait for the log line.
    use std::io::{BufRead, BufReader};
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = String::new();
    let address = loop {
        let line = lines
            .next()
            .expect("the gateway logs until it serves")
            .expect("a log line");
        seen.push_str(&line);
        if let Some(rest) = line.split("serving GraphQL at http://").nth(1) {
            break rest.split('/').next().expect("an address").to_owned();
        }
    };
    assert!(
        seen.contains("created the embedded SQLite database with sample data"),
        "{seen}"
    );
    // A ready admin token is printed, with the playground address.
    let stdout = child.stdout.take().expect("stdout");
    let printed: Vec<String> = BufReader::new(stdout)
        .lines()
        .take(4)
        .map(|line| line.expect("a line"))
        .collect();
    assert!(printed[0].starts_with("playground: http://"), "{printed:?}");
    let token = printed[1].rsplit(' ').next().expect("a token").to_owned();
    assert!(printed[2].starts_with("member token"), "{printed:?}");
    let member = printed[2].rsplit(' ').next().expect("a token").to_owned();
    let ask = |token: Option<String>| {
        let address = address.clone();
        async move {
            let mut request = reqwest::Client::new()
                .post(format!("http://{address}/graphql"))
                .json(&serde_json::json!({ "query": "{ tasks { totalCount } }" }));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request
                .send()
                .await
                .expect("request")
                .json::<serde_json::Value>()
                .await
                .expect("JSON")
        }
    };
    let answer = ask(Some(token)).await;
    assert_eq!(
        answer["data"]["tasks"]["totalCount"], 2_000,
        "the admin sees the organization: {answer}"
    );
    let as_member = ask(Some(member)).await;
    assert_eq!(
        as_member["data"]["tasks"]["totalCount"], 2_000,
        "the member sees the organization too: {as_member}"
    );
    // `gateway token` signs with the same secret, kept beside the file for its owner only.
    let minted = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args([
            "token",
            "--sqlite-path",
            &path_text,
            "--role",
            "member",
            "--sub",
            "2",
            "--claim",
            "org_id=1",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir.path())
        .output()
        .expect("gateway token");
    assert!(minted.status.success(), "{}", String::from_utf8_lossy(&minted.stderr));
    let minted = String::from_utf8(minted.stdout).expect("UTF-8").trim().to_owned();
    let as_minted = ask(Some(minted)).await;
    assert_eq!(
        as_minted["data"]["tasks"]["totalCount"], 2_000,
        "a token from `gateway token` works on the running default: {as_minted}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(format!("{path_text}.secret"))
            .expect("the secret file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "only its owner reads the secret");
    }
    let anonymous = ask(None).await;
    let public = anonymous["data"]["tasks"]["totalCount"]
        .as_i64()
        .expect("anonymous reads public tasks");
    assert!(
        public > 0 && public < 2_000,
        "anonymous sees only public projects' tasks: {anonymous}"
    );
    let _ = child.kill();
    let _ = child.wait();

    let connection = sea_orm::Database::connect(format!("sqlite://{path_text}"))
        .await
        .expect("open the file");
    assert!(
        Migrator::get_pending_migrations(&connection)
            .await
            .expect("status")
            .is_empty()
    );
    assert_eq!(
        entity::task::Entity::find().count(&connection).await.expect("count"),
        2_000
    );
    assert_eq!(
        entity::task_tag::Entity::find()
            .count(&connection)
            .await
            .expect("count"),
        4_000
    );
}

use migration::Migrator;

#[tokio::test]
async fn the_server_answers_on_an_explicit_sqlite_url() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("explicit.db").display());
    let args = DatabaseArgs::with_url(Some(&url));
    assert!(matches!(
        args.target().expect("target"),
        DatabaseTarget::Sqlite { embedded: false, .. }
    ));
    let connection = sea_orm::Database::connect(&url).await.expect("open");
    Migrator::up(&connection, None).await.expect("migrate");
    let app = TestApp::spawn(&args).await;
    let ready = app.client.get(app.url("/readyz")).send().await.expect("request");
    assert_eq!(ready.status().as_u16(), 200);
    let answer = app
        .graphql("{ organizations { totalCount } }", serde_json::json!({}))
        .await;
    assert_eq!(answer["data"]["organizations"]["totalCount"], 0, "{answer}");
    app.stop().await;
}

#[tokio::test]
async fn a_secret_of_ones_own_keeps_the_anonymous_role_of_the_embedded_default() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("gateway.db").display().to_string();
    let gateway = crate::support::process::GatewayProcess::start(&[
        ("GATEWAY_SQLITE_PATH", &path),
        ("GATEWAY_JWT_SECRET", "a-secret-of-my-own-that-is-long-enough"),
    ]);
    let answer = gateway.graphql("{ projects { totalCount } }").await;
    assert!(
        answer["data"]["projects"]["totalCount"]
            .as_i64()
            .is_some_and(|count| count > 0),
        "no token is the anonymous role, not 401: {answer}"
    );
}
