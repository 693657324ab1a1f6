//! Apollo Federation v2 (`GATEWAY_FEDERATION`): the subgraph SDL `_service` answers, `_entities`
//! under the caller's permissions (checked against hand-written SQL), refusals, SQLite and
//! composite keys, and the real router library composing the gateway with another subgraph.

use crate::permissions::{auth, token};
use crate::support::{TestApp, TestDatabase};
use gateway::config::{DatabaseArgs, ServerArgs};
use migration::MigratorTrait;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};

fn federated() -> ServerArgs {
    ServerArgs {
        operations: gateway::config::OperationArgs {
            federation: true,
            ..Default::default()
        },
        ..ServerArgs::default()
    }
}

/// Two organizations (scale 0.2) behind the sample policy, served as a subgraph.
struct Subgraph {
    app: TestApp,
    connection: DatabaseConnection,
    _database: TestDatabase,
}

impl Subgraph {
    async fn new(server: ServerArgs) -> Self {
        let database = TestDatabase::new().await;
        let connection = database.connect().await;
        gateway::sample::seed::seed(&connection, 0.2).await.expect("seed");
        let app = TestApp::builder(&database.args())
            .auth(&auth())
            .server(server)
            .spawn()
            .await;
        Self {
            app,
            connection,
            _database: database,
        }
    }

    /// The same database served with other settings.
    async fn restart(&mut self, server: ServerArgs) {
        let args = self._database.args();
        let previous = std::mem::replace(
            &mut self.app,
            TestApp::builder(&args).auth(&auth()).server(server).spawn().await,
        );
        previous.stop().await;
    }

    async fn post(&self, token: Option<&str>, body: Value) -> Value {
        let mut request = self.app.client.post(self.app.url("/graphql")).json(&body);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.send().await.expect("request").json().await.expect("JSON")
    }

    async fn ask(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        self.post(token, json!({ "query": query, "variables": variables }))
            .await
    }

    /// `(id, title)` of tasks of `organization`, by id.
    async fn tasks_of(&self, organization: i64, count: usize) -> Vec<(i64, String)> {
        self.tasks_where(&format!("p.organization_id = {organization}"), count)
            .await
    }

    /// `(id, title)` of tasks in public projects, by id.
    async fn public_tasks(&self, count: usize) -> Vec<(i64, String)> {
        self.tasks_where("p.is_public", count).await
    }

    /// `(id, title)` of the first `count` tasks whose project meets `condition` (on `p`).
    async fn tasks_where(&self, condition: &str, count: usize) -> Vec<(i64, String)> {
        self.connection
            .query_all_raw(Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!(
                    "SELECT t.id, t.title FROM tasks t JOIN projects p ON p.id = t.project_id \
                     WHERE {condition} ORDER BY t.id LIMIT {count}"
                ),
            ))
            .await
            .expect("tasks")
            .iter()
            .map(|row| (row.try_get("", "id").unwrap(), row.try_get("", "title").unwrap()))
            .collect()
    }
}

const ENTITIES: &str = "query($r: [_Any!]!) { _entities(representations: $r) {
    __typename
    ... on Task { id title }
    ... on Project { name }
    ... on User { displayName }
} }";

fn code(answer: &Value) -> &str {
    answer["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error: {answer}"))
}

/// The router's reference lookup answers each representation in its place: the row when the
/// caller may read it, `null` when it is another organization's or does not exist; repeated and
/// mixed-type representations included. The titles are the database's.
#[tokio::test]
async fn entities_answer_each_representation_with_the_callers_rows_only() {
    let subgraph = Subgraph::new(federated()).await;
    let own = subgraph.tasks_of(1, 2).await;
    let other = subgraph.tasks_of(2, 1).await;
    let project: i64 = subgraph
        .connection
        .query_one_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT id FROM projects WHERE organization_id = 1 ORDER BY id LIMIT 1",
        ))
        .await
        .expect("project")
        .expect("a project")
        .try_get("", "id")
        .unwrap();
    let project_name: String = subgraph
        .connection
        .query_one_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("SELECT name FROM projects WHERE id = {project}"),
        ))
        .await
        .expect("name")
        .expect("a row")
        .try_get("", "name")
        .unwrap();
    let representations = json!([
        { "__typename": "Task", "id": own[0].0.to_string() },
        { "__typename": "Task", "id": other[0].0.to_string() },
        { "__typename": "Project", "id": project },
        { "__typename": "Task", "id": own[1].0, "title": "ignored: only the key counts" },
        { "__typename": "Task", "id": "999999999" },
        { "__typename": "Task", "id": own[0].0.to_string() },
    ]);
    let member = token("member", Some(1));
    let answer = subgraph
        .ask(Some(&member), ENTITIES, json!({ "r": representations }))
        .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let task = |(id, title): &(i64, String)| json!({ "__typename": "Task", "id": id.to_string(), "title": title });
    assert_eq!(
        answer["data"]["_entities"],
        json!([
            task(&own[0]),
            null,
            { "__typename": "Project", "name": project_name },
            task(&own[1]),
            null,
            task(&own[0]),
        ])
    );
    // The other organization's member sees the mirror image.
    let answer = subgraph
        .ask(
            Some(&token("member", Some(2))),
            ENTITIES,
            json!({ "r": representations }),
        )
        .await;
    let entities = &answer["data"]["_entities"];
    assert_eq!(entities[0], Value::Null, "{answer}");
    assert_eq!(entities[1], task(&other[0]), "{answer}");
    subgraph.app.stop().await;
}

