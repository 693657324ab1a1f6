//! Reading GraphQL-over-HTTP requests: the JSON body of a POST (one operation or a batch), or the
//! query string of a GET, into async-graphql requests; anything malformed is a coded [`HttpError`].

use super::HttpError;
use async_graphql::{Request, Variables};
use serde_json::{Map, Value};

/// The operations of one HTTP request.
pub struct Operations {
    /// Each request with the persisted-operation id it named (`id`, `documentId` or `doc_id`).
    pub requests: Vec<(Request, Option<String>)>,
    /// Sent as a JSON array: answered with an array.
    pub batch: bool,
}

fn operation(value: Value, index: Option<usize>) -> Result<(Request, Option<String>), HttpError> {
    let at = |field: &str| match index {
        Some(index) => format!("[{index}].{field}"),
        None => field.to_owned(),
    };
    let Value::Object(mut fields) = value else {
        return Err(HttpError::bad_request(format!(
            "{}: a GraphQL request is a JSON object",
            at("body")
        )));
    };
    let id = ["id", "documentId", "doc_id"]
        .into_iter()
        .find_map(|name| match fields.remove(name) {
            Some(Value::String(id)) => Some(id),
            _ => None,
        });
    // A persisted operation (by id or hash) may leave the query out; the persisted-query step
    // fills it in or refuses the request.
    let persisted = id.is_some()
        || fields
            .get("extensions")
            .and_then(|extensions| extensions.get("persistedQuery"))
            .is_some();
    let query = match fields.remove("query") {
        Some(Value::String(query)) => query,
        Some(Value::Null) | None if persisted => String::new(),
        Some(_) => return Err(HttpError::bad_request(format!("`{}` must be a string", at("query")))),
        None => return Err(HttpError::bad_request(format!("`{}` is missing", at("query")))),
    };
    let mut request = Request::new(query);
    match fields.remove("operationName") {
        None | Some(Value::Null) => {}
        Some(Value::String(name)) => request = request.operation_name(name),
        Some(_) => {
            return Err(HttpError::bad_request(format!(
                "`{}` must be a string",
                at("operationName")
            )));
        }
    }
    match fields.remove("variables") {
        None | Some(Value::Null) => {}
        Some(Value::Object(variables)) => request = request.variables(Variables::from_json(Value::Object(variables))),
        Some(_) => {
            return Err(HttpError::bad_request(format!(
                "`{}` must be an object",
                at("variables")
            )));
        }
    }
    match fields.remove("extensions") {
        None | Some(Value::Null) => {}
        Some(Value::Object(extensions)) => {
            for (name, value) in extensions {
                if let Ok(value) = async_graphql::Value::from_json(value) {
                    request.extensions.insert(name, value);
                }
            }
        }
        Some(_) => {
            return Err(HttpError::bad_request(format!(
                "`{}` must be an object",
                at("extensions")
            )));
        }
    }
    Ok((request, id))
}

/// Parses a POST body: one request object, or an array of at most `max_batch`.
pub fn parse_body(body: &[u8], max_batch: usize) -> Result<Operations, HttpError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| HttpError::bad_request(format!("the body is not valid JSON: {error}")))?;
    match value {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(HttpError::bad_request("an empty batch has nothing to run".to_owned()));
            }
            if items.len() > max_batch {
                return Err(HttpError::bad_request(format!(
                    "a batch may hold at most {max_batch} operations (GATEWAY_MAX_BATCH), not {}",
                    items.len()
                )));
            }
            let requests = items
                .into_iter()
                .enumerate()
                .map(|(index, item)| operation(item, Some(index)))
                .collect::<Result<_, _>>()?;
            Ok(Operations { requests, batch: true })
        }
        single => Ok(Operations {
            requests: vec![operation(single, None)?],
            batch: false,
        }),
    }
}

/// Parses the query string of a GET (`variables` and `extensions` are JSON-encoded).
pub fn parse_query_string(query: &str) -> Result<(Request, Option<String>), HttpError> {
    let mut fields = Map::new();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let value = match key.as_ref() {
            "variables" | "extensions" if !value.is_empty() => serde_json::from_str(&value)
                .map_err(|error| HttpError::bad_request(format!("`{key}` is not valid JSON: {error}")))?,
            "variables" | "extensions" => Value::Null,
            _ => Value::String(value.into_owned()),
        };
        fields.insert(key.into_owned(), value);
    }
    operation(Value::Object(fields), None)
}
