//! SQL snapshots: every golden document in `src/golden/documents/` is planned and compiled exactly as a
//! request would be (the same planner, permission layer and compiler, with no schema execution
//! and no database), and the PostgreSQL and SQLite statements with their parameters are compared
//! with the snapshot beside it in `src/golden/snapshots/`.
//!
//! A golden file is a GraphQL document after optional header lines:
//!
//! ```text
//! # role: member                (a role of the shipped policy.toml; none: unrestricted)
//! # claims: {"org_id": 1}       (the session's claims, JSON)
//! # user: 7                     (the session's user id)
//! # variables: {"n": 3}         (the operation's variables, JSON)
//! ```
//!
//! Queries snapshot one statement per root field; mutations the statements their write sends
//! when it touches the rows with keys 1 and 2 (targets, the write, rule checks, reference checks);
//! `…Live` subscriptions their statement;
//! `…Changed` subscriptions the two statements a batch of changes needs (the changed rows of keys
//! 1 and 2 as they are now, and which of log entries 10 and 11 held rows the session could see).
//! Run `cargo insta review` (or `INSTA_UPDATE=always cargo test --lib`) after a deliberate change.

use crate::auth::Session;
use crate::error::GatewayError;
use crate::metadata::Registry;
use crate::permission::Access;
use crate::plan::{self, DocumentField, Plan, Root, Selection};
use async_graphql::Variables;
use async_graphql::parser::types::OperationType;
use sea_orm::{DbBackend, Statement};
use std::fmt::Write;

/// A golden document's header.
#[derive(Default)]
struct Header {
    role: Option<String>,
    claims: serde_json::Map<String, serde_json::Value>,
    user: Option<String>,
    variables: serde_json::Value,
}

fn header(text: &str) -> Header {
    let mut header = Header {
        variables: serde_json::json!({}),
        ..Header::default()
    };
    for line in text.lines().map_while(|line| line.strip_prefix("# ")) {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "role" => header.role = Some(value.to_owned()),
            "user" => header.user = Some(value.to_owned()),
            "claims" => header.claims = serde_json::from_str(value).expect("claims: a JSON object"),
            "variables" => header.variables = serde_json::from_str(value).expect("variables: JSON"),
            _ => {}
        }
    }
    header
}

fn access(registry: &Registry, header: &Header) -> Result<Access, GatewayError> {
    let Some(role) = &header.role else {
        return Ok(Access::Unrestricted);
    };
    let policy = crate::sample::policy(registry, &["org_id".to_owned()]).expect("the shipped policy loads");
    policy.access(&Session {
        role: role.clone(),
        user_id: header.user.clone(),
        claims: header.claims.clone().into_iter().collect(),
        expires_at: None,
    })
}

/// A statement as the snapshot shows it: formatted SQL, then its parameters in order.
fn show(out: &mut String, backend: &str, statement: &Statement) {
    let options = sqlformat::FormatOptions {
        indent: sqlformat::Indent::Spaces(2),
        uppercase: Some(true),
        lines_between_queries: 1,
        ..Default::default()
    };
    let sql = sqlformat::format(&statement.sql, &sqlformat::QueryParams::None, &options);
    let _ = writeln!(out, "-- {backend}\n{sql}");
    for (index, value) in statement.values.iter().flat_map(|values| values.0.iter()).enumerate() {
        let _ = writeln!(out, "-- ${} = {value:?}", index + 1);
    }
}

const BACKENDS: [(&str, DbBackend); 2] = [("postgres", DbBackend::Postgres), ("sqlite", DbBackend::Sqlite)];

