//! Relay global object identification: `nodeId` on every row type, `node(nodeId:)` and
//! `nodes(nodeIds:)`, on PostgreSQL and SQLite; tenants and cost in `permissions` and here.

use crate::fixture::{Fixture, on_both_backends};
use serde_json::json;

on_both_backends!(
    every_row_type_round_trips_through_its_node_id,
    |fixture: Fixture| async move {
        let registry = gateway::entities::registry().unwrap();
        let mut ids = Vec::new();
        for entity in registry.entities() {
            let key_fields: Vec<String> = entity
                .primary_key
                .iter()
                .map(|column| entity.column(column).unwrap().field.clone())
                .collect();
            let data = fixture
                .data(&format!(
                    "{{ {}(first: 1) {{ nodes {{ nodeId {} }} }} }}",
                    entity.list_field,
                    key_fields.join(" ")
                ))
                .await;
            let row = data[&entity.list_field]["nodes"][0].clone();
            let id = row["nodeId"].as_str().expect("a node id").to_owned();
            let found = fixture
                .data(&format!(
                    "{{ node(nodeId: \"{id}\") {{ __typename nodeId ... on {} {{ {} }} }} }}",
                    entity.type_name,
                    key_fields.join(" ")
                ))
                .await;
            assert_eq!(found["node"]["__typename"], entity.type_name.as_str());
            for field in &key_fields {
                assert_eq!(found["node"][field], row[field], "{}", entity.table);
            }
            ids.push(id);
        }
        // Every type at once, in order, with a missing row (a well-formed id) as null in its place.
        let missing = hex::encode(r#"["Task", "987654321"]"#);
        let mut asked = ids.clone();
        asked.insert(1, missing);
        let list = asked
            .iter()
            .map(|id| format!("\"{id}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let data = fixture
            .data(&format!("{{ nodes(nodeIds: [{list}]) {{ nodeId }} }}"))
            .await;
        let answered: Vec<serde_json::Value> = data["nodes"].as_array().unwrap().clone();
        assert_eq!(answered.len(), asked.len());
        assert!(answered[1].is_null(), "{data}");
        for (position, id) in asked.iter().enumerate().filter(|(position, _)| *position != 1) {
            assert_eq!(answered[position], json!({ "nodeId": id }));
        }
        // Malformed ids are coded errors; an unknown type is malformed too.
        for id in [
            "nothex",
            &hex::encode(r#"["Nope", "1"]"#),
            &hex::encode(r#"["Task", "x"]"#),
        ] {
            let code = fixture
                .error_code(&format!("{{ node(nodeId: \"{id}\") {{ nodeId }} }}"))
                .await;
            assert_eq!(code, "BAD_USER_INPUT", "{id}");
        }
    }
);

/// `nodes` is weighed like `_entities`: one row per id, times what each selects.
#[tokio::test]
async fn nodes_are_weighed_by_how_many_ids_they_are_given() {
    let fixture = Fixture::postgres().await;
    let ids: Vec<String> = (1..=500)
        .map(|id| format!("\"{}\"", hex::encode(format!(r#"["Project", "{id}"]"#))))
        .collect();
    let query = format!(
        "{{ nodes(nodeIds: [{}]) {{ ... on Project {{ tasks(first: 10000) {{ nodes {{ id title priority }} }} }} }} }}",
        ids.join(", ")
    );
    assert_eq!(fixture.error_code(&query).await, "QUERY_LIMIT_EXCEEDED");
    let one = format!(
        "{{ nodes(nodeIds: [{}]) {{ ... on Project {{ tasks(first: 10) {{ nodes {{ id }} }} }} }} }}",
        ids[0]
    );
    fixture.data(&one).await;
}
