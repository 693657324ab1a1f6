//! Aggregates through relations and orderings by them, checked against SQL written independently,
//! on PostgreSQL and SQLite.

use crate::fixture::{Fixture, node_ids, on_both_backends};
use chrono::{Datelike, NaiveDate};
use std::collections::BTreeMap;

on_both_backends!(
    aggregates_through_relations_match_sql_at_any_depth,
    |fixture: Fixture| async move {
        let data = fixture
            .data(
                "{ organizations { nodes { id
                    projectsAggregate { count }
                    projects(first: 4, orderBy: [{id: ASC}]) { nodes { id
                      tasksAggregate(filter: {priority: {gte: 2}}) {
                        count sum { priority } avg { priority } max { dueOn } countDistinct { assigneeId status } }
                      tasks(first: 2, orderBy: [{id: ASC}]) { nodes { id tagsAggregate { count } commentsAggregate { count } } } } } } } }",
            )
            .await;
        let organization = &data["organizations"]["nodes"][0];
        let id = organization["id"].as_str().unwrap();
        assert_eq!(
            organization["projectsAggregate"]["count"],
            fixture
                .scalar_i64(&format!("SELECT count(*) FROM projects WHERE organization_id = {id}"))
                .await
        );
        let projects = organization["projects"]["nodes"].as_array().unwrap();
        assert!(!projects.is_empty());
        for project in projects {
            let id = project["id"].as_str().unwrap();
            let of = |select: &str| format!("SELECT {select} FROM tasks WHERE project_id = {id} AND priority >= 2");
            let aggregate = &project["tasksAggregate"];
            assert_eq!(
                aggregate["count"],
                fixture.scalar_i64(&of("count(*)")).await,
                "{project}"
            );
            assert_eq!(
                aggregate["sum"]["priority"],
                fixture.scalar_i64(&of("coalesce(sum(priority), 0)")).await.to_string()
            );
            let average = aggregate["avg"]["priority"].as_f64().unwrap();
            assert_eq!(
                (average * 1000.0).round() as i64,
                fixture
                    .scalar_i64(&of("CAST(round(avg(priority) * 1000) AS BIGINT)"))
                    .await,
                "{project}"
            );
            assert_eq!(
                aggregate["countDistinct"]["assigneeId"],
                fixture.scalar_i64(&of("count(DISTINCT assignee_id)")).await
            );
            assert_eq!(
                aggregate["countDistinct"]["status"],
                fixture.scalar_i64(&of("count(DISTINCT status)")).await
            );
            let latest = fixture
                .scalar_i64(&of("CAST(replace(CAST(max(due_on) AS TEXT), '-', '') AS BIGINT)"))
                .await;
            assert_eq!(
                aggregate["max"]["dueOn"].as_str().unwrap().replace('-', ""),
                latest.to_string()
            );
            for task in project["tasks"]["nodes"].as_array().unwrap() {
                let task_id = task["id"].as_str().unwrap();
                // Many-to-many (through task_tags) and one-to-many.
                assert_eq!(
                    task["tagsAggregate"]["count"],
                    fixture
                        .scalar_i64(&format!("SELECT count(*) FROM task_tags WHERE task_id = {task_id}"))
                        .await
                );
                assert_eq!(
                    task["commentsAggregate"]["count"],
                    fixture
                        .scalar_i64(&format!("SELECT count(*) FROM comments WHERE task_id = {task_id}"))
                        .await
                );
            }
        }
        // Groups of the related rows, per parent.
        let data = fixture
            .data("{ project(id: 1) { tasksAggregate { groupBy(columns: [STATUS]) { key { status } count } } } }")
            .await;
        for group in data["project"]["tasksAggregate"]["groupBy"].as_array().unwrap() {
            let status = group["key"]["status"].as_str().unwrap().to_lowercase();
            assert_eq!(
                group["count"],
                fixture
                    .scalar_i64(&format!(
                        "SELECT count(*) FROM tasks WHERE project_id = 1 AND status = '{status}'"
                    ))
                    .await
            );
        }
    }
);

