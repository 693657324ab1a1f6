//! Bearer tokens: every way a token can be wrong gets 401 with a reason (never anonymous), roles
//! are chosen with X-Role, and JWKS key rotation works without a restart.

use crate::support::{TestApp, TestDatabase, run_gateway};
use gateway::config::AuthArgs;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

const SECRET: &str = "a-test-secret-that-is-long-enough";

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn claims(extra: Value) -> Value {
    let mut claims =
        json!({ "sub": "7", "role": "member", "roles": ["member", "admin"], "org_id": 1, "exp": now() + 600 });
    claims
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    claims
}

fn hs(claims: &Value, secret: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn secret_auth() -> AuthArgs {
    AuthArgs {
        jwt_secret: Some(SecretString::from(SECRET.to_owned())),
        jwt_issuer: Some("https://issuer.test".into()),
        jwt_audience: Some("gateway".into()),
        jwt_leeway: std::time::Duration::from_secs(5),
        ..AuthArgs::default()
    }
}

/// Status, body and WWW-Authenticate of `{ organizations { totalCount } }` with these headers.
async fn ask(app: &TestApp, token: Option<&str>, role: Option<&str>) -> (u16, Value, Option<String>) {
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": "{ organizations { totalCount } }" }));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(role) = role {
        request = request.header("x-role", role);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|value| value.to_str().unwrap().to_owned());
    (status, response.json().await.expect("JSON body"), challenge)
}

async fn refused(app: &TestApp, token: &str, reason: &str) {
    let (status, body, challenge) = ask(app, Some(token), None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains(reason), "expected `{reason}` in `{message}`");
    assert!(challenge.is_some_and(|challenge| challenge.starts_with("Bearer error=\"invalid_token\"")));
}

