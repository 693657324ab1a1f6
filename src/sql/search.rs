//! Full-text search of plain text columns, and ordering by relevance.
//!
//! PostgreSQL: `to_tsvector(config, column) @@ websearch_to_tsquery(config, $query)`, the
//! configuration written as a literal (validated at start-up) so that an expression index on
//! `to_tsvector('english', title)` serves it; relevance is `ts_rank` as a double (what a cursor
//! holds exactly). SQLite has no text search without an FTS5 table: its fallback reads the same
//! web-search syntax as words and "quoted phrases" that must occur (ignoring ASCII case),
//! `-word` that must not, and `or` between alternatives; relevance counts the words that occur.

use super::Compiler;
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

impl Compiler<'_> {
    /// The configuration as SQL: a literal, validated when the registry was built.
    fn search_config(&self) -> String {
        format!("'{}'::regconfig", self.registry.search_config())
    }

    /// Whether the plain text `column` matches the web-search `query`.
    pub(super) fn search_text(&self, column: Expr, query: &str) -> Expr {
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

    /// How well the plain text `column` matches `query` (higher is better).
    pub(super) fn relevance(&self, column: Expr, query: &str) -> Expr {
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
}