/// Walks `projects` ordered by `order` in pages of `size` through cursors, returning the ids.
async fn walk_projects(fixture: &Fixture, order: &str, size: usize) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut after = String::new();
    for _ in 0..200 {
        let data = fixture
            .data(&format!(
                "{{ projects(first: {size}{after}, orderBy: {order}) {{ nodes {{ id }} pageInfo {{ hasNextPage endCursor }} }} }}"
            ))
            .await;
        seen.extend(node_ids(&data["projects"]["nodes"]));
        let info = &data["projects"]["pageInfo"];
        if !info["hasNextPage"].as_bool().unwrap() {
            return seen;
        }
        after = format!(", after: \"{}\"", info["endCursor"].as_str().unwrap());
    }
    panic!("pagination did not end");
}

on_both_backends!(
    orderings_by_related_aggregates_match_sql_and_page_by_cursor,
    |fixture: Fixture| async move {
        for (order, sql) in [
            (
                "[{tasksAggregate: {filter: {status: {eq: TODO}}, count: DESC}}]",
                "SELECT p.id FROM projects p ORDER BY \
                 (SELECT count(*) FROM tasks t WHERE t.project_id = p.id AND t.status = 'todo') DESC, p.id",
            ),
            (
                "[{tasksAggregate: {avg: {priority: ASC}}}, {name: DESC}]",
                "SELECT p.id FROM projects p ORDER BY \
                 (SELECT avg(priority) FROM tasks t WHERE t.project_id = p.id) IS NULL, \
                 (SELECT avg(priority) FROM tasks t WHERE t.project_id = p.id), p.name DESC, p.id",
            ),
            (
                "[{tasksAggregate: {max: {dueOn: DESC_NULLS_LAST}}}]",
                "SELECT p.id FROM projects p ORDER BY \
                 (SELECT max(due_on) FROM tasks t WHERE t.project_id = p.id) IS NULL, \
                 (SELECT max(due_on) FROM tasks t WHERE t.project_id = p.id) DESC, p.id",
            ),
            (
                "[{organization: {name: ASC}}, {tasksAggregate: {sum: {priority: DESC}}}]",
                "SELECT p.id FROM projects p JOIN organizations o ON o.id = p.organization_id ORDER BY o.name, \
                 (SELECT sum(priority) FROM tasks t WHERE t.project_id = p.id) IS NOT NULL, \
                 (SELECT sum(priority) FROM tasks t WHERE t.project_id = p.id) DESC, p.id",
            ),
        ] {
            let expected = fixture.ids(sql).await;
            assert_eq!(walk_projects(&fixture, order, 7).await, expected, "{order}");
        }
        // Many-to-many: tags by how many tasks carry them.
        let data = fixture
            .data("{ tags(first: 5, orderBy: [{tasksAggregate: {count: DESC}}]) { nodes { id } } }")
            .await;
        assert_eq!(
            node_ids(&data["tags"]["nodes"]),
            fixture
                .ids("SELECT g.id FROM tags g ORDER BY (SELECT count(*) FROM task_tags l WHERE l.tag_id = g.id) DESC, g.id LIMIT 5")
                .await
        );
        // A cursor taken under one aggregate ordering is refused under another.
        let data = fixture
            .data("{ projects(first: 1, orderBy: [{tasksAggregate: {count: DESC}}]) { pageInfo { endCursor } } }")
            .await;
        let cursor = data["projects"]["pageInfo"]["endCursor"].as_str().unwrap();
        let filtered = format!(
            "{{ projects(first: 1, after: \"{cursor}\", orderBy: [{{tasksAggregate: {{filter: {{priority: {{gt: 1}}}}, count: DESC}}}}]) {{ nodes {{ id }} }} }}"
        );
        assert_eq!(fixture.error_code(&filtered).await, "BAD_USER_INPUT");
        // Exactly one aggregate per entry, and one that applies to the column.
        for query in [
            "{ projects(orderBy: [{tasksAggregate: {count: DESC, max: {priority: ASC}}}]) { totalCount } }",
            "{ projects(orderBy: [{tasksAggregate: {filter: {priority: {gt: 1}}}}]) { totalCount } }",
        ] {
            assert_eq!(fixture.error_code(query).await, "BAD_USER_INPUT", "{query}");
        }
    }
);

