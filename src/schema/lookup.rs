//! Rows of several types by key, for the fields that list them by reference: federation's
//! `_entities(representations:)` and Relay's `node(nodeId:)`/`nodes(nodeIds:)`. One door for
//! both: the keys of one type become one statement (`plan::plan_references`) under the caller's
//! `Access`, chunked to the pages the role may read; a row read once and asked for again is
//! charged to the answer budget per copy; a key the caller may not read, or that does not exist,
//! is `None` in its place (`null` in the answer, telling nothing about whether it exists).

use super::Engine;
use crate::auth::Session;
use crate::error::GatewayError;
use crate::metadata::EntityId;
use crate::plan::{self, DocumentField};
use async_graphql::dynamic::{FieldValue, ResolverContext};
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextResolve, ResolveInfo,
};
use async_graphql::{QueryPathSegment, Request, ServerResult, Value as GqlValue};
use futures_util::{StreamExt, TryStreamExt};
use sea_orm::Value;
use serde_json::Value as Json;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Most keys one such field may resolve (each is a key the statement binds).
pub const MAX_KEYS: usize = plan::MAX_IN_VALUES;

/// Statements one field runs at once.
const CONCURRENT_STATEMENTS: usize = 4;

/// The list types whose items [`NullItems`] may answer `null`.
const NULLABLE_LISTS: [&str; 2] = ["[_Entity]", "[Node]"];

/// Answers `null` for the list positions a lookup found nothing for (async-graphql's union and
/// interface resolution cannot return `null` items, async-graphql#1577). The resolvers record
/// them in this request's [`Unresolved`], which `prepare_request` puts into the request's data.
pub struct NullItems;

impl ExtensionFactory for NullItems {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(NullItemsExtension(Arc::new(Unresolved::default())))
    }
}

/// The list positions (response key, index) without a row, for one request.
#[derive(Default)]
pub(super) struct Unresolved(Mutex<HashSet<(String, usize)>>);

struct NullItemsExtension(Arc<Unresolved>);

#[async_trait::async_trait]
impl Extension for NullItemsExtension {
    async fn prepare_request(
        &self,
        context: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        next.run(context, request.data(self.0.clone())).await
    }

    async fn resolve(
        &self,
        context: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<GqlValue>> {
        if NULLABLE_LISTS.contains(&info.parent_type)
            && let QueryPathSegment::Index(index) = info.path_node.segment
            && let Some(parent) = info.path_node.parent
            && let QueryPathSegment::Name(key) = parent.segment
            && self
                .0
                .0
                .lock()
                .is_ok_and(|unresolved| unresolved.contains(&(key.to_owned(), index)))
        {
            return Ok(None);
        }
        next.run(context, info).await
    }
}

/// The keys of one entity type: its distinct keys, and the row read for each (None: missing,
/// or not the caller's to read).
struct Wanted {
    entity: EntityId,
    keys: Vec<Vec<Value>>,
    /// Key (its canonical form, as `sea_orm::Value` has no `Hash`) → index into `keys`.
    index: HashMap<String, usize>,
    rows: Vec<Option<Json>>,
}

impl Wanted {
    fn new(entity: EntityId) -> Self {
        Self {
            entity,
            keys: Vec::new(),
            index: HashMap::new(),
            rows: Vec::new(),
        }
    }

    /// The slot of `key`, added if it is new.
    fn slot(&mut self, key: Vec<Value>) -> usize {
        let next = self.keys.len();
        let slot = *self.index.entry(identity(&key)).or_insert(next);
        if slot == next {
            self.keys.push(key);
            self.rows.push(None);
        }
        slot
    }

