//! Opaque, validated cursors for keyset pagination.
//!
//! A cursor is the hex of a JSON array's text: the ordering's signature, then the row's value for
//! each order key in the API's form. The database builds it (`sql::Dialect::cursor`: hex is what
//! both PostgreSQL and SQLite can compute), so an answer streamed from the database carries its
//! cursors already. Decoding checks the signature, so a
//! cursor taken under another ordering or from another list is refused, and converts each value
//! back to a typed SQL value for the keyset condition.

use super::arguments::{null_value, parse_scalar};
use crate::error::GatewayError;
use crate::metadata::ScalarKind;
use sea_orm::Value;

/// Decodes `cursor` for an ordering with `signature` whose keys have `kinds`.
pub fn decode(
    cursor: &str,
    signature: &str,
    kinds: &[&ScalarKind],
    argument: &str,
) -> Result<Vec<Value>, GatewayError> {
    let invalid = || GatewayError::bad_input(format!("`{argument}` is not a valid cursor for this list"));
    let bytes = hex::decode(cursor.trim()).map_err(|_| invalid())?;
    let serde_json::Value::Array(items) = serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|_| invalid())?
    else {
        return Err(invalid());
    };
    let Some((serde_json::Value::String(found), values)) = items.split_first() else {
        return Err(invalid());
    };
    if found != signature {
        return Err(GatewayError::bad_input(format!(
            "`{argument}` was taken from a different list or ordering; request the first page again with this orderBy"
        )));
    }
    if values.len() != kinds.len() {
        return Err(invalid());
    }
    values
        .iter()
        .zip(kinds)
        .map(|(value, kind)| match value {
            serde_json::Value::Null => Ok(null_value(kind)),
            value => {
                let value = async_graphql::Value::from_json(value.clone()).map_err(|_| invalid())?;
                parse_scalar(kind, &value, argument).map_err(|_| invalid())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_rejects_other_orderings() {
        let cursor = hex::encode(serde_json::json!(["tasks:id+", "9007199254740993"]).to_string());
        let values = decode(&cursor, "tasks:id+", &[&ScalarKind::BigInt], "after").expect("valid");
        assert_eq!(values, vec![Value::BigInt(Some(9_007_199_254_740_993))]);
        let error = decode(
            &cursor,
            "tasks:title+,id+",
            &[&ScalarKind::String, &ScalarKind::BigInt],
            "after",
        );
        assert!(error.is_err());
        assert!(decode("not a cursor!", "tasks:id+", &[&ScalarKind::BigInt], "after").is_err());
    }
}
