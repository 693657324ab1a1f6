//! Running past one process and one server: several gateway processes on one database behave as
//! one, and reads go to a streaming read replica (falling back to the primary without it).

use crate::subscriptions::Client;
use crate::support::TestDatabase;
use crate::support::process::GatewayProcess;
use serde_json::{Value, json};

/// Sends each request to the next gateway in turn, as a round-robin load balancer would.
struct RoundRobin<'a> {
    gateways: &'a [GatewayProcess],
    next: usize,
    client: reqwest::Client,
}

impl RoundRobin<'_> {
    async fn graphql(&mut self, query: &str) -> Value {
        let gateway = &self.gateways[self.next % self.gateways.len()];
        self.next += 1;
        let answer: Value = self
            .client
            .post(gateway.url("/graphql"))
            .json(&json!({ "query": query }))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON");
        assert!(answer.get("errors").is_none(), "{answer}");
        answer["data"].clone()
    }
}

#[tokio::test]
async fn three_gateway_processes_behave_as_one() {
    let database = TestDatabase::new().await;
    let connection = database.connect().await;
    gateway::seed::seed(&connection, 0.1).await.expect("seed");
    let gateways: Vec<GatewayProcess> = (0..3)
        .map(|_| GatewayProcess::start(&[("DATABASE_URL", &database.url)]))
        .collect();
    // A subscriber on each process.
    let mut subscribers = Vec::new();
    for gateway in &gateways {
        let mut client = Client::connect_to(gateway.address, None).await;
        client
            .subscribe("1", "subscription { tagChanged(ops: [INSERT]) { row { name } } }")
            .await;
        subscribers.push(client);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut balancer = RoundRobin {
        gateways: &gateways,
        next: 0,
        client: reqwest::Client::new(),
    };
    // Writes through each process in turn; every read, whichever process answers, sees all of them.
    for step in 0..6 {
        balancer
            .graphql(&format!(
                r#"mutation {{ createTag(input: {{ organizationId: 1, name: "scaled-{step}" }}) {{ id }} }}"#
            ))
            .await;
        let seen = balancer
            .graphql(r#"{ tags(filter: { name: { startsWith: "scaled-" } }) { totalCount } }"#)
            .await;
        assert_eq!(
            seen["tags"]["totalCount"],
            step + 1,
            "read after write through another process"
        );
    }
    // Each subscriber, on whichever process, heard of every write.
    for (index, subscriber) in subscribers.iter_mut().enumerate() {
        let mut names = Vec::new();
        while names.len() < 6 {
            let data = subscriber.data("1").await;
            names.push(data["tagChanged"]["row"]["name"].as_str().unwrap().to_owned());
        }
        names.sort();
        let expected: Vec<String> = (0..6).map(|step| format!("scaled-{step}")).collect();
        assert_eq!(names, expected, "subscriber on process {index}");
    }
}
