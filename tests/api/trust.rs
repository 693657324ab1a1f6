//! The trust boundary under the sample policy, tried as an attacker would: writes that probe or
//! reach another tenant (generated from the registry, so every table and relation is covered),
//! junction links, chosen keys, error messages, values that could not be read back, roles the
//! policy does not name, and the limits that keep one request from hurting others.

use crate::permissions::{auth, token};
use crate::support::{TestApp, TestDatabase};
use gateway::config::ServerArgs;
use gateway::metadata::{Registry, RelationKind};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use std::collections::BTreeSet;

struct Attack {
    app: TestApp,
    _database: TestDatabase,
    connection: DatabaseConnection,
    registry: Registry,
}

impl Attack {
    async fn new(server: ServerArgs) -> Self {
        let (database, connection) = TestDatabase::seeded(0.2).await;
        let app = TestApp::builder(&database.args())
            .auth(&auth())
            .server(server)
            .spawn()
            .await;
        Self {
            app,
            _database: database,
            connection,
            registry: gateway::entities::registry().unwrap(),
        }
    }

    async fn ask(&self, token: &str, query: &str, variables: Value) -> Value {
        ask(&self.app, token, query, variables).await
    }

    async fn sql(&self, statement: &str) {
        self.connection
            .execute_raw(Statement::from_string(DbBackend::Postgres, statement))
            .await
            .unwrap_or_else(|error| panic!("{statement}: {error}"));
    }

    /// Column `column` of every row of `table`, as text.
    async fn values(&self, table: &str, column: &str) -> BTreeSet<String> {
        let rows = self
            .connection
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                format!(r#"SELECT "{column}"::text FROM "{table}" WHERE "{column}" IS NOT NULL"#),
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|row| row.try_get_by_index::<String>(0).unwrap())
            .collect()
    }

    /// A digest of every row of every table, to prove that nothing changed.
    async fn snapshot(&self) -> Vec<String> {
        let mut tables = Vec::new();
        for entity in self.registry.entities() {
            let row = self
                .connection
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    format!(
                        r#"SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM "{}" t"#,
                        entity.table
                    ),
                ))
                .await
                .unwrap()
                .unwrap();
            tables.push(row.try_get_by_index::<String>(0).unwrap());
        }
        tables
    }
}

/// POSTs `query` to `app` with a bearer token.
async fn ask(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    app.client
        .post(app.url("/graphql"))
        .header("authorization", format!("Bearer {token}"))
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON")
}

fn code(answer: &Value) -> &str {
    answer["errors"][0]["extensions"]["code"].as_str().unwrap_or("none")
}

/// Keys of `entity` the role reaches through its root list.
async fn visible(attack: &Attack, bearer: &str, entity: &gateway::metadata::Entity, field: &str) -> BTreeSet<String> {
    let answer = attack
        .ask(
            bearer,
            &format!("{{ {}(first: 10000) {{ nodes {{ {field} }} }} }}", entity.list_field),
            json!({}),
        )
        .await;
    answer["data"][&entity.list_field]["nodes"]
        .as_array()
        .map(|nodes| nodes.iter().map(|node| text(&node[field])).collect())
        .unwrap_or_default()
}

/// A String field of the role's patch input for `type_name`, if it has one.
async fn patch_field(attack: &Attack, bearer: &str, type_name: &str) -> Option<String> {
    let answer = attack
        .ask(
            bearer,
            "query($name: String!) { __type(name: $name) { inputFields { name type { name } } } }",
            json!({ "name": format!("{type_name}Patch") }),
        )
        .await;
    answer["data"]["__type"]["inputFields"]
        .as_array()?
        .iter()
        .find(|field| field["type"]["name"] == "String")
        .and_then(|field| field["name"].as_str().map(str::to_owned))
}

fn text(value: &Value) -> String {
    value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string())
}

