//! The generated read API, checked against SQL written independently, on PostgreSQL and SQLite.

use crate::fixture::{Fixture, node_ids, on_both_backends};
use serde_json::json;

on_both_backends!(nested_four_levels_match_the_database, |fixture: Fixture| async move {
    let data = fixture
        .data(
            "{ organizations { totalCount nodes { id slug
                projects(first: 3, orderBy: [{id: DESC}]) { totalCount nodes { id
                  tasks(first: 2, orderBy: [{priority: DESC}]) { totalCount nodes { id priority
                    comments { totalCount nodes { id author { id } } } } } } } } } }",
        )
        .await;
    let organization = &data["organizations"]["nodes"][0];
    assert_eq!(data["organizations"]["totalCount"], 1);
    assert_eq!(organization["slug"], "org-1");
    let projects = &organization["projects"];
    assert_eq!(
        projects["totalCount"],
        fixture
            .scalar_i64("SELECT count(*) FROM projects WHERE organization_id = 1")
            .await
    );
    assert_eq!(
        node_ids(&projects["nodes"]),
        fixture.ids("SELECT id FROM projects ORDER BY id DESC LIMIT 3").await
    );
    for project in projects["nodes"].as_array().unwrap() {
        let id = project["id"].as_str().unwrap();
        let tasks = &project["tasks"];
        assert_eq!(
            tasks["totalCount"],
            fixture
                .scalar_i64(&format!("SELECT count(*) FROM tasks WHERE project_id = {id}"))
                .await
        );
        let expected = fixture
            .ids(&format!(
                "SELECT id FROM tasks WHERE project_id = {id} ORDER BY priority DESC, id LIMIT 2"
            ))
            .await;
        assert_eq!(node_ids(&tasks["nodes"]), expected);
        for task in tasks["nodes"].as_array().unwrap() {
            let task_id = task["id"].as_str().unwrap();
            let comments = fixture
                .ids(&format!(
                    "SELECT id FROM comments WHERE task_id = {task_id} ORDER BY id"
                ))
                .await;
            assert_eq!(node_ids(&task["comments"]["nodes"]), comments);
            assert_eq!(task["comments"]["totalCount"], comments.len());
            assert!(task["comments"]["nodes"][0]["author"]["id"].is_string());
        }
    }
});

async fn walk(fixture: &Fixture, order: &str, filter: &str, size: usize, backward: bool) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let (page, position) = match (&cursor, backward) {
            (None, false) => (format!("first: {size}"), String::new()),
            (Some(cursor), false) => (format!("first: {size}"), format!(", after: \"{cursor}\"")),
            (None, true) => (format!("last: {size}"), String::new()),
            (Some(cursor), true) => (format!("last: {size}"), format!(", before: \"{cursor}\"")),
        };
        let data = fixture
            .data(&format!(
                "{{ tasks({page}{position}, orderBy: {order}, filter: {filter}) {{ nodes {{ id }} edges {{ cursor node {{ id }} }}
                   pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} }} }}"
            ))
            .await;
        let connection = &data["tasks"];
        let ids = node_ids(&connection["nodes"]);
        let edge_ids: Vec<i64> = connection["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|edge| edge["node"]["id"].as_str().unwrap().parse().unwrap())
            .collect();
        assert_eq!(ids, edge_ids, "nodes and edges agree");
        let info = &connection["pageInfo"];
        if let Some(first_edge) = connection["edges"].as_array().unwrap().first() {
            assert_eq!(info["startCursor"], first_edge["cursor"]);
        }
        let more = if backward {
            info["hasPreviousPage"].as_bool().unwrap()
        } else {
            info["hasNextPage"].as_bool().unwrap()
        };
        if cursor.is_some() {
            let behind = if backward {
                &info["hasNextPage"]
            } else {
                &info["hasPreviousPage"]
            };
            assert_eq!(behind, &json!(true), "a page after a cursor has rows behind it");
        }
        if backward {
            let mut page = ids;
            page.extend(seen);
            seen = page;
        } else {
            seen.extend(ids);
        }
        if !more {
            return seen;
        }
        let next = if backward {
            &info["startCursor"]
        } else {
            &info["endCursor"]
        };
        cursor = Some(next.as_str().expect("a cursor").to_owned());
    }
    panic!("pagination did not end");
}

