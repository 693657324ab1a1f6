//! Relay global object ids (`nodeId`): a row's type name and primary key as a JSON array
//! (`["Task", "42"]`, each key value in the API's form), hex-encoded like cursors so the
//! database writes them itself (`sql::Dialect::cursor`). Opaque to clients, stable across
//! requests and roles, and decoded here into a typed key (a malformed id is `BAD_USER_INPUT`).

use super::parse_key_value;
use crate::error::GatewayError;
use crate::metadata::{EntityId, Registry};
use async_graphql::Value as GqlValue;
use sea_orm::Value;

/// The entity and primary key `id` names.
pub fn decode(registry: &Registry, id: &str, at: &str) -> Result<(EntityId, Vec<Value>), GatewayError> {
    let invalid = || GatewayError::bad_input(format!("`{at}` is not a node id of this API"));
    let bytes = hex::decode(id.trim()).map_err(|_| invalid())?;
    let serde_json::Value::Array(items) = serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|_| invalid())?
    else {
        return Err(invalid());
    };
    let Some((serde_json::Value::String(type_name), key)) = items.split_first() else {
        return Err(invalid());
    };
    let entity = registry
        .entities()
        .iter()
        .position(|entity| entity.type_name == *type_name && entity.has_node_id())
        .ok_or_else(invalid)?;
    let meta = registry.entity(entity);
    if key.len() != meta.primary_key.len() {
        return Err(invalid());
    }
    let key = meta
        .primary_key
        .iter()
        .zip(key)
        .map(|(column, value)| {
            let value = GqlValue::from_json(value.clone()).map_err(|_| invalid())?;
            parse_key_value(meta, column, &value).map_err(|_| invalid())
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((entity, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_a_type_and_its_whole_key() {
        let registry = crate::entities::registry().expect("registry");
        let task = hex::encode(r#"["Task", "42"]"#);
        let (entity, key) = decode(&registry, &task, "nodeId").expect("a task id");
        assert_eq!(registry.entity(entity).type_name, "Task");
        assert_eq!(key, vec![Value::BigInt(Some(42))]);
        let link = hex::encode(r#"["TaskTag","1","2"]"#);
        assert_eq!(decode(&registry, &link, "nodeId").expect("a composite id").1.len(), 2);
        for bad in [
            "zz".to_owned(),
            hex::encode(r#"["Task"]"#),
            hex::encode(r#"["Nope", "1"]"#),
            hex::encode(r#"["Task", "x"]"#),
            hex::encode(r#"{"Task": 1}"#),
            hex::encode(r#"["TaskTag", "1"]"#),
        ] {
            assert!(decode(&registry, &bad, "nodeId").is_err(), "{bad}");
        }
    }
}