/// A GraphQL literal for a key value of `kind`.
fn literal(kind: &gateway::metadata::ScalarKind, value: &str) -> String {
    match kind {
        gateway::metadata::ScalarKind::Int => value.to_owned(),
        _ => format!("\"{value}\""),
    }
}

#[tokio::test]
async fn no_write_filter_or_reference_reaches_another_tenant_through_any_relation() {
    let attack = Attack::new(ServerArgs::default()).await;
    let before_other = attack.snapshot().await;
    let mut probes = 0;
    for role in ["member", "admin"] {
        let bearer = token(role, Some(1));
        for entity in attack.registry.entities() {
            let [key] = entity.primary_key.as_slice() else { continue };
            let key_column = entity.column(key).unwrap();
            let own = visible(&attack, &bearer, entity, &key_column.field).await;
            let Some(own_row) = own.iter().next().cloned() else {
                continue;
            };
            let plural = cruet::to_pascal_case(&entity.list_field);
            for relation in entity
                .relations
                .iter()
                .filter(|relation| relation.kind == RelationKind::ManyToOne)
            {
                let [foreign_key] = relation.from_columns.as_slice() else {
                    continue;
                };
                let target = attack.registry.entity(relation.target);
                let target_key = target.column(&relation.to_columns[0]).unwrap();
                let reachable = visible(&attack, &bearer, target, &target_key.field).await;
                let Some(foreign) = attack
                    .values(&target.table, &target_key.name)
                    .await
                    .into_iter()
                    .find(|value| !reachable.contains(value))
                else {
                    continue;
                };
                let fk_field = &entity.column(foreign_key).unwrap().field;
                let foreign_literal = literal(&target_key.kind, &foreign);
                let own_literal = literal(&key_column.kind, &own_row);
                // 1. Pointing an own row at the other tenant's row is refused, as if it did not exist.
                let moved = attack
                    .ask(
                        &bearer,
                        &format!(
                            "mutation {{ update{}({}: {own_literal}, patch: {{{fk_field}: {foreign_literal}}}) {{ {} }} }}",
                            entity.type_name, key_column.field, key_column.field
                        ),
                        json!({}),
                    )
                    .await;
                assert!(
                    matches!(
                        code(&moved),
                        "CONSTRAINT_VIOLATION" | "FORBIDDEN" | "GRAPHQL_VALIDATION_FAILED" | "BAD_USER_INPUT"
                    ),
                    "{role} {}.{fk_field} -> {foreign}: {moved}",
                    entity.type_name
                );
                // 2. With the reference planted behind the gateway's back, a write filter through it
                //    matches nothing: affectedRows cannot be used as an oracle.
                let row = attack
                    .connection
                    .query_one_raw(Statement::from_string(
                        DbBackend::Postgres,
                        format!(
                            r#"SELECT "{foreign_key}"::text FROM "{}" WHERE "{key}"::text = '{own_row}'"#,
                            entity.table
                        ),
                    ))
                    .await
                    .unwrap()
                    .unwrap();
                let original: Option<String> = row.try_get_by_index(0).unwrap();
                let set = |value: Option<&str>| {
                    format!(
                        r#"UPDATE "{}" SET "{foreign_key}" = {} WHERE "{key}"::text = '{own_row}'"#,
                        entity.table,
                        value.map_or("NULL".to_owned(), |value| format!("'{value}'"))
                    )
                };
                // (Skipped where the planted reference would break another constraint.)
                if attack
                    .connection
                    .execute_raw(Statement::from_string(DbBackend::Postgres, set(Some(&foreign))))
                    .await
                    .is_err()
                {
                    continue;
                }
                let filter = format!(
                    "{{{}: {{{}: {{eq: {foreign_literal}}}}}}}",
                    relation.field, target_key.field
                );
                let mut mutations = vec![format!(
                    "mutation {{ delete{plural}(filter: {filter}) {{ affectedRows }} }}"
                )];
                if let Some(field) = patch_field(&attack, &bearer, &entity.type_name).await {
                    mutations.push(format!(
                        "mutation {{ update{plural}(filter: {filter}, patch: {{{field}: \"probe\"}}) {{ affectedRows }} }}"
                    ));
                }
                for mutation in mutations {
                    let answer = attack.ask(&bearer, &mutation, json!({})).await;
                    if code(&answer) == "GRAPHQL_VALIDATION_FAILED" {
                        continue; // not a write this role has
                    }
                    probes += 1;
                    let affected = answer["data"]
                        .as_object()
                        .and_then(|data| data.values().next())
                        .cloned();
                    assert!(
                        affected.as_ref().is_some_and(|result| result["affectedRows"] == 0),
                        "{role}: {mutation}: {answer}"
                    );
                }
                attack.sql(&set(original.as_deref())).await;
            }
        }
    }
    assert!(probes > 0, "the suite found relations to probe");
    assert_eq!(attack.snapshot().await, before_other, "nothing changed");
}

