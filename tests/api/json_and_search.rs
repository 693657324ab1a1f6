//! JSON columns (filters, values at a path) and text search, checked against SQL written
//! independently, on PostgreSQL and SQLite.

use crate::fixture::{Fixture, node_ids, on_both_backends};

on_both_backends!(json_filters_and_paths_match_sql, |fixture: Fixture| async move {
    let postgres = fixture.on_postgres();
    let count = |filter: &'static str| {
        let fixture = &fixture;
        async move {
            fixture
                .data(&format!("{{ tasks(filter: {filter}) {{ totalCount }} }}"))
                .await["tasks"]["totalCount"]
                .as_i64()
                .unwrap()
        }
    };
    let sql = |postgres_sql: &str, sqlite_sql: &str| {
        format!(
            "SELECT count(*) FROM tasks WHERE {}",
            if postgres { postgres_sql } else { sqlite_sql }
        )
    };
    for (filter, expected) in [
        (
            "{metadata: {path: \"points\", gte: 8}}",
            sql(
                "jsonb_typeof(metadata -> 'points') = 'number' AND (metadata ->> 'points')::numeric >= 8",
                "json_type(metadata, '$.points') IN ('integer', 'real') AND json_extract(metadata, '$.points') >= 8",
            ),
        ),
        (
            "{metadata: {path: \"source\", eq: \"api\"}}",
            sql(
                "metadata ->> 'source' = 'api'",
                "json_extract(metadata, '$.source') = 'api'",
            ),
        ),
        (
            "{metadata: {path: \"labels.0\", ne: \"report\"}}",
            sql(
                "jsonb_typeof(metadata -> 'labels' -> 0) = 'string' AND metadata -> 'labels' ->> 0 <> 'report'",
                "json_type(metadata, '$.labels[0]') = 'text' AND json_extract(metadata, '$.labels[0]') <> 'report'",
            ),
        ),
        (
            "{metadata: {contains: {labels: [\"settings\"], source: \"email\"}}}",
            sql(
                "metadata @> '{\"labels\": [\"settings\"], \"source\": \"email\"}'",
                "json_extract(metadata, '$.source') = 'email' AND EXISTS (SELECT 1 FROM json_each(metadata, '$.labels') WHERE value = 'settings')",
            ),
        ),
        (
            "{metadata: {hasKey: \"points\"}}",
            sql("metadata ? 'points'", "json_type(metadata, '$.points') IS NOT NULL"),
        ),
        (
            "{metadata: {hasAllKeys: [\"points\", \"nope\"]}}",
            sql("metadata ?& ARRAY['points', 'nope']", "FALSE"),
        ),
        (
            "{metadata: {hasAnyKeys: [\"points\", \"nope\"]}}",
            sql(
                "metadata ?| ARRAY['points', 'nope']",
                "json_type(metadata, '$.points') IS NOT NULL",
            ),
        ),
        (
            "{not: {metadata: {contains: {labels: [\"settings\"]}}}, metadata: {isNull: false}}",
            sql(
                "metadata IS NOT NULL AND NOT metadata @> '{\"labels\": [\"settings\"]}'",
                "metadata IS NOT NULL AND NOT EXISTS (SELECT 1 FROM json_each(metadata, '$.labels') WHERE value = 'settings')",
            ),
        ),
    ] {
        let expected = fixture.scalar_i64(&expected).await;
        assert!(expected > 0 || filter.contains("nope"), "{filter} selects rows");
        assert_eq!(count(filter).await, expected, "{filter}");
    }
    // Values at a path, and a path that is absent.
    let data = fixture
        .data("{ task(id: 1) { metadata points: metadata(path: \"points\") label: metadata(path: \"labels.0\") none: metadata(path: \"no.such\") } }")
        .await;
    let task = &data["task"];
    assert_eq!(task["points"], task["metadata"]["points"]);
    assert_eq!(task["label"], task["metadata"]["labels"][0]);
    assert!(task["none"].is_null());
    // Malformed paths and operands are coded errors, never SQL.
    for query in [
        "{ tasks(filter: {metadata: {path: \"a..b\", eq: 1}}) { totalCount } }",
        "{ tasks(filter: {metadata: {path: \"x\\\"); DROP TABLE tasks; --\", eq: 1}}) { totalCount } }",
        "{ tasks(filter: {metadata: {path: \"points\"}}) { totalCount } }",
        "{ tasks(filter: {metadata: {eq: {a: 1}}}) { totalCount } }",
        "{ tasks { nodes { metadata(path: \"\") } } }",
    ] {
        assert_eq!(fixture.error_code(query).await, "BAD_USER_INPUT", "{query}");
    }
    let contained = "{ tasks(filter: {metadata: {containedIn: {labels: [\"settings\", \"report\"], points: 8, source: \"api\"}}}) { totalCount } }";
    if postgres {
        let expected = fixture
            .scalar_i64("SELECT count(*) FROM tasks WHERE metadata <@ '{\"labels\": [\"settings\", \"report\"], \"points\": 8, \"source\": \"api\"}'")
            .await;
        assert_eq!(fixture.data(contained).await["tasks"]["totalCount"], expected);
    } else {
        assert_eq!(fixture.error_code(contained).await, "BAD_USER_INPUT");
    }
    let ids = node_ids(&fixture.data("{ tasks(first: 2) { nodes { id } } }").await["tasks"]["nodes"]);
    assert_eq!(ids.len(), 2);
});
