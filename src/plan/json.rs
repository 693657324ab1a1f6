//! JSON columns: filters (containment, keys, comparisons of the value at a path) and paths.
//!
//! A path is written `size.width` (keys separated by dots; a segment of digits indexes an array,
//! `labels.0`). It is parsed here into segments and reaches SQL only as bind parameters, so a
//! malformed path is `BAD_USER_INPUT` and never SQL text.

use super::Comparison;
use super::vocabulary::Operator;
use crate::error::GatewayError;
use async_graphql::Value as GqlValue;

/// The most segments a path may have.
pub const MAX_PATH_SEGMENTS: usize = 32;
/// The longest path (and key) text, in characters.
pub const MAX_PATH_CHARS: usize = 256;

/// One segment of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(u32),
}

/// A condition on a JSON column's value.
#[derive(Debug, Clone)]
pub enum JsonTest {
    /// The value contains this one (objects: these keys with contained values; arrays: these
    /// elements), like PostgreSQL's `@>`.
    Contains(serde_json::Value),
    /// The value is contained in this one (`<@`).
    ContainedIn(serde_json::Value),
    /// The value is an object with every one (`all`) or any of these keys.
    HasKeys { keys: Vec<String>, all: bool },
    /// The value at `path` (the whole value when empty) is a number, string or boolean that
    /// compares so with `value` (of the same JSON type; other types never match).
    Compare {
        path: Vec<Segment>,
        operator: Comparison,
        value: serde_json::Value,
    },
}

/// Parses `size.width` into segments.
pub fn parse_path(text: &str, at: &str) -> Result<Vec<Segment>, GatewayError> {
    let malformed = |why: &str| {
        GatewayError::bad_input(format!(
            "{at}: `{}` is not a JSON path ({why}); write keys separated by dots, such as `size.width` or `labels.0`",
            text.chars().take(64).collect::<String>()
        ))
    };
    if text.chars().count() > MAX_PATH_CHARS {
        return Err(malformed(&format!("longer than {MAX_PATH_CHARS} characters")));
    }
    let segments: Vec<&str> = text.split('.').collect();
    if segments.len() > MAX_PATH_SEGMENTS {
        return Err(malformed(&format!("more than {MAX_PATH_SEGMENTS} segments")));
    }
    segments
        .into_iter()
        .map(|segment| {
            if segment.is_empty() {
                return Err(malformed("an empty segment"));
            }
            if segment
                .chars()
                .any(|character| character.is_control() || character == '"')
            {
                return Err(malformed("a quote or control character"));
            }
            Ok(match segment.parse::<u32>() {
                Ok(index) if segment.bytes().all(|byte| byte.is_ascii_digit()) => Segment::Index(index),
                _ => Segment::Key(segment.to_owned()),
            })
        })
        .collect()
}

/// A JSON operand of a filter (refusing a slot marker: a variable here is planned as a value).
fn json(value: &GqlValue, at: &str) -> Result<serde_json::Value, GatewayError> {
    if matches!(value, GqlValue::Binary(_)) {
        return Err(GatewayError::bad_input(format!("{at}: expected JSON")));
    }
    let json = value
        .clone()
        .into_json()
        .map_err(|_| GatewayError::bad_input(format!("{at}: expected JSON")))?;
    if json.to_string().contains("\\u0000") {
        return Err(GatewayError::bad_input(format!(
            "{at}: JSON text may not contain a NUL character"
        )));
    }
    Ok(json)
}

/// A key operand: a string without control characters, bounded.
fn key(value: &GqlValue, at: &str) -> Result<String, GatewayError> {
    match value {
        GqlValue::String(text) if text.chars().count() <= MAX_PATH_CHARS && !text.chars().any(char::is_control) => {
            Ok(text.clone())
        }
        _ => Err(GatewayError::bad_input(format!(
            "{at}: expected a key of at most {MAX_PATH_CHARS} characters without control characters"
        ))),
    }
}

/// The conditions of one JSON column's filter object: `isNull` is left to the caller, every
/// other field becomes a test. `path` applies to the comparisons given with it.
pub fn parse_filter(
    fields: &async_graphql::indexmap::IndexMap<async_graphql::Name, GqlValue>,
    at: &str,
) -> Result<Vec<JsonTest>, GatewayError> {
    let path = match fields.get("path") {
        None | Some(GqlValue::Null) => Vec::new(),
        Some(GqlValue::String(text)) => parse_path(text, &format!("{at}.path"))?,
        Some(_) => return Err(GatewayError::bad_input(format!("{at}.path: expected a string"))),
    };
    let mut tests = Vec::new();
    for (name, value) in fields.iter().filter(|(_, value)| !matches!(value, GqlValue::Null)) {
        let here = format!("{at}.{name}");
        let comparison = name
            .as_str()
            .parse::<Operator>()
            .ok()
            .and_then(Operator::scalar_comparison);
        if let Some(operator) = comparison {
            let value = json(value, &here)?;
            if !(value.is_number() || value.is_string() || value.is_boolean()) {
                return Err(GatewayError::bad_input(format!(
                    "{here}: compare with a number, a string or a boolean (use contains for objects and arrays)"
                )));
            }
            tests.push(JsonTest::Compare {
                path: path.clone(),
                operator,
                value,
            });
            continue;
        }
        match name.as_str() {
            "path" | "isNull" => {}
            "contains" => tests.push(JsonTest::Contains(json(value, &here)?)),
            "containedIn" => tests.push(JsonTest::ContainedIn(json(value, &here)?)),
            "hasKey" => tests.push(JsonTest::HasKeys {
                keys: vec![key(value, &here)?],
                all: true,
            }),
            "hasAnyKeys" | "hasAllKeys" => {
                let GqlValue::List(items) = value else {
                    return Err(GatewayError::bad_input(format!("{here}: expected a list of keys")));
                };
                if items.len() > super::MAX_IN_VALUES {
                    return Err(GatewayError::bad_input(format!(
                        "{here}: at most {} keys",
                        super::MAX_IN_VALUES
                    )));
                }
                let keys = items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| key(item, &format!("{here}[{index}]")))
                    .collect::<Result<_, _>>()?;
                tests.push(JsonTest::HasKeys {
                    keys,
                    all: name.as_str() == "hasAllKeys",
                });
            }
            other => return Err(GatewayError::bad_input(format!("{at}: unknown operator `{other}`"))),
        }
    }
    if !path.is_empty() && !tests.iter().any(|test| matches!(test, JsonTest::Compare { .. })) {
        return Err(GatewayError::bad_input(format!(
            "{at}.path: a path selects the value that eq, ne, gt, gte, lt or lte compare; give one"
        )));
    }
    Ok(tests)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_keys_and_indexes_and_malformed_ones_are_refused() {
        assert_eq!(
            parse_path("size.width", "p").unwrap(),
            [Segment::Key("size".into()), Segment::Key("width".into())]
        );
        assert_eq!(
            parse_path("labels.0", "p").unwrap(),
            [Segment::Key("labels".into()), Segment::Index(0)]
        );
        for bad in [
            "",
            "a..b",
            ".a",
            "a.",
            "a\"b",
            "a\u{0}b",
            &"a.".repeat(40),
            &"x".repeat(300),
        ] {
            assert!(parse_path(bad, "p").is_err(), "{bad:?}");
        }
        // `'` and `$` are key characters like any other: they reach SQL as bind parameters.
        assert!(parse_path("it's.$x", "p").is_ok());
    }
}