#[tokio::test]
async fn junction_links_follow_the_junction_rules_and_keep_links_the_caller_cannot_see() {
    let attack = Attack::new(ServerArgs::default()).await;
    let member = token("member", Some(1));
    // A task and tag of organization 1, a tag of organization 2 linked behind the gateway's back.
    let task: i64 = first(&attack, "SELECT t.id FROM tasks t JOIN projects p ON p.id = t.project_id WHERE p.organization_id = 1 ORDER BY t.id LIMIT 1").await;
    let own_tag: i64 = first(
        &attack,
        "SELECT id FROM tags WHERE organization_id = 1 ORDER BY id LIMIT 1",
    )
    .await;
    let other_tag: i64 = first(
        &attack,
        "SELECT id FROM tags WHERE organization_id <> 1 ORDER BY id LIMIT 1",
    )
    .await;
    attack
        .sql(&format!("DELETE FROM task_tags WHERE task_id = {task}"))
        .await;
    attack
        .sql(&format!(
            "INSERT INTO task_tags (task_id, tag_id) VALUES ({task}, {other_tag})"
        ))
        .await;
    let answer = attack
        .ask(&member, &format!("mutation {{ updateTask(id: \"{task}\", patch: {{tagIds: [\"{own_tag}\"]}}) {{ tags {{ nodes {{ id }} }} }} }}"), json!({}))
        .await;
    assert_eq!(
        answer["data"]["updateTask"]["tags"]["nodes"],
        json!([{ "id": own_tag.to_string() }]),
        "{answer}"
    );
    let links: i64 = first(
        &attack,
        &format!("SELECT count(*) FROM task_tags WHERE task_id = {task} AND tag_id = {other_tag}"),
    )
    .await;
    assert_eq!(links, 1, "the link to the other organization's tag is left as it is");
    // Linking the other organization's tag is refused.
    let answer = attack
        .ask(
            &member,
            &format!("mutation {{ updateTask(id: \"{task}\", patch: {{tagIds: [\"{other_tag}\"]}}) {{ id }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(code(&answer), "FORBIDDEN", "{answer}");
    // A role whose policy has no junction rules cannot write links at all; one that may not read
    // the linked table cannot replace links either, not even with an empty list.
    let policy = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/policy.toml")).unwrap();
    let no_junction_rules = policy
        .replace("[roles.member.task_tags.insert]", "[roles.nobody.task_tags.insert]")
        .replace("[roles.member.task_tags.delete]", "[roles.nobody.task_tags.delete]");
    // (Junction rules without filters, so only the unreadable tags stand in the way.)
    let unfiltered = |policy: String, section: &str| {
        let filtered =
            format!("[roles.member.{section}]\nfilter = {{ tag = {{ organizationId = {{ eq = \"$org_id\" }} }} }}\n");
        assert!(policy.contains(&filtered), "{section}");
        policy.replace(&filtered, &format!("[roles.member.{section}]\n"))
    };
    let tags_unreadable = unfiltered(
        unfiltered(
            policy.replace("[roles.member.tags.select]", "[roles.nobody.tags.select]"),
            "task_tags.delete",
        ),
        "task_tags.select",
    );
    for variant in [no_junction_rules, tags_unreadable] {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), variant).unwrap();
        let strict = TestApp::builder(&attack._database.args())
            .auth(&gateway::config::AuthArgs {
                policy_file: Some(file.path().to_owned()),
                ..auth()
            })
            .spawn()
            .await;
        let query = format!("mutation {{ updateTask(id: \"{task}\", patch: {{tagIds: []}}) {{ id }} }}");
        let answer = ask(&strict, &member, &query, json!({})).await;
        assert!(
            matches!(code(&answer), "FORBIDDEN" | "GRAPHQL_VALIDATION_FAILED"),
            "{answer}"
        );
        strict.stop().await;
    }
    let links: i64 = first(
        &attack,
        &format!("SELECT count(*) FROM task_tags WHERE task_id = {task} AND tag_id = {other_tag}"),
    )
    .await;
    assert_eq!(links, 1, "links to rows the caller cannot read stay");
}

