//! Aggregates through relations and orderings by them, checked against SQL written independently,
//! on PostgreSQL and SQLite.

use crate::fixture::{Fixture, node_ids, on_both_backends};

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
