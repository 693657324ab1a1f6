//! What each command does. Commands return typed errors; `main` prints them and exits non-zero.

use super::{ChangesAction, Cli, Command, MigrateAction};
use crate::auth::Authenticator;
use crate::config::{AuthArgs, DatabaseArgs, DatabaseTarget, ServerArgs};
use crate::database::diagnose::ConnectionProblem;
use crate::server::{Application, ServerError};
use migration::{Migrator, MigratorTrait};
use sea_orm::{DatabaseConnection, DbErr};
use std::sync::Arc;
use std::time::Duration;

/// The scale the embedded SQLite database is seeded with on first run.
const EMBEDDED_SEED_SCALE: f64 = 0.1;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Target(#[from] crate::config::database::TargetError),
    #[error(transparent)]
    Connection(#[from] ConnectionProblem),
    #[error("migration failed: {0}")]
    Migration(DbErr),
    #[error(transparent)]
    Seed(#[from] crate::sample::seed::SeedError),
    #[error(transparent)]
    Generate(#[from] crate::generate::GenerateError),
    #[error(
        "cannot read or write the embedded default's signing secret `{}` ({source}); run `gateway` once to create it, or set GATEWAY_JWT_SECRET",
        path.display()
    )]
    Secret {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the database has no table {tables} of the served entities: {hint}")]
    MissingTables { tables: String, hint: &'static str },
    #[error(
        "the database no longer matches the served entities: {0}; run `gateway generate` (`gateway generate --check` shows the difference) and build again"
    )]
    ColumnsChanged(String),
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error(transparent)]
    Replicas(#[from] crate::database::replicas::RoutingError),
    #[error("the GraphQL schema is invalid: {0}")]
    Schema(#[from] async_graphql::dynamic::SchemaError),
    #[error(transparent)]
    Metadata(#[from] crate::metadata::MetadataErrors),
    #[error("authentication settings: {0}")]
    Auth(#[from] crate::auth::AuthConfigError),
    #[error(transparent)]
    Token(#[from] crate::auth::token::TokenError),
    #[error("permission policy: {0}")]
    Policy(#[from] crate::permission::PolicyError),
    #[error(
        "authentication is on but no permission policy is configured: set GATEWAY_POLICY_FILE, \
         or GATEWAY_ALLOW_ALL=true to let every role read and write everything"
    )]
    NoPolicy,
    #[error(
        "GATEWAY_POLICY_FILE is set but authentication is off, so no request would have a role and the \
         policy would restrict nothing: configure GATEWAY_JWT_SECRET, GATEWAY_JWT_PUBLIC_KEY_FILE, \
         GATEWAY_JWKS_URL or GATEWAY_ANONYMOUS_ROLE"
    )]
    PolicyWithoutAuthentication,
    #[error("the policy names no role `{role}`, so it sees nothing (roles: {roles})")]
    UnknownRole { role: String, roles: String },
    #[error(transparent)]
    Transfer(#[from] crate::transfer::TransferError),
    #[error(transparent)]
    ChangeFeed(#[from] crate::changes::InstallError),
    #[error("{0} generated file(s) no longer match the database: run `gateway generate` and commit the result")]
    Drift(usize),
}

/// The served entities, with a warning for every column left out.
fn registry(search: &crate::config::SearchArgs) -> Result<crate::metadata::Registry, CommandError> {
    let registry = crate::entities::registry()?
        .with_search(&search.search_columns, &search.search_config)
        .map_err(|error| crate::metadata::MetadataErrors(vec![error]))?;
    for column in registry.left_out() {
        tracing::warn!("{column}");
    }
    Ok(registry)
}

/// Runs the command the user asked for (`serve` when none).
pub async fn run(cli: Cli) -> Result<(), CommandError> {
    match cli.command.unwrap_or(Command::Serve(cli.serve)) {
        Command::Serve(server) => serve(&cli.database, &cli.auth, &cli.search, &server).await,
        Command::Migrate { action } => migrate(&cli.database, action).await,
        Command::Generate {
            from,
            schema,
            entities,
            registry,
            names,
            entity_crate,
            check,
        } => {
            let options = crate::generate::Options {
                url: from,
                schema,
                entities,
                registry,
                names,
                entity_crate,
            };
            if check {
                let drifts = crate::generate::check::check(&options).await?;
                for drift in &drifts {
                    println!("differs  {}", drift.path.display());
                    for line in &drift.lines {
                        println!("         {line}");
                    }
                }
                if drifts.is_empty() {
                    println!("the entities, the registration and the names file match the database");
                    return Ok(());
                }
                return Err(CommandError::Drift(drifts.len()));
            }
            let report = crate::generate::run(&options).await?;
            println!(
                "generated {} entities: {}",
                report.tables.len(),
                report.tables.join(", ")
            );
            for path in &report.written {
                println!("wrote    {}", path.display());
            }
            for path in &report.removed {
                println!("removed  {}", path.display());
            }
            for note in &report.notes {
                println!("note     {note}");
            }
            println!("next: `cargo build`, then `gateway changes install` for subscriptions, then `gateway serve`");
            Ok(())
        }
        Command::Seed { scale } => {
            let connection = open(&cli.database).await?;
            let report = crate::sample::seed::seed(&connection, scale).await?;
            println!(
                "seeded scale {scale} in {:.2?}: {} organizations, {} users, {} projects, {} tasks, {} comments, {} tags, {} task_tags",
                report.elapsed,
                report.organizations,
                report.users,
                report.projects,
                report.tasks,
                report.comments,
                report.tags,
                report.task_tags
            );
            Ok(())
        }
        Command::Check => check(&cli.database).await,
        Command::Changes {
            action: ChangesAction::Install,
        } => {
            let connection = open(&cli.database).await?;
            let installed = crate::changes::install(&connection, &registry(&cli.search)?).await?;
            match installed.as_slice() {
                [] => println!("every served table already announces its changes"),
                tables => println!("installed the change-feed trigger on {}", tables.join(", ")),
            }
            Ok(())
        }
        Command::Changes {
            action: ChangesAction::Remove,
        } => {
            let connection = open(&cli.database).await?;
            let removed = crate::changes::uninstall(&connection, &registry(&cli.search)?).await?;
            match removed.tables.as_slice() {
                [] => println!("no served table announces its changes"),
                tables => println!("removed the change-feed trigger from {}", tables.join(", ")),
            }
            if removed.log {
                println!("removed the change log");
            }
            Ok(())
        }
        Command::Export { file } => {
            let connection = open(&cli.database).await?;
            let registry = registry(&cli.search)?;
            let report = crate::transfer::export(&connection, &registry, &file).await?;
            summarize("exported", &report.rows, report.elapsed);
            Ok(())
        }
        Command::Import { file, truncate, upsert } => {
            let connection = open(&cli.database).await?;
            let registry = registry(&cli.search)?;
            let mode = match (truncate, upsert) {
                (true, _) => crate::transfer::ImportMode::Truncate,
                (_, true) => crate::transfer::ImportMode::Upsert,
                _ => crate::transfer::ImportMode::IntoEmpty,
            };
            let report = crate::transfer::import(&connection, &registry, &file, mode).await?;
            summarize("imported", &report.rows, report.elapsed);
            if !report.silenced.is_empty() {
                println!(
                    "the change feed stayed silent for {}: subscribers were not told of the replaced rows \
                     (live queries see them at the next change of their tables)",
                    report.silenced.join(", ")
                );
            }
            Ok(())
        }
        Command::Token { role, sub, claims, ttl } => {
            // With nothing configured, tokens are for the embedded default, signed with its secret.
            let auth = match (&cli.auth.jwt_secret, cli.database.target()?) {
                (None, DatabaseTarget::Sqlite { embedded: true, path }) => AuthArgs {
                    jwt_secret: Some(embedded_secret(&path, false)?.into()),
                    ..cli.auth.clone()
                },
                _ => cli.auth.clone(),
            };
            println!("{}", crate::auth::token::mint(&auth, &role, &sub, &claims, ttl)?);
            Ok(())
        }
        Command::Schema { role, federation } => {
            let registry = Arc::new(registry(&cli.search)?);
            let sdl = match role {
                None if federation => crate::schema::federation_sdl(registry)?,
                None => crate::schema::sdl(registry)?,
                Some(role) => {
                    let claims = &cli.auth.jwt_session_claims;
                    let policy = match &cli.auth.policy_file {
                        Some(path) => crate::permission::Policy::load(path, &registry, claims)?,
                        None => crate::sample::policy(&registry, claims)?,
                    };
                    if !policy.roles().any(|named| named == role) {
                        let mut roles: Vec<&str> = policy.roles().collect();
                        roles.sort_unstable();
                        return Err(CommandError::UnknownRole {
                            role,
                            roles: roles.join(", "),
                        });
                    }
                    crate::schema::role_sdl(registry, &policy, &role, federation)?
                }
            };
            print!("{sdl}");
            Ok(())
        }
    }
}

/// One line on standard error: rows per table and the rate.
fn summarize(verb: &str, rows: &[(String, u64)], elapsed: Duration) {
    let total: u64 = rows.iter().map(|(_, count)| count).sum();
    let tables: Vec<String> = rows.iter().map(|(table, count)| format!("{table} {count}")).collect();
    eprintln!(
        "{verb} {total} rows in {elapsed:.2?} ({:.0} rows/s): {}",
        total as f64 / elapsed.as_secs_f64().max(1e-9),
        tables.join(", ")
    );
}

async fn open(args: &DatabaseArgs) -> Result<DatabaseConnection, CommandError> {
    let target = args.target()?;
    Ok(crate::database::connect(&target, &args.pool).await?)
}

async fn serve(
    args: &DatabaseArgs,
    auth: &AuthArgs,
    search: &crate::config::SearchArgs,
    server: &ServerArgs,
) -> Result<(), CommandError> {
    let target = args.target()?;
    let embedded = matches!(target, DatabaseTarget::Sqlite { embedded: true, .. });
    let no_keys = auth.jwt_secret.is_none() && auth.jwt_public_key_file.is_none() && auth.jwks_url.is_none();
    // The zero-configuration default comes with authentication on, the sample policy and a token
    // printed below, so permissions can be tried at once.
    let auth = &if let (DatabaseTarget::Sqlite { embedded: true, path }, true) = (&target, no_keys) {
        AuthArgs {
            jwt_secret: Some(embedded_secret(path, true)?.into()),
            anonymous_role: auth.anonymous_role.clone().or_else(|| Some("anonymous".into())),
            ..auth.clone()
        }
    } else if embedded {
        // The sample policy has an anonymous role: a secret of one's own keeps it.
        AuthArgs {
            anonymous_role: auth.anonymous_role.clone().or_else(|| Some("anonymous".into())),
            ..auth.clone()
        }
    } else {
        auth.clone()
    };
    let authenticator = Arc::new(Authenticator::new(auth)?);
    // Fail closed, before anything connects: roles without a policy would reach everything.
    let authenticated = authenticator.verifies_tokens() || auth.anonymous_role.is_some();
    if authenticated && auth.policy_file.is_none() && !embedded && !auth.allow_all {
        return Err(CommandError::NoPolicy);
    }
    if !authenticated && auth.policy_file.is_some() {
        return Err(CommandError::PolicyWithoutAuthentication);
    }
    if !authenticated {
        tracing::warn!(
            "authentication is off: every request is served without a role \
             (set GATEWAY_JWT_SECRET, GATEWAY_JWT_PUBLIC_KEY_FILE or GATEWAY_JWKS_URL)"
        );
    }
    let routing = crate::database::Routing::from_args(args).await?;
    let connection = routing.connect_primary(&target, &args.pool).await?;
    if let DatabaseTarget::Sqlite { embedded: true, path } = &target {
        prepare_embedded(&connection, path).await?;
    } else if !args.pool.pgbouncer && migrated_by_the_gateway(&connection).await {
        // (Behind PgBouncer in transaction mode the migrator's statements cannot run: migrate
        // with a direct URL. A database the gateway never migrated — one of the user's own — is
        // left as it is: asking for pending migrations would create `seaql_migrations` in it.)
        let pending = Migrator::get_pending_migrations(&connection)
            .await
            .map_err(CommandError::Migration)?;
        if !pending.is_empty() {
            tracing::warn!(
                pending = pending.len(),
                "the database schema is not up to date: run `gateway migrate up`"
            );
        }
    }
    let registry = Arc::new(registry(search)?);
    let missing = missing_tables(&connection, &registry)
        .await
        .map_err(CommandError::Migration)?;
    if !missing.is_empty() {
        return Err(CommandError::MissingTables {
            tables: missing
                .iter()
                .map(|table| format!("`{table}`"))
                .collect::<Vec<_>>()
                .join(", "),
            hint: if embedded {
                "the embedded SQLite default holds the sample's tables; set DATABASE_URL to the database these entities were generated from"
            } else {
                "run its migrations, or `gateway generate` again if its schema changed"
            },
        });
    }
    let changed = crate::database::columns::mismatches(&connection, &registry)
        .await
        .map_err(CommandError::Migration)?;
    if !changed.is_empty() {
        return Err(CommandError::ColumnsChanged(changed.join(", ")));
    }
    let policy = match &auth.policy_file {
        Some(path) => Some(Arc::new(crate::permission::Policy::load(
            path,
            &registry,
            &auth.jwt_session_claims,
        )?)),
        None if embedded => Some(Arc::new(crate::sample::policy(&registry, &auth.jwt_session_claims)?)),
        None => {
            if authenticator.verifies_tokens() {
                tracing::warn!("GATEWAY_ALLOW_ALL: every authenticated role reads and writes everything");
            }
            None
        }
    };
    let application = Application::build(server, connection, registry, authenticator, policy, routing).await?;
    let address = application.local_addr().map_err(ServerError::Io)?;
    tracing::info!(database = %target, "serving GraphQL at http://{address}/graphql, playground at http://{address}/");
    if embedded && no_keys {
        // Printed, not logged: a development token for this process only (the secret is new each start).
        let token = crate::auth::token::mint(
            auth,
            "admin",
            "1",
            &["org_id=1".to_owned()],
            Duration::from_secs(24 * 3600),
        )?;
        let member = crate::auth::token::mint(
            auth,
            "member",
            "2",
            &["org_id=1".to_owned()],
            Duration::from_secs(24 * 3600),
        )?;
        println!("playground: http://{address}/");
        println!("admin token of organization 1 (valid 24 h; `gateway token` mints more): {token}");
        println!("member token of organization 1 (user 2; no users' emails): {member}");
        println!("send one as the header  Authorization: Bearer <token>  (without it you are `anonymous`)");
    }
    application.run_until_stopped(crate::server::shutdown_signal()).await?;
    Ok(())
}

/// Whether the database has the migrator's bookkeeping table (the gateway's migrations ran there).
async fn migrated_by_the_gateway(connection: &DatabaseConnection) -> bool {
    use sea_orm::ConnectionTrait;
    let backend = connection.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => "SELECT count(*) FROM pg_tables WHERE tablename = 'seaql_migrations'",
        _ => "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'seaql_migrations'",
    };
    let found = connection
        .query_one_raw(sea_orm::Statement::from_string(backend, sql))
        .await
        .ok()
        .flatten()
        .and_then(|row| row.try_get_by_index::<i64>(0).ok());
    found.is_some_and(|count| count > 0)
}

/// The embedded default's signing secret, kept beside its file (`gateway.db.secret`, readable by
/// its owner only) so that `gateway token` and later runs use the same one; made on first use.
///
/// Whoever can read or plant the file can sign admin tokens, so an existing file is trusted only
/// when it is a regular file (a link at the path is not followed), owned by the user the gateway
/// runs as and readable by nobody else; otherwise it is refused with the reason. A new secret is
/// written to a new file created readable by its owner only and renamed into place, so no other
/// file at the path (an empty one, a link) ever holds it.
fn embedded_secret(database: &std::path::Path, create: bool) -> Result<String, CommandError> {
    let mut name = database.as_os_str().to_owned();
    name.push(".secret");
    let path = std::path::PathBuf::from(name);
    let failed = |source: std::io::Error| CommandError::Secret {
        path: path.clone(),
        source,
    };
    match existing_secret(&path).map_err(failed)? {
        Some(secret) => return Ok(secret),
        None if !create => {
            return Err(failed(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no secret yet: run `gateway serve` once to make one",
            )));
        }
        None => {}
    }
    let bytes: [u8; 32] = rand::RngExt::random(&mut rand::rng());
    let secret = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes);
    let parent = match path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        Some(parent) => {
            std::fs::create_dir_all(parent).map_err(failed)?;
            parent
        }
        None => std::path::Path::new("."),
    };
    // tempfile creates the file new (O_EXCL) and readable by its owner only.
    let mut file = tempfile::Builder::new()
        .prefix(".gateway-secret")
        .tempfile_in(parent)
        .map_err(failed)?;
    std::io::Write::write_all(&mut file, secret.as_bytes()).map_err(failed)?;
    file.as_file().sync_all().map_err(failed)?;
    file.persist(&path).map_err(|error| failed(error.error))?;
    Ok(secret)
}

