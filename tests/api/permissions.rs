//! Read permissions from the sample `policy.toml`: tenant isolation through every generated root
//! field and relation path (the suite is generated from the registry, so it grows with it), column
//! permissions, anonymous and service roles, and policy validation.

use crate::support::{TestApp, TestDatabase};
use gateway::config::AuthArgs;
use gateway::metadata::RelationKind;
use secrecy::SecretString;
use serde_json::{Value, json};
use std::collections::BTreeSet;

pub(crate) const SECRET: &str = "permissions-test-secret-0123456789";

pub(crate) fn auth() -> AuthArgs {
    AuthArgs {
        jwt_secret: Some(SecretString::from(SECRET.to_owned())),
        anonymous_role: Some("anonymous".into()),
        policy_file: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/policy.toml").into()),
        ..AuthArgs::default()
    }
}

pub(crate) fn token(role: &str, organization: Option<i64>) -> String {
    let claims: Vec<String> = organization.map(|id| format!("org_id={id}")).into_iter().collect();
    gateway::auth::token::mint(&auth(), role, "7", &claims, std::time::Duration::from_secs(600)).expect("token")
}

struct Tenants {
    app: TestApp,
    _database: TestDatabase,
    connection: sea_orm::DatabaseConnection,
}

impl Tenants {
    /// Two organizations (scale 0.2) behind the sample policy.
    async fn new() -> Self {
        let database = TestDatabase::new().await;
        let connection = database.connect().await;
        gateway::sample::seed::seed(&connection, 0.2).await.expect("seed");
        let app = TestApp::builder(&database.args()).auth(&auth()).spawn().await;
        Self {
            app,
            _database: database,
            connection,
        }
    }

    async fn ask(&self, token: Option<&str>, query: &str) -> Value {
        let mut request = self
            .app
            .client
            .post(self.app.url("/graphql"))
            .json(&json!({ "query": query }));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.send().await.expect("request").json().await.expect("JSON")
    }

    async fn data(&self, token: Option<&str>, query: &str) -> Value {
        let answer = self.ask(token, query).await;
        assert!(answer.get("errors").is_none(), "{query}: {answer}");
        answer["data"].clone()
    }

    /// Asserts the request is refused: absent from the role's schema view (validation) or refused
    /// by the planner's permission check (FORBIDDEN), the second line of defence.
    async fn refused(&self, token: Option<&str>, query: &str) {
        let code = self.code(token, query).await;
        assert!(
            code == "FORBIDDEN" || code == "GRAPHQL_VALIDATION_FAILED",
            "{query}: {code}"
        );
    }

    async fn code(&self, token: Option<&str>, query: &str) -> String {
        let answer = self.ask(token, query).await;
        answer["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("expected an error: {answer}"))
            .to_owned()
    }

    async fn count(&self, sql: &str) -> i64 {
        self.value(sql).await
    }

    /// The first column of the first row of hand-written SQL.
    async fn value<T: sea_orm::TryGetable>(&self, sql: &str) -> T {
        use sea_orm::ConnectionTrait;
        let row = self
            .connection
            .query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, sql))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index(0).unwrap()
    }
}

