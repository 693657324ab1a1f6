//! The gateway binary as a separate process, for tests about several gateways at once.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

/// A running `gateway` process; killed when dropped.
pub struct GatewayProcess {
    child: Child,
    pub address: SocketAddr,
}

impl GatewayProcess {
    /// Starts `gateway` on a free port with `env` and waits until it serves (it must log at
    /// `info`, the default, to say where).
    pub fn start(env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gateway"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GATEWAY_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start the gateway");
        let stderr = child.stderr.take().expect("stderr");
        // The log is read on a thread (and drained for the process's life, so it never blocks on
        // a full pipe); the address comes back through a channel, with a deadline.
        let (found, address) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut seen = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("serving GraphQL at http://").nth(1) {
                    let _ = found.send(Ok(rest.split('/').next().unwrap_or_default().to_owned()));
                } else if seen.len() < 64 * 1024 {
                    seen.push_str(&line);
                    seen.push('\n');
                }
            }
            let _ = found.send(Err(seen));
        });
        let address = match address.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(Ok(address)) => address.parse().expect("a socket address"),
            Ok(Err(log)) => {
                let _ = child.kill();
                panic!("the gateway stopped before serving:\n{log}");
            }
            Err(_) => {
                let _ = child.kill();
                panic!("the gateway did not serve within 60 s");
            }
        };
        Self { child, address }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// POSTs a GraphQL query without a token and returns the JSON response.
    pub async fn graphql(&self, query: &str) -> serde_json::Value {
        self.graphql_with(query, serde_json::json!({})).await
    }

    /// POSTs a GraphQL query with `variables` and returns the JSON response.
    pub async fn graphql_with(&self, query: &str, variables: serde_json::Value) -> serde_json::Value {
        self.graphql_as(None, query, variables).await
    }

    /// POSTs a GraphQL query with `variables` and, when given, a bearer `token`.
    pub async fn graphql_as(
        &self,
        token: Option<&str>,
        query: &str,
        variables: serde_json::Value,
    ) -> serde_json::Value {
        let mut request = reqwest::Client::new().post(self.url("/graphql"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request
            .json(&serde_json::json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON")
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