/// The secret in the file at `path`, if there is one (none when the file is missing or empty);
/// an error when the file cannot be trusted (see [`embedded_secret`]).
fn existing_secret(path: &std::path::Path) -> std::io::Result<Option<String>> {
    let refused = |why: String| std::io::Error::new(std::io::ErrorKind::PermissionDenied, why);
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        #[cfg(unix)]
        Err(error) if error.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Err(refused(
                "it is a symbolic link; the secret must be a file of its own (remove the link)".into(),
            ));
        }
        Err(error) => return Err(error),
    };
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(refused("it is not a regular file".into()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let me = rustix::process::geteuid().as_raw();
        if metadata.uid() != me {
            return Err(refused(format!(
                "it belongs to user {}, not to the user the gateway runs as ({me}): anyone who planted it could sign tokens; remove it",
                metadata.uid()
            )));
        }
    }
    let mut secret = String::new();
    std::io::Read::read_to_string(&mut file, &mut secret)?;
    if secret.trim().is_empty() {
        return Ok(None);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if metadata.mode() & 0o077 != 0 {
            return Err(refused(format!(
                "other users may read or change it (mode {:o}): the secret may be known; remove the file for a new one, \
                 or `chmod 600` it if nobody else could have read it",
                metadata.mode() & 0o777
            )));
        }
    }
    Ok(Some(secret.trim().to_owned()))
}

