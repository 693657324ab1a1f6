//! The GraphQL schema, generated at start-up from the entity registry with async-graphql's
//! dynamic API.
//!
//! Every registered entity gets the same API (see [`entity`]); nothing here names a table. The
//! database connection is not part of the schema's shape: the server attaches it as context
//! data, and `gateway schema` prints the SDL without connecting anywhere.

mod codes;
mod entity;
mod federation;
pub mod limits;
mod literals;
mod lookup;
mod mutation;
mod relay;
mod resolve;
mod scalars;
mod subscription;

use crate::auth::Session;
use crate::error::GatewayError;
use crate::metadata::{Registry, ScalarKind};
use crate::permission::{Access, Policy, View};
use crate::plan::RowOp;
use async_graphql::dynamic::{Object, Schema, SchemaBuilder, SchemaError, Subscription};
use std::sync::Arc;

/// Request data that makes the generated root fields stop with [`DryRunStop`] instead of
/// reading: a document runs once this way to be validated (async-graphql validates only by
/// executing), so that even its first run can be streamed from the database.
pub struct DryRun;

/// The error every generated root field answers in a [`DryRun`], recognised by its type
/// (`ServerError::source`), never by its message.
#[derive(Debug)]
pub struct DryRunStop;

impl std::fmt::Display for DryRunStop {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("validated, not run")
    }
}

/// The runtime façade every way of answering shares (the schema's resolvers, the streamed path,
/// the change feed's setup, federation): the registry, the policy, the page and text bounds with
/// the table estimates they weigh, and the cost walk's field shapes. It turns a session into its
/// [`Access`] and authorizes plans, so both execution paths decide alike. It lives beside the
/// schema because it is built with it, from the same options.
#[derive(Clone)]
pub struct Engine {
    pub registry: Arc<Registry>,
    /// Most rows one `createXs` may insert.
    pub max_insert_rows: usize,
    /// The permission policy, when one is configured.
    pub policy: Option<Arc<Policy>>,
    /// Largest `first`/`last`; unbounded lists stop there.
    pub max_page_size: u64,
    /// Bounds on text matching, and the table estimates they weigh it with.
    pub text: crate::plan::text_cost::TextLimits,
    pub sizes: Arc<crate::database::sizes::TableSizes>,
    /// What each generated field returns, for the cost limit.
    pub shapes: Arc<limits::Shapes>,
    pub backend: sea_orm::DbBackend,
}

impl Engine {
    pub fn new(registry: Arc<Registry>, options: &SchemaOptions) -> Self {
        Self {
            shapes: Arc::new(limits::Shapes::of(&registry)),
            registry,
            max_insert_rows: options.max_insert_rows,
            policy: options.policy.clone(),
            max_page_size: options.max_page_size,
            text: options.text,
            sizes: options.sizes.clone(),
            backend: options.backend,
        }
    }

    /// [`Access::authorize`] with this schema's page bound, then the text-matching bounds (the
    /// plan's, and its operation's so far in `spent`).
    pub fn authorize(
        &self,
        access: &Access,
        plan: &mut crate::plan::Plan,
        spent: Option<&crate::plan::text_cost::TextSpent>,
    ) -> Result<(), GatewayError> {
        access.authorize(&self.registry, plan, self.max_page_size)?;
        if self.backend == sea_orm::DbBackend::Sqlite {
            crate::plan::sqlite::check(&self.registry, plan)?;
        }
        crate::plan::text_cost::check(
            &self.registry,
            plan,
            self.text,
            &|entity| self.table_rows(entity),
            spent,
        )
    }

    /// The estimated rows of `entity`'s table.
    pub fn table_rows(&self, entity: crate::metadata::EntityId) -> u64 {
        self.sizes.rows(&self.registry.entity(entity).table)
    }

    /// What a request with `session` may read (everything without a policy or a session).
    pub fn access(&self, session: Option<&Session>) -> Result<Access, GatewayError> {
        match (&self.policy, session) {
            (Some(policy), Some(session)) => policy.access(session),
            _ => Ok(Access::Unrestricted),
        }
    }
}