    /// Puts a row the database read into the slot of its key (read from its reference columns).
    fn place(&mut self, meta: &crate::metadata::Entity, mut row: Json) -> Result<(), GatewayError> {
        let key = meta
            .primary_key
            .iter()
            .map(|column| {
                let value = row
                    .as_object_mut()
                    .and_then(|row| row.remove(&plan::reference_key(column)))
                    .and_then(|value| GqlValue::from_json(value).ok())
                    .ok_or(GatewayError::Internal)?;
                // The database's own rendering of its key: failing to read it back is a bug.
                plan::parse_key_value(meta, column, &value).map_err(|_| GatewayError::Internal)
            })
            .collect::<Result<Vec<Value>, GatewayError>>()?;
        match self.index.get(&identity(&key)) {
            Some(slot) => self.rows[*slot] = Some(row),
            None => tracing::warn!(
                entity = %meta.type_name,
                ?key,
                "a row read by key matches none of the keys asked for (key forms differ)"
            ),
        }
        Ok(())
    }
}

/// Identifies a key among others of the same entity, the same for every form of one value the
/// database compares equal: decimals without trailing zeros, timestamps in UTC.
fn identity(key: &[Value]) -> String {
    let canonical: Vec<String> = key
        .iter()
        .map(|value| match value {
            Value::Decimal(Some(decimal)) => format!("decimal {}", decimal.normalize()),
            Value::ChronoDateTimeWithTimeZone(Some(time)) => format!(
                "time {}",
                time.with_timezone(&chrono::Utc)
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            ),
            other => format!("{other:?}"),
        })
        .collect();
    canonical.join("\u{1f}")
}

/// The keys one field asks for, in its order: grouped by type, each position's place kept.
#[derive(Default)]
pub(super) struct Requested {
    wanted: Vec<Wanted>,
    /// Per position: (index into `wanted`, slot in its group).
    places: Vec<(usize, usize)>,
}

impl Requested {
    /// Asks for the row of `entity` with primary key `key` at the next position.
    pub fn add(&mut self, entity: EntityId, key: Vec<Value>) {
        let group = match self.wanted.iter().position(|group| group.entity == entity) {
            Some(group) => group,
            None => {
                self.wanted.push(Wanted::new(entity));
                self.wanted.len() - 1
            }
        };
        let slot = self.wanted[group].slot(key);
        self.places.push((group, slot));
    }