/// Counts per key, computed in Rust from hand-selected values (the oracle for time buckets,
/// whose SQL differs between the backends).
fn counted(values: Vec<Option<String>>, bucket: impl Fn(&str) -> String) -> BTreeMap<Option<String>, i64> {
    let mut counts = BTreeMap::new();
    for value in values {
        *counts.entry(value.as_deref().map(&bucket)).or_insert(0) += 1;
    }
    counts
}

/// The groups of an answer as (key, count).
fn groups(
    answer: &serde_json::Value,
    key: impl Fn(&serde_json::Value) -> Option<String>,
) -> BTreeMap<Option<String>, i64> {
    answer
        .as_array()
        .expect("groups")
        .iter()
        .map(|group| (key(&group["key"]), group["count"].as_i64().unwrap()))
        .collect()
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(&text[..10], "%Y-%m-%d").expect("a date")
}

on_both_backends!(
    reports_group_by_paths_and_time_units_match_sql,
    |fixture: Fixture| async move {
        // Keys through a many-to-one relation, `having`, an order by an aggregate, a page.
        let data = fixture
            .data(
                "{ tasksAggregate { groupBy(by: [{project: {organizationId: VALUE}}, {status: VALUE}],
                    having: {count: {gt: 5}, or: [{avg: {priority: {gte: 2}}}, {countDistinct: {assigneeId: {lt: 3}}}]},
                    orderBy: [{count: DESC}], first: 3, offset: 1) {
                    key { status project { organizationId } } count avg { priority } } } }",
            )
            .await;
        let expected = fixture
            .ids(
                "SELECT count(*) FROM tasks t JOIN projects p ON p.id = t.project_id GROUP BY p.organization_id, t.status \
                 HAVING count(*) > 5 AND (avg(t.priority) >= 2 OR count(DISTINCT t.assignee_id) < 3) \
                 ORDER BY count(*) DESC, p.organization_id, t.status LIMIT 3 OFFSET 1",
            )
            .await;
        let found: Vec<i64> = data["tasksAggregate"]["groupBy"]
            .as_array()
            .unwrap()
            .iter()
            .map(|group| group["count"].as_i64().unwrap())
            .collect();
        assert_eq!(found, expected, "{data}");
        for group in data["tasksAggregate"]["groupBy"].as_array().unwrap() {
            assert!(group["key"]["project"]["organizationId"].is_string(), "{group}");
        }
        // Dates by month, week (Monday) and quarter; timestamps by day (UTC).
        let due = fixture.texts("SELECT CAST(due_on AS TEXT) FROM tasks").await;
        for (unit, bucket) in [
            (
                "MONTH",
                Box::new(|text: &str| format!("{}-01", &text[..7])) as Box<dyn Fn(&str) -> String>,
            ),
            (
                "WEEK",
                Box::new(|text: &str| {
                    let day = date(text);
                    (day - chrono::Days::new(u64::from(day.weekday().num_days_from_monday()))).to_string()
                }),
            ),
            (
                "QUARTER",
                Box::new(|text: &str| {
                    let day = date(text);
                    format!("{}-{:02}-01", day.year(), (day.month0() / 3) * 3 + 1)
                }),
            ),
        ] {
            let data = fixture
                .data(&format!(
                    "{{ tasksAggregate {{ groupBy(by: [{{dueOn: {unit}}}]) {{ key {{ dueOn }} count }} }} }}"
                ))
                .await;
            let found = groups(&data["tasksAggregate"]["groupBy"], |key| {
                key["dueOn"].as_str().map(str::to_owned)
            });
            assert_eq!(found, counted(due.clone(), &bucket), "{unit}");
        }
        let created = fixture.texts("SELECT CAST(created_at AS TEXT) FROM tasks").await;
        let data = fixture
            .data(
                "{ tasksAggregate { groupBy(by: [{createdAt: DAY}], timeZone: \"UTC\") { key { createdAt } count } } }",
            )
            .await;
        let found = groups(&data["tasksAggregate"]["groupBy"], |key| {
            key["createdAt"].as_str().map(|text| text[..10].to_owned())
        });
        assert_eq!(found, counted(created, |text| text[..10].to_owned()));
        // Groups through a relation aggregate, ordered by a key, descending.
        let data = fixture
            .data(
                "{ project(id: 1) { tasksAggregate { groupBy(by: [{status: VALUE}], orderBy: [{key: {status: DESC}}]) {
                    key { status } count } } } }",
            )
            .await;
        let statuses: Vec<String> = data["project"]["tasksAggregate"]["groupBy"]
            .as_array()
            .unwrap()
            .iter()
            .map(|group| group["key"]["status"].as_str().unwrap().to_lowercase())
            .collect();
        let mut expected = fixture
            .texts("SELECT DISTINCT CAST(status AS TEXT) FROM tasks WHERE project_id = 1")
            .await
            .into_iter()
            .flatten()
            .collect::<Vec<_>>();
        // The enum's declared order (todo, in_progress, done) reversed; SQLite orders labels as text.
        if fixture.on_postgres() {
            let rank = |status: &str| {
                ["todo", "in_progress", "done"]
                    .iter()
                    .position(|known| *known == status)
            };
            expected.sort_by_key(|status| std::cmp::Reverse(rank(status)));
        } else {
            expected.sort_by(|left, right| right.cmp(left));
        }
        assert_eq!(statuses, expected);
    }
);

