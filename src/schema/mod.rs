//! The GraphQL schema the gateway serves, built at start-up with async-graphql's dynamic API.
//!
//! The schema is assembled from metadata rather than Rust types, so the same code serves any set of
//! entities. The database connection is not part of the schema's shape: it is attached as context
//! data by the server, and `gateway schema` prints the SDL without connecting anywhere.

use async_graphql::dynamic::{
    Field, FieldFuture, Object, Schema, SchemaBuilder, SchemaError, TypeRef,
};
use async_graphql::{ErrorExtensions, Value};
use sea_orm::DatabaseConnection;

/// Starts the schema; the caller attaches context data (the connection) and calls `finish`.
pub fn builder() -> SchemaBuilder {
    let database_version = Field::new(
        "databaseVersion",
        TypeRef::named_nn(TypeRef::STRING),
        |context| {
            FieldFuture::new(async move {
                let connection = context.data::<DatabaseConnection>()?;
                let version =
                    crate::database::server_version(connection)
                        .await
                        .map_err(|error| {
                            tracing::error!(%error, "database version query failed");
                            async_graphql::Error::new("the database is unavailable").extend_with(
                                |_, extensions| extensions.set("code", "DATABASE_UNAVAILABLE"),
                            )
                        })?;
                Ok(Some(Value::from(version)))
            })
        },
    )
    .description("The version string of the database server the gateway reads from.");
    let query = Object::new("Query").field(database_version);
    Schema::build("Query", None, None).register(query)
}

/// The SDL of the schema, as `gateway schema` prints it and `schema.graphql` stores it.
pub fn sdl() -> Result<String, SchemaError> {
    Ok(builder().finish()?.sdl())
}
