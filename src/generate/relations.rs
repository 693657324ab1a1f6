//! Relations between the discovered tables, and the names a frontend developer expects for them.
//!
//! A foreign key `film.original_language_id → language` gives two fields: `film.originalLanguage`
//! (named from the column, `_id` dropped) and `language.filmsByOriginalLanguage` (the child's
//! plural, qualified by the column because `film` has a second key to `language` whose column is
//! the parent's own name — that one gives plain `films`). A self-reference takes a known inverse
//! (`parent_id` → `children`, `reports_to` → `reports`) or the qualified form. Every name can be
//! changed in the names file ([`NamesFile`]), which also declares relations the database cannot
//! say (keys that live only on a table's partitions, tables without foreign keys); the file is
//! written back on every run, so edits survive re-runs and new keys appear in it.

use super::Note;
use super::discover::Table;
use crate::metadata::naming;
use cruet::{to_camel_case, to_snake_case};
use sea_orm::sea_query::{TableCreateStatement, TableRef};
use serde::{Deserialize, Serialize};

/// Inverses of self-references whose English is better than `employeesByManager`.
const SELF_INVERSES: &[(&str, &str)] = &[
    ("parent", "children"),
    ("reports_to", "reports"),
    ("manager", "reports"),
    ("supervisor", "subordinates"),
    ("replied_to", "replies"),
    ("reply_to", "replies"),
];

/// A relation from the table holding the key (`table.columns`) to the one it references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub table: String,
    pub columns: Vec<String>,
    pub references: String,
    pub referenced: Vec<String>,
    /// The field on `table` (to one `references` row).
    pub name: String,
    /// The field on `references`: its `table` rows, or the one row when `columns` are unique.
    pub reverse: String,
    pub reverse_is_one: bool,
    /// From the names file, not from a foreign key.
    pub declared: bool,
}

/// The names file: one entry per relation, `name` and `reverse` editable; and the keys of views
/// and tables without a primary key, which makes them served read-only.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamesFile {
    #[serde(default, rename = "key", skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<DeclaredKey>,
    #[serde(default, rename = "relation")]
    pub relations: Vec<Entry>,
}

/// The key of a view or of a table without a primary key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredKey {
    pub table: String,
    pub columns: Vec<String>,
}

/// One relation in the names file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub table: String,
    pub columns: Vec<String>,
    pub references: String,
    /// The referenced columns; the referenced table's primary key when left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub referenced: Vec<String>,
    pub name: Option<String>,
    pub reverse: Option<String>,
    /// Declared here, not a foreign key of the database (written by the generator as a reminder).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub declared: bool,
}

impl Entry {
    fn is(&self, table: &str, columns: &[String], references: &str) -> bool {
        self.table == table && self.columns == columns && self.references == references
    }
}

impl NamesFile {
    /// The file as the generator writes it back: every relation with its current names.
    pub fn from_links(keys: &[DeclaredKey], links: &[Link]) -> Self {
        Self {
            keys: keys.to_vec(),
            relations: links
                .iter()
                .map(|link| Entry {
                    table: link.table.clone(),
                    columns: link.columns.clone(),
                    references: link.references.clone(),
                    referenced: if link.declared {
                        link.referenced.clone()
                    } else {
                        Vec::new()
                    },
                    name: Some(link.name.clone()),
                    reverse: Some(link.reverse.clone()),
                    declared: link.declared,
                })
                .collect(),
        }
    }
}

fn table_name(table: &TableRef) -> String {
    match table {
        TableRef::Table(name, _) => name.1.to_string(),
        other => format!("{other:?}"),
    }
}

/// Primary key columns, in order.
pub fn primary_key(statement: &TableCreateStatement) -> Vec<String> {
    let from_columns: Vec<String> = statement
        .get_columns()
        .iter()
        .filter(|column| column.get_column_spec().primary_key)
        .map(|column| column.get_column_name())
        .collect();
    if !from_columns.is_empty() {
        return from_columns;
    }
    statement
        .get_indexes()
        .iter()
        .filter(|index| index.is_primary_key())
        .flat_map(|index| index.get_index_spec().get_column_names())
        .collect()
}