    /// Reads every row, selecting what the field's selection asks of each type (its fragments on
    /// `abstract_type` and on that type), and returns each position's row and type.
    pub async fn read(
        mut self,
        context: &ResolverContext<'_>,
        abstract_type: &str,
        field_name: &str,
    ) -> Result<Vec<Option<(EntityId, Json)>>, GatewayError> {
        let engine = context.data::<Engine>().map_err(|_| GatewayError::Internal)?;
        let registry = &engine.registry;
        let access = engine.access(context.data_opt::<Session>())?;
        let reader = super::resolve::PlanReader::of(context, engine, &access).map_err(|_| GatewayError::Internal)?;
        // Each type's keys in chunks no larger than a page the role may read (GATEWAY_MAX_PAGE_SIZE,
        // the policy's `limit`): a lookup is by key, so no readable row is cut off.
        let mut chunks = Vec::new();
        for (group, wanted) in self.wanted.iter().enumerate() {
            let limit = access.row_limit(wanted.entity);
            // The role's `limit` bounds the rows of a type one request reads, here as in lists.
            if let Some(limit) = limit
                && wanted.keys.len() as u64 > limit
            {
                return Err(GatewayError::LimitExceeded(format!(
                    "`{field_name}` asks for {} {} rows; this role reads at most {limit} per list (its policy's limit)",
                    wanted.keys.len(),
                    registry.entity(wanted.entity).type_name
                )));
            }
            let size = limit
                .map_or(engine.max_page_size, |limit| limit.min(engine.max_page_size))
                .max(1) as usize;
            for keys in wanted.keys.chunks(size) {
                let meta = registry.entity(wanted.entity);
                let field = DocumentField::member_of(context.ctx, abstract_type, &meta.type_name);
                chunks.push((
                    group,
                    plan::plan_references(registry, wanted.entity, keys.to_vec(), &[field])?,
                ));
            }
        }
        let reader = &reader;
        let answers: Vec<(usize, Vec<Json>)> = futures_util::stream::iter(chunks)
            .map(|(group, mut plan)| async move {
                reader.authorize(&mut plan)?;
                let Json::Object(mut answer) = reader.read(&plan, field_name).await? else {
                    return Err(GatewayError::Internal);
                };
                match answer.remove(<&str>::from(plan::vocabulary::ConnectionField::Nodes)) {
                    Some(Json::Array(rows)) => Ok((group, rows)),
                    _ => Err(GatewayError::Internal),
                }
            })
            .buffered(CONCURRENT_STATEMENTS)
            .try_collect()
            .await?;
        for (group, rows) in answers {
            let meta = registry.entity(self.wanted[group].entity);
            for row in rows {
                self.wanted[group].place(meta, row)?;
            }
        }
        // A row read once is placed once per position asking for it: every copy after the first
        // is answer the statement did not build, charged to the budget before it is made (its
        // size measured on its first repetition, so rows asked for once cost nothing more).
        let mut placed: HashMap<(usize, usize), Option<usize>> = HashMap::new();
        let mut rows = Vec::with_capacity(self.places.len());
        for (group, slot) in self.places {
            let wanted = &self.wanted[group];
            rows.push(match &wanted.rows[slot] {
                Some(row) => {
                    match placed.entry((group, slot)) {
                        std::collections::hash_map::Entry::Occupied(mut size) => {
                            let size = size
                                .get_mut()
                                .get_or_insert_with(|| serde_json::to_string(row).map_or(0, |text| text.len()));
                            reader.charge(*size)?;
                        }
                        std::collections::hash_map::Entry::Vacant(entry) => {
                            entry.insert(None);
                        }
                    }
                    Some((wanted.entity, row.clone()))
                }
                None => None,
            });
        }
        Ok(rows)
    }
}

/// The answer of a field listing rows by reference: each row as its type, `null` (recorded for
/// [`NullItems`]) where there is none.
pub(super) fn list<'a>(
    context: &ResolverContext<'a>,
    registry: &crate::metadata::Registry,
    rows: Vec<Option<(EntityId, Json)>>,
) -> Result<FieldValue<'a>, GatewayError> {
    let unresolved = context.data::<Arc<Unresolved>>().map_err(|_| GatewayError::Internal)?;
    let field = context.field();
    let response_key = field.alias().unwrap_or(field.name());
    let mut unresolved = unresolved.0.lock().map_err(|_| GatewayError::Internal)?;
    let items = rows
        .into_iter()
        .enumerate()
        .map(|(position, row)| match row {
            Some((entity, row)) => FieldValue::owned_any(row).with_type(registry.entity(entity).type_name.clone()),
            None => {
                unresolved.insert((response_key.to_owned(), position));
                FieldValue::NULL
            }
        })
        .collect::<Vec<_>>();
    Ok(FieldValue::list(items))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::ScalarKind;

    fn parsed(kind: &ScalarKind, text: &str) -> Value {
        plan::parse_scalar(kind, &GqlValue::String(text.into()), "key").expect("a valid key")
    }

    /// One key written two ways the database compares equal is one identity: a requested key
    /// matches the row the database renders in its own form.
    #[test]
    fn equal_keys_in_other_forms_have_one_identity() {
        let decimal = ScalarKind::Decimal {
            precision: Some(10),
            scale: Some(2),
        };
        assert_eq!(
            identity(&[parsed(&decimal, "1.5")]),
            identity(&[parsed(&decimal, "1.50")])
        );
        assert_ne!(
            identity(&[parsed(&decimal, "1.5")]),
            identity(&[parsed(&decimal, "1.05")])
        );
        let time = ScalarKind::DateTime;
        assert_eq!(
            identity(&[parsed(&time, "2026-12-01T10:00:00+02:00")]),
            identity(&[parsed(&time, "2026-12-01T08:00:00Z")])
        );
        assert_eq!(
            identity(&[parsed(&ScalarKind::BigInt, "7")]),
            identity(&[plan::parse_scalar(&ScalarKind::BigInt, &GqlValue::from(7), "key").expect("a key")])
        );
        // Column boundaries stay: ("a", "bc") is not ("ab", "c").
        let text = ScalarKind::String;
        assert_ne!(
            identity(&[parsed(&text, "a"), parsed(&text, "bc")]),
            identity(&[parsed(&text, "ab"), parsed(&text, "c")])
        );
    }
}