on_both_backends!(
    cursor_pages_cover_the_ordered_rows_in_both_directions,
    |fixture: Fixture| async move {
        let expected = fixture
        .ids(
            "SELECT id FROM tasks WHERE project_id <= 5 ORDER BY due_on ASC NULLS FIRST, estimate_hours DESC NULLS LAST, id ASC",
        )
        .await;
        assert_eq!(expected.len(), 200);
        let order = "[{dueOn: ASC_NULLS_FIRST}, {estimateHours: DESC_NULLS_LAST}]";
        let filter = "{projectId: {lte: 5}}";
        assert_eq!(walk(&fixture, order, filter, 37, false).await, expected, "forward");
        assert_eq!(walk(&fixture, order, filter, 37, true).await, expected, "backward");
        assert_eq!(walk(&fixture, order, filter, 200, false).await, expected, "one page");

        let by_project = fixture
            .ids(
                "SELECT t.id FROM tasks t JOIN projects p ON p.id = t.project_id WHERE t.project_id <= 5
             ORDER BY p.name DESC, t.priority ASC, t.id ASC",
            )
            .await;
        let order = "[{project: {name: DESC}}, {priority: ASC}]";
        assert_eq!(
            walk(&fixture, order, filter, 23, false).await,
            by_project,
            "ordered through a relation"
        );

        let offset = fixture
        .data("{ tasks(first: 3, offset: 10, orderBy: [{id: ASC}]) { nodes { id } pageInfo { hasPreviousPage hasNextPage } } }")
        .await;
        assert_eq!(node_ids(&offset["tasks"]["nodes"]), vec![11, 12, 13]);
        assert_eq!(
            offset["tasks"]["pageInfo"],
            json!({ "hasPreviousPage": true, "hasNextPage": true })
        );
    }
);

