//! The HTTP server: GraphQL over HTTP and WebSocket, the playground, and health probes.
//!
//! [`Application::build`] binds the listener first and reports the real port, so tests start the
//! real application on port 0 and talk to it over HTTP. Shutdown is graceful: on the signal the
//! server stops accepting, lets in-flight requests finish (bounded by the shutdown timeout), and
//! only then closes the pool.

#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod health;
pub(crate) mod http;
mod lifecycle;
pub mod metrics;
mod pipeline;
mod playground;
mod websocket;

use crate::auth::Authenticator;
use crate::config::ServerArgs;
use crate::metadata::Registry;
use async_graphql::dynamic::Schema;

use axum::Router;
use axum::http::HeaderName;
use axum::routing::get;
use sea_orm::DatabaseConnection;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower_http::LatencyUnit;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// WebSocket timeouts and limits.
    pub websocket: websocket::Options,
    /// HTTP's own settings: body and batch limits, CSRF, persisted queries.
    pub http: Arc<http::HttpOptions>,
    /// What every operation runs under, whatever its transport.
    pub pipeline: Arc<pipeline::Settings>,
    /// Serving, draining or aborting: shutdown's state, seen by every transport.
    pub lifecycle: Arc<lifecycle::Lifecycle>,
    /// The schema of sessions without a role view (no policy, or a role it does not name).
    pub schema: Schema,
    /// Each policy role's view.
    pub role_schemas: Arc<HashMap<String, Schema>>,
    /// Whether a policy is configured: then a role it does not name gets no schema at all.
    pub policy: bool,
    pub database: DatabaseConnection,
    /// Readiness's own way to the database.
    pub probe: Arc<health::Probe>,
    /// The change feed behind subscriptions.
    pub feed: crate::changes::ChangeFeed,
    pub authenticator: Arc<Authenticator>,
    /// What the streamed path plans with (the schemas' resolvers get the same).
    pub engine: crate::schema::Engine,
    /// Prepared documents and their compiled statements.
    pub operations: Arc<crate::operation::OperationCache>,
    /// How the primary and the replicas are reached (replicas, the breaker, kept connections),
    /// the one copy the resolvers see too. Behind an `Arc`: the state is cloned for every request.
    pub routing: Arc<crate::database::Routing>,
}

/// How long closing the pool may take after the drain (statements of dropped requests are stopping).
const POOL_CLOSE_TIMEOUT: Duration = Duration::from_millis(500);

/// A bound, ready-to-run gateway.
pub struct Application {
    listener: TcpListener,
    router: Router,
    database: DatabaseConnection,
    shutdown_timeout: Duration,
    header_timeout: Duration,
    pipeline: Arc<pipeline::Settings>,
    lifecycle: Arc<lifecycle::Lifecycle>,
    feed: crate::changes::ChangeFeed,
    warm: Arc<crate::database::warm::Warm>,
}