/// The registered tables the database does not have (answering from them would fail per request).
async fn missing_tables(
    connection: &DatabaseConnection,
    registry: &crate::metadata::Registry,
) -> Result<Vec<String>, DbErr> {
    use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
    let backend = connection.get_database_backend();
    // In a transaction: behind PgBouncer a statement and its preparation share a server connection.
    let transaction = connection.begin().await?;
    let sql = match backend {
        sea_orm::DbBackend::Postgres => "SELECT 1 WHERE to_regclass(quote_ident($1)) IS NOT NULL",
        _ => "SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?",
    };
    let mut missing = Vec::new();
    for entity in registry.entities() {
        let found = transaction
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [entity.table.clone().into()],
            ))
            .await?;
        if found.is_none() {
            missing.push(entity.table.clone());
        }
    }
    transaction.commit().await?;
    Ok(missing)
}

async fn prepare_embedded(connection: &DatabaseConnection, path: &std::path::Path) -> Result<(), CommandError> {
    Migrator::up(connection, None).await.map_err(CommandError::Migration)?;
    match crate::sample::seed::seed(connection, EMBEDDED_SEED_SCALE).await {
        Ok(report) => tracing::info!(
            file = %path.display(),
            tasks = report.tasks,
            elapsed = ?report.elapsed,
            "created the embedded SQLite database with sample data (set DATABASE_URL to use PostgreSQL)"
        ),
        Err(crate::sample::seed::SeedError::NotEmpty { .. }) => {}
        Err(error) => return Err(error.into()),
    }
    Ok(())
}