on_both_backends!(
    forged_and_stale_cursors_are_bad_user_input,
    |fixture: Fixture| async move {
        assert_eq!(
            fixture
                .error_code("{ tasks(after: \"not-a-cursor\") { totalCount } }")
                .await,
            "BAD_USER_INPUT"
        );
        let data = fixture
            .data("{ tasks(first: 1, orderBy: [{title: ASC}]) { pageInfo { endCursor } } }")
            .await;
        let cursor = data["tasks"]["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
        let stale =
            format!("{{ tasks(first: 1, after: \"{cursor}\", orderBy: [{{priority: ASC}}]) {{ totalCount }} }}");
        assert_eq!(
            fixture.error_code(&stale).await,
            "BAD_USER_INPUT",
            "a cursor of another ordering"
        );
        let elsewhere =
            format!("{{ projects(first: 1, after: \"{cursor}\", orderBy: [{{name: ASC}}]) {{ totalCount }} }}");
        assert_eq!(
            fixture.error_code(&elsewhere).await,
            "BAD_USER_INPUT",
            "a cursor of another list"
        );
        let forged = base64_json(&json!(["tasks:title+l,id+l", 12, "x"]));
        let forged = format!("{{ tasks(first: 1, after: \"{forged}\", orderBy: [{{title: ASC}}]) {{ totalCount }} }}");
        assert_eq!(
            fixture.error_code(&forged).await,
            "BAD_USER_INPUT",
            "values of the wrong type"
        );
        assert_eq!(
            fixture.error_code("{ tasks(first: 1, last: 1) { totalCount } }").await,
            "BAD_USER_INPUT"
        );
        assert_eq!(
            fixture.error_code("{ tasks(first: -1) { totalCount } }").await,
            "BAD_USER_INPUT"
        );
        assert_eq!(
            fixture.error_code("{ tasks { nodes { nope } } }").await,
            "GRAPHQL_VALIDATION_FAILED"
        );
    }
);

fn base64_json(value: &serde_json::Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

on_both_backends!(lookup_by_key_and_missing_rows, |fixture: Fixture| async move {
    let data = fixture
        .data("{ task(id: 42) { id title project { id } } missing: task(id: \"99999999\") { id } }")
        .await;
    assert_eq!(data["task"]["id"], "42");
    assert_eq!(data["task"]["project"]["id"], "2");
    assert_eq!(data["missing"], serde_json::Value::Null);
    let tag_link = fixture.data("{ taskTag(taskId: 1, tagId: 1) { taskId } }").await;
    let expected = fixture
        .scalar_i64("SELECT count(*) FROM task_tags WHERE task_id = 1 AND tag_id = 1")
        .await;
    assert_eq!(
        tag_link["taskTag"].is_null(),
        expected == 0,
        "composite keys look up: {tag_link}"
    );
});

on_both_backends!(aggregates_and_groups_match_sql, |fixture: Fixture| async move {
    let data = fixture
        .data(
            "{ tasksAggregate(filter: {priority: {gte: 2}}) { count sum { priority } min { dueOn priority } max { priority }
               groupBy(columns: [STATUS, PRIORITY]) { key { status priority } count sum { priority } } } }",
        )
        .await;
    let aggregate = &data["tasksAggregate"];
    assert_eq!(
        aggregate["count"],
        fixture
            .scalar_i64("SELECT count(*) FROM tasks WHERE priority >= 2")
            .await
    );
    assert_eq!(
        aggregate["sum"]["priority"],
        fixture
            .scalar_i64("SELECT sum(priority) FROM tasks WHERE priority >= 2")
            .await
            .to_string()
    );
    assert_eq!(aggregate["max"]["priority"], 4);
    assert_eq!(aggregate["min"]["priority"], 2);
    let groups = aggregate["groupBy"].as_array().unwrap();
    assert_eq!(
        groups.len() as i64,
        fixture
            .scalar_i64("SELECT count(*) FROM (SELECT DISTINCT status, priority FROM tasks WHERE priority >= 2) d")
            .await
    );
    for group in groups {
        let status = group["key"]["status"].as_str().unwrap().to_lowercase();
        let priority = group["key"]["priority"].as_i64().unwrap();
        let count = fixture
            .scalar_i64(&format!(
                "SELECT count(*) FROM tasks WHERE status = '{status}' AND priority = {priority}"
            ))
            .await;
        assert_eq!(group["count"], count, "{group}");
        assert_eq!(group["sum"]["priority"], (count * priority).to_string());
    }
    let only_groups = fixture
        .data("{ tasksAggregate(filter: {priority: {gte: 2}}) { groupBy(columns: [STATUS]) { count } } }")
        .await;
    let total: i64 = only_groups["tasksAggregate"]["groupBy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|group| group["count"].as_i64().unwrap())
        .sum();
    assert_eq!(
        total,
        aggregate["count"].as_i64().unwrap(),
        "groups alone cover the filtered rows"
    );
});

on_both_backends!(
    relation_filters_some_none_every_and_many_to_many,
    |fixture: Fixture| async move {
        let count = |query: &'static str| {
            let fixture = &fixture;
            async move { fixture.data(query).await["tasks"]["totalCount"].as_i64().unwrap() }
        };
        let some = fixture
        .scalar_i64("SELECT count(*) FROM tasks t WHERE EXISTS (SELECT 1 FROM comments c WHERE c.task_id = t.id AND c.body LIKE '%looks good%')")
        .await;
        assert_eq!(
            count("{ tasks(filter: {comments: {some: {body: {contains: \"looks good\"}}}}) { totalCount } }").await,
            some
        );
        let none = fixture.scalar_i64("SELECT count(*) FROM tasks").await - some;
        assert_eq!(
            count("{ tasks(filter: {comments: {none: {body: {contains: \"looks good\"}}}}) { totalCount } }").await,
            none
        );
        let every = fixture
        .scalar_i64("SELECT count(*) FROM tasks t WHERE NOT EXISTS (SELECT 1 FROM comments c WHERE c.task_id = t.id AND c.body NOT LIKE '%looks good%')")
        .await;
        assert_eq!(
            count("{ tasks(filter: {comments: {every: {body: {contains: \"looks good\"}}}}) { totalCount } }").await,
            every
        );
        let public = fixture
            .scalar_i64("SELECT count(*) FROM tasks t JOIN projects p ON p.id = t.project_id WHERE p.is_public")
            .await;
        assert_eq!(
            count("{ tasks(filter: {project: {isPublic: {eq: true}}}) { totalCount } }").await,
            public
        );
        let tagged = fixture
        .scalar_i64("SELECT count(*) FROM tasks t WHERE EXISTS (SELECT 1 FROM task_tags l JOIN tags g ON g.id = l.tag_id WHERE l.task_id = t.id AND g.name = 'billing-0')")
        .await;
        assert_eq!(
            count("{ tasks(filter: {tags: {some: {name: {eq: \"billing-0\"}}}}) { totalCount } }").await,
            tagged
        );

        let data = fixture.data("{ task(id: 7) { tags(orderBy: [{name: ASC}]) { nodes { id name } } } tag(id: 1) { tasks { totalCount } } }").await;
        let expected = fixture
            .ids(
                "SELECT g.id FROM tags g JOIN task_tags l ON l.tag_id = g.id WHERE l.task_id = 7 ORDER BY g.name, g.id",
            )
            .await;
        assert_eq!(node_ids(&data["task"]["tags"]["nodes"]), expected);
        assert_eq!(
            data["tag"]["tasks"]["totalCount"],
            fixture
                .scalar_i64("SELECT count(*) FROM task_tags WHERE tag_id = 1")
                .await
        );
    }
);

