//! Which plain text columns full-text search applies to, and how PostgreSQL reads their words.
//! Global settings (not only `serve`'s): the schema `gateway schema` prints shows them too.

/// Text search settings.
#[derive(Debug, Clone, clap::Args)]
pub struct SearchArgs {
    /// Plain text columns that get the `search` filter and `RELEVANCE` ordering, as
    /// `table.column`, comma-separated (`tasks.title,comments.body`)
    #[arg(long = "search-columns", env = "GATEWAY_SEARCH_COLUMNS", value_delimiter = ',')]
    pub search_columns: Vec<String>,
    /// The PostgreSQL text search configuration that splits and stems their words (`simple`,
    /// `english`, …; `\dF` in psql lists them). The expression index that makes a search fast
    /// must name the same one: `CREATE INDEX ON tasks USING gin (to_tsvector('english', title))`
    #[arg(long = "search-config", env = "GATEWAY_SEARCH_CONFIG", default_value = "simple")]
    pub search_config: String,
}

impl Default for SearchArgs {
    fn default() -> Self {
        Self {
            search_columns: Vec::new(),
            search_config: "simple".into(),
        }
    }
}
