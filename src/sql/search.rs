//! Full-text search of plain text columns, and ordering by relevance.
//!
//! PostgreSQL: `to_tsvector(config, column) @@ websearch_to_tsquery(config, $query)`, the
//! configuration written as a literal (validated at start-up) so that an expression index on
//! `to_tsvector('english', title)` serves it; relevance is `ts_rank` as a double (what a cursor
//! holds exactly). SQLite has no text search without an FTS5 table: its fallback reads the same
//! web-search syntax as words and "quoted phrases" that must occur (ignoring ASCII case),
//! `-word` that must not, and `or` between alternatives; relevance counts the words that occur.
//! Where an FTS5 table indexes the column (`database::fts`), SQLite asks it instead: the same
//! query in FTS5's syntax, restricted to the column, ranked by `bm25`.

use super::Compiler;
use crate::metadata::EntityId;
use sea_orm::sea_query::{Expr, ExprTrait};

/// One alternative of a web-search query: terms that must occur, and terms that must not.
#[derive(Debug, Default, PartialEq)]
struct Alternative {
    required: Vec<String>,
    excluded: Vec<String>,
}

/// Reads web-search syntax: words, "quoted phrases", `-excluded`, `or` between alternatives.
fn alternatives(query: &str) -> Vec<Alternative> {
    let mut alternatives = vec![Alternative::default()];
    let mut characters = query.chars().peekable();
    loop {
        while characters.next_if(|character| character.is_whitespace()).is_some() {}
        let Some(&first) = characters.peek() else { break };
        let excluded = first == '-';
        if excluded {
            characters.next();
        }
        let term: String = if characters.next_if_eq(&'"').is_some() {
            characters.by_ref().take_while(|character| *character != '"').collect()
        } else {
            let mut word = String::new();
            while let Some(character) = characters.next_if(|character| !character.is_whitespace()) {
                word.push(character);
            }
            word
        };
        let term = term.trim().to_owned();
        if term.is_empty() {
            continue;
        }
        let current = alternatives.last_mut().expect("one alternative");
        if !excluded && term.eq_ignore_ascii_case("or") && !current.required.is_empty() {
            alternatives.push(Alternative::default());
        } else if excluded {
            current.excluded.push(term);
        } else {
            current.required.push(term);
        }
    }
    alternatives.retain(|alternative| !alternative.required.is_empty() || !alternative.excluded.is_empty());
    alternatives
}

/// The web-search `query` in FTS5's query syntax, limited to `column`: every term a quoted
/// string (so no operator or column name can be smuggled in), `None` when an alternative has no
/// word that must occur (FTS5's NOT needs one on its left).
fn fts_query(column: &str, query: &str) -> Option<String> {
    let quoted = |term: &str| format!("\"{}\"", term.replace('"', "\"\""));
    let alternatives = alternatives(query);
    if alternatives.is_empty() || alternatives.iter().any(|alternative| alternative.required.is_empty()) {
        return None;
    }
    let parts: Vec<String> = alternatives
        .iter()
        .map(|alternative| {
            let required: Vec<String> = alternative.required.iter().map(|term| quoted(term)).collect();
            alternative
                .excluded
                .iter()
                .fold(format!("({})", required.join(" AND ")), |expression, term| {
                    format!("({expression} NOT {})", quoted(term))
                })
        })
        .collect();
    Some(format!("{{{column}}} : ({})", parts.join(" OR ")))
}