async fn migrate(args: &DatabaseArgs, action: MigrateAction) -> Result<(), CommandError> {
    let connection = open(args).await?;
    let result = match action {
        MigrateAction::Up => Migrator::up(&connection, None).await,
        MigrateAction::Down => Migrator::down(&connection, Some(1)).await,
        MigrateAction::Fresh => Migrator::fresh(&connection).await,
        MigrateAction::Status => print_status(&connection).await,
    };
    result.map_err(CommandError::Migration)?;
    if !matches!(action, MigrateAction::Status) {
        print_status(&connection).await.map_err(CommandError::Migration)?;
    }
    Ok(())
}

async fn print_status(connection: &DatabaseConnection) -> Result<(), DbErr> {
    for migration in Migrator::get_migration_with_status(connection).await? {
        println!(
            "{:<8} {}",
            format!("{}", migration.status()).to_lowercase(),
            migration.name()
        );
    }
    Ok(())
}

async fn check(args: &DatabaseArgs) -> Result<(), CommandError> {
    let target = args.target()?;
    println!("database: {target}");
    let info = crate::database::diagnose(&target, args.pool.connect_timeout).await?;
    println!("connected: {}", info.version);
    let connection = crate::database::connect(&target, &args.pool).await?;
    let pending = Migrator::get_pending_migrations(&connection)
        .await
        .map_err(CommandError::Migration)?;
    if pending.is_empty() {
        println!("schema: up to date");
    } else {
        println!(
            "schema: {} pending migration(s); run `gateway migrate up`",
            pending.len()
        );
    }
    connection.close().await.map_err(CommandError::Migration)?;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::embedded_secret;
    use std::os::unix::fs::{PermissionsExt, chown, symlink};

    fn mode(path: &std::path::Path) -> u32 {
        std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    fn refusal(database: &std::path::Path) -> String {
        embedded_secret(database, true).expect_err("refused").to_string()
    }

    /// A new secret is its owner's alone; an existing one is trusted only as a regular file of
    /// the gateway's user that nobody else may read; an empty file is replaced, not written into.
    #[test]
    fn the_embedded_secret_is_trusted_only_when_nobody_else_could_know_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let database = dir.path().join("gateway.db");
        let path = dir.path().join("gateway.db.secret");
        assert!(embedded_secret(&database, false).is_err(), "none yet, none made");
        let secret = embedded_secret(&database, true).expect("a new secret");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(embedded_secret(&database, false).expect("kept"), secret);

        // Readable by others: the secret may be known.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(
            refusal(&database).contains("other users may read"),
            "{}",
            refusal(&database)
        );

        // An empty file left open to everyone gets a new secret in a file of its own.
        std::fs::write(&path, "").expect("empty");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        let renewed = embedded_secret(&database, true).expect("a new secret");
        assert_ne!(renewed, secret);
        assert_eq!(mode(&path), 0o600);

        // A link is not followed, even to a file that would pass.
        let elsewhere = dir.path().join("planted");
        std::fs::write(&elsewhere, "planted-secret").expect("plant");
        std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        std::fs::remove_file(&path).expect("remove");
        symlink(&elsewhere, &path).expect("link");
        assert!(refusal(&database).contains("symbolic link"), "{}", refusal(&database));

        // A file planted by another user (the tests may run as root, who can give it away).
        std::fs::remove_file(&path).expect("remove the link");
        std::fs::write(&path, "planted-secret").expect("plant");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        if chown(&path, Some(65_534), None).is_ok() {
            assert!(
                refusal(&database).contains("belongs to user 65534"),
                "{}",
                refusal(&database)
            );
        }
    }
}