/// `_service { sdl }` is the caller's view as a subgraph: every type with a primary key carries
/// `@key`, the federation `@link` is there, and nothing a role may not read appears. It equals
/// `gateway schema --role R --federation`. With introspection off `_service` is refused (the SDL
/// is the schema) while `_entities`, which is data under permissions, still answers.
#[tokio::test]
async fn service_sdl_is_the_roles_subgraph_view_with_a_key_on_every_entity() {
    let mut subgraph = Subgraph::new(federated()).await;
    let member = token("member", Some(1));
    let answer = subgraph.ask(Some(&member), "{ _service { sdl } }", json!({})).await;
    let sdl = answer["data"]["_service"]["sdl"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"));
    let registry = std::sync::Arc::new(gateway::entities::registry().expect("registry"));
    let policy = gateway::permission::Policy::load(
        auth().policy_file.as_ref().expect("policy"),
        &registry,
        &auth().jwt_session_claims,
    )
    .expect("policy");
    let printed = gateway::schema::role_sdl(registry, &policy, "member", true).expect("SDL");
    assert!(printed.ends_with(sdl), "the CLI prints what `_service` answers");
    for keyed in [
        "type Task implements Node @key(fields: \"id\")",
        "type User implements Node @key(fields: \"id\")",
        "type TaskTag implements Node @key(fields: \"taskId tagId\")",
    ] {
        assert!(sdl.contains(keyed), "{keyed} in {sdl}");
    }
    assert!(sdl.contains("extend schema @link("), "{sdl}");
    assert!(sdl.contains("https://specs.apollo.dev/federation/v2"), "{sdl}");
    assert!(!sdl.contains("email"), "the member's view has no user emails");
    assert!(
        !sdl.contains("_entities") && !sdl.contains("type Subscription"),
        "{sdl}"
    );
    async_graphql::parser::parse_schema(sdl).expect("the subgraph SDL parses");

    subgraph
        .restart(ServerArgs {
            operations: gateway::config::OperationArgs {
                introspection: false,
                ..federated().operations
            },
            ..federated()
        })
        .await;
    let refused = subgraph.ask(Some(&member), "{ _service { sdl } }", json!({})).await;
    assert_eq!(code(&refused), "FORBIDDEN", "{refused}");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("gateway schema --federation")
    );
    let own = subgraph.tasks_of(1, 1).await;
    let answer = subgraph
        .ask(
            Some(&member),
            ENTITIES,
            json!({ "r": [{ "__typename": "Task", "id": own[0].0 }] }),
        )
        .await;
    assert_eq!(answer["data"]["_entities"][0]["title"], json!(own[0].1), "{answer}");
    subgraph.app.stop().await;
}