/// Whether `columns` identify at most one row of the table (its key, or a unique constraint).
fn unique(statement: &TableCreateStatement, columns: &[String]) -> bool {
    let same = |other: &[String]| {
        let mut other = other.to_vec();
        let mut columns = columns.to_vec();
        other.sort();
        columns.sort();
        other == columns
    };
    same(&primary_key(statement))
        || (columns.len() == 1
            && statement
                .get_columns()
                .iter()
                .any(|column| column.get_column_name() == columns[0] && column.get_column_spec().unique))
        || statement
            .get_indexes()
            .iter()
            .filter(|index| index.is_unique_key())
            .any(|index| same(&index.get_index_spec().get_column_names()))
}

/// A foreign key or a declaration, before it is named.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    table: String,
    columns: Vec<String>,
    references: String,
    referenced: Vec<String>,
    declared: bool,
}

/// The relations of `tables`: their foreign keys and the names file's declarations, named.
pub fn links(tables: &[Table], names: &NamesFile, notes: &mut Vec<Note>) -> Vec<Link> {
    let find = |name: &str| tables.iter().find(|table| table.name == name);
    let mut keys: Vec<Key> = Vec::new();
    for table in tables {
        for foreign_key in table.statement.get_foreign_key_create_stmts() {
            let foreign_key = foreign_key.get_foreign_key();
            let Some(references) = foreign_key.get_ref_table().map(table_name) else {
                continue;
            };
            if find(&references).is_none() {
                notes.push(Note::left_out(
                    &format!("{}.{}", table.name, foreign_key.get_columns().join(",")),
                    &format!("references `{references}`, which is not generated"),
                ));
                continue;
            }
            keys.push(Key {
                table: table.name.clone(),
                columns: foreign_key.get_columns(),
                references,
                referenced: foreign_key.get_ref_columns(),
                declared: false,
            });
        }
    }
    for entry in &names.relations {
        if keys
            .iter()
            .any(|key| entry.is(&key.table, &key.columns, &key.references))
        {
            continue;
        }
        let (Some(table), Some(parent)) = (find(&entry.table), find(&entry.references)) else {
            notes.push(Note::left_out(
                &format!("{}.{}", entry.table, entry.columns.join(",")),
                &format!(
                    "a declared relation to `{}`: one of the tables is not generated",
                    entry.references
                ),
            ));
            continue;
        };
        let referenced = if entry.referenced.is_empty() {
            primary_key(&parent.statement)
        } else {
            entry.referenced.clone()
        };
        let has = |statement: &TableCreateStatement, column: &String| {
            statement
                .get_columns()
                .iter()
                .any(|candidate| &candidate.get_column_name() == column)
        };
        if entry.columns.is_empty()
            || entry.columns.len() != referenced.len()
            || !entry.columns.iter().all(|column| has(&table.statement, column))
            || !referenced.iter().all(|column| has(&parent.statement, column))
        {
            notes.push(Note::left_out(
                &format!("{}.{}", entry.table, entry.columns.join(",")),
                &format!(
                    "a declared relation to `{}` whose columns do not match the tables",
                    entry.references
                ),
            ));
            continue;
        }
        keys.push(Key {
            table: entry.table.clone(),
            columns: entry.columns.clone(),
            references: entry.references.clone(),
            referenced,
            declared: true,
        });
    }

    // The catalogs list keys in no stable order; the generated files must not change with it.
    keys.sort();
    let mut links: Vec<Link> = keys
        .iter()
        .map(|key| {
            let Key {
                table,
                columns,
                references,
                referenced,
                declared,
            } = key;
            let siblings = keys
                .iter()
                .filter(|other| &other.table == table && &other.references == references)
                .count();
            let child = find(table).expect("a discovered table");
            let reverse_is_one = unique(&child.statement, columns);
            let (name, reverse) = default_names(table, (columns, references, referenced), siblings, reverse_is_one);
            let entry = names
                .relations
                .iter()
                .find(|entry| entry.is(table, columns, references));
            Link {
                table: table.clone(),
                columns: columns.clone(),
                references: references.clone(),
                referenced: referenced.clone(),
                name: entry.and_then(|entry| entry.name.clone()).unwrap_or(name),
                reverse: entry.and_then(|entry| entry.reverse.clone()).unwrap_or(reverse),
                reverse_is_one,
                declared: *declared,
            }
        })
        .collect();
    deduplicate(tables, &mut links, notes);
    links
}