/// On PostgreSQL timestamps fall into units in the requested zone, like `date_trunc(…, zone)`.
#[tokio::test]
async fn timestamps_fall_into_units_in_the_requested_time_zone() {
    let fixture = Fixture::postgres().await;
    let data = fixture
        .data(
            "{ tasksAggregate { groupBy(by: [{createdAt: MONTH}], timeZone: \"Pacific/Auckland\") { key { createdAt } count } } }",
        )
        .await;
    let found = groups(&data["tasksAggregate"]["groupBy"], |key| {
        key["createdAt"].as_str().map(str::to_owned)
    });
    let expected = fixture
        .texts(
            "SELECT to_char(date_trunc('month', created_at, 'Pacific/Auckland') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"') \
             FROM tasks",
        )
        .await;
    assert_eq!(found, counted(expected, str::to_owned));
    assert!(
        found.keys().flatten().all(|start| !start.ends_with("T00:00:00+00:00")),
        "{found:?}"
    );
}

on_both_backends!(
    reports_refuse_bad_input_with_coded_errors,
    |fixture: Fixture| async move {
        for (query, code) in [
            (
                "{ tasksAggregate { groupBy(by: [{createdAt: DAY}], timeZone: \"Mars/Olympus\") { count } } }",
                "BAD_USER_INPUT",
            ),
            ("{ tasksAggregate { groupBy { count } } }", "BAD_USER_INPUT"),
            (
                "{ tasksAggregate { groupBy(by: [{status: VALUE}]) { key { priority } } } }",
                "BAD_USER_INPUT",
            ),
            (
                "{ tasksAggregate { groupBy(by: [{dueOn: MONTH}, {dueOn: VALUE}]) { count } } }",
                "BAD_USER_INPUT",
            ),
            (
                "{ tasksAggregate { groupBy(by: [{status: VALUE}], having: {min: {title: {like: \"a%\"}}}) { count } } }",
                "BAD_USER_INPUT",
            ),
            (
                "{ tasksAggregate { groupBy(by: [{status: VALUE}], orderBy: [{key: {priority: ASC}}]) { count } } }",
                "BAD_USER_INPUT",
            ),
            (
                "{ tasksAggregate { groupBy(by: [{status: VALUE, priority: VALUE}]) { count } } }",
                "BAD_USER_INPUT",
            ),
            // Only dates and timestamps take a unit: the schema's own types say so.
            (
                "{ tasksAggregate { groupBy(by: [{priority: MONTH}]) { count } } }",
                "GRAPHQL_VALIDATION_FAILED",
            ),
        ] {
            assert_eq!(fixture.error_code(query).await, code, "{query}");
        }
        let paris = "{ tasksAggregate { groupBy(by: [{createdAt: DAY}], timeZone: \"Europe/Paris\") { count } } }";
        if fixture.on_postgres() {
            fixture.data(paris).await;
        } else {
            assert_eq!(
                fixture.error_code(paris).await,
                "BAD_USER_INPUT",
                "SQLite buckets are UTC only"
            );
        }
    }
);