/// Settings that shape the generated API.
#[derive(Debug, Clone)]
pub struct SchemaOptions {
    pub max_insert_rows: usize,
    pub policy: Option<Arc<Policy>>,
    /// What the schema shows (one role's view, or everything).
    pub view: View,
    pub limits: limits::QueryLimits,
    /// Whether the schema answers introspection queries.
    pub introspection: bool,
    /// Largest page a list may return (`first`/`last`); unbounded lists stop there.
    pub max_page_size: u64,
    /// Serve as an Apollo Federation v2 subgraph (`@key` entities, `_service`, `_entities`).
    pub federation: bool,
    /// Bounds on text matching (`GATEWAY_MAX_PATTERN_LENGTH`, `GATEWAY_MAX_TEXT_MATCH_COST`).
    pub text: crate::plan::text_cost::TextLimits,
    /// Estimated table sizes (unknown until the server reads them).
    pub sizes: Arc<crate::database::sizes::TableSizes>,
    /// The database served: what it cannot answer is refused while planning.
    pub backend: sea_orm::DbBackend,
}

impl SchemaOptions {
    /// The options the server settings `args` give, with `policy`, showing everything.
    pub fn new(args: &crate::config::ServerArgs, policy: Option<Arc<Policy>>) -> Self {
        Self {
            max_insert_rows: args.limits.max_insert_rows,
            policy,
            view: View::full(),
            limits: (&args.limits).into(),
            introspection: args.operations.introspection,
            max_page_size: args.limits.max_page_size,
            federation: args.operations.federation,
            text: crate::plan::text_cost::TextLimits {
                max_pattern_chars: args.limits.max_pattern_length,
                max_cost: args.limits.max_text_match_cost,
            },
            sizes: Arc::new(crate::database::sizes::TableSizes::unknown()),
            backend: sea_orm::DbBackend::Postgres,
        }
    }
}

impl Default for SchemaOptions {
    fn default() -> Self {
        Self::new(&crate::config::ServerArgs::default(), None)
    }
}

/// Builds the schema for `registry`; the caller attaches the connection and calls `finish`.
pub fn builder(registry: Arc<Registry>, options: SchemaOptions) -> SchemaBuilder {
    // Columns' kinds, and what aggregates of them return (`having` compares those; `count` is an Int).
    let kinds: Vec<ScalarKind> = registry
        .entities()
        .iter()
        .flat_map(|entity| entity.columns.iter().map(|column| column.kind.clone()))
        .flat_map(|kind| {
            let results = crate::plan::AggregateFunction::ALL
                .into_iter()
                .filter_map(|function| function.result_kind(&kind))
                .collect::<Vec<_>>();
            std::iter::once(kind).chain(results)
        })
        .chain(std::iter::once(ScalarKind::Int))
        .collect();
    // GraphQL forbids empty root types: a view without writes has no Mutation type.
    let writes = (0..registry.entities().len()).any(|id| {
        options.view.entity(id)
            && registry.entity(id).read_only.is_none()
            && [RowOp::Insert, RowOp::Update, RowOp::Delete]
                .into_iter()
                .any(|kind| options.view.can(id, kind))
    });
    let reads = view_has_queries(&registry, &options.view);
    let mut builder = scalars::register(
        Schema::build("Query", writes.then_some("Mutation"), reads.then_some("Subscription")),
        &kinds,
        registry
            .entities()
            .iter()
            .any(|entity| entity.columns.iter().any(|column| column.searchable)),
    );
    if reads {
        builder = subscription::register_common(builder);
    }
    let mut subscriptions = Subscription::new("Subscription")
        .description("Row changes and live lists, pushed over the WebSocket at /graphql/ws as they commit.");
    let mut mutation = Object::new("Mutation").description(
        "Writes; all mutation fields of one operation run in one transaction and commit together or not at all.",
    );
    let mut query = Object::new("Query").description("Every registered table: lists, lookups by key and aggregates.");
    for id in 0..registry.entities().len() {
        let (next, fields) = entity::register(builder, &registry, id, &options.view, options.federation);
        builder = next;
        for field in fields {
            query = query.field(field);
        }
        let (next, fields) = mutation::register(builder, &registry, id, &options.view);
        builder = next;
        for field in fields {
            mutation = mutation.field(field);
        }
        let (next, fields) = subscription::register(builder, &registry, id, &options.view);
        builder = next;
        for field in fields {
            subscriptions = subscriptions.field(field);
        }
    }
    if reads {
        builder = builder.register(subscriptions);
    }
    if writes {
        builder = builder.register(mutation);
    }
    (builder, query) = relay::register(builder, query, &registry, &options.view);
    if options.federation {
        (builder, query) = federation::register(builder, query, &registry, &options);
    }
    let builder = builder
        .register(query)
        .data(Engine::new(registry, &options))
        .extension(codes::ErrorCodes)
        // `null` items in the lists of `nodes` and `_entities`.
        .extension(lookup::NullItems)
        .extension(options.limits)
        .limit_depth(options.limits.depth)
        .limit_complexity(options.limits.complexity)
        .limit_directives(options.limits.directives);
    if options.introspection {
        builder
    } else {
        builder.disable_introspection()
    }
}

