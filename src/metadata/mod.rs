//! What the database has, read from SeaORM entity metadata: tables, columns, keys, relations.
//!
//! The engine never names a sample table: it works from this registry. Registering an entity is
//! one line ([`RegistryBuilder::register`]); many-to-many relations are discovered from junction
//! entities (a composite primary key made of two foreign keys), the way PostGraphile's
//! many-to-many plugin does, so no extra declaration is needed.

pub mod naming;

pub use naming::{enum_type_name, enum_value_name};

use sea_orm::sea_query::{DynIden, TableRef};
use sea_orm::{
    ColumnTrait, ColumnType, EntityTrait, IdenStatic, Iterable, PrimaryKeyToColumn, RelationTrait, RelationType,
};

/// Index of an entity in the [`Registry`].
pub type EntityId = usize;

/// How a column's values travel between the database and GraphQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScalarKind {
    /// 8-, 16- and 32-bit integers: GraphQL `Int`.
    Int,
    /// 64-bit integers: `BigInt`, a string in JSON so JavaScript keeps every digit.
    BigInt,
    /// Floating point: GraphQL `Float`.
    Float,
    /// Exact decimals: `Decimal`, a string; at most `precision` digits, `scale` of them after the
    /// point, when declared.
    Decimal {
        precision: Option<u32>,
        scale: Option<u32>,
    },
    Boolean,
    String,
    Uuid,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A timestamp, ISO 8601.
    DateTime,
    Json,
    /// Binary data (`bytea`, `BLOB`): `Base64` in GraphQL, standard alphabet with padding.
    Bytes,
    /// A value the gateway passes as text, cast to and from the column's own type on PostgreSQL:
    /// `time`, `interval`, `inet`, `cidr`, `tsvector`. GraphQL `String`.
    Textual {
        sql_type: String,
        /// `<`/`>`, `min`/`max` make sense (`time`, `interval`).
        ordered: bool,
    },
    /// A PostgreSQL array of scalars or enums (`text[]`, `integer[]`, `status[]`): a GraphQL list
    /// of its element type, filtered with `contains`, `containedBy` and `overlaps`.
    Array {
        element: Box<ScalarKind>,
        /// The column's SQL type (`integer[]`), which bound values are cast to.
        sql_type: String,
    },
    /// A database enum; values are the database labels.
    Enum {
        name: String,
        values: Vec<String>,
    },
}

impl ScalarKind {
    fn from_column_type(column_type: &ColumnType) -> Option<Self> {
        Some(match column_type {
            ColumnType::TinyInteger
            | ColumnType::SmallInteger
            | ColumnType::Integer
            | ColumnType::TinyUnsigned
            | ColumnType::SmallUnsigned => Self::Int,
            ColumnType::BigInteger | ColumnType::Unsigned | ColumnType::BigUnsigned => Self::BigInt,
            ColumnType::Float | ColumnType::Double => Self::Float,
            ColumnType::Decimal(precision) | ColumnType::Money(precision) => Self::Decimal {
                precision: precision.map(|(precision, _)| precision),
                scale: precision.map(|(_, scale)| scale),
            },
            ColumnType::Boolean => Self::Boolean,
            ColumnType::Char(_) | ColumnType::String(_) | ColumnType::Text => Self::String,
            ColumnType::Uuid => Self::Uuid,
            ColumnType::Date => Self::Date,
            ColumnType::DateTime | ColumnType::Timestamp | ColumnType::TimestampWithTimeZone => Self::DateTime,
            ColumnType::Json | ColumnType::JsonBinary => Self::Json,
            ColumnType::Binary(_) | ColumnType::VarBinary(_) | ColumnType::Blob => Self::Bytes,
            ColumnType::Time => Self::Textual {
                sql_type: "time".into(),
                ordered: true,
            },
            ColumnType::Interval(_, _) => Self::Textual {
                sql_type: "interval".into(),
                ordered: true,
            },
            ColumnType::Inet | ColumnType::Cidr => Self::Textual {
                sql_type: if matches!(column_type, ColumnType::Inet) {
                    "inet"
                } else {
                    "cidr"
                }
                .into(),
                ordered: false,
            },
            ColumnType::Custom(name) if name.to_string() == "tsvector" => Self::Textual {
                sql_type: "tsvector".into(),
                ordered: false,
            },
            ColumnType::Array(element) => {
                let kind = Self::from_column_type(element)?;
                if matches!(kind, Self::Json | Self::Bytes | Self::Array { .. }) {
                    return None;
                }
                Self::Array {
                    element: Box::new(kind),
                    sql_type: format!("{}[]", sql_element_type(element)?),
                }
            }
            ColumnType::Enum { name, variants } => Self::Enum {
                name: name.to_string(),
                values: variants.iter().map(|variant| variant.to_string()).collect(),
            },
            _ => return None,
        })
    }