/// Errors that stop the server from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("the GraphQL schema is invalid: {0}")]
    Schema(#[from] async_graphql::dynamic::SchemaError),
    #[error(transparent)]
    Safelist(#[from] http::SafelistError),
    #[error("CORS settings: {0}")]
    Cors(String),
    #[error("the server failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot read which tables announce their changes: {0}")]
    ChangeFeed(sea_orm::DbErr),
}

impl Application {
    /// Builds the schema and the router and binds the listen address.
    pub async fn build(
        args: &ServerArgs,
        database: DatabaseConnection,
        registry: Arc<Registry>,
        authenticator: Arc<Authenticator>,
        policy: Option<Arc<crate::permission::Policy>>,
        routing: crate::database::Routing,
    ) -> Result<Self, ServerError> {
        // On SQLite, searchable columns an FTS5 table indexes are searched through it.
        let registry = crate::database::fts::attach(&database, registry).await;
        let options = crate::schema::SchemaOptions {
            // What text matching costs is weighed with the tables' estimated sizes.
            sizes: crate::database::sizes::TableSizes::read(database.clone(), &registry).await,
            backend: sea_orm::ConnectionTrait::get_database_backend(&database),
            ..crate::schema::SchemaOptions::new(args, policy.clone())
        };
        // Serving never changes the database: tables without a trigger are reported, and their
        // subscriptions refused, until `gateway changes install`.
        let untracked = crate::changes::untracked(&database, &registry)
            .await
            .map_err(ServerError::ChangeFeed)?;
        if !untracked.is_empty() {
            tracing::warn!(
                tables = %untracked.join(", "),
                "these tables do not announce their changes: subscriptions to them are refused until `gateway changes install`"
            );
        }
        // Record from the first request on.
        metrics::handle();
        let bounds = Arc::new(crate::bounds::Bounds::new((&args.limits).into()));
        let feed = crate::changes::ChangeFeed::start(
            database.clone(),
            registry.clone(),
            crate::changes::FeedSettings {
                debounce: args.subscriptions.subscription_debounce,
                queue: args.subscriptions.subscription_queue,
                max_subscriptions: args.subscriptions.max_subscriptions,
                max_subscriptions_per_role: args.subscriptions.max_subscriptions_per_role,
                max_subscription_cost_per_role: args.subscriptions.max_subscription_cost_per_role,
                pgbouncer: routing.pgbouncer,
                listen: routing.listen.clone(),
                freshness: routing.freshness.clone(),
                untracked,
                bounds: bounds.clone(),
            },
        );
        let with_connections = |builder: async_graphql::dynamic::SchemaBuilder| {
            builder.data(database.clone()).data(feed.clone()).data(routing.clone())
        };
        let schema = with_connections(crate::schema::builder(registry.clone(), options.clone())).finish()?;
        let role_schemas = role_schemas(
            &registry,
            policy.as_deref(),
            &args.operations,
            &options,
            with_connections,
        )?;
        let listener = TcpListener::bind(args.listen)
            .await
            .map_err(|source| ServerError::Bind {
                address: args.listen,
                source,
            })?;
        let http = Arc::new(http::HttpOptions::new(&args.http, &args.operations)?);
        let pipeline = Arc::new(pipeline::Settings {
            bounds,
            limits: options.limits,
            stream_first_run: args.operations.stream_first_run,
            slow_operation: args.operations.slow_operation,
            operation_names: crate::telemetry::record::OperationNames::new(args.operations.metrics_operation_names),
        });
        let lifecycle = Arc::new(lifecycle::Lifecycle::default());
        let state = AppState {
            websocket: (&args.subscriptions).into(),
            http,
            pipeline: pipeline.clone(),
            lifecycle: lifecycle.clone(),
            role_schemas: Arc::new(role_schemas),
            policy: policy.is_some(),
            schema: schema.clone(),
            database: database.clone(),
            probe: Arc::new(health::Probe::new(database.clone())),
            feed: feed.clone(),
            authenticator,
            engine: crate::schema::Engine::new(registry.clone(), &options),
            operations: Arc::new(crate::operation::OperationCache::new(
                args.operations.operation_cache_size,
            )),
            routing: Arc::new(routing.clone()),
        };
        let router = match cors(&args.http)? {
            Some(cors) => router(state).layer(cors),
            None => router(state),
        };
        Ok(Self {
            listener,
            router,
            database,
            shutdown_timeout: args.shutdown_timeout,
            header_timeout: args.http.header_timeout,
            pipeline,
            lifecycle,
            feed,
            warm: routing.warm.clone(),
        })
    }

    /// The address actually bound (port 0 becomes a real port).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then drains in-flight requests and closes the pool.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        // One deadline for the whole shutdown, set when the signal arrives.
        let (deadline_tx, deadline_rx) = tokio::sync::oneshot::channel::<tokio::time::Instant>();
        let (pipeline, lifecycle) = (self.pipeline.clone(), self.lifecycle.clone());
        let drain = self.shutdown_timeout;
        let signal = async move {
            shutdown.await;
            // Drain first: readiness turns 503 so load balancers stop sending, new GraphQL requests
            // get a quick 503, WebSocket clients are told to go elsewhere (1001), and in-flight
            // requests finish; then the listener closes.
            tracing::info!("shutting down: refusing new requests, finishing in-flight ones");
            let deadline = tokio::time::Instant::now() + drain;
            let _ = deadline_tx.send(deadline);
            lifecycle.drain();
            let busy = || pipeline.bounds.requests_in_flight() > 0 || lifecycle.open_sockets() > 0;
            while busy() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let serve = serve(self.listener, self.router, self.header_timeout, signal);
        let drain_deadline = async move {
            match deadline_rx.await {
                Ok(deadline) => tokio::time::sleep_until(deadline).await,
                Err(_) => std::future::pending::<()>().await,
            }
        };
        let mut late = false;
        tokio::select! {
            result = serve => result?,
            () = drain_deadline => late = true,
        }
        if late {
            // Dropping the unfinished operations closes the connections of their statements,
            // which PostgreSQL then stops.
            self.lifecycle.abort();
            tracing::warn!(timeout = ?self.shutdown_timeout, "in-flight requests did not finish in time; closed them");
        }
        self.feed.stop();
        // The pool closes once every connection is back in it.
        self.warm.release(None);
        match tokio::time::timeout(POOL_CLOSE_TIMEOUT, self.database.close()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "closing the database pool failed"),
            Err(_) => tracing::warn!("the database pool did not close in time; leaving it to the process exit"),
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Accepts connections until `signal`, then waits for the open ones to finish. hyper's own
/// HTTP/1.1 builder, not `axum::serve`, so that a connection is closed when it takes longer than
/// `header_timeout` to send a request's headers — the first one too, so a silent socket goes —
/// or sits idle that long between requests (slowloris and silent sockets held connections open
/// indefinitely). HTTP/2 is for a TLS-terminating proxy in front: browsers speak it only over TLS,
/// and detecting cleartext HTTP/2 would wait for a first byte with no timeout.
async fn serve(
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
    // Each connection holds a receiver: at shutdown it finishes its request and closes, and
    // `closed()` resolves when the last one is gone.
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let mut signal = std::pin::pin!(signal);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: back off rather than spin.
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let connection = builder
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(router.clone()))
            .with_upgrades();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let finished = tokio::select! {
                finished = connection.as_mut() => finished,
                _ = async { stop.wait_for(|stopping| *stopping).await.map(|_| ()) } => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = finished {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    drop(stop);
    let _ = stopping.send(true);
    stopping.closed().await;
    Ok(())
}

/// A schema for each role of the policy that has something to query, showing only what the role
/// may read and write; introspection can be off in general yet on for chosen roles (developers).
fn role_schemas(
    registry: &Arc<Registry>,
    policy: Option<&crate::permission::Policy>,
    args: &crate::config::OperationArgs,
    options: &crate::schema::SchemaOptions,
    with_connections: impl Fn(async_graphql::dynamic::SchemaBuilder) -> async_graphql::dynamic::SchemaBuilder,
) -> Result<HashMap<String, Schema>, ServerError> {
    let mut schemas = HashMap::new();
    for role in policy.iter().flat_map(|policy| policy.roles()) {
        let view = policy.map(|policy| policy.view(role)).unwrap_or_default();
        if crate::schema::view_has_queries(registry, &view) {
            let options = crate::schema::SchemaOptions {
                view,
                introspection: args.introspection || args.introspection_roles.iter().any(|allowed| allowed == role),
                ..options.clone()
            };
            let schema = with_connections(crate::schema::builder(registry.clone(), options)).finish()?;
            schemas.insert(role.to_owned(), schema);
        }
    }
    Ok(schemas)
}

/// The CORS layer the settings ask for: explicit origins (credentials allowed only then) or any
/// origin without credentials.
fn cors(args: &crate::config::HttpArgs) -> Result<Option<tower_http::cors::CorsLayer>, ServerError> {
    use tower_http::cors::{AllowOrigin, Any, CorsLayer};
    if args.cors_origins.is_empty() {
        return Ok(None);
    }
    let headers = args
        .cors_allow_headers
        .iter()
        .map(|name| {
            HeaderName::try_from(name.trim())
                .map_err(|_| ServerError::Cors(format!("`{name}` is not a header name (GATEWAY_CORS_ALLOW_HEADERS)")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let layer = CorsLayer::new()
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers(headers)
        .max_age(args.cors_max_age)
        .expose_headers([HeaderName::from_static("x-request-id")]);
    if args.cors_origins.iter().any(|origin| origin == "*") {
        if args.cors_credentials {
            return Err(ServerError::Cors("credentials need explicit origins, not `*`".into()));
        }
        return Ok(Some(layer.allow_origin(Any)));
    }
    let origins = args
        .cors_origins
        .iter()
        .map(|origin| {
            origin
                .parse()
                .map_err(|_| ServerError::Cors(format!("`{origin}` is not a valid origin")))
        })
        .collect::<Result<Vec<axum::http::HeaderValue>, _>>()?;
    Ok(Some(
        layer
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(args.cors_credentials),
    ))
}

fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let graphql = Router::new()
        .route("/graphql", get(http::get).post(http::post))
        .route_layer(axum::middleware::from_fn_with_state(
            state.authenticator.clone(),
            crate::auth::authenticate,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            http::Admission {
                http: state.http.clone(),
                pipeline: state.pipeline.clone(),
                lifecycle: state.lifecycle.clone(),
            },
            http::admit,
        ));
    let playground = if state.http.playground {
        Router::new()
            .route("/", get(playground::page))
            .route("/playground/{asset}", get(playground::asset))
    } else {
        Router::new()
    };
    Router::new()
        .merge(graphql)
        .merge(playground)
        .route("/graphql/ws", get(websocket::upgrade))
        .route("/healthz", get(health::alive))
        .route("/readyz", get(health::ready))
        .route("/metrics", get(metrics::render))
        .with_state(state)
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &axum::http::Request<_>| {
                    let id = request
                        .headers()
                        .get("x-request-id")
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or_default();
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO).latency_unit(LatencyUnit::Millis))
                // A 5xx is already in the response line and, when it is the gateway's fault, logged
                // with its cause: under overload an ERROR per 503 would only flood the log.
                .on_failure(DefaultOnFailure::new().level(Level::DEBUG)),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        // gzip or brotli as the client accepts: answers and the playground's assets shrink several
        // times (a 500-task answer is ~76 KB raw). Small bodies are left as they are.
        .layer(tower_http::compression::CompressionLayer::new())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (the signal orchestrators send).
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}

impl AppState {
    /// The schema a request with this role sees: its view under the policy, the whole schema
    /// without a policy or a role, and none for a role the policy does not name (or lets read
    /// nothing), which fails closed.
    pub fn schema_for(&self, role: Option<&str>) -> Result<&Schema, crate::error::GatewayError> {
        match role {
            Some(role) if self.policy => self.role_schemas.get(role).ok_or_else(|| {
                crate::error::GatewayError::Forbidden(format!("role `{role}` has no permissions in the policy"))
            }),
            _ => Ok(&self.schema),
        }
    }
}
