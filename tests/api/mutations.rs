//! Generated mutations: every form, read-back selections, many-to-many links, upserts, coded
//! errors, one transaction per operation, and concurrent writers.

use crate::fixture::{Fixture, node_ids, on_both_backends};
use sea_orm::EntityTrait;
use serde_json::json;
use sha2::{Digest, Sha256};

/// A fingerprint of every table's rows, read with SeaORM (independent of the gateway).
async fn fingerprint(fixture: &Fixture) -> String {
    let connection = &fixture.connection;
    let mut hasher = Sha256::new();
    hasher.update(format!(
        "{:?}",
        entity::organization::Entity::find().all(connection).await.unwrap()
    ));
    hasher.update(format!(
        "{:?}",
        entity::user::Entity::find().all(connection).await.unwrap()
    ));
    hasher.update(format!(
        "{:?}",
        entity::project::Entity::find().all(connection).await.unwrap()
    ));
    hasher.update(format!(
        "{:?}",
        entity::task::Entity::find().all(connection).await.unwrap()
    ));
    hasher.update(format!(
        "{:?}",
        entity::comment::Entity::find().all(connection).await.unwrap()
    ));
    hasher.update(format!(
        "{:?}",
        entity::tag::Entity::find().all(connection).await.unwrap()
    ));
    hasher.update(format!(
        "{:?}",
        entity::task_tag::Entity::find().all(connection).await.unwrap()
    ));
    format!("{:x}", hasher.finalize())
}

async fn errors(fixture: &Fixture, query: &str) -> serde_json::Value {
    let answer = fixture.app.graphql(query, json!({})).await;
    assert!(answer.get("errors").is_some(), "expected errors for {query}: {answer}");
    answer
}

on_both_backends!(create_update_delete_one_row_with_links, |fixture: Fixture| async move {
    let created = fixture
        .data(
            r#"mutation { createTask(input: {projectId: 3, title: "Write docs", status: TODO, priority: 2,
                 estimateHours: "3.25", metadata: {kind: "docs"}, tagIds: [2, 1, 2]}) {
               id title status estimateHours metadata createdAt updatedAt
               project { id } tags(orderBy: [{id: ASC}]) { nodes { id } } comments { totalCount } } }"#,
        )
        .await;
    let task = &created["createTask"];
    assert_eq!(task["title"], "Write docs");
    assert_eq!(task["estimateHours"], "3.25");
    assert_eq!(task["metadata"], json!({ "kind": "docs" }));
    assert_eq!(task["project"]["id"], "3");
    assert_eq!(
        node_ids(&task["tags"]["nodes"]),
        vec![1, 2],
        "duplicate link ids are written once"
    );
    assert_eq!(task["comments"]["totalCount"], 0);
    let id = task["id"].as_str().unwrap().to_owned();
    assert_eq!(id, "2001", "the sequence continues after the seeded rows");

    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let updated = fixture
        .data(&format!(
            r#"mutation {{ updateTask(id: {id}, patch: {{title: "Write more docs", dueOn: "2026-12-24", tagIds: [3]}}) {{
                 title dueOn createdAt updatedAt tags {{ nodes {{ id }} }} }} }}"#
        ))
        .await;
    let task_after = &updated["updateTask"];
    assert_eq!(task_after["title"], "Write more docs");
    assert_eq!(task_after["dueOn"], "2026-12-24");
    assert_eq!(task_after["createdAt"], task["createdAt"], "createdAt is read-only");
    assert_ne!(task_after["updatedAt"], task["updatedAt"], "updatedAt is maintained");
    assert_eq!(node_ids(&task_after["tags"]["nodes"]), vec![3], "links are replaced");

    let deleted = fixture
        .data(&format!(
            "mutation {{ deleteTask(id: {id}) {{ id title tags {{ totalCount }} }} }}"
        ))
        .await;
    assert_eq!(
        deleted["deleteTask"],
        json!({ "id": id, "title": "Write more docs", "tags": { "totalCount": 1 } })
    );
    let gone = fixture.data(&format!("{{ task(id: {id}) {{ id }} }}")).await;
    assert_eq!(gone["task"], serde_json::Value::Null);

    let missing = errors(
        &fixture,
        "mutation { updateTask(id: 99999999, patch: {title: \"x\"}) { id } }",
    )
    .await;
    assert_eq!(missing["errors"][0]["extensions"]["code"], "NOT_FOUND");
    assert!(
        missing["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("updateTask: no Task with id 99999999")
    );
    let missing = errors(&fixture, "mutation { deleteTask(id: 99999999) { id } }").await;
    assert_eq!(missing["errors"][0]["extensions"]["code"], "NOT_FOUND");
});