#[tokio::test]
async fn shared_secret_tokens_are_verified_and_every_fault_is_named() {
    let database = TestDatabase::new().await;
    let app = TestApp::builder(&database.args()).auth(&secret_auth()).spawn().await;
    let valid = claims(json!({ "iss": "https://issuer.test", "aud": "gateway" }));
    let (status, body, _) = ask(&app, Some(&hs(&valid, SECRET)), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["organizations"]["totalCount"], 0);

    let with = |extra: Value| {
        let mut token = valid.clone();
        token
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        hs(&token, SECRET)
    };
    refused(&app, &with(json!({ "exp": now() - 60 })), "expired").await;
    refused(&app, &with(json!({ "nbf": now() + 600 })), "not valid yet").await;
    refused(&app, &with(json!({ "iss": "https://evil.test" })), "wrong issuer").await;
    refused(&app, &with(json!({ "aud": "someone-else" })), "wrong audience").await;
    // A configured issuer and audience are required claims, not checks of claims that happen to be there.
    for missing in ["iss", "aud"] {
        let mut token = valid.clone();
        token.as_object_mut().unwrap().remove(missing);
        let (status, body, _) = ask(&app, Some(&hs(&token, SECRET)), None).await;
        assert_eq!(status, 401, "a token without `{missing}`: {body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    }
    refused(&app, &hs(&valid, "another-secret-of-decent-length!!"), "signature").await;
    let token = hs(&valid, SECRET);
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut payload: Value = serde_json::from_slice(&engine.decode(&parts[1]).unwrap()).unwrap();
    payload["org_id"] = json!(2);
    parts[1] = engine.encode(payload.to_string());
    refused(&app, &parts.join("."), "signature").await;
    let none = format!(
        "{}.{}.",
        engine.encode(r#"{"alg":"none","typ":"JWT"}"#),
        engine.encode(valid.to_string())
    );
    refused(&app, &none, "").await;
    refused(&app, "garbage", "malformed").await;
    refused(&app, &"x".repeat(20_000), "malformed").await;

    let (status, body, _) = ask(&app, None, None).await;
    assert_eq!(status, 401, "no token and no anonymous role: {body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("bearer token is required")
    );
    let basic = app
        .client
        .post(app.url("/graphql"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status().as_u16(), 401);

    let token = hs(&valid, SECRET);
    assert_eq!(
        ask(&app, Some(&token), Some("admin")).await.0,
        200,
        "a role the token holds"
    );
    let (status, body, _) = ask(&app, Some(&token), Some("service")).await;
    assert_eq!(status, 403, "a role it does not hold: {body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    app.stop().await;
}

#[tokio::test]
async fn no_token_is_the_anonymous_role_but_a_bad_token_is_never_anonymous() {
    let database = TestDatabase::new().await;
    let auth = AuthArgs {
        anonymous_role: Some("anonymous".into()),
        ..secret_auth()
    };
    let app = TestApp::builder(&database.args()).auth(&auth).spawn().await;
    assert_eq!(ask(&app, None, None).await.0, 200);
    refused(&app, "not.a.token", "malformed").await;
    let expired = hs(
        &claims(json!({ "iss": "https://issuer.test", "aud": "gateway", "exp": now() - 600 })),
        SECRET,
    );
    refused(&app, &expired, "expired").await;
    let page = app
        .client
        .get(app.url("/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200, "the playground page needs no token");
    app.stop().await;
}

/// (private PEM, public PEM) made by `openssl` for `algorithm` (`rsa` or `ec`).
fn key_pair(kind: &str) -> (Vec<u8>, Vec<u8>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("private.pem");
    let public = dir.path().join("public.pem");
    let generate = match kind {
        "rsa" => vec!["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        _ => vec!["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    };
    let status = Command::new("openssl")
        .args(&generate)
        .arg("-out")
        .arg(&private)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl is installed");
    assert!(status.success());
    let status = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&private)
        .arg("-out")
        .arg(&public)
        .status()
        .unwrap();
    assert!(status.success());
    (std::fs::read(&private).unwrap(), std::fs::read(&public).unwrap(), dir)
}

#[tokio::test]
async fn public_key_tokens_and_algorithm_confusion() {
    let database = TestDatabase::new().await;
    let (private, public, dir) = key_pair("rsa");
    let public_path = dir.path().join("public.pem");
    let auth = AuthArgs {
        jwt_public_key_file: Some(public_path),
        jwt_algorithms: vec!["RS256".into()],
        ..AuthArgs::default()
    };
    let app = TestApp::builder(&database.args()).auth(&auth).spawn().await;
    let rs = encode(
        &Header::new(Algorithm::RS256),
        &claims(json!({})),
        &EncodingKey::from_rsa_pem(&private).unwrap(),
    )
    .unwrap();
    assert_eq!(ask(&app, Some(&rs), None).await.0, 200);
    // The classic confusion attack: an HS256 token "signed" with the public key as the secret.
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &claims(json!({})),
        &EncodingKey::from_secret(&public),
    )
    .unwrap();
    refused(&app, &confused, "algorithm").await;
    app.stop().await;

    let (private, _, dir) = key_pair("ec");
    let auth = AuthArgs {
        jwt_public_key_file: Some(dir.path().join("public.pem")),
        jwt_algorithms: vec!["ES256".into()],
        ..AuthArgs::default()
    };
    let app = TestApp::builder(&database.args()).auth(&auth).spawn().await;
    let es = encode(
        &Header::new(Algorithm::ES256),
        &claims(json!({})),
        &EncodingKey::from_ec_pem(&private).unwrap(),
    )
    .unwrap();
    assert_eq!(ask(&app, Some(&es), None).await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn jwks_key_rotation_needs_no_restart() {
    use jsonwebtoken::jwk::{Jwk, JwkSet};
    use std::sync::{Arc, Mutex};
    let (first_private, _, _first_dir) = key_pair("rsa");
    let (second_private, _, _second_dir) = key_pair("rsa");
    let jwk = |private: &[u8], kid: &str| {
        let mut jwk = Jwk::from_encoding_key(&EncodingKey::from_rsa_pem(private).unwrap(), Algorithm::RS256).unwrap();
        jwk.common.key_id = Some(kid.into());
        jwk
    };
    let keys = Arc::new(Mutex::new(JwkSet {
        keys: vec![jwk(&first_private, "k1")],
    }));
    let served = keys.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
    let jwks_server = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let served = served.clone();
            async move { axum::Json(serde_json::to_value(&*served.lock().unwrap()).unwrap()) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, jwks_server).await.unwrap() });

    let database = TestDatabase::new().await;
    let auth = AuthArgs {
        jwks_url: Some(url),
        jwt_algorithms: vec!["RS256".into()],
        jwks_min_refresh: std::time::Duration::ZERO,
        ..AuthArgs::default()
    };
    let app = TestApp::builder(&database.args()).auth(&auth).spawn().await;
    let sign = |private: &[u8], kid: &str| {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        encode(
            &header,
            &claims(json!({})),
            &EncodingKey::from_rsa_pem(private).unwrap(),
        )
        .unwrap()
    };
    let old = sign(&first_private, "k1");
    assert_eq!(ask(&app, Some(&old), None).await.0, 200);
    refused(&app, &sign(&second_private, "k2"), "key id is unknown").await;

    *keys.lock().unwrap() = JwkSet {
        keys: vec![jwk(&second_private, "k2")],
    };
    assert_eq!(
        ask(&app, Some(&sign(&second_private, "k2")), None).await.0,
        200,
        "the new key is fetched"
    );
    refused(&app, &old, "key id is unknown").await;
    refused(&app, &sign(&first_private, "k2"), "signature").await;
    app.stop().await;
}

#[test]
fn gateway_token_mints_a_token_the_gateway_accepts() {
    let (success, stdout, stderr) = run_gateway(
        &[
            "token", "--role", "member", "--sub", "7", "--claim", "org_id=3", "--ttl", "10m",
        ],
        &[("GATEWAY_JWT_SECRET", SECRET)],
    );
    assert!(success, "{stderr}");
    let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
    validation.validate_aud = false;
    let decoded = jsonwebtoken::decode::<Value>(
        stdout.trim(),
        &jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()),
        &validation,
    )
    .expect("a valid token");
    assert_eq!(decoded.claims["role"], "member");
    assert_eq!(decoded.claims["sub"], "7");
    assert_eq!(decoded.claims["org_id"], 3);
    let ttl = decoded.claims["exp"].as_i64().unwrap() - now();
    assert!((590..=600).contains(&ttl), "{ttl}");
    let (success, _, stderr) = run_gateway(&["token", "--role", "member", "--sub", "7"], &[]);
    assert!(!success);
    assert!(stderr.contains("GATEWAY_JWT_SECRET"), "{stderr}");
}

mod websocket {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    use tokio_tungstenite::tungstenite::Message;

    pub(super) type Socket =
        tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

    pub(super) async fn connect(app: &TestApp) -> Socket {
        connect_with(app, None).await
    }

    /// A graphql-transport-ws socket whose upgrade request carries `authorization`, if any.
    async fn connect_with(app: &TestApp, authorization: Option<String>) -> Socket {
        let mut request = format!("ws://{}/graphql/ws", app.address)
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
        if let Some(authorization) = authorization {
            request
                .headers_mut()
                .insert("authorization", authorization.parse().unwrap());
        }
        tokio_tungstenite::connect_async(request)
            .await
            .expect("WebSocket upgrade")
            .0
    }

    async fn init(socket: &mut Socket, token: &str) {
        let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
        socket.send(Message::Text(init.to_string().into())).await.unwrap();
    }

    /// The close code the server ends the connection with, waiting at most `seconds`.
    pub(super) async fn close_code(socket: &mut Socket, seconds: u64) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(seconds);
        while let Ok(Some(message)) = tokio::time::timeout_at(deadline, socket.next()).await {
            if let Ok(Message::Close(frame)) = message {
                return frame.map(|frame| u16::from(frame.code));
            }
        }
        None
    }

    /// The first message after `connection_init` with `payload`, on a socket whose upgrade carried
    /// `upgrade` as its `Authorization` header.
    async fn answer_to_init(app: &TestApp, upgrade: Option<String>, payload: Value) -> Value {
        let mut socket = connect_with(app, upgrade).await;
        let init = json!({ "type": "connection_init", "payload": payload });
        socket.send(Message::Text(init.to_string().into())).await.unwrap();
        match tokio::time::timeout(std::time::Duration::from_secs(5), socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str(&text).unwrap(),
            Ok(Some(Ok(Message::Close(frame)))) => json!({ "closed": frame.map(|frame| u16::from(frame.code)) }),
            other => panic!("no answer to connection_init: {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_other_credential_shapes_authenticate_and_bad_ones_are_refused() {
        let database = TestDatabase::new().await;
        let app = TestApp::builder(&database.args()).auth(&secret_auth()).spawn().await;
        let valid = hs(
            &claims(json!({ "iss": "https://issuer.test", "aud": "gateway" })),
            SECRET,
        );
        // Apollo's subscriptions-transport-ws habit: `authToken` in the payload.
        let answer = answer_to_init(&app, None, json!({ "authToken": valid })).await;
        assert_eq!(answer["type"], "connection_ack", "{answer}");
        // The upgrade request's own header, with an empty payload.
        let answer = answer_to_init(&app, Some(format!("Bearer {valid}")), json!({})).await;
        assert_eq!(answer["type"], "connection_ack", "{answer}");
        // A bad token in any of them is refused, never anonymous.
        let answer = answer_to_init(&app, Some("Bearer not-a-token".into()), json!({})).await;
        assert_eq!(answer, json!({ "closed": 4403 }));
        let answer = answer_to_init(&app, None, json!({ "authToken": "not-a-token" })).await;
        assert_eq!(answer, json!({ "closed": 4403 }));
        app.stop().await;
    }

    #[tokio::test]
    async fn connection_init_is_authenticated_and_an_expired_token_closes_the_socket() {
        let database = TestDatabase::new().await;
        let app = TestApp::builder(&database.args()).auth(&secret_auth()).spawn().await;
        let valid = claims(json!({ "iss": "https://issuer.test", "aud": "gateway" }));

        let mut socket = connect(&app).await;
        init(&mut socket, &hs(&valid, SECRET)).await;
        let ack = socket.next().await.unwrap().unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(ack.to_text().unwrap()).unwrap()["type"],
            "connection_ack"
        );

        let mut socket = connect(&app).await;
        init(&mut socket, "not-a-token").await;
        assert_eq!(
            close_code(&mut socket, 5).await,
            Some(4403),
            "a bad token is refused with 4403"
        );

        // Leeway is 5 s: a token expiring 2 s from now is cut off at its expiry time.
        let short = claims(json!({ "iss": "https://issuer.test", "aud": "gateway", "exp": now() + 2 }));
        let mut socket = connect(&app).await;
        init(&mut socket, &hs(&short, SECRET)).await;
        let ack = socket.next().await.unwrap().unwrap();
        assert!(ack.to_text().unwrap().contains("connection_ack"));
        assert_eq!(
            close_code(&mut socket, 8).await,
            Some(4401),
            "the socket closes when the token expires"
        );

        // A NumericDate may have a fraction: it expires all the same.
        let fractional = claims(json!({ "iss": "https://issuer.test", "aud": "gateway", "exp": now() as f64 + 2.5 }));
        let mut socket = connect(&app).await;
        init(&mut socket, &hs(&fractional, SECRET)).await;
        let ack = socket.next().await.unwrap().unwrap();
        assert!(ack.to_text().unwrap().contains("connection_ack"), "{ack:?}");
        assert_eq!(
            close_code(&mut socket, 8).await,
            Some(4401),
            "a fractional exp closes the socket too"
        );

        app.stop().await;
    }
}

mod websocket_protocol {
    use super::websocket::{close_code, connect};
    use crate::support::{TestApp, TestDatabase};
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;

    #[tokio::test]
    async fn protocol_violations_close_with_the_protocols_codes() {
        let database = TestDatabase::new().await;
        let server = gateway::config::ServerArgs {
            subscriptions: gateway::config::SubscriptionArgs {
                ws_init_timeout: std::time::Duration::from_secs(1),
                ..Default::default()
            },
            ..Default::default()
        };
        let app = TestApp::builder(&database.args()).server(server).spawn().await;

        let mut socket = connect(&app).await;
        socket.send(Message::Text("this is not JSON".into())).await.unwrap();
        assert_eq!(close_code(&mut socket, 5).await, Some(4400), "an invalid message");

        let mut socket = connect(&app).await;
        assert_eq!(
            close_code(&mut socket, 5).await,
            Some(4408),
            "no connection_init in time"
        );

        let mut socket = connect(&app).await;
        let init = serde_json::json!({ "type": "connection_init" }).to_string();
        socket.send(Message::Text(init.clone().into())).await.unwrap();
        socket.send(Message::Text(init.into())).await.unwrap();
        assert_eq!(close_code(&mut socket, 5).await, Some(4429), "a second connection_init");
        app.stop().await;
    }
}