    /// Whether `<`, `>`, `min` and `max` make sense.
    pub fn is_ordered(&self) -> bool {
        match self {
            Self::Textual { ordered, .. } => *ordered,
            _ => !matches!(
                self,
                Self::Boolean | Self::Json | Self::Uuid | Self::Bytes | Self::Array { .. }
            ),
        }
    }

    /// A full-text document (`tsvector`): searched with `matches`, not selected by default.
    pub fn is_search_document(&self) -> bool {
        matches!(self, Self::Textual { sql_type, .. } if sql_type == "tsvector")
    }

    /// JSON and arrays: values with inner structure, which are not sort or group keys.
    pub fn is_structured(&self) -> bool {
        matches!(self, Self::Json | Self::Array { .. }) || self.is_search_document()
    }

    /// Whether `sum` and `avg` make sense.
    pub fn is_numeric(&self) -> bool {
        matches!(self, Self::Int | Self::BigInt | Self::Float | Self::Decimal { .. })
    }
}

/// Whether the gateway has a GraphQL type for columns of `column_type` (`gateway generate` tells
/// which discovered columns it will leave out).
pub fn servable(column_type: &ColumnType) -> bool {
    ScalarKind::from_column_type(column_type).is_some()
}

/// The SQL name of an array's element type, for casts (`integer`, `"match_status"`).
fn sql_element_type(column_type: &ColumnType) -> Option<String> {
    Some(
        match column_type {
            ColumnType::TinyInteger | ColumnType::SmallInteger => "smallint",
            ColumnType::Integer => "integer",
            ColumnType::BigInteger => "bigint",
            ColumnType::Float => "real",
            ColumnType::Double => "double precision",
            ColumnType::Decimal(_) => "numeric",
            ColumnType::Boolean => "boolean",
            // Entities say `String` for `text`, `varchar` and `char` alike: compared as `text`.
            ColumnType::Char(_) | ColumnType::String(_) | ColumnType::Text => "text",
            ColumnType::Uuid => "uuid",
            ColumnType::Date => "date",
            ColumnType::DateTime | ColumnType::Timestamp => "timestamp",
            ColumnType::TimestampWithTimeZone => "timestamptz",
            ColumnType::Enum { name, .. } => return Some(format!("\"{}\"", name.to_string().replace('"', "\"\""))),
            _ => return None,
        }
        .to_owned(),
    )
}

/// One column.
#[derive(Debug, Clone)]
pub struct Column {
    /// Name in the database.
    pub name: String,
    /// Name in GraphQL (camelCase).
    pub field: String,
    pub kind: ScalarKind,
    pub nullable: bool,
    /// The database fills it when an insert leaves it out (a default or an auto-increment key).
    pub has_default: bool,
    /// Written by the database or the gateway, never by clients in a patch: primary keys and
    /// timestamps defaulting to the current time (`created_at`).
    pub read_only: bool,
    /// A timestamp the gateway sets to the current time on every update (`updated_at`).
    pub touched_on_update: bool,
    /// Computed by the database (a generated column): read, never written, not imported.
    pub computed: bool,
    /// Plain text that the `search` filter and `RELEVANCE` ordering apply to
    /// (`GATEWAY_SEARCH_COLUMNS`).
    pub searchable: bool,
    /// The SQLite FTS5 table that indexes this searchable column (`database::fts`).
    pub search_index: Option<String>,
}

impl Column {
    /// Whether the database generates the value (an auto-increment key, a creation timestamp):
    /// a role's insert sets it only when its rule lists it in `columns`.
    pub fn generated(&self) -> bool {
        self.read_only && self.has_default
    }
}

