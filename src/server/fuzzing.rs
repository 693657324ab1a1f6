//! The request path as one function for the fuzz target (`tests/fuzz`, built with the `fuzzing`
//! feature): body parsing, the query string form, the query limits, and parsing, validating and
//! planning against the generated schema. There is no database: root fields stop where they would
//! run their statement.

use super::http::request::{parse_body, parse_query_string};
use crate::schema::{SchemaOptions, builder};
use async_graphql::dynamic::Schema;
use std::sync::{Arc, OnceLock};

struct Target {
    schema: Schema,
    /// What the cost limit weighs fields with, as when serving.
    engine: crate::schema::Engine,
    limits: crate::schema::limits::QueryLimits,
    runtime: tokio::runtime::Runtime,
}

fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let registry = Arc::new(crate::entities::registry().expect("the sample entities are valid"));
        let options = SchemaOptions::default();
        Target {
            engine: crate::schema::Engine::new(registry.clone(), &options),
            limits: options.limits,
            schema: builder(registry, options).finish().expect("the schema builds"),
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a runtime"),
        }
    })
}

/// Feeds `input` through the request path as a POST body and as a GET query string.
pub fn request(input: &[u8]) {
    let target = target();
    let mut requests = Vec::new();
    if let Ok(operations) = parse_body(input, 10) {
        requests.extend(operations.requests.into_iter().map(|(request, _)| request));
    }
    if let Ok(query) = std::str::from_utf8(input)
        && let Ok((request, _)) = parse_query_string(query)
    {
        requests.push(request);
    }
    for mut request in requests {
        if crate::schema::limits::check_nesting(&request.query, target.limits.nesting).is_err() {
            continue;
        }
        let variables = request.variables.clone();
        if let Ok(document) = request.parsed_query()
            && target
                .limits
                .check_with(document, &variables, Some(&target.engine))
                .is_err()
        {
            continue;
        }
        let _ = target.runtime.block_on(target.schema.execute(request));
    }
}