/// Every key a member of each organization reaches, per entity, through every root list and
/// every relation of it (generated from the registry).
async fn reachable(tenants: &Tenants, token: &str) -> Vec<(String, BTreeSet<String>)> {
    let registry = gateway::entities::registry().unwrap();
    let mut seen = Vec::new();
    for entity in registry.entities() {
        let key = |meta: &gateway::metadata::Entity| {
            meta.primary_key
                .iter()
                .map(|column| meta.column(column).unwrap().field.clone())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut selections = vec![key(entity)];
        for relation in &entity.relations {
            let target = registry.entity(relation.target);
            let nested = match relation.kind {
                RelationKind::ManyToOne => format!("{} {{ {} }}", relation.field, key(target)),
                _ => format!("{}(first: 20) {{ nodes {{ {} }} }}", relation.field, key(target)),
            };
            selections.push(nested);
        }
        let query = format!(
            "{{ {}(first: 500) {{ nodes {{ {} }} }} }}",
            entity.list_field,
            selections.join(" ")
        );
        let data = tenants.data(Some(token), &query).await;
        for node in data[&entity.list_field]["nodes"].as_array().unwrap() {
            let mut record = |name: &str, value: &Value| {
                let entry = match seen
                    .iter_mut()
                    .find(|(existing, _): &&mut (String, BTreeSet<String>)| existing == name)
                {
                    Some(entry) => entry,
                    None => {
                        seen.push((name.to_owned(), BTreeSet::new()));
                        seen.last_mut().unwrap()
                    }
                };
                entry.1.insert(value.to_string());
            };
            let own: Vec<Value> = entity
                .primary_key
                .iter()
                .map(|column| node[&entity.column(column).unwrap().field].clone())
                .collect();
            record(&entity.table, &json!(own));
            for relation in &entity.relations {
                let target = registry.entity(relation.target);
                let related: Vec<&Value> = match relation.kind {
                    RelationKind::ManyToOne => node[&relation.field]
                        .as_object()
                        .map(|_| &node[&relation.field])
                        .into_iter()
                        .collect(),
                    _ => node[&relation.field]["nodes"].as_array().unwrap().iter().collect(),
                };
                for row in related {
                    let key: Vec<Value> = target
                        .primary_key
                        .iter()
                        .map(|column| row[&target.column(column).unwrap().field].clone())
                        .collect();
                    record(&target.table, &json!(key));
                }
            }
        }
    }
    seen
}

#[tokio::test]
async fn members_of_two_organizations_never_see_each_others_rows_through_any_path() {
    let tenants = Tenants::new().await;
    let first = reachable(&tenants, &token("member", Some(1))).await;
    let second = reachable(&tenants, &token("member", Some(2))).await;
    let registry = gateway::entities::registry().unwrap();
    for entity in registry.entities() {
        let mine = first
            .iter()
            .find(|(name, _)| *name == entity.table)
            .map(|(_, keys)| keys.clone())
            .unwrap_or_default();
        let theirs = second
            .iter()
            .find(|(name, _)| *name == entity.table)
            .map(|(_, keys)| keys.clone())
            .unwrap_or_default();
        assert!(
            !mine.is_empty() && !theirs.is_empty(),
            "{}: both members see their own rows",
            entity.table
        );
        assert!(
            mine.is_disjoint(&theirs),
            "{}: rows seen by both organizations",
            entity.table
        );
    }
    let tasks_of_first = tenants
        .count("SELECT count(*) FROM tasks t JOIN projects p ON p.id = t.project_id WHERE p.organization_id = 1")
        .await;
    let member = token("member", Some(1));
    let data = tenants
        .data(
            Some(&member),
            "{ tasks { totalCount } tasksAggregate { count groupBy(columns: [STATUS]) { count } } }",
        )
        .await;
    assert_eq!(data["tasks"]["totalCount"], tasks_of_first);
    assert_eq!(data["tasksAggregate"]["count"], tasks_of_first);
    let grouped: i64 = data["tasksAggregate"]["groupBy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|group| group["count"].as_i64().unwrap())
        .sum();
    assert_eq!(grouped, tasks_of_first, "groups count only visible rows");

    // Lookups of the other organization's keys find nothing.
    let foreign_task = tenants
        .count("SELECT min(t.id) FROM tasks t JOIN projects p ON p.id = t.project_id WHERE p.organization_id = 2")
        .await;
    let data = tenants
        .data(Some(&member), &format!("{{ task(id: {foreign_task}) {{ id }} organization(id: 2) {{ id }} user(id: 21) {{ id }} tag(id: 11) {{ id }} }}"))
        .await;
    assert_eq!(
        data,
        json!({ "task": null, "organization": null, "user": null, "tag": null })
    );
    // Filters and ordering through relations do not reach across either.
    let data = tenants
        .data(Some(&member), r#"{ tasks(filter: {tags: {some: {organizationId: {eq: 2}}}}) { totalCount } projects(filter: {organizationId: {eq: 2}}) { totalCount } }"#)
        .await;
    assert_eq!(
        data,
        json!({ "tasks": { "totalCount": 0 }, "projects": { "totalCount": 0 } })
    );
    // A cursor taken from the other organization's list still pages only over visible rows.
    let other = tenants
        .data(
            Some(&token("member", Some(2))),
            "{ tasks(first: 1) { pageInfo { endCursor } } }",
        )
        .await;
    let cursor = other["tasks"]["pageInfo"]["endCursor"].as_str().unwrap();
    let data = tenants
        .data(
            Some(&member),
            &format!("{{ tasks(first: 5, after: \"{cursor}\") {{ nodes {{ project {{ organizationId }} }} }} }}"),
        )
        .await;
    for node in data["tasks"]["nodes"].as_array().unwrap() {
        assert_eq!(node["project"]["organizationId"], "1");
    }
    // Writes under a policy are refused until write rules exist, and change nothing.
    tenants
        .refused(
            Some(&member),
            r#"mutation { createTag(input: {organizationId: 2, name: "x"}) { id } }"#,
        )
        .await;
}

/// A link across organizations (a task of the first tagged with a tag of the second, written by
/// hand: the policy would refuse it) is counted for neither member, in an aggregate field or an
/// ordering by one.
#[tokio::test]
async fn aggregates_through_relations_count_only_rows_the_member_may_read() {
    use sea_orm::ConnectionTrait;
    let tenants = Tenants::new().await;
    let task: i64 = tenants
        .value("SELECT min(t.id) FROM tasks t JOIN projects p ON p.id = t.project_id WHERE p.organization_id = 1")
        .await;
    let tag: i64 = tenants
        .value("SELECT min(id) FROM tags WHERE organization_id = 2")
        .await;
    tenants
        .connection
        .execute_unprepared(&format!(
            "INSERT INTO task_tags (task_id, tag_id) VALUES ({task}, {tag}) ON CONFLICT DO NOTHING"
        ))
        .await
        .expect("a cross-tenant link");
    let first = token("member", Some(1));
    let second = token("member", Some(2));
    let data = tenants
        .data(
            Some(&first),
            &format!("{{ task(id: {task}) {{ tagsAggregate {{ count }} }} }}"),
        )
        .await;
    let own_tags = tenants
        .count(&format!(
            "SELECT count(*) FROM task_tags l JOIN tags g ON g.id = l.tag_id WHERE l.task_id = {task} AND g.organization_id = 1"
        ))
        .await;
    assert_eq!(data["task"]["tagsAggregate"]["count"], own_tags);
    let data = tenants
        .data(
            Some(&second),
            &format!("{{ tag(id: {tag}) {{ tasksAggregate {{ count }} }} }}"),
        )
        .await;
    let own_tasks = tenants
        .count(&format!(
            "SELECT count(*) FROM task_tags l JOIN tasks t ON t.id = l.task_id JOIN projects p ON p.id = t.project_id \
             WHERE l.tag_id = {tag} AND p.organization_id = 2"
        ))
        .await;
    assert_eq!(data["tag"]["tasksAggregate"]["count"], own_tasks);
    // The second member's tags ordered by how many of *their* tasks carry each.
    let data = tenants
        .data(
            Some(&second),
            "{ tags(orderBy: [{tasksAggregate: {count: DESC}}]) { nodes { id tasksAggregate { count } } } }",
        )
        .await;
    let counts: Vec<i64> = data["tags"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["tasksAggregate"]["count"].as_i64().unwrap())
        .collect();
    assert!(counts.windows(2).all(|pair| pair[0] >= pair[1]), "{counts:?}");
    let expected: i64 = tenants
        .count(
            "SELECT count(*) FROM task_tags l JOIN tags g ON g.id = l.tag_id JOIN tasks t ON t.id = l.task_id \
             JOIN projects p ON p.id = t.project_id WHERE g.organization_id = 2 AND p.organization_id = 2",
        )
        .await;
    assert_eq!(
        counts.iter().sum::<i64>(),
        expected,
        "only the member's own links are counted"
    );
}

#[tokio::test]
async fn hidden_columns_cannot_be_selected_filtered_ordered_or_aggregated() {
    let tenants = Tenants::new().await;
    let member = token("member", Some(1));
    for query in [
        "{ users { nodes { email } } }",
        "{ users(filter: {email: {startsWith: \"a\"}}) { totalCount } }",
        "{ users(orderBy: [{email: ASC}]) { totalCount } }",
        "{ usersAggregate { min { email } } }",
        "{ usersAggregate { groupBy(columns: [EMAIL]) { count } } }",
        "{ tasks { nodes { assignee { email } } } }",
        "{ tasks(filter: {assignee: {email: {eq: \"x\"}}}) { totalCount } }",
        "{ tasks(orderBy: [{assignee: {email: ASC}}]) { totalCount } }",
        "{ organizations { nodes { usersAggregate { max { email } } } } }",
        "{ organizations { nodes { usersAggregate { countDistinct { email } } } } }",
        "{ organizations { nodes { usersAggregate(filter: {email: {startsWith: \"a\"}}) { count } } } }",
        "{ organizations(orderBy: [{usersAggregate: {max: {email: ASC}}}]) { totalCount } }",
        "{ organizations(orderBy: [{usersAggregate: {filter: {email: {startsWith: \"a\"}}, count: DESC}}]) { totalCount } }",
        "{ usersAggregate { groupBy(by: [{email: VALUE}]) { count } } }",
        "{ usersAggregate { groupBy(by: [{role: VALUE}], having: {countDistinct: {email: {gt: 1}}}) { count } } }",
        "{ usersAggregate { groupBy(by: [{role: VALUE}], orderBy: [{max: {email: ASC}}]) { count } } }",
        "{ tasksAggregate { groupBy(by: [{assignee: {email: VALUE}}]) { count } } }",
    ] {
        tenants.refused(Some(&member), query).await;
    }
    let admin = token("admin", Some(1));
    let data = tenants
        .data(Some(&admin), "{ users(first: 1) { nodes { email } } }")
        .await;
    assert!(data["users"]["nodes"][0]["email"].is_string(), "admins see email");
}

#[tokio::test]
async fn anonymous_and_service_roles_see_what_the_policy_gives_them() {
    let tenants = Tenants::new().await;
    let public_tasks = tenants
        .count("SELECT count(*) FROM tasks t JOIN projects p ON p.id = t.project_id WHERE p.is_public")
        .await;
    let data = tenants
        .data(
            None,
            "{ tasks { totalCount } projects(filter: {isPublic: {eq: false}}) { totalCount } }",
        )
        .await;
    assert_eq!(data["tasks"]["totalCount"], public_tasks);
    assert_eq!(data["projects"]["totalCount"], 0);
    tenants.refused(None, "{ organizations { totalCount } }").await;
    tenants
        .refused(None, "{ tasks { nodes { comments { totalCount } } } }")
        .await;

    let service = token("service", None);
    let data = tenants
        .data(Some(&service), "{ organizations { totalCount } tasks { totalCount } }")
        .await;
    assert_eq!(data["organizations"]["totalCount"], 2);
    assert_eq!(
        data["tasks"]["totalCount"],
        tenants.count("SELECT count(*) FROM tasks").await
    );
    tenants
        .refused(
            Some(&service),
            r#"mutation { deleteTags(filter: {}) { affectedRows } }"#,
        )
        .await;

    // A member token without its org_id claim cannot be scoped, so it reads nothing.
    tenants
        .refused(Some(&token("member", None)), "{ tasks { totalCount } }")
        .await;
    // A role the policy does not name reads nothing.
    assert_eq!(
        tenants
            .code(Some(&token("intern", Some(1))), "{ tasks { totalCount } }")
            .await,
        "FORBIDDEN"
    );
}

#[test]
fn invalid_policies_fail_naming_file_role_and_path() {
    let registry = gateway::entities::registry().unwrap();
    let claims = vec!["org_id".to_owned()];
    let check = |text: &str| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        std::fs::write(&path, text).unwrap();
        gateway::permission::Policy::load(&path, &registry, &claims)
            .err()
            .map(|error| error.to_string())
    };
    let error = check("[roles.member.taskz.select]\n").expect("unknown table");
    assert!(
        error.contains("policy.toml") && error.contains("role `member`, table `taskz`"),
        "{error}"
    );
    let error = check("[roles.member.tasks.select]\nfilter = { nope = { eq = 1 } }\n").expect("unknown field");
    assert!(error.contains("select.filter") && error.contains("nope"), "{error}");
    let error =
        check("[roles.member.tasks.select]\nfilter = { project = { organizationId = { eq = \"$tenant\" } } }\n")
            .expect("unknown claim");
    assert!(error.contains("$tenant"), "{error}");
    let error = check("[roles.member.users.select]\ncolumns = [\"mail\"]\n").expect("unknown column");
    assert!(error.contains("select.columns") && error.contains("mail"), "{error}");
    assert!(check(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/policy.toml")).unwrap()).is_none());
}

/// A fingerprint of the second organization's rows (tasks, comments, tags and links included).
async fn second_organization(tenants: &Tenants) -> String {
    let sql = "SELECT md5(string_agg(row_text, '|' ORDER BY row_text)) FROM (
        SELECT o::text AS row_text FROM organizations o WHERE o.id = 2
        UNION ALL SELECT u::text FROM users u WHERE u.organization_id = 2
        UNION ALL SELECT p::text FROM projects p WHERE p.organization_id = 2
        UNION ALL SELECT t::text FROM tasks t JOIN projects p ON p.id = t.project_id WHERE p.organization_id = 2
        UNION ALL SELECT c::text FROM comments c JOIN tasks t ON t.id = c.task_id JOIN projects p ON p.id = t.project_id WHERE p.organization_id = 2
        UNION ALL SELECT g::text FROM tags g WHERE g.organization_id = 2
        UNION ALL SELECT l::text FROM task_tags l JOIN tags g ON g.id = l.tag_id WHERE g.organization_id = 2) rows";
    tenants.value(sql).await
}

#[tokio::test]
async fn writes_stay_inside_the_members_organization() {
    let tenants = Tenants::new().await;
    let before = second_organization(&tenants).await;
    let member = token("member", Some(1));
    let foreign_project = 51; // projects 51..100 belong to organization 2
    let foreign_task = tenants
        .count("SELECT min(t.id) FROM tasks t WHERE t.project_id = 51")
        .await;

    // Own organization: allowed, and the preset fills the author of a comment.
    let created = tenants
        .data(Some(&member), r#"mutation { createTask(input: {projectId: 1, title: "mine", status: TODO, priority: 1, tagIds: [1]}) { id project { organizationId } } }"#)
        .await;
    assert_eq!(created["createTask"]["project"]["organizationId"], "1");
    let task = created["createTask"]["id"].as_str().unwrap().to_owned();
    let comment = tenants
        .data(Some(&member), &format!(r#"mutation {{ createComment(input: {{taskId: {task}, authorId: 99, body: "hello"}}) {{ id author {{ id }} }} }}"#))
        .await;
    assert_eq!(
        comment["createComment"]["author"]["id"], "7",
        "authorId is preset from the token"
    );
    let comment = comment["createComment"]["id"].as_str().unwrap().to_owned();
    let edited = tenants
        .data(
            Some(&member),
            &format!(r#"mutation {{ updateComment(id: {comment}, patch: {{body: "edited"}}) {{ body }} }}"#),
        )
        .await;
    assert_eq!(edited["updateComment"]["body"], "edited");

    // Aimed at the other organization: refused or not found, and nothing of it changes.
    let attempts = [
        (format!(r#"mutation {{ createTask(input: {{projectId: {foreign_project}, title: "x", status: TODO, priority: 1}}) {{ id }} }}"#), "FORBIDDEN"),
        (format!(r#"mutation {{ updateTask(id: {foreign_task}, patch: {{title: "x"}}) {{ id }} }}"#), "NOT_FOUND"),
        (format!(r#"mutation {{ updateTask(id: {task}, patch: {{projectId: {foreign_project}}}) {{ id }} }}"#), "FORBIDDEN"),
        (format!(r#"mutation {{ updateTask(id: {task}, patch: {{tagIds: [11]}}) {{ id }} }}"#), "FORBIDDEN"),
        (r#"mutation { createTask(input: {projectId: 1, title: "x", status: TODO, priority: 1, tagIds: [12]}) { id } }"#.to_owned(), "FORBIDDEN"),
        (format!(r#"mutation {{ createComment(input: {{taskId: {foreign_task}, authorId: 7, body: "x"}}) {{ id }} }}"#), "FORBIDDEN"),
        (format!(r#"mutation {{ deleteTask(id: {foreign_task}) {{ id }} }}"#), "FORBIDDEN"),
        (r#"mutation { deleteTasks(filter: {}) { affectedRows } }"#.to_owned(), "FORBIDDEN"),
        (r#"mutation { createTag(input: {organizationId: 2, name: "x"}) { id } }"#.to_owned(), "FORBIDDEN"),
        (r#"mutation { upsertTag(input: {organizationId: 2, name: "billing-0"}, onConflict: {columns: [ORGANIZATION_ID, NAME], update: [NAME]}) { id } }"#.to_owned(), "FORBIDDEN"),
        (format!(r#"mutation {{ updateComment(id: {comment}, patch: {{taskId: {foreign_task}}}) {{ id }} }}"#), "FORBIDDEN"),
    ];
    for (operation, code) in &attempts {
        if *code == "FORBIDDEN" {
            tenants.refused(Some(&member), operation).await;
        } else {
            assert_eq!(&tenants.code(Some(&member), operation).await, code, "{operation}");
        }
    }
    let bulk = tenants.data(Some(&member), r#"mutation { updateTasks(filter: {title: {startsWith: "Fix"}}, patch: {priority: 4}) { affectedRows rows { project { organizationId } } } }"#).await;
    assert!(bulk["updateTasks"]["affectedRows"].as_i64().unwrap() > 0);
    for row in bulk["updateTasks"]["rows"].as_array().unwrap() {
        assert_eq!(
            row["project"]["organizationId"], "1",
            "bulk updates touch only visible rows"
        );
    }
    let others = tenants
        .count("SELECT min(c.id) FROM comments c WHERE c.task_id = 1 AND c.author_id <> 7")
        .await;
    assert_eq!(
        tenants
            .code(
                Some(&member),
                &format!(r#"mutation {{ deleteComment(id: {others}) {{ id }} }}"#)
            )
            .await,
        "NOT_FOUND",
        "only own comments"
    );

    // An admin's upsert cannot take over another organization's row through a unique key.
    let admin = token("admin", Some(1));
    let foreign_email = tenants
        .data(Some(&token("service", None)), "{ user(id: 21) { email } }")
        .await["user"]["email"]
        .as_str()
        .unwrap()
        .to_owned();
    let takeover = format!(
        r#"mutation {{ upsertUser(input: {{organizationId: 1, email: "{foreign_email}", displayName: "Mine now", role: ADMIN,
             externalId: "00000000-0000-0000-0000-000000000099"}}, onConflict: {{columns: [EMAIL], update: [DISPLAY_NAME, ROLE]}}) {{ id }} }}"#
    );
    tenants.refused(Some(&admin), &takeover).await;
    let moved = tenants
        .data(
            Some(&admin),
            r#"mutation { createProject(input: {organizationId: 2, name: "where?"}) { organizationId } }"#,
        )
        .await;
    assert_eq!(
        moved["createProject"]["organizationId"], "1",
        "organizationId is preset to the admin's own"
    );

    // Every table's bulk delete, generated from the registry, as an admin of the first
    // organization: refused, or limited to the admin's own rows.
    let registry = gateway::entities::registry().unwrap();
    for entity in registry.entities() {
        let plural = cruet::to_pascal_case(&entity.list_field);
        let answer = tenants
            .ask(
                Some(&admin),
                &format!("mutation {{ delete{plural}(filter: {{}}) {{ affectedRows }} }}"),
            )
            .await;
        let refused = answer["errors"][0]["extensions"]["code"].as_str();
        assert!(
            matches!(refused, Some("FORBIDDEN" | "GRAPHQL_VALIDATION_FAILED")) || answer["data"].is_object(),
            "{}: {answer}",
            entity.table
        );
    }
    assert_eq!(
        second_organization(&tenants).await,
        before,
        "the other organization is byte-identical"
    );
}

#[tokio::test]
async fn each_role_sees_its_own_schema() {
    let tenants = Tenants::new().await;
    let fields = |answer: Value| -> Vec<String> {
        answer["__type"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|field| field["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let user_fields = "{ __type(name: \"User\") { fields { name } } }";
    let member = fields(tenants.data(Some(&token("member", Some(1))), user_fields).await);
    assert!(
        member.contains(&"displayName".to_owned()) && !member.contains(&"email".to_owned()),
        "{member:?}"
    );
    let admin = fields(tenants.data(Some(&token("admin", Some(1))), user_fields).await);
    assert!(admin.contains(&"email".to_owned()), "{admin:?}");
    let roots = tenants
        .data(
            None,
            "{ __schema { queryType { fields { name } } mutationType { name } } }",
        )
        .await;
    let anonymous: Vec<&str> = roots["__schema"]["queryType"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| field["name"].as_str().unwrap())
        .collect();
    assert!(
        anonymous.contains(&"projects") && !anonymous.contains(&"organizations"),
        "{anonymous:?}"
    );
    assert_eq!(
        roots["__schema"]["mutationType"],
        Value::Null,
        "anonymous cannot write, so it has no Mutation type"
    );
    // The member's comment input does not ask for the author: the policy presets it.
    let comment = tenants
        .data(
            Some(&token("member", Some(1))),
            r#"mutation { createComment(input: {taskId: 1, body: "preset"}) { author { id } } }"#,
        )
        .await;
    assert_eq!(comment["createComment"]["author"]["id"], "7");
}

#[test]
fn gateway_schema_prints_a_roles_view() {
    let (success, member, stderr) = crate::support::run_gateway(&["schema", "--role", "member"], &[]);
    assert!(success, "{stderr}");
    let user = member
        .split("type User implements Node {")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .expect("a User type");
    assert!(user.contains("displayName") && !user.contains("email"), "{user}");
    assert!(
        member.contains("createTask(") && !member.contains("deleteTask("),
        "members create but do not delete tasks"
    );
    let (_, anonymous, _) = crate::support::run_gateway(&["schema", "--role", "anonymous"], &[]);
    assert!(
        !anonymous.contains("type Mutation") && !anonymous.contains("organizations("),
        "{anonymous}"
    );
}

#[tokio::test]
async fn select_rules_cap_rows_and_can_forbid_aggregates() {
    let tenants = Tenants::new().await;
    let data = tenants
        .data(
            None,
            "{ tasks { totalCount nodes { id } pageInfo { hasNextPage } } big: tasks(first: 500) { nodes { id } } }",
        )
        .await;
    assert!(
        data["tasks"]["totalCount"].as_i64().unwrap() > 100,
        "more public tasks exist than the cap"
    );
    assert_eq!(
        data["tasks"]["nodes"].as_array().unwrap().len(),
        100,
        "an unbounded list is capped"
    );
    assert_eq!(data["tasks"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(
        data["big"]["nodes"].as_array().unwrap().len(),
        100,
        "a larger page is cut down"
    );
    for query in [
        "{ tasksAggregate { count } }",
        "{ projects { nodes { tasksAggregate { count } } } }",
        "{ projects(orderBy: [{tasksAggregate: {count: DESC}}]) { totalCount } }",
    ] {
        tenants.refused(None, query).await;
    }
    let member = tenants
        .data(
            Some(&token("member", Some(1))),
            "{ tasks(first: 500) { nodes { id } } }",
        )
        .await;
    assert_eq!(
        member["tasks"]["nodes"].as_array().unwrap().len(),
        500,
        "members have no cap"
    );
}

#[tokio::test]
async fn introspection_can_be_off_except_for_chosen_roles() {
    let database = TestDatabase::new().await;
    let server = gateway::config::ServerArgs {
        operations: gateway::config::OperationArgs {
            introspection: false,
            introspection_roles: vec!["admin".into()],
            ..Default::default()
        },
        ..gateway::config::ServerArgs::default()
    };
    let app = TestApp::builder(&database.args())
        .auth(&auth())
        .server(server)
        .spawn()
        .await;
    let introspect = |token: Option<String>| {
        let app = &app;
        async move {
            let mut request = app
                .client
                .post(app.url("/graphql"))
                .json(&json!({ "query": "{ __schema { queryType { name } } }" }));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request.send().await.unwrap().json::<Value>().await.unwrap()
        }
    };
    assert_eq!(
        introspect(Some(token("admin", Some(1)))).await["data"]["__schema"]["queryType"]["name"],
        "Query"
    );
    let member = introspect(Some(token("member", Some(1)))).await;
    assert!(member.get("errors").is_some(), "members may not introspect: {member}");
    let anonymous = introspect(None).await;
    assert!(
        anonymous.get("errors").is_some(),
        "nor may anonymous clients: {anonymous}"
    );
    app.stop().await;
}