/// How two entities are related.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelationKind {
    /// This row holds the foreign key (`task.project`).
    ManyToOne,
    /// The target rows hold the foreign key (`project.tasks`).
    OneToMany,
    /// Linked through a junction entity (`task.tags` through `task_tags`).
    ManyToMany {
        junction: EntityId,
        /// Junction columns matching `from_columns` (this side) and `to_columns` (target side).
        junction_from: Vec<String>,
        junction_to: Vec<String>,
    },
}

/// A relation field of an entity.
#[derive(Debug, Clone)]
pub struct Relation {
    /// Name in GraphQL (camelCase).
    pub field: String,
    pub kind: RelationKind,
    pub target: EntityId,
    /// Columns of this entity that the join uses.
    pub from_columns: Vec<String>,
    /// Columns of the target entity that the join uses.
    pub to_columns: Vec<String>,
    /// A many-to-one relation whose foreign key may be null.
    pub optional: bool,
    /// This row holds the key (`belongs_to`): the target's row must exist first (import order).
    /// A `has_one` is many-to-one too, but the target holds the key.
    pub holds_key: bool,
}

impl Relation {
    /// The field of a to-many relation's aggregates beside its connection (`tasksAggregate`);
    /// none for a many-to-one relation.
    pub fn aggregate_field(&self) -> Option<String> {
        (self.kind != RelationKind::ManyToOne).then(|| format!("{}Aggregate", self.field))
    }
}

/// The field of a row's Relay global object id.
pub const NODE_ID_FIELD: &str = "nodeId";

/// One table and everything the engine needs to serve it.
#[derive(Debug, Clone)]
pub struct Entity {
    /// Table name.
    pub table: String,
    /// GraphQL type name (PascalCase, singular): `Task`.
    pub type_name: String,
    /// Root list field: `tasks`.
    pub list_field: String,
    /// Root lookup-by-key field: `task`.
    pub lookup_field: String,
    pub description: Option<String>,
    pub columns: Vec<Column>,
    /// Names of the primary key columns.
    pub primary_key: Vec<String>,
    pub relations: Vec<Relation>,
    /// Served for reading only, and why (a view; a table whose key the names file declares):
    /// no mutations, no subscriptions.
    pub read_only: Option<String>,
    /// A view: its rows are other tables' (export and import leave it out).
    pub derived: bool,
}

impl Entity {
    /// The column named `name` in the database.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|column| column.name == name)
    }

    /// The column whose GraphQL field is `field`.
    pub fn column_by_field(&self, field: &str) -> Option<&Column> {
        self.columns.iter().find(|column| column.field == field)
    }

    /// The relation whose GraphQL field is `field`.
    pub fn relation(&self, field: &str) -> Option<&Relation> {
        self.relations.iter().find(|relation| relation.field == field)
    }

    /// Whether rows get a Relay global id (`nodeId`): a primary key, and no column or relation
    /// already named so.
    pub fn has_node_id(&self) -> bool {
        !self.primary_key.is_empty()
            && self.column_by_field(NODE_ID_FIELD).is_none()
            && self.relation(NODE_ID_FIELD).is_none()
    }

    /// The to-many relation (its index) whose aggregate field is `field` (`tasksAggregate`).
    pub fn relation_by_aggregate_field(&self, field: &str) -> Option<usize> {
        let stem = field.strip_suffix("Aggregate")?;
        self.relations
            .iter()
            .position(|relation| relation.field == stem && relation.kind != RelationKind::ManyToOne)
    }
}

/// Every entity the gateway serves.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    entities: Vec<Entity>,
    left_out: Vec<LeftOut>,
    /// The PostgreSQL text search configuration of searchable columns.
    search_config: String,
}

/// A column the gateway does not serve, because no GraphQL type carries its values yet: the rest
/// of its table is served, and start-up, `schema` and `export` warn about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    pub table: String,
    pub column: String,
    pub column_type: String,
    /// NOT NULL without a default: inserts through the API fail on it.
    pub required: bool,
}

impl std::fmt::Display for LeftOut {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "column `{}.{}` is not served: the gateway has no GraphQL type for {}",
            self.table, self.column, self.column_type
        )?;
        if self.required {
            formatter.write_str(" (it is NOT NULL without a default, so creating rows through the API will fail)")?;
        }
        Ok(())
    }
}