/// The stem of a key: `original_language_id` → `original_language`, `country_code` (to
/// `country.code`) → `country`; several columns → the parent's name. `false` when nothing was
/// dropped (`reports_to`): the column names the relation itself.
fn stem(columns: &[String], references: &str, referenced: &[String]) -> (String, bool) {
    match (columns, referenced) {
        ([column], [target]) => {
            let snake = to_snake_case(column);
            let suffixes = ["_id".to_owned(), format!("_{}", to_snake_case(target))];
            match suffixes.iter().find_map(|suffix| snake.strip_suffix(suffix.as_str())) {
                Some(stem) if !stem.is_empty() => (stem.to_owned(), true),
                _ => (snake, false),
            }
        }
        _ => (naming::singular(&to_snake_case(references)), true),
    }
}

/// The names before the names file: `(field on the child, field on the parent)`, camelCase.
fn default_names(
    table: &str,
    (columns, references, referenced): (&[String], &str, &[String]),
    siblings: usize,
    reverse_is_one: bool,
) -> (String, String) {
    let parent = naming::singular(&to_snake_case(references));
    let child = naming::singular(&to_snake_case(table));
    let (stem, stripped) = stem(columns, references, referenced);
    // `reports_to` names the column itself: the relation says whom it reaches.
    let name = if stripped {
        stem.clone()
    } else {
        format!("{stem}_{parent}")
    };
    let noun = if reverse_is_one { child } else { naming::plural(&child) };
    let reverse = if table == references {
        SELF_INVERSES
            .iter()
            .find(|(key, _)| *key == stem)
            .map(|(_, inverse)| (*inverse).to_owned())
            .unwrap_or_else(|| format!("{noun}_by_{stem}"))
    } else if siblings == 1 || stem == parent {
        noun
    } else {
        format!("{noun}_by_{stem}")
    };
    (to_camel_case(&name), to_camel_case(&reverse))
}

/// Makes every field of a table distinct from its columns and its other relations.
fn deduplicate(tables: &[Table], links: &mut [Link], notes: &mut Vec<Note>) {
    for table in tables {
        let mut taken: Vec<String> = table
            .statement
            .get_columns()
            .iter()
            .map(|column| naming::field(&column.get_column_name()))
            .collect();
        for link in links.iter_mut() {
            for reverse in [false, true] {
                let (owner, field) = if reverse {
                    (&link.references, &mut link.reverse)
                } else {
                    (&link.table, &mut link.name)
                };
                if owner != &table.name {
                    continue;
                }
                if taken.contains(field) {
                    let original = field.clone();
                    let mut suffix = 2;
                    while taken.contains(&format!("{original}{suffix}")) {
                        suffix += 1;
                    }
                    *field = format!("{original}{suffix}");
                    notes.push(Note::renamed(&table.name, &original, field));
                }
                taken.push(field.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(table: &str, column: &str, references: &str, siblings: usize) -> (String, String) {
        let key = format!("{}_id", naming::singular(references));
        default_names(table, (&[column.to_owned()], references, &[key]), siblings, false)
    }

    #[test]
    fn relation_names_come_from_the_key_columns() {
        assert_eq!(
            names("film", "language_id", "language", 2),
            ("language".into(), "films".into())
        );
        assert_eq!(
            names("film", "original_language_id", "language", 2),
            ("originalLanguage".into(), "filmsByOriginalLanguage".into())
        );
        assert_eq!(
            names("track", "album_id", "albums", 1),
            ("album".into(), "tracks".into())
        );
        assert_eq!(
            names("Track", "MediaTypeId", "MediaType", 1),
            ("mediaType".into(), "tracks".into())
        );
        let code = default_names(
            "team",
            (&["country_code".into()], "country", &["code".into()]),
            1,
            false,
        );
        assert_eq!(code, ("country".into(), "teams".into()));
        assert_eq!(
            names("matches", "home_team_id", "teams", 2),
            ("homeTeam".into(), "matchesByHomeTeam".into())
        );
    }

    #[test]
    fn self_references_get_their_inverse() {
        assert_eq!(
            names("employee", "reports_to", "employee", 1),
            ("reportsToEmployee".into(), "reports".into())
        );
        assert_eq!(
            names("categories", "parent_id", "categories", 1),
            ("parent".into(), "children".into())
        );
        assert_eq!(
            names("people", "mentor_id", "people", 1),
            ("mentor".into(), "peopleByMentor".into())
        );
    }

    #[test]
    fn a_unique_key_is_one_row_back() {
        assert_eq!(
            default_names("user_profile", (&["user_id".into()], "users", &["id".into()]), 1, true),
            ("user".into(), "userProfile".into())
        );
    }
}
