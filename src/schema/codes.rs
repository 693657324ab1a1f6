//! An async-graphql extension that gives parse and validation errors an `extensions.code`
//! (`GRAPHQL_PARSE_FAILED`, `GRAPHQL_VALIDATION_FAILED`), and the errors async-graphql raises itself
//! while executing (a variable without a value, a value that does not coerce) `BAD_USER_INPUT`, so
//! every error a client sees is coded. Errors raised by the engine carry their own codes (see
//! [`crate::error`]). It also runs the validation rule async-graphql lacks ([`super::literals`]).

use crate::error::ErrorCode;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ServerError, ServerResult, ValidationResult, Variables};
use std::sync::Arc;
use tracing::Instrument;

/// Installs [`ErrorCodesExtension`].
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

fn with_code(mut error: ServerError, code: ErrorCode) -> ServerError {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code.as_str());
    }
    error
}

#[async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn parse_query(
        &self,
        context: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next
            .run(context, query, variables)
            .instrument(tracing::debug_span!("parse"))
            .await
            .map_err(|error| with_code(error, ErrorCode::GraphqlParseFailed))?;
        // The one validation rule async-graphql lacks, before its own.
        super::literals::check(&context.schema_env.registry, &document)
            .map_err(|error| with_code(error, ErrorCode::GraphqlValidationFailed))?;
        Ok(document)
    }

    async fn execute(
        &self,
        context: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> async_graphql::Response {
        let mut response = next.run(context, operation_name).await;
        response.errors = std::mem::take(&mut response.errors)
            .into_iter()
            .map(|error| with_code(error, ErrorCode::BadUserInput))
            .collect();
        response
    }

    async fn validation(
        &self,
        context: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(context)
            .instrument(tracing::debug_span!("validate"))
            .await
            .map_err(|errors| {
                errors
                    .into_iter()
                    .map(|error| with_code(error, ErrorCode::GraphqlValidationFailed))
                    .collect()
            })
    }
}