/// Problems found while reading entity metadata.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("relation `{table}.{relation}` points at table `{target}`, which is not registered")]
    UnknownRelationTarget {
        table: String,
        relation: String,
        target: String,
    },
    #[error("table `{0}` has no primary key")]
    NoPrimaryKey(String),
    #[error("two GraphQL names would both be `{0}`")]
    DuplicateName(String),
    #[error("GATEWAY_SEARCH_COLUMNS: `{0}` is not a text column of a served table (write `table.column`)")]
    NotSearchable(String),
    #[error(
        "GATEWAY_SEARCH_CONFIG: `{0}` is not a text search configuration name (letters, digits, `_`, one optional `schema.`)"
    )]
    SearchConfig(String),
}

/// Every problem found in the entity set, reported together.
#[derive(Debug, thiserror::Error)]
#[error("the entity metadata cannot be served: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct MetadataErrors(pub Vec<MetadataError>);

/// Collects entities, then resolves relations between them.
#[derive(Default)]
pub struct RegistryBuilder {
    pending: Vec<PendingEntity>,
    errors: Vec<MetadataError>,
    left_out: Vec<LeftOut>,
}

struct PendingEntity {
    entity: Entity,
    relations: Vec<PendingRelation>,
}

struct PendingRelation {
    field: String,
    relation_type: RelationType,
    target_table: String,
    from_columns: Vec<String>,
    to_columns: Vec<String>,
    /// `has_one` (the target holds the key) rather than `belongs_to`.
    is_owner: bool,
}

fn table_name(table: &TableRef) -> String {
    match table {
        TableRef::Table(name, _) => name.1.to_string(),
        other => format!("{other:?}"),
    }
}

fn column_names(identity: &sea_orm::Identity) -> Vec<String> {
    identity.iter().map(|iden: &DynIden| iden.to_string()).collect()
}

impl RegistryBuilder {
    /// Adds entity `E`: its columns, primary key and relations.
    pub fn register<E: EntityTrait + Default>(mut self) -> Self {
        let entity = E::default();
        let table = entity.table_name().to_owned();
        let mut columns = Vec::new();
        let primary_key: Vec<String> = E::PrimaryKey::iter()
            .map(|key| key.into_column().as_str().to_owned())
            .collect();
        let auto_increment = <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::auto_increment();
        for column in E::Column::iter() {
            let definition = column.def();
            let name = column.as_str().to_owned();
            match ScalarKind::from_column_type(definition.get_column_type()) {
                Some(kind) => {
                    let key = primary_key.contains(&name);
                    let now_default = definition
                        .get_column_default()
                        .is_some_and(|default| format!("{default:?}").contains("CurrentTimestamp"));
                    let touched_on_update = kind == ScalarKind::DateTime && name == "updated_at";
                    columns.push(Column {
                        field: naming::field(&name),
                        has_default: definition.get_column_default().is_some() || (key && auto_increment),
                        // A search document is maintained by the database (a trigger or a
                        // generated column), not written through the API.
                        read_only: key || now_default || kind.is_search_document(),
                        touched_on_update,
                        computed: false,
                        searchable: false,
                        search_index: None,
                        name,
                        kind,
                        nullable: definition.is_null(),
                    })
                }
                None => self.left_out.push(LeftOut {
                    table: table.clone(),
                    column: name,
                    column_type: format!("{:?}", definition.get_column_type()),
                    required: !definition.is_null() && definition.get_column_default().is_none(),
                }),
            }
        }
        if primary_key.is_empty() {
            self.errors.push(MetadataError::NoPrimaryKey(table.clone()));
        }
        let relations = E::Relation::iter()
            .map(|relation| {
                let definition = relation.def();
                let name = format!("{relation:?}");
                PendingRelation {
                    field: match definition.rel_type {
                        RelationType::HasMany => naming::to_many_field(&name),
                        RelationType::HasOne => naming::field(&name),
                    },
                    relation_type: definition.rel_type,
                    target_table: table_name(&definition.to_tbl),
                    from_columns: column_names(&definition.from_col),
                    to_columns: column_names(&definition.to_col),
                    is_owner: definition.is_owner,
                }
            })
            .collect();
        let type_name = naming::type_name(&table);
        let list_field = naming::list_field(&type_name);
        let lookup_field = naming::lookup_field(&type_name, &list_field);
        self.pending.push(PendingEntity {
            entity: Entity {
                description: entity.comment().map(str::to_owned),
                table,
                type_name,
                list_field,
                lookup_field,
                columns,
                primary_key,
                relations: Vec::new(),
                read_only: None,
                derived: false,
            },
            relations,
        });
        self
    }