impl Compiler<'_> {
    /// The FTS5 table and query for a search of `entity.column` on SQLite, when one indexes it.
    fn search_index(&self, entity: EntityId, column: &str, query: &str) -> Option<(String, String, String)> {
        if self.dialect.postgres() {
            return None;
        }
        let meta = self.registry.entity(entity);
        let index = meta.column(column)?.search_index.clone()?;
        let rowid = meta.primary_key.first()?.clone();
        Some((index, rowid, fts_query(column, query)?))
    }

    /// The configuration as SQL: a literal, validated when the registry was built.
    fn search_config(&self) -> String {
        format!("'{}'::regconfig", self.registry.search_config())
    }

    /// Whether the plain text `name` of `entity` (aliased `alias`) matches the web-search `query`.
    pub(super) fn search_text(&self, entity: EntityId, alias: &str, name: &str, query: &str) -> Expr {
        let column = super::column(alias, name);
        if let Some((index, rowid, fts)) = self.search_index(entity, name, query) {
            return self.dialect.template(
                &format!("{{}} IN (SELECT rowid FROM \"{index}\" WHERE \"{index}\" MATCH {{}})"),
                vec![super::column(alias, &rowid), Expr::val(fts)],
            );
        }
        if self.dialect.postgres() {
            let config = self.search_config();
            return self.dialect.template(
                &format!("to_tsvector({config}, {{}}) @@ websearch_to_tsquery({config}, {{}})"),
                vec![column, Expr::val(query)],
            );
        }
        let found = |term: &str| {
            self.dialect
                .template("instr(lower({}), lower({})) > 0", vec![column.clone(), Expr::val(term)])
        };
        let parts: Vec<Expr> = alternatives(query)
            .into_iter()
            .map(|alternative| {
                let mut terms: Vec<Expr> = alternative.required.iter().map(|term| found(term)).collect();
                terms.extend(alternative.excluded.iter().map(|term| found(term).not()));
                self.dialect.join(true, terms)
            })
            .collect();
        // An empty query matches nothing, as `websearch_to_tsquery('')` does.
        let any = self.dialect.join(false, parts);
        column.clone().is_not_null().and(any)
    }

    /// How well the plain text `name` of `entity` (aliased `alias`) matches `query` (higher is
    /// better).
    pub(super) fn relevance(&self, entity: EntityId, alias: &str, name: &str, query: &str) -> Expr {
        let column = super::column(alias, name);
        if let Some((index, rowid, fts)) = self.search_index(entity, name, query) {
            // bm25 is lower for better matches. Rounded to 9 decimals, so that the 15 significant
            // digits SQLite writes into a cursor read back as the same double.
            return self.dialect.template(
                &format!(
                    "COALESCE((SELECT round(-bm25(\"{index}\"), 9) FROM \"{index}\" WHERE \"{index}\" MATCH {{}} AND rowid = {{}}), 0.0)"
                ),
                vec![Expr::val(fts), super::column(alias, &rowid)],
            );
        }
        if self.dialect.postgres() {
            let config = self.search_config();
            return self.dialect.template(
                &format!("CAST(ts_rank(to_tsvector({config}, {{}}), websearch_to_tsquery({config}, {{}})) AS double precision)"),
                vec![column, Expr::val(query)],
            );
        }
        let terms: Vec<String> = alternatives(query)
            .into_iter()
            .flat_map(|alternative| alternative.required)
            .collect();
        if terms.is_empty() {
            return Expr::cust("0.0");
        }
        let counted = vec!["(instr(lower({}), lower({})) > 0)"; terms.len()].join(" + ");
        let arguments = terms
            .into_iter()
            .flat_map(|term| [column.clone(), Expr::val(term)])
            .collect();
        self.dialect.template(&format!("CAST(({counted}) AS REAL)"), arguments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_search_syntax_reads_words_phrases_exclusions_and_alternatives() {
        let read = alternatives(r#"fast "cache layer" -slow or  retry"#);
        assert_eq!(
            read,
            [
                Alternative {
                    required: vec!["fast".into(), "cache layer".into()],
                    excluded: vec!["slow".into()],
                },
                Alternative {
                    required: vec!["retry".into()],
                    excluded: Vec::new(),
                },
            ]
        );
        assert!(alternatives("   ").is_empty());
        assert_eq!(alternatives("or")[0].required, ["or"]);
        assert_eq!(alternatives("\"unclosed phrase")[0].required, ["unclosed phrase"]);
    }

    #[test]
    fn fts5_queries_quote_every_term_and_keep_to_the_column() {
        assert_eq!(
            fts_query("title", r#"cache -design or "quoted phrase" say"hi body:x"#).as_deref(),
            Some(r#"{title} : ((("cache") NOT "design") OR ("quoted phrase" AND "say""hi" AND "body:x"))"#)
        );
        assert_eq!(fts_query("title", "-only"), None, "FTS5's NOT needs a word on its left");
        assert_eq!(fts_query("title", "   "), None);
    }
}