on_both_backends!(types_round_trip_exactly, |fixture: Fixture| async move {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let created = chrono::DateTime::parse_from_rfc3339("2026-05-04T03:02:01.123456+00:00").unwrap();
    entity::task::ActiveModel {
        id: Set(9_007_199_254_740_993),
        project_id: Set(1),
        assignee_id: Set(None),
        title: Set("Big id".into()),
        status: Set(entity::enums::TaskStatus::InProgress),
        priority: Set(3),
        due_on: Set(Some(chrono::NaiveDate::from_ymd_opt(2026, 2, 28).unwrap())),
        estimate_hours: Set(Some("1234.56".parse().unwrap())),
        metadata: Set(Some(json!({ "nested": { "list": [1, 2.5, "x", null] } }))),
        created_at: Set(created),
        updated_at: Set(created),
    }
    .insert(&fixture.connection)
    .await
    .expect("insert");
    let data = fixture
        .data("{ task(id: \"9007199254740993\") { id projectId status dueOn estimateHours metadata createdAt assigneeId project { isPublic } } }")
        .await;
    let task = &data["task"];
    assert_eq!(task["id"], "9007199254740993", "64-bit ids keep every digit");
    assert_eq!(task["projectId"], "1");
    assert_eq!(task["status"], "IN_PROGRESS");
    assert_eq!(task["dueOn"], "2026-02-28");
    assert_eq!(task["estimateHours"], "1234.56", "numeric keeps its digits");
    assert_eq!(task["metadata"], json!({ "nested": { "list": [1, 2.5, "x", null] } }));
    assert!(
        task["createdAt"]
            .as_str()
            .unwrap()
            .starts_with("2026-05-04T03:02:01.123456"),
        "{task}"
    );
    assert_eq!(task["assigneeId"], serde_json::Value::Null);
    assert!(task["project"]["isPublic"].is_boolean());
    let filtered = fixture
        .data("{ tasks(filter: {id: {gt: \"9007199254740992\"}}) { nodes { id } } }")
        .await;
    assert_eq!(filtered["tasks"]["nodes"], json!([{ "id": "9007199254740993" }]));
    let by_decimal = fixture
        .data("{ tasks(filter: {estimateHours: {eq: \"1234.56\"}}) { totalCount } }")
        .await;
    assert_eq!(by_decimal["tasks"]["totalCount"], 1);
});