    /// Marks columns of the entity registered last as computed by the database (generated
    /// columns): read, never written.
    pub fn computed(mut self, columns: &[&str]) -> Self {
        if let Some(pending) = self.pending.last_mut() {
            for column in pending.entity.columns.iter_mut() {
                if columns.contains(&column.name.as_str()) {
                    column.computed = true;
                    column.read_only = true;
                    column.has_default = true;
                }
            }
        }
        self
    }

    /// Marks `NOT NULL` columns of the entity registered last that a `BEFORE INSERT` trigger may
    /// fill: optional inputs (the database refuses the row when the trigger leaves one empty).
    pub fn filled_by_trigger(mut self, columns: &[&str]) -> Self {
        if let Some(pending) = self.pending.last_mut() {
            for column in pending.entity.columns.iter_mut() {
                if columns.contains(&column.name.as_str()) {
                    column.has_default = true;
                }
            }
        }
        self
    }

    /// Serves the entity registered last as a view: read-only, and left out of export and import
    /// (its rows are other tables').
    pub fn view(self) -> Self {
        let mut builder = self.read_only("a view");
        if let Some(pending) = builder.pending.last_mut() {
            pending.entity.derived = true;
        }
        builder
    }

    /// Serves the entity registered last for reading only (`reason`, e.g. "a view", goes into
    /// its description).
    pub fn read_only(mut self, reason: &str) -> Self {
        if let Some(pending) = self.pending.last_mut() {
            pending.entity.read_only = Some(reason.to_owned());
        }
        self
    }

    /// Resolves relations (including many-to-many through junctions) and checks names.
    pub fn build(mut self) -> Result<Registry, MetadataErrors> {
        let index_of = |table: &str, pending: &[PendingEntity]| {
            pending.iter().position(|candidate| candidate.entity.table == table)
        };
        let mut resolved: Vec<Vec<Relation>> = vec![Vec::new(); self.pending.len()];
        for (id, pending) in self.pending.iter().enumerate() {
            for relation in &pending.relations {
                let Some(target) = index_of(&relation.target_table, &self.pending) else {
                    self.errors.push(MetadataError::UnknownRelationTarget {
                        table: pending.entity.table.clone(),
                        relation: relation.field.clone(),
                        target: relation.target_table.clone(),
                    });
                    continue;
                };
                // `belongs_to` and `has_one` both join this.from = target.to and yield one row.
                let kind = match relation.relation_type {
                    RelationType::HasMany => RelationKind::OneToMany,
                    RelationType::HasOne => RelationKind::ManyToOne,
                };
                let optional = kind == RelationKind::ManyToOne
                    && (relation.is_owner
                        || relation
                            .from_columns
                            .iter()
                            .any(|column| pending.entity.column(column).is_some_and(|column| column.nullable)));
                resolved[id].push(Relation {
                    holds_key: kind == RelationKind::ManyToOne && !relation.is_owner,
                    field: relation.field.clone(),
                    kind,
                    target,
                    from_columns: relation.from_columns.clone(),
                    to_columns: relation.to_columns.clone(),
                    optional,
                });
            }
        }
        // Junctions: a composite primary key covered exactly by two many-to-one relations.
        for (junction, pending) in self.pending.iter().enumerate() {
            let key = &pending.entity.primary_key;
            let parents: Vec<&Relation> = resolved[junction]
                .iter()
                .filter(|relation| relation.kind == RelationKind::ManyToOne)
                .filter(|relation| relation.from_columns.iter().all(|column| key.contains(column)))
                .collect();
            let covered: usize = parents.iter().map(|relation| relation.from_columns.len()).sum();
            if key.len() < 2 || parents.len() != 2 || covered != key.len() {
                continue;
            }
            let (left, right) = (parents[0].clone(), parents[1].clone());
            for (from, to) in [(&left, &right), (&right, &left)] {
                let field = self.pending[to.target].entity.list_field.clone();
                let owner = from.target;
                let taken = resolved[owner].iter().any(|relation| relation.field == field)
                    || self.pending[owner].entity.column_by_field(&field).is_some();
                let field = if taken {
                    format!("{field}Via{}", self.pending[junction].entity.type_name)
                } else {
                    field
                };
                resolved[owner].push(Relation {
                    field,
                    kind: RelationKind::ManyToMany {
                        junction,
                        junction_from: from.from_columns.clone(),
                        junction_to: to.from_columns.clone(),
                    },
                    target: to.target,
                    from_columns: from.to_columns.clone(),
                    to_columns: to.to_columns.clone(),
                    optional: false,
                    holds_key: false,
                });
            }
        }
        for (pending, relations) in self.pending.iter().zip(&resolved) {
            let mut fields = std::collections::HashSet::new();
            let columns = pending.entity.columns.iter().map(|column| &column.field);
            for field in columns.chain(relations.iter().map(|relation| &relation.field)) {
                if !fields.insert(field) {
                    self.errors.push(MetadataError::DuplicateName(format!(
                        "{}.{field}",
                        pending.entity.type_name
                    )));
                }
            }
        }
        let mut names = std::collections::HashSet::new();
        for pending in &self.pending {
            for name in [
                &pending.entity.type_name,
                &pending.entity.list_field,
                &pending.entity.lookup_field,
            ] {
                if !names.insert(name.clone()) {
                    self.errors.push(MetadataError::DuplicateName(name.clone()));
                }
            }
        }
        if !self.errors.is_empty() {
            return Err(MetadataErrors(self.errors));
        }
        let entities = self
            .pending
            .into_iter()
            .zip(resolved)
            .map(|(pending, relations)| Entity {
                relations,
                ..pending.entity
            })
            .collect();
        Ok(Registry {
            entities,
            left_out: self.left_out,
            search_config: "simple".into(),
        })
    }
}

