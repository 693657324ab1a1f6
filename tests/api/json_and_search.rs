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
    // Ordering by the value at a path (jsonb's order), paged through cursors.
    let order = "orderBy: [{metadata: {path: \"points\", direction: DESC}}]";
    if postgres {
        let mut paged = Vec::new();
        let mut after = String::new();
        loop {
            let data = fixture
                .data(&format!(
                    "{{ tasks(first: 97{after}, {order}) {{ nodes {{ id }} pageInfo {{ hasNextPage endCursor }} }} }}"
                ))
                .await;
            paged.extend(node_ids(&data["tasks"]["nodes"]));
            let info = &data["tasks"]["pageInfo"];
            if !info["hasNextPage"].as_bool().unwrap() {
                break;
            }
            after = format!(", after: \"{}\"", info["endCursor"].as_str().unwrap());
        }
        let expected = fixture
            .ids("SELECT id FROM tasks ORDER BY jsonb_extract_path(metadata, 'points') DESC NULLS FIRST, id")
            .await;
        assert_eq!(paged, expected);
    } else {
        let code = fixture
            .error_code(&format!("{{ tasks({order}) {{ totalCount }} }}"))
            .await;
        assert_eq!(code, "BAD_USER_INPUT");
    }
});

on_both_backends!(
    text_search_relevance_and_case_insensitive_order_match_sql,
    |fixture: Fixture| async move {
        let postgres = fixture.on_postgres();
        // Words (stemmed on PostgreSQL: "caching" finds "cache"), phrases, exclusions, `or`; on
        // SQLite task titles through their FTS5 table.
        for (search, postgres_sql, sqlite_sql) in [
            (
                "cache -design",
                "to_tsvector('english', title) @@ websearch_to_tsquery('english', 'cache -design')",
                "id IN (SELECT rowid FROM tasks_fts WHERE tasks_fts MATCH '{title} : ((\"cache\") NOT \"design\")')",
            ),
            (
                "\\\"document queue\\\" or profile",
                "to_tsvector('english', title) @@ websearch_to_tsquery('english', '\"document queue\" or profile')",
                "id IN (SELECT rowid FROM tasks_fts WHERE tasks_fts MATCH '{title} : ((\"document queue\") OR (\"profile\"))')",
            ),
        ] {
            let expected = fixture
                .scalar_i64(&format!(
                    "SELECT count(*) FROM tasks WHERE {}",
                    if postgres { postgres_sql } else { sqlite_sql }
                ))
                .await;
            assert!(expected > 0, "{search} finds rows");
            let data = fixture
                .data(&format!(
                    "{{ tasks(filter: {{title: {{search: \"{search}\"}}}}) {{ totalCount }} }}"
                ))
                .await;
            assert_eq!(data["tasks"]["totalCount"], expected, "{search}");
        }
        // Comment bodies have no FTS5 table: SQLite matches words, ignoring ASCII case.
        let expected = fixture
            .scalar_i64(if postgres {
                "SELECT count(*) FROM comments WHERE to_tsvector('english', body) @@ websearch_to_tsquery('english', 'looks -good')"
            } else {
                "SELECT count(*) FROM comments WHERE instr(lower(body), 'looks') > 0 AND instr(lower(body), 'good') = 0"
            })
            .await;
        let data = fixture
            .data("{ comments(filter: {body: {search: \"looks -good\"}}) { totalCount } }")
            .await;
        assert_eq!(data["comments"]["totalCount"], expected);
        if postgres {
            let stemmed = fixture
                .data("{ tasks(filter: {title: {search: \"caching\"}}) { totalCount } }")
                .await;
            assert!(stemmed["tasks"]["totalCount"].as_i64().unwrap() > 0, "stemmed");
        }
        // Relevance first, then the key; pages through cursors agree with one long page.
        let query = |page: &str| {
            format!(
                "{{ tasks({page}, filter: {{title: {{search: \"cache or queue\"}}}}, orderBy: [{{title: RELEVANCE}}]) {{
                    nodes {{ id }} pageInfo {{ hasNextPage endCursor }} }} }}"
            )
        };
        let all = node_ids(&fixture.data(&query("first: 1000")).await["tasks"]["nodes"]);
        let expected = fixture
            .ids(if postgres {
                "SELECT id FROM tasks WHERE to_tsvector('english', title) @@ websearch_to_tsquery('english', 'cache or queue') \
                 ORDER BY ts_rank(to_tsvector('english', title), websearch_to_tsquery('english', 'cache or queue'))::float8 DESC, id"
            } else {
                "SELECT t.id FROM tasks t JOIN tasks_fts f ON f.rowid = t.id \
                 WHERE tasks_fts MATCH '{title} : ((\"cache\") OR (\"queue\"))' ORDER BY round(-bm25(tasks_fts), 9) DESC, t.id"
            })
            .await;
        assert!(!expected.is_empty());
        assert_eq!(all, expected);
        let mut paged = Vec::new();
        let mut after = String::new();
        loop {
            let data = fixture.data(&query(&format!("first: 7{after}"))).await;
            paged.extend(node_ids(&data["tasks"]["nodes"]));
            let info = &data["tasks"]["pageInfo"];
            if !info["hasNextPage"].as_bool().unwrap() {
                break;
            }
            after = format!(", after: \"{}\"", info["endCursor"].as_str().unwrap());
        }
        assert_eq!(paged, all, "cursors over relevance");
        // Case-insensitive order.
        let data = fixture
            .data("{ projects(first: 10, orderBy: [{name: DESC_CI}]) { nodes { id } } }")
            .await;
        assert_eq!(
            node_ids(&data["projects"]["nodes"]),
            fixture
                .ids("SELECT id FROM projects ORDER BY lower(name) DESC, id LIMIT 10")
                .await
        );
        // Refusals: RELEVANCE without the search, a search on a column not marked searchable
        // (absent from its filter type), CI on a number.
        for (query, code) in [
            (
                "{ tasks(orderBy: [{title: RELEVANCE}]) { totalCount } }",
                "BAD_USER_INPUT",
            ),
            (
                "{ projects(filter: {name: {search: \"x\"}}) { totalCount } }",
                "GRAPHQL_VALIDATION_FAILED",
            ),
            (
                "{ tasks(orderBy: [{priority: ASC_CI}]) { totalCount } }",
                "GRAPHQL_VALIDATION_FAILED",
            ),
        ] {
            assert_eq!(fixture.error_code(query).await, code, "{query}");
        }
        // A search operand is bounded like a pattern (GATEWAY_MAX_PATTERN_LENGTH, 1,000), and
        // charged to the text-match cost per row scanned, below lists too.
        let long = "word ".repeat(250);
        for query in [
            format!("{{ tasks(filter: {{title: {{search: \"{long}\"}}}}) {{ totalCount }} }}"),
            format!(
                "{{ projects {{ nodes {{ tasks(filter: {{title: {{search: \"{long}\"}}}}) {{ totalCount }} }} }} }}"
            ),
        ] {
            assert_eq!(fixture.error_code(&query).await, "BAD_USER_INPUT");
        }
    }
);