async fn first<T: sea_orm::TryGetable>(attack: &Attack, sql: &str) -> T {
    let row = attack
        .connection
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no row: {sql}"));
    row.try_get_by_index(0).unwrap()
}

#[tokio::test]
async fn roles_cannot_choose_keys_and_errors_carry_no_other_tenants_values() {
    let attack = Attack::new(ServerArgs::default()).await;
    let member = token("member", Some(1));
    let admin = token("admin", Some(1));
    let task: i64 = first(&attack, "SELECT t.id FROM tasks t JOIN projects p ON p.id = t.project_id WHERE p.organization_id = 1 ORDER BY t.id LIMIT 1").await;
    let next: i64 = first(&attack, "SELECT max(id) + 1 FROM comments").await;
    let answer = attack
        .ask(
            &member,
            &format!(
                "mutation {{ createComment(input: {{id: \"{next}\", taskId: \"{task}\", body: \"x\"}}) {{ id }} }}"
            ),
            json!({}),
        )
        .await;
    assert_eq!(
        code(&answer),
        "GRAPHQL_VALIDATION_FAILED",
        "ids are not in a member's input: {answer}"
    );
    let answer = attack
        .ask(&member, &format!("mutation {{ createComment(input: {{taskId: \"{task}\", body: \"x\", createdAt: \"2020-01-01T00:00:00Z\"}}) {{ id }} }}"), json!({}))
        .await;
    assert_eq!(
        code(&answer),
        "GRAPHQL_VALIDATION_FAILED",
        "nor creation timestamps: {answer}"
    );
    let answer = attack
        .ask(
            &member,
            &format!("mutation {{ createComment(input: {{taskId: \"{task}\", body: \"x\"}}) {{ body }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(answer["data"]["createComment"]["body"], "x", "{answer}");
    // A unique email of another organization: the message names the field, not the value or constraint.
    let email: String = first(
        &attack,
        "SELECT email FROM users WHERE organization_id <> 1 ORDER BY id LIMIT 1",
    )
    .await;
    let answer = attack
        .ask(&admin, "mutation($email: String!) { createUser(input: {email: $email, displayName: \"x\", role: MEMBER, externalId: \"00000000-0000-4000-8000-000000000001\"}) { id } }", json!({ "email": email }))
        .await;
    assert_eq!(code(&answer), "CONSTRAINT_VIOLATION", "{answer}");
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("email") && !message.contains(&email) && !message.contains("users_"),
        "{message}"
    );
    // A reference to a row that does not exist reads like one to a row of another tenant.
    let other_user: i64 = first(
        &attack,
        "SELECT id FROM users WHERE organization_id <> 1 ORDER BY id LIMIT 1",
    )
    .await;
    let mut messages = Vec::new();
    for assignee in [other_user, 999_999_999] {
        let answer = attack
            .ask(
                &member,
                &format!("mutation {{ updateTask(id: \"{task}\", patch: {{assigneeId: \"{assignee}\"}}) {{ id }} }}"),
                json!({}),
            )
            .await;
        assert_eq!(code(&answer), "CONSTRAINT_VIOLATION", "{answer}");
        messages.push(answer["errors"][0]["message"].clone());
    }
    assert_eq!(messages[0], messages[1], "existence is not told apart from visibility");
}

#[tokio::test]
async fn values_that_could_not_be_read_back_are_refused_naming_the_field() {
    let attack = Attack::new(ServerArgs::default()).await;
    let admin = token("admin", Some(1));
    let task: i64 = first(&attack, "SELECT t.id FROM tasks t JOIN projects p ON p.id = t.project_id WHERE p.organization_id = 1 ORDER BY t.id LIMIT 1").await;
    for due in ["+10000-01-01", "0000-06-01"] {
        let answer = attack
            .ask(
                &admin,
                "mutation($id: BigInt!, $due: Date) { updateTask(id: $id, patch: {dueOn: $due}) { id } }",
                json!({ "id": task.to_string(), "due": due }),
            )
            .await;
        assert!(
            matches!(code(&answer), "BAD_USER_INPUT" | "GRAPHQL_VALIDATION_FAILED"),
            "{due}: {answer}"
        );
        assert!(
            answer["errors"][0]["message"].as_str().unwrap().contains("due"),
            "{answer}"
        );
    }
    let answer = attack
        .ask(
            &admin,
            "mutation($id: BigInt!) { updateTask(id: $id, patch: {title: \"a\\u0000b\"}) { id } }",
            json!({ "id": task.to_string() }),
        )
        .await;
    assert!(
        matches!(code(&answer), "BAD_USER_INPUT" | "GRAPHQL_VALIDATION_FAILED"),
        "{answer}"
    );
    // Every role still reads the row.
    let answer = attack
        .ask(
            &admin,
            &format!("{{ task(id: \"{task}\") {{ dueOn title }} }}"),
            json!({}),
        )
        .await;
    assert!(answer.get("errors").is_none(), "{answer}");
}

#[tokio::test]
async fn a_role_the_policy_does_not_name_sees_no_schema_and_no_data() {
    let attack = Attack::new(ServerArgs::default()).await;
    let intruder = token("intruder", Some(1));
    for query in [
        "{ __schema { types { name } } }",
        "{ tasks { totalCount } }",
        "{ __typename }",
    ] {
        let answer = attack.ask(&intruder, query, json!({})).await;
        assert_eq!(code(&answer), "FORBIDDEN", "{query}: {answer}");
        assert!(answer.get("data").is_none_or(Value::is_null), "{answer}");
    }
}

#[tokio::test]
async fn cost_counts_variables_and_answers_are_bounded() {
    let attack = Attack::new(ServerArgs {
        limits: gateway::config::LimitArgs {
            max_response_bytes: 2_000,
            ..Default::default()
        },
        ..ServerArgs::default()
    })
    .await;
    let service = token("service", None);
    let deep = "query($n: Int) { projects(first: $n) { nodes { tasks(first: $n) { nodes { comments(first: $n) { nodes { id body } } } } } } }";
    let answer = attack.ask(&service, deep, json!({ "n": 10_000 })).await;
    assert_eq!(code(&answer), "QUERY_LIMIT_EXCEEDED", "{answer}");
    let defaulted = "query($n: Int = 10000) { projects(first: $n) { nodes { tasks(first: $n) { nodes { comments(first: $n) { nodes { id body } } } } } } }";
    let answer = attack.ask(&service, defaulted, json!({})).await;
    assert_eq!(code(&answer), "QUERY_LIMIT_EXCEEDED", "a default counts too: {answer}");
    let answer = attack.ask(&service, deep, json!({ "n": 1 })).await;
    assert!(answer.get("errors").is_none(), "small pages run: {answer}");
    let answer = attack
        .ask(
            &service,
            "{ tasks(first: 200) { nodes { id title status priority } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        code(&answer),
        "QUERY_LIMIT_EXCEEDED",
        "more than GATEWAY_MAX_RESPONSE_BYTES: {answer}"
    );
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("GATEWAY_MAX_RESPONSE_BYTES")
    );
}