/// A reference lookup is by key: more references than a page may hold (`GATEWAY_MAX_PAGE_SIZE`)
/// all come back, in chunks, up to the role's `limit` (anonymous: 100 tasks), past which the
/// lookup is refused like a list; two aliased `_entities` fields and the operations of a batch
/// each get their own `null`s; over the WebSocket too.
#[tokio::test]
async fn many_references_aliases_batches_and_websockets_each_get_their_own_rows() {
    let subgraph = Subgraph::new(ServerArgs {
        limits: gateway::config::LimitArgs {
            max_page_size: 60,
            ..federated().limits
        },
        ..federated()
    })
    .await;
    let public = subgraph.public_tasks(150).await;
    assert_eq!(public.len(), 150, "enough public tasks");
    let titles = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Task { title } } }";
    let representations: Vec<Value> = public
        .iter()
        .map(|(id, _)| json!({ "__typename": "Task", "id": id }))
        .collect();
    let answer = subgraph.ask(None, titles, json!({ "r": representations[..100] })).await;
    let expected: Vec<Value> = public[..100]
        .iter()
        .map(|(_, title)| json!({ "title": title }))
        .collect();
    assert_eq!(answer["data"]["_entities"], Value::Array(expected.clone()), "{answer}");
    let answer = subgraph.ask(None, titles, json!({ "r": representations })).await;
    assert_eq!(code(&answer), "QUERY_LIMIT_EXCEEDED", "{answer}");

    let member = token("member", Some(1));
    let own = subgraph.tasks_of(1, 2).await;
    let other = subgraph.tasks_of(2, 1).await;
    let rep = |id: i64| json!({ "__typename": "Task", "id": id });
    let aliased = "query($a: [_Any!]!, $b: [_Any!]!) {
        first: _entities(representations: $a) { ... on Task { title } }
        second: _entities(representations: $b) { ... on Task { title } } }";
    let answer = subgraph
        .ask(
            Some(&member),
            aliased,
            json!({ "a": [rep(other[0].0), rep(own[0].0)], "b": [rep(own[1].0), rep(other[0].0)] }),
        )
        .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    assert_eq!(answer["data"]["first"], json!([null, { "title": own[0].1 }]));
    assert_eq!(answer["data"]["second"], json!([{ "title": own[1].1 }, null]));

    let batch = subgraph
        .post(
            Some(&member),
            json!([
                { "query": titles, "variables": { "r": [rep(own[0].0), rep(other[0].0)] } },
                { "query": titles, "variables": { "r": [rep(other[0].0), rep(own[1].0)] } },
            ]),
        )
        .await;
    assert_eq!(
        batch[0]["data"]["_entities"],
        json!([{ "title": own[0].1 }, null]),
        "{batch}"
    );
    assert_eq!(
        batch[1]["data"]["_entities"],
        json!([null, { "title": own[1].1 }]),
        "{batch}"
    );

    let mut client = crate::subscriptions::Client::connect(&subgraph.app, Some(&member)).await;
    client
        .subscribe(
            "refs",
            &format!(
                "{{ _entities(representations: [{{ __typename: \"Task\", id: {} }}, {{ __typename: \"Task\", id: {} }}]) {{ ... on Task {{ title }} }} }}",
                other[0].0, own[0].0
            ),
        )
        .await;
    assert_eq!(
        client.data("refs").await["_entities"],
        json!([null, { "title": own[0].1 }])
    );
    subgraph.app.stop().await;
}

/// Representations are input like any other: each malformed one is a coded refusal and the
/// column permissions of the role's view hold inside fragments; the cost model counts one row per
/// representation; without federation the fields do not exist.
#[tokio::test]
async fn malformed_representations_and_hidden_columns_are_refused() {
    let subgraph = Subgraph::new(ServerArgs {
        limits: gateway::config::LimitArgs {
            max_cost: 200,
            ..federated().limits
        },
        ..federated()
    })
    .await;
    let member = token("member", Some(1));
    for (representations, expected) in [
        (json!([{ "id": 1 }]), "BAD_USER_INPUT"),
        (json!([{ "__typename": "Nope", "id": 1 }]), "BAD_USER_INPUT"),
        (json!([{ "__typename": "Task" }]), "BAD_USER_INPUT"),
        (json!([{ "__typename": "Task", "id": "one" }]), "BAD_USER_INPUT"),
        (
            json!([{ "__typename": "Task", "id": { "in": [1, 2] } }]),
            "BAD_USER_INPUT",
        ),
        (json!(["Task"]), "BAD_USER_INPUT"),
        // The mutation and subscription types are no entities.
        (json!([{ "__typename": "Mutation", "id": 1 }]), "BAD_USER_INPUT"),
    ] {
        let answer = subgraph
            .ask(Some(&member), ENTITIES, json!({ "r": representations }))
            .await;
        assert_eq!(code(&answer), expected, "{representations}: {answer}");
        assert_eq!(answer["data"], Value::Null, "{answer}");
    }
    let hidden = "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { email } } }";
    let answer = subgraph
        .ask(
            Some(&member),
            hidden,
            json!({ "r": [{ "__typename": "User", "id": 1 }] }),
        )
        .await;
    assert_eq!(code(&answer), "GRAPHQL_VALIDATION_FAILED", "{answer}");
    // 100 representations × 5 fields is over the cost bound of 200; 10 are not.
    let many: Vec<Value> = (1..=100).map(|id| json!({ "__typename": "Task", "id": id })).collect();
    let answer = subgraph.ask(Some(&member), ENTITIES, json!({ "r": many })).await;
    assert_eq!(code(&answer), "QUERY_LIMIT_EXCEEDED", "{answer}");
    let answer = subgraph.ask(Some(&member), ENTITIES, json!({ "r": many[..10] })).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    subgraph.app.stop().await;

    let plain = Subgraph::new(ServerArgs::default()).await;
    let answer = plain.ask(Some(&member), "{ _service { sdl } }", json!({})).await;
    assert_eq!(code(&answer), "GRAPHQL_VALIDATION_FAILED", "{answer}");
    plain.app.stop().await;
}