impl Registry {
    /// Starts a registry.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    /// The entity stored in `table`.
    pub fn entity_by_table(&self, table: &str) -> Option<EntityId> {
        self.entities.iter().position(|entity| entity.table == table)
    }

    pub fn entities(&self) -> &[Entity] {
        &self.entities
    }

    /// The columns not served, with why.
    pub fn left_out(&self) -> &[LeftOut] {
        &self.left_out
    }

    pub fn entity(&self, id: EntityId) -> &Entity {
        &self.entities[id]
    }

    /// The PostgreSQL text search configuration searchable columns are read with (validated:
    /// the compiler writes it into the SQL, where an expression index can match it).
    pub fn search_config(&self) -> &str {
        &self.search_config
    }

    /// Marks the searchable `column` of `table` (whose one-column primary key is `rowid`) as
    /// indexed by the FTS5 table `index`; false when no such column is searchable.
    pub fn with_search_index(&mut self, table: &str, rowid: &str, column: &str, index: &str) -> bool {
        let Some(entity) = self
            .entities
            .iter_mut()
            .find(|entity| entity.table == table && entity.primary_key == [rowid])
        else {
            return false;
        };
        match entity
            .columns
            .iter_mut()
            .find(|found| found.name == column && found.searchable)
        {
            Some(found) => {
                found.search_index = Some(index.to_owned());
                true
            }
            None => false,
        }
    }

    /// Marks `columns` (`table.column`, text) searchable, read with the text search
    /// configuration `config`.
    pub fn with_search(mut self, columns: &[String], config: &str) -> Result<Self, MetadataError> {
        let name = |part: &str| {
            part.chars()
                .next()
                .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
                && part
                    .chars()
                    .all(|character| character.is_ascii_alphanumeric() || character == '_')
        };
        let parts: Vec<&str> = config.split('.').collect();
        if parts.len() > 2 || !parts.iter().all(|part| name(part)) {
            return Err(MetadataError::SearchConfig(config.to_owned()));
        }
        self.search_config = config.to_owned();
        for entry in columns
            .iter()
            .map(|entry| entry.trim())
            .filter(|entry| !entry.is_empty())
        {
            let column = entry.split_once('.').and_then(|(table, column)| {
                let entity = self.entities.iter_mut().find(|entity| entity.table == table)?;
                entity
                    .columns
                    .iter_mut()
                    .find(|found| found.name == column && found.kind == ScalarKind::String)
            });
            match column {
                Some(column) => column.searchable = true,
                None => return Err(MetadataError::NotSearchable(entry.to_owned())),
            }
        }
        Ok(self)
    }
}