/// The statements of one root field, or the error a request would get.
fn root_field(registry: &Registry, access: &Access, kind: OperationType, field: &DocumentField<'_>) -> String {
    let mut out = String::new();
    let key = field.alias().unwrap_or(field.name());
    let _ = writeln!(out, "## {key}");
    let max_page_size = crate::schema::SchemaOptions::default().max_page_size;
    let result = (|| -> Result<(), GatewayError> {
        let name = field.name();
        if kind == OperationType::Subscription {
            let (entity, feed) = plan::Feed::find(registry, name).ok_or(GatewayError::Internal)?;
            if feed == plan::Feed::Live {
                let mut plan = Plan::Connection(plan::plan_connection(registry, entity, std::slice::from_ref(field))?);
                access.authorize(registry, &mut plan, max_page_size)?;
                for (backend, dialect) in BACKENDS {
                    show(
                        &mut out,
                        backend,
                        &crate::sql::statement(dialect, registry, access, &plan),
                    );
                }
            } else {
                let mut events = plan::plan_events(registry, entity, *field)?;
                access.authorize_events(registry, &mut events, max_page_size)?;
                let keys = [1i64, 2].map(|key| vec![sea_orm::Value::BigInt(Some(key))]).to_vec();
                for (backend, dialect) in BACKENDS {
                    let (rows, old) =
                        crate::changes::change_statements(registry, dialect, access, &events, keys.clone(), &[10, 11]);
                    for statement in rows.iter().chain(old.iter()) {
                        show(&mut out, backend, statement);
                    }
                }
            }
            return Ok(());
        }
        if kind == OperationType::Mutation {
            let (entity, mutation) = plan::write::Mutation::find(registry, name).ok_or(GatewayError::Internal)?;
            let max_rows = crate::schema::SchemaOptions::default().max_insert_rows;
            let write =
                plan::write::plan_write(registry, entity, mutation, *field, max_rows, &access.insert_presets())?;
            let keys = [1i64, 2].map(|key| vec![sea_orm::Value::BigInt(Some(key))]).to_vec();
            for (backend, dialect) in BACKENDS {
                for (step, statement) in crate::database::write::statements(dialect, registry, access, &write, &keys)? {
                    let _ = writeln!(out, "-- {step}");
                    show(&mut out, backend, &statement);
                }
            }
            return Ok(());
        }
        let (entity, root) = Root::find(registry, name).ok_or(GatewayError::Internal)?;
        let mut plan = plan::plan_root(registry, entity, root, *field)?;
        access.authorize(registry, &mut plan, max_page_size)?;
        for (backend, dialect) in BACKENDS {
            show(
                &mut out,
                backend,
                &crate::sql::statement(dialect, registry, access, &plan),
            );
        }
        Ok(())
    })();
    if let Err(error) = result {
        let _ = writeln!(out, "-- refused: {} {error}", error.code());
    }
    out
}

/// Plans and compiles every root field of `text`.
fn compile(registry: &Registry, text: &str) -> String {
    let header = header(text);
    let document = async_graphql::parser::parse_query(text).expect("a golden document parses");
    let variables = Variables::from_json(header.variables.clone());
    let access = match access(registry, &header) {
        Ok(access) => access,
        Err(error) => return format!("-- refused: {} {error}\n", error.code()),
    };
    let kind = match &document.operations {
        async_graphql::parser::types::DocumentOperations::Single(operation) => operation.node.ty,
        async_graphql::parser::types::DocumentOperations::Multiple(_) => panic!("one operation per golden file"),
    };
    let roots = DocumentField::roots(&document, None, &variables).expect("root fields");
    roots
        .iter()
        .map(|field| root_field(registry, &access, kind, field))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn generated_sql_matches_the_snapshots() {
    // Task titles are searchable (English), as `GATEWAY_SEARCH_COLUMNS=tasks.title` would make them.
    let registry = crate::entities::registry()
        .expect("the sample registry")
        .with_search(&["tasks.title".to_owned()], "english")
        .expect("a searchable column");
    insta::glob!("documents/*.graphql", |path| {
        let text = std::fs::read_to_string(path).expect("read the golden document");
        insta::assert_snapshot!(compile(&registry, &text));
    });
}