/// On SQLite, with a composite key (`task_tags`): the rows come back in the representations'
/// order, as the database has them.
#[tokio::test]
async fn entities_resolve_composite_keys_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("federation.db").display());
    let connection = sea_orm::Database::connect(&url).await.expect("open SQLite");
    migration::Migrator::up(&connection, None).await.expect("migrate");
    gateway::sample::seed::seed(&connection, 0.1).await.expect("seed");
    let app = TestApp::builder(&DatabaseArgs::with_url(Some(&url)))
        .server(federated())
        .spawn()
        .await;
    let rows = connection
        .query_all_raw(Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "SELECT tt.task_id, tt.tag_id, g.name FROM task_tags tt JOIN tags g ON g.id = tt.tag_id \
             ORDER BY tt.task_id DESC, tt.tag_id LIMIT 3",
        ))
        .await
        .expect("task tags");
    let rows: Vec<(i64, i64, String)> = rows
        .iter()
        .map(|row| {
            (
                row.try_get("", "task_id").unwrap(),
                row.try_get("", "tag_id").unwrap(),
                row.try_get("", "name").unwrap(),
            )
        })
        .collect();
    let mut representations: Vec<Value> = rows
        .iter()
        .map(|(task, tag, _)| json!({ "__typename": "TaskTag", "taskId": task, "tagId": tag }))
        .collect();
    // A key of two existing ids that is not a pair.
    representations.push(json!({ "__typename": "TaskTag", "taskId": rows[0].0, "tagId": 999999 }));
    let query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on TaskTag { taskId tag { name } } } }";
    let answer = app.graphql(query, json!({ "r": representations })).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let mut expected: Vec<Value> = rows
        .iter()
        .map(|(task, _, name)| json!({ "taskId": task.to_string(), "tag": { "name": name } }))
        .collect();
    expected.push(Value::Null);
    assert_eq!(answer["data"]["_entities"], Value::Array(expected));
    app.stop().await;
}

/// `@apollo/gateway` composes the gateway with a second subgraph (`@apollo/subgraph`) from their
/// `_service` SDLs and answers queries that cross both ways, forwarding the client's token: the
/// gateway resolves the router's references with that member's permissions.
#[tokio::test]
async fn apollo_gateway_composes_the_subgraph_and_resolves_references_both_ways() {
    let subgraph = Subgraph::new(federated()).await;
    let own = subgraph.tasks_of(1, 1).await;
    let other = subgraph.tasks_of(2, 1).await;
    let (member, own, other) = (token("member", Some(1)), own[0].0.to_string(), other[0].0.to_string());
    crate::clients::run_node(
        &subgraph.app.url("/graphql"),
        "federation.mjs",
        &[&member, &own, &other],
    )
    .await;
    subgraph.app.stop().await;
}

/// One row asked for many times is answered many times: every copy counts against
/// `GATEWAY_MAX_RESPONSE_BYTES`, so repeating a representation cannot multiply one row past it.
#[tokio::test]
async fn repeated_representations_are_charged_per_copy() {
    let subgraph = Subgraph::new(ServerArgs {
        limits: gateway::config::LimitArgs {
            max_response_bytes: 20_000,
            ..federated().limits
        },
        ..federated()
    })
    .await;
    let member = token("member", Some(1));
    let query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Project { name tasks(first: 10) { nodes { id title } } } } }";
    let copies = |count: usize| json!({ "r": vec![json!({ "__typename": "Project", "id": 1 }); count] });
    let answer = subgraph.ask(Some(&member), query, copies(2)).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let one = serde_json::to_string(&answer["data"]["_entities"][0]).unwrap().len();
    // Far below the bound read once, far above it placed 3,000 times.
    assert!(one * 3_000 > 40_000, "{one}");
    let answer = subgraph.ask(Some(&member), query, copies(3_000)).await;
    assert_eq!(code(&answer), "QUERY_LIMIT_EXCEEDED", "{answer}");
    // The role's `limit` (anonymous: 100 tasks a list) bounds the rows one lookup reads too.
    let tasks = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Task { id } } }";
    let keys = |count: i64| json!({ "r": (1..=count).map(|id| json!({ "__typename": "Task", "id": id })).collect::<Vec<_>>() });
    let answer = subgraph.ask(None, tasks, keys(100)).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let answer = subgraph.ask(None, tasks, keys(101)).await;
    assert_eq!(code(&answer), "QUERY_LIMIT_EXCEEDED", "{answer}");
    subgraph.app.stop().await;
}