#[tokio::test]
async fn metrics_can_require_a_bearer_token() {
    let database = TestDatabase::new().await;
    let app = TestApp::builder(&database.args())
        .server(ServerArgs {
            http: gateway::config::HttpArgs {
                metrics_token: Some("metrics-secret".into()),
                ..Default::default()
            },
            ..ServerArgs::default()
        })
        .spawn()
        .await;
    for (bearer, status) in [(None, 401), (Some("metrics-secre"), 401), (Some("metrics-secret"), 200)] {
        let mut request = app.client.get(app.url("/metrics"));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        assert_eq!(request.send().await.unwrap().status(), status, "{bearer:?}");
    }
    app.stop().await;
}

#[test]
fn with_authentication_on_and_no_policy_the_gateway_refuses_to_start() {
    let (success, _, stderr) = crate::support::run_gateway(
        &["serve"],
        &[
            ("GATEWAY_JWT_SECRET", "a-long-enough-secret-for-this-test-0123"),
            ("DATABASE_URL", "postgres://127.0.0.1:1/none"),
        ],
    );
    assert!(!success);
    assert!(
        stderr.contains("GATEWAY_POLICY_FILE") && stderr.contains("GATEWAY_ALLOW_ALL"),
        "{stderr}"
    );
    let (success, _, stderr) = crate::support::run_gateway(&["serve"], &[("GATEWAY_JWT_SECRET", "short")]);
    assert!(!success);
    assert!(stderr.contains("at least 32"), "{stderr}");
}

