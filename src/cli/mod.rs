//! The command line: `gateway [serve|generate|migrate|seed|check|changes|export|import|schema|token]`, every flag also read from an
//! environment variable (and `.env`), so the same settings work in a shell, a container and CI.

mod commands;

use crate::config::{AuthArgs, DatabaseArgs, LogArgs, SearchArgs, ServerArgs};
use clap::{Parser, Subcommand};

pub use commands::run;

/// A GraphQL data-access gateway generated from SeaORM entities.
#[derive(Debug, Parser)]
#[command(name = "gateway", version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub search: SearchArgs,
    /// Server settings when no subcommand is given (`gateway` alone serves).
    #[command(flatten)]
    pub serve: ServerArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do; `serve` when none is given.
// Parsed once per process: the size of the serve variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve GraphQL over HTTP and WebSocket, and the playground (the default).
    Serve(ServerArgs),
    /// Write the entities of an existing database into `entity/` (and their registration into
    /// `src/entities.rs`), then `cargo build` serves it.
    Generate {
        /// The database to read: `postgres://…` or `sqlite:…`.
        #[arg(long = "from", value_name = "URL")]
        from: String,
        /// The PostgreSQL schema whose tables become entities.
        #[arg(long, default_value = "public")]
        schema: String,
        /// The entity crate's source directory.
        #[arg(long, default_value = "entity/src")]
        entities: std::path::PathBuf,
        /// The gateway's registration file.
        #[arg(long, default_value = "src/entities.rs")]
        registry: std::path::PathBuf,
        /// Relation names kept across runs, and relations the database cannot declare.
        #[arg(long, default_value = "gateway-names.toml")]
        names: std::path::PathBuf,
        /// How the registration file refers to the entity crate.
        #[arg(long, default_value = "entity")]
        entity_crate: String,
        /// Write nothing: exit non-zero, printing what would change, when the files no longer
        /// match the database (for CI)
        #[arg(long)]
        check: bool,
    },
    /// Apply, revert or inspect the schema migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Fill the database with the deterministic sample data set.
    Seed {
        /// Size of the data set: 1 gives ~10 organizations and 20,000 tasks; linear in the scale.
        #[arg(long, default_value_t = 1.0, value_parser = crate::sample::seed::parse_scale)]
        scale: f64,
    },
    /// Diagnose the database connection and explain any failure.
    Check,
    /// Manage the change feed behind subscriptions.
    Changes {
        #[command(subcommand)]
        action: ChangesAction,
    },
    /// Write every table's rows as portable NDJSON (`.zst`/`.gz` names compress).
    Export {
        /// The file to write; `-` is standard output.
        #[arg(default_value = "-")]
        file: std::path::PathBuf,
    },
    /// Load an export into the database in one transaction (refused if it already has rows).
    Import {
        /// The file to read; `-` is standard input.
        file: std::path::PathBuf,
        /// Delete the existing rows of the file's tables first.
        #[arg(long, conflicts_with = "upsert")]
        truncate: bool,
        /// Merge: insert new rows and update rows with the same primary key.
        #[arg(long)]
        upsert: bool,
    },
    /// Print the GraphQL schema (SDL) the gateway serves.
    Schema {
        /// Print this role's view under the policy (GATEWAY_POLICY_FILE, else the built-in sample).
        #[arg(long)]
        role: Option<String>,
        /// Print the Apollo Federation v2 subgraph SDL (what `_service { sdl }` answers with
        /// GATEWAY_FEDERATION on), for composing a supergraph with `rover`.
        #[arg(long)]
        federation: bool,
    },
    /// Mint an HS256 development token signed with GATEWAY_JWT_SECRET.
    Token {
        /// The role the token acts as.
        #[arg(long)]
        role: String,
        /// The user id (`sub`).
        #[arg(long)]
        sub: String,
        /// Extra claims, e.g. `--claim org_id=3` (numbers stay numbers); repeatable.
        #[arg(long = "claim")]
        claims: Vec<String>,
        /// How long the token is valid.
        #[arg(long, default_value = "1h", value_parser = crate::config::parse_duration)]
        ttl: std::time::Duration,
    },
}

/// The change-feed commands.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum ChangesAction {
    /// Create the change log and a trigger on every served table that has none (idempotent).
    /// `serve` never does it uninvited: tables without a trigger refuse subscriptions.
    Install,
    /// Drop the triggers of every served table, and the change log once no table uses it.
    Remove,
}

/// The migration commands.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Revert the last applied migration.
    Down,
    /// List migrations and whether each is applied.
    Status,
    /// Drop every table and apply all migrations again.
    Fresh,
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// README's configuration table names every setting and gives the default clap applies.
    #[test]
    fn the_readme_configuration_table_lists_every_setting_with_its_default() {
        let readme = include_str!("../../README.md");
        let rows: Vec<Vec<&str>> = readme
            .split("## Configuration")
            .nth(1)
            .expect("README has a Configuration section")
            .lines()
            .skip_while(|line| !line.starts_with('|'))
            .take_while(|line| line.starts_with('|'))
            .skip(2)
            .map(|line| line.split('|').map(str::trim).collect())
            .collect();
        let mut problems = Vec::new();
        for arg in Cli::command().get_arguments() {
            let Some(variable) = arg.get_env().and_then(|name| name.to_str()) else {
                continue;
            };
            let Some(row) = rows
                .iter()
                .find(|row| row[2].split(['`', ' ']).any(|word| word == variable))
            else {
                problems.push(format!("{variable} is not in the table"));
                continue;
            };
            let defaults: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|value| value.to_string_lossy().into_owned())
                .collect();
            if !defaults.is_empty() && row[3].trim_matches('`') != defaults.join(",") {
                problems.push(format!(
                    "{variable}: README says {}, clap says {}",
                    row[3],
                    defaults.join(",")
                ));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