/// The SDL, as `gateway schema` prints it and `schema.graphql` stores it.
pub fn sdl(registry: Arc<Registry>) -> Result<String, SchemaError> {
    let header = "# The schema of a session without a role restriction. Under a permission policy each role\n\
                  # sees its own view (only what it may read and write): `gateway schema --role <role>`.\n\n";
    Ok(format!("{header}{}", export(registry, SchemaOptions::default())?))
}

/// The SDL of one role's view under `policy`; as a federation subgraph's (what `_service { sdl }`
/// answers that role) when `federation`.
pub fn role_sdl(registry: Arc<Registry>, policy: &Policy, role: &str, federation: bool) -> Result<String, SchemaError> {
    let options = SchemaOptions {
        view: policy.view(role),
        federation,
        ..SchemaOptions::default()
    };
    let header = format!("# The view of role `{role}`: only what its permissions let it read and write.\n\n");
    Ok(format!("{header}{}", export(registry, options)?))
}

/// The subgraph SDL of the schema without a role restriction (`gateway schema --federation`).
pub fn federation_sdl(registry: Arc<Registry>) -> Result<String, SchemaError> {
    let options = SchemaOptions {
        federation: true,
        ..SchemaOptions::default()
    };
    export(registry, options)
}

fn export(registry: Arc<Registry>, options: SchemaOptions) -> Result<String, SchemaError> {
    let federation = options.federation;
    let schema = builder(registry, options).finish()?;
    let sdl_options = async_graphql::SDLExportOptions::new().include_specified_by();
    Ok(schema.sdl_with_options(if federation {
        sdl_options.federation().compose_directive()
    } else {
        sdl_options
    }))
}

/// Whether a view shows anything to query (a schema needs at least one Query field).
pub fn view_has_queries(registry: &Registry, view: &View) -> bool {
    (0..registry.entities().len()).any(|id| view.entity(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Normalised client caches key objects by `__typename` + `id`/`_id`: no aggregate result type
    /// (functions, group keys) may offer such a field, for any registered entity.
    #[test]
    fn aggregate_types_have_no_identity_fields() {
        let registry = Arc::new(crate::entities::registry().expect("the sample entities are valid"));
        let document = async_graphql::parser::parse_schema(sdl(registry.clone()).expect("the schema builds"))
            .expect("the SDL parses");
        let aggregate_types: Vec<String> = registry
            .entities()
            .iter()
            .flat_map(|entity| {
                let base = &entity.type_name;
                let mut names = vec![crate::plan::vocabulary::Derived::GroupKey.name(base)];
                for function in [
                    crate::plan::AggregateFunction::Sum,
                    crate::plan::AggregateFunction::Avg,
                    crate::plan::AggregateFunction::Min,
                    crate::plan::AggregateFunction::Max,
                ] {
                    names.push(crate::plan::vocabulary::Derived::Function(function).name(base));
                }
                names
            })
            .collect();
        let mut seen = 0;
        for definition in &document.definitions {
            let async_graphql::parser::types::TypeSystemDefinition::Type(definition) = definition else {
                continue;
            };
            let name = definition.node.name.node.as_str();
            let async_graphql::parser::types::TypeKind::Object(object) = &definition.node.kind else {
                continue;
            };
            if aggregate_types.iter().any(|aggregate| aggregate == name) {
                seen += 1;
                for field in &object.fields {
                    let field = field.node.name.node.as_str();
                    assert!(
                        !matches!(field, "id" | "_id"),
                        "{name}.{field} would collide in a normalised cache"
                    );
                }
            }
        }
        assert!(seen > 10, "the aggregate types were found ({seen})");
    }
}