#[test]
fn a_policy_with_authentication_off_refuses_to_start_instead_of_restricting_nothing() {
    let policy = concat!(env!("CARGO_MANIFEST_DIR"), "/policy.toml");
    let (success, _, stderr) = crate::support::run_gateway(
        &["serve"],
        &[
            ("GATEWAY_POLICY_FILE", policy),
            ("DATABASE_URL", "postgres://127.0.0.1:1/none"),
        ],
    );
    assert!(!success);
    assert!(
        stderr.contains("authentication is off") && stderr.contains("GATEWAY_ANONYMOUS_ROLE"),
        "{stderr}"
    );
}

#[tokio::test]
async fn over_the_websocket_a_mutation_operation_is_one_transaction_and_operations_time_out() {
    let attack = Attack::new(ServerArgs::default()).await;
    let admin = token("admin", Some(1));
    let mut socket = crate::subscriptions::Client::connect(&attack.app, Some(&admin)).await;
    socket
        .subscribe(
            "1",
            r#"mutation { a: createTag(input: {name: "ws-atomic"}) { id } b: deleteTag(id: "999999999") { id } }"#,
        )
        .await;
    let message = socket.next_message().await;
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(
        message["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{message}"
    );
    let kept: i64 = first(&attack, "SELECT count(*) FROM tags WHERE name = 'ws-atomic'").await;
    assert_eq!(kept, 0, "the first field's insert was rolled back with the operation");

    let slow = TestApp::builder(&attack._database.args())
        .auth(&auth())
        .server(ServerArgs {
            limits: gateway::config::LimitArgs {
                request_timeout: std::time::Duration::from_millis(1),
                ..Default::default()
            },
            ..ServerArgs::default()
        })
        .spawn()
        .await;
    let mut socket = crate::subscriptions::Client::connect(&slow, Some(&admin)).await;
    socket
        .subscribe(
            "2",
            "{ tasks(first: 1000) { totalCount nodes { comments { totalCount nodes { body } } } } }",
        )
        .await;
    let message = socket.next_message().await;
    assert_eq!(
        message["payload"]["errors"][0]["extensions"]["code"], "TIMEOUT",
        "{message}"
    );
    slow.stop().await;
}