on_both_backends!(
    bulk_forms_return_affected_rows_and_rows,
    |fixture: Fixture| async move {
        let created = fixture
            .data(
                r#"mutation { createTasks(inputs: [
                 {projectId: 1, title: "bulk a", status: TODO, priority: 1},
                 {projectId: 1, title: "bulk b", status: DONE, priority: 2, assigneeId: 1},
                 {projectId: 2, title: "bulk c", status: TODO, priority: 3}]) {
               affectedRows rows { id title project { id } assignee { id } } } }"#,
            )
            .await;
        assert_eq!(created["createTasks"]["affectedRows"], 3);
        let titles: Vec<&str> = created["createTasks"]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["title"].as_str().unwrap())
            .collect();
        assert_eq!(titles, vec!["bulk a", "bulk b", "bulk c"]);
        assert_eq!(created["createTasks"]["rows"][1]["assignee"]["id"], "1");

        let updated = fixture
        .data(r#"mutation { updateTasks(filter: {title: {startsWith: "bulk "}}, patch: {priority: 4}) { affectedRows rows { priority } } }"#)
        .await;
        assert_eq!(updated["updateTasks"]["affectedRows"], 3);
        assert_eq!(
            updated["updateTasks"]["rows"],
            json!([{ "priority": 4 }, { "priority": 4 }, { "priority": 4 }])
        );

        let deleted = fixture
            .data(r#"mutation { deleteTasks(filter: {title: {startsWith: "bulk "}}) { affectedRows rows { title } } }"#)
            .await;
        assert_eq!(deleted["deleteTasks"]["affectedRows"], 3);
        assert_eq!(
            fixture
                .data(r#"{ tasks(filter: {title: {startsWith: "bulk "}}) { totalCount } }"#)
                .await["tasks"]["totalCount"],
            0
        );

        let unfiltered = errors(&fixture, "mutation { deleteTasks { affectedRows } }").await;
        assert_eq!(
            unfiltered["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
            "the filter must be written out"
        );
        let all_links = fixture
            .data("mutation { deleteTaskTags(filter: {}) { affectedRows } }")
            .await;
        assert_eq!(
            all_links["deleteTaskTags"]["affectedRows"],
            fixture_links(&fixture).await + all_links["deleteTaskTags"]["affectedRows"].as_i64().unwrap()
        );
    }
);

async fn fixture_links(fixture: &Fixture) -> i64 {
    fixture.scalar_i64("SELECT count(*) FROM task_tags").await
}

on_both_backends!(
    upsert_inserts_or_updates_the_conflicting_row,
    |fixture: Fixture| async move {
        let inserted = fixture
        .data(r#"mutation { upsertTag(input: {organizationId: 1, name: "urgent"}, onConflict: {columns: [ORGANIZATION_ID, NAME], update: [NAME]}) { id name } }"#)
        .await;
        let id = inserted["upsertTag"]["id"].as_str().unwrap().to_owned();
        assert_eq!(id, "11");
        let existing = fixture
        .data(r#"mutation { upsertTag(input: {organizationId: 1, name: "billing-0"}, onConflict: {columns: [ORGANIZATION_ID, NAME], update: []}) { id name } }"#)
        .await;
        assert_eq!(
            existing["upsertTag"],
            json!({ "id": "1", "name": "billing-0" }),
            "the conflicting row comes back"
        );
        let user = fixture.data("{ user(id: 2) { email } }").await["user"]["email"]
            .as_str()
            .unwrap()
            .to_owned();
        let updated = fixture
        .data(&format!(
            r#"mutation {{ upsertUser(input: {{organizationId: 1, email: "{user}", displayName: "Renamed", role: ADMIN,
                 externalId: "00000000-0000-0000-0000-00000000abcd"}}, onConflict: {{columns: [EMAIL], update: [DISPLAY_NAME, ROLE]}}) {{ id displayName role externalId }} }}"#
        ))
        .await;
        assert_eq!(updated["upsertUser"]["id"], "2");
        assert_eq!(updated["upsertUser"]["displayName"], "Renamed");
        assert_eq!(updated["upsertUser"]["role"], "ADMIN");
        assert_ne!(
            updated["upsertUser"]["externalId"], "00000000-0000-0000-0000-00000000abcd",
            "columns not listed keep their value"
        );
        let no_constraint = errors(&fixture, r#"mutation { upsertTag(input: {organizationId: 1, name: "x"}, onConflict: {columns: [NAME], update: []}) { id } }"#).await;
        assert_eq!(no_constraint["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    }
);

on_both_backends!(
    constraint_violations_and_bad_values_are_coded_without_sql,
    |fixture: Fixture| async move {
        let user = fixture.data("{ user(id: 1) { email } }").await["user"]["email"]
            .as_str()
            .unwrap()
            .to_owned();
        let duplicate = errors(
        &fixture,
        &format!(
            r#"mutation {{ createUser(input: {{organizationId: 1, email: "{user}", displayName: "Twin", role: MEMBER,
                 externalId: "00000000-0000-0000-0000-000000000001"}}) {{ id }} }}"#
        ),
    )
    .await;
        let error = &duplicate["errors"][0];
        assert_eq!(error["extensions"]["code"], "CONSTRAINT_VIOLATION", "{duplicate}");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains("email") && message.contains("already exists"),
            "{message}"
        );
        assert!(
            !message.contains("INSERT") && !message.contains("VALUES"),
            "no SQL text: {message}"
        );

        let missing_parent = errors(
        &fixture,
        r#"mutation { createComments(inputs: [{taskId: 1, authorId: 1, body: "ok"}, {taskId: 99999999, authorId: 1, body: "orphan"}]) { affectedRows } }"#,
    )
    .await;
        assert_eq!(
            missing_parent["errors"][0]["extensions"]["code"], "CONSTRAINT_VIOLATION",
            "{missing_parent}"
        );

        let null_title = errors(
            &fixture,
            r#"mutation { updateTask(id: 1, patch: {title: null}) { id } }"#,
        )
        .await;
        assert_eq!(null_title["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
        let bad_link = errors(
            &fixture,
            r#"mutation { updateTask(id: 1, patch: {tagIds: [99999]}) { id } }"#,
        )
        .await;
        assert_eq!(
            bad_link["errors"][0]["extensions"]["code"], "CONSTRAINT_VIOLATION",
            "{bad_link}"
        );
        let empty = errors(&fixture, r#"mutation { updateTask(id: 1, patch: {}) { id } }"#).await;
        assert_eq!(empty["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
        let too_many: Vec<String> = (0..1001)
            .map(|index| format!(r#"{{taskId: 1, authorId: 1, body: "c{index}"}}"#))
            .collect();
        let too_many = errors(
            &fixture,
            &format!(
                "mutation {{ createComments(inputs: [{}]) {{ affectedRows }} }}",
                too_many.join(", ")
            ),
        )
        .await;
        assert_eq!(too_many["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
        assert!(
            too_many["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("at most 1000")
        );
    }
);

on_both_backends!(
    a_failure_in_the_last_field_rolls_back_the_whole_operation,
    |fixture: Fixture| async move {
        let before = fingerprint(&fixture).await;
        let mut tags: Vec<String> = (0..50)
            .map(|index| format!(r#"{{organizationId: 1, name: "new-{index}"}}"#))
            .collect();
        tags[17] = r#"{organizationId: 1, name: "billing-0"}"#.to_owned();
        let operation = format!(
            r#"mutation {{
             first: createTask(input: {{projectId: 1, title: "rolled back", status: TODO, priority: 1, tagIds: [1]}}) {{ id }}
             second: updateTask(id: 5, patch: {{title: "also rolled back"}}) {{ id }}
             third: deleteComments(filter: {{taskId: {{eq: 7}}}}) {{ affectedRows }}
             last: createTags(inputs: [{}]) {{ affectedRows }}
           }}"#,
            tags.join(", ")
        );
        let answer = errors(&fixture, &operation).await;
        assert_eq!(
            answer["data"],
            serde_json::Value::Null,
            "no data describes writes that were undone"
        );
        let error = &answer["errors"][0];
        assert_eq!(error["extensions"]["code"], "CONSTRAINT_VIOLATION", "{answer}");
        let message = error["message"].as_str().unwrap();
        assert!(message.starts_with("last: "), "the failing field is named: {message}");
        if fixture.connection.get_database_backend() == sea_orm::DbBackend::Postgres {
            assert!(message.contains("inputs[17]"), "the failing row is named: {message}");
        }
        assert_eq!(fingerprint(&fixture).await, before, "the database is unchanged");

        let skipped = errors(
        &fixture,
        r#"mutation { bad: updateTask(id: 99999999, patch: {title: "x"}) { id } later: createTag(input: {organizationId: 1, name: "never"}) { id } }"#,
    )
    .await;
        assert!(
            skipped["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|error| error["message"].as_str().unwrap().starts_with("later: not run"))
        );
        assert_eq!(fingerprint(&fixture).await, before);

        let committed = fixture
        .data(r#"mutation { a: createTag(input: {organizationId: 1, name: "kept-a"}) { id } b: createTag(input: {organizationId: 1, name: "kept-b"}) { id } }"#)
        .await;
        assert!(
            committed["a"]["id"].is_string() && committed["b"]["id"].is_string(),
            "{committed}"
        );
        let kept = fixture
            .data(r#"{ tags(filter: {name: {startsWith: "kept-"}}) { totalCount } }"#)
            .await;
        assert_eq!(kept["tags"]["totalCount"], 2);
        assert_ne!(fingerprint(&fixture).await, before, "successful operations commit");
    }
);

#[tokio::test]
async fn concurrent_writers_lose_nothing_and_duplicate_nothing() {
    let fixture = Fixture::postgres().await;
    let updates = (0..50).map(|index| {
        let app = &fixture.app;
        async move {
            app.graphql(
                &format!(
                    r#"mutation {{ updateTask(id: 1, patch: {{title: "writer {index}", priority: {}}}) {{ title }} }}"#,
                    index % 5
                ),
                json!({}),
            )
            .await
        }
    });
    let answers = futures_util::future::join_all(updates).await;
    for answer in &answers {
        assert!(answer.get("errors").is_none(), "{answer}");
    }
    let title = fixture.data("{ task(id: 1) { title } }").await["task"]["title"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!((0..50).any(|index| title == format!("writer {index}")), "{title}");

    let before = fixture.scalar_i64("SELECT count(*) FROM tasks").await;
    let batches = (0..50).map(|batch| {
        let app = &fixture.app;
        async move {
            let rows: Vec<String> = (0..10)
                .map(|row| {
                    format!(
                        r#"{{projectId: {}, title: "batch {batch} row {row}", status: TODO, priority: 1}}"#,
                        batch % 50 + 1
                    )
                })
                .collect();
            app.graphql(
                &format!(
                    "mutation {{ createTasks(inputs: [{}]) {{ affectedRows }} }}",
                    rows.join(", ")
                ),
                json!({}),
            )
            .await
        }
    });
    for answer in futures_util::future::join_all(batches).await {
        assert_eq!(answer["data"]["createTasks"]["affectedRows"], 10, "{answer}");
    }
    assert_eq!(fixture.scalar_i64("SELECT count(*) FROM tasks").await, before + 500);
    assert_eq!(
        fixture
            .scalar_i64("SELECT count(DISTINCT title) FROM tasks WHERE title LIKE 'batch %'")
            .await,
        500
    );
    assert_eq!(
        fixture
            .scalar_i64("SELECT count(DISTINCT id) FROM tasks WHERE title LIKE 'batch %'")
            .await,
        500
    );
}

on_both_backends!(
    children_are_created_with_their_parent_in_one_call,
    |fixture: Fixture| async move {
        let created = fixture
        .data(
            r#"mutation { createProject(input: {organizationId: 1, name: "Launch", tasks: [
                 {title: "Plan", status: TODO, priority: 3, tagIds: [1], comments: [{authorId: 1, body: "first"}, {authorId: 2, body: "second"}]},
                 {title: "Do", status: TODO, priority: 2}]}) {
               name isPublic tasks(orderBy: [{title: DESC}]) { nodes { title tags { nodes { id } } comments(orderBy: [{id: ASC}]) { nodes { body author { id } } } } } } }"#,
        )
        .await;
        assert_eq!(
            created["createProject"],
            json!({ "name": "Launch", "isPublic": false, "tasks": { "nodes": [
            { "title": "Plan", "tags": { "nodes": [{ "id": "1" }] }, "comments": { "nodes": [
                { "body": "first", "author": { "id": "1" } }, { "body": "second", "author": { "id": "2" } }] } },
            { "title": "Do", "tags": { "nodes": [] }, "comments": { "nodes": [] } },
        ] } })
        );
        let before = fingerprint(&fixture).await;
        let failing = errors(
        &fixture,
        r#"mutation { createProject(input: {organizationId: 1, name: "Doomed", tasks: [{title: "t", status: TODO, priority: 1,
             comments: [{authorId: 99999999, body: "orphan"}]}]}) { id } }"#,
    )
    .await;
        assert_eq!(
            failing["errors"][0]["extensions"]["code"], "CONSTRAINT_VIOLATION",
            "{failing}"
        );
        assert_eq!(
            fingerprint(&fixture).await,
            before,
            "a failing child undoes its parents"
        );
    }
);
