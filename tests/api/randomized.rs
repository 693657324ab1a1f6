//! Randomized filters (JSON ones included), orderings and reports (groups with keys through
//! relations and month buckets, `having`, aggregates through relations), compared with an
//! independent model: the rows are read with SeaORM and filtered, sorted, paged and grouped in
//! plain Rust, then compared with the gateway's answers.

use crate::fixture::{Fixture, node_ids};
use chrono::NaiveDate;
use entity::enums::TaskStatus;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sea_orm::prelude::Decimal;
use sea_orm::{DbBackend, EntityTrait};
use std::cmp::Ordering;
use std::collections::HashMap;

#[derive(Debug, Clone)]
enum Filter {
    Status {
        values: Vec<TaskStatus>,
        negated: bool,
    },
    Priority {
        operator: &'static str,
        value: i32,
    },
    DueIsNull(bool),
    DueFrom(NaiveDate),
    Estimate {
        operator: &'static str,
        value: Decimal,
    },
    TitleStartsWith(&'static str),
    TitleContains(&'static str),
    TitleLike(&'static str),
    ProjectPublic(bool),
    Comments {
        quantifier: &'static str,
        text: &'static str,
    },
    /// `metadata: {path: "points", <operator>: value}`
    Points {
        operator: &'static str,
        value: i64,
    },
    /// `metadata: {contains: {labels: [label]}}`
    Label(&'static str),
    /// `metadata: {hasKey: key}`
    HasKey(&'static str),
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
}

const OPERATORS: [&str; 6] = ["eq", "ne", "gt", "gte", "lt", "lte"];
const WORDS: [&str; 6] = ["Fix", "Add", "billing", "#1", "search", "e"];
const PATTERNS: [&str; 5] = ["Fix%", "%#1_", "%billing%", "Add _%", "%e%e%"];

fn status_name(status: TaskStatus) -> &'static str {
    match status {
        TaskStatus::Todo => "TODO",
        TaskStatus::InProgress => "IN_PROGRESS",
        TaskStatus::Done => "DONE",
    }
}

fn leaf() -> impl Strategy<Value = Filter> {
    let status = prop::sample::select(vec![TaskStatus::Todo, TaskStatus::InProgress, TaskStatus::Done]);
    prop_oneof![
        (prop::collection::vec(status, 0..3), any::<bool>())
            .prop_map(|(values, negated)| Filter::Status { values, negated }),
        (prop::sample::select(OPERATORS.to_vec()), 0..6i32)
            .prop_map(|(operator, value)| Filter::Priority { operator, value }),
        any::<bool>().prop_map(Filter::DueIsNull),
        (0..365i64).prop_map(|days| Filter::DueFrom(
            NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Duration::days(days)
        )),
        (prop::sample::select(OPERATORS.to_vec()), 0..4000i64).prop_map(|(operator, cents)| Filter::Estimate {
            operator,
            value: Decimal::new(cents, 2)
        }),
        prop::sample::select(WORDS.to_vec()).prop_map(Filter::TitleStartsWith),
        prop::sample::select(WORDS.to_vec()).prop_map(Filter::TitleContains),
        prop::sample::select(PATTERNS.to_vec()).prop_map(Filter::TitleLike),
        any::<bool>().prop_map(Filter::ProjectPublic),
        (
            prop::sample::select(vec!["some", "none", "every"]),
            prop::sample::select(vec!["good", "billing", "work"])
        )
            .prop_map(|(quantifier, text)| Filter::Comments { quantifier, text }),
        (prop::sample::select(OPERATORS.to_vec()), 0..12i64)
            .prop_map(|(operator, value)| Filter::Points { operator, value }),
        prop::sample::select(vec!["settings", "report", "cache", "none"]).prop_map(Filter::Label),
        prop::sample::select(vec!["points", "labels", "nope"]).prop_map(Filter::HasKey),
    ]
}

fn filter() -> impl Strategy<Value = Filter> {
    leaf().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Filter::And),
            prop::collection::vec(inner.clone(), 0..3).prop_map(Filter::Or),
            inner.prop_map(|filter| Filter::Not(Box::new(filter))),
        ]
    })
}

impl Filter {
    fn graphql(&self) -> String {
        match self {
            Filter::Status { values, negated } => {
                let names: Vec<&str> = values.iter().map(|status| status_name(*status)).collect();
                format!(
                    "{{status: {{{}: [{}]}}}}",
                    if *negated { "notIn" } else { "in" },
                    names.join(", ")
                )
            }
            Filter::Priority { operator, value } => format!("{{priority: {{{operator}: {value}}}}}"),
            Filter::DueIsNull(is_null) => format!("{{dueOn: {{isNull: {is_null}}}}}"),
            Filter::DueFrom(date) => format!("{{dueOn: {{gte: \"{date}\"}}}}"),
            Filter::Estimate { operator, value } => format!("{{estimateHours: {{{operator}: \"{value}\"}}}}"),
            Filter::TitleStartsWith(text) => format!("{{title: {{startsWith: \"{text}\"}}}}"),
            Filter::TitleContains(text) => format!("{{title: {{contains: \"{text}\"}}}}"),
            Filter::TitleLike(pattern) => format!("{{title: {{like: \"{pattern}\"}}}}"),
            Filter::ProjectPublic(public) => format!("{{project: {{isPublic: {{eq: {public}}}}}}}"),
            Filter::Comments { quantifier, text } => {
                format!("{{comments: {{{quantifier}: {{body: {{contains: \"{text}\"}}}}}}}}")
            }
            Filter::Points { operator, value } => format!("{{metadata: {{path: \"points\", {operator}: {value}}}}}"),
            Filter::Label(label) => format!("{{metadata: {{contains: {{labels: [\"{label}\"]}}}}}}"),
            Filter::HasKey(key) => format!("{{metadata: {{hasKey: \"{key}\"}}}}"),
            Filter::And(parts) => format!(
                "{{and: [{}]}}",
                parts.iter().map(Filter::graphql).collect::<Vec<_>>().join(", ")
            ),
            Filter::Or(parts) => format!(
                "{{or: [{}]}}",
                parts.iter().map(Filter::graphql).collect::<Vec<_>>().join(", ")
            ),
            Filter::Not(inner) => format!("{{not: {}}}", inner.graphql()),
        }
    }

    /// The filter with its values as variables (appended to `variables`: name, type, value), so
    /// that cases of one shape send one document with other values: slots (see the operation
    /// cache) are bound with every case's values.
    fn lifted(&self, variables: &mut Vec<(String, &'static str, serde_json::Value)>) -> String {
        let mut variable = |ty: &'static str, value: serde_json::Value| {
            let name = format!("v{}", variables.len());
            variables.push((name.clone(), ty, value));
            format!("${name}")
        };
        match self {
            Filter::Status { values, negated } => {
                let names: Vec<String> = values
                    .iter()
                    .map(|status| variable("TaskStatus!", status_name(*status).into()))
                    .collect();
                format!(
                    "{{status: {{{}: [{}]}}}}",
                    if *negated { "notIn" } else { "in" },
                    names.join(", ")
                )
            }
            Filter::Priority { operator, value } => {
                format!("{{priority: {{{operator}: {}}}}}", variable("Int!", (*value).into()))
            }
            Filter::DueIsNull(is_null) => format!("{{dueOn: {{isNull: {}}}}}", variable("Boolean!", (*is_null).into())),
            Filter::DueFrom(date) => format!("{{dueOn: {{gte: {}}}}}", variable("Date!", date.to_string().into())),
            Filter::Estimate { operator, value } => format!(
                "{{estimateHours: {{{operator}: {}}}}}",
                variable("Decimal!", value.to_string().into())
            ),
            Filter::TitleStartsWith(text) => {
                format!("{{title: {{startsWith: {}}}}}", variable("String!", (*text).into()))
            }
            Filter::TitleContains(text) => format!("{{title: {{contains: {}}}}}", variable("String!", (*text).into())),
            Filter::TitleLike(pattern) => format!("{{title: {{like: {}}}}}", variable("String!", (*pattern).into())),
            Filter::ProjectPublic(public) => format!(
                "{{project: {{isPublic: {{eq: {}}}}}}}",
                variable("Boolean!", (*public).into())
            ),
            Filter::Comments { quantifier, text } => format!(
                "{{comments: {{{quantifier}: {{body: {{contains: {}}}}}}}}}",
                variable("String!", (*text).into())
            ),
            Filter::Points { operator, value } => format!(
                "{{metadata: {{path: \"points\", {operator}: {}}}}}",
                variable("JSON!", (*value).into())
            ),
            Filter::Label(label) => format!(
                "{{metadata: {{contains: {}}}}}",
                variable("JSON!", serde_json::json!({ "labels": [label] }))
            ),
            Filter::HasKey(key) => format!("{{metadata: {{hasKey: {}}}}}", variable("String!", (*key).into())),
            Filter::And(parts) | Filter::Or(parts) => {
                let parts: Vec<String> = parts.iter().map(|part| part.lifted(variables)).collect();
                let combinator = if matches!(self, Filter::And(_)) { "and" } else { "or" };
                format!("{{{combinator}: [{}]}}", parts.join(", "))
            }
            Filter::Not(inner) => format!("{{not: {}}}", inner.lifted(variables)),
        }
    }

    /// Whether the condition is TRUE for `task` (SQL semantics: comparisons with NULL are not).
    fn matches(&self, task: &entity::task::Model, model: &Model) -> bool {
        let compare = |ordering: Option<Ordering>, operator: &str| match ordering {
            None => false,
            Some(ordering) => match operator {
                "eq" => ordering == Ordering::Equal,
                "ne" => ordering != Ordering::Equal,
                "gt" => ordering == Ordering::Greater,
                "gte" => ordering != Ordering::Less,
                "lt" => ordering == Ordering::Less,
                _ => ordering != Ordering::Greater,
            },
        };
        match self {
            Filter::Status { values, negated } => values.contains(&task.status) != *negated,
            Filter::Priority { operator, value } => compare(Some(task.priority.cmp(value)), operator),
            Filter::DueIsNull(is_null) => task.due_on.is_none() == *is_null,
            Filter::DueFrom(date) => task.due_on.is_some_and(|due| due >= *date),
            Filter::Estimate { operator, value } => {
                compare(task.estimate_hours.map(|hours| hours.cmp(value)), operator)
            }
            Filter::TitleStartsWith(text) => task.title.starts_with(text),
            Filter::TitleContains(text) => task.title.contains(text),
            Filter::TitleLike(pattern) => like(pattern.as_bytes(), task.title.as_bytes()),
            Filter::ProjectPublic(public) => model.projects[&task.project_id].1 == *public,
            Filter::Comments { quantifier, text } => {
                let bodies = model.comments.get(&task.id).map(Vec::as_slice).unwrap_or_default();
                match *quantifier {
                    "some" => bodies.iter().any(|body| body.contains(text)),
                    "none" => !bodies.iter().any(|body| body.contains(text)),
                    _ => bodies.iter().all(|body| body.contains(text)),
                }
            }
            Filter::Points { operator, value } => compare(
                task.metadata
                    .as_ref()
                    .and_then(|metadata| metadata.get("points")?.as_i64())
                    .map(|points| points.cmp(value)),
                operator,
            ),
            Filter::Label(label) => task.metadata.as_ref().is_some_and(|metadata| {
                metadata
                    .get("labels")
                    .and_then(serde_json::Value::as_array)
                    .is_some_and(|labels| labels.iter().any(|item| item == label))
            }),
            Filter::HasKey(key) => task
                .metadata
                .as_ref()
                .is_some_and(|metadata| metadata.as_object().is_some_and(|object| object.contains_key(*key))),
            Filter::And(parts) => parts.iter().all(|part| part.matches(task, model)),
            Filter::Or(parts) => parts.iter().any(|part| part.matches(task, model)),
            Filter::Not(inner) => !inner.matches(task, model),
        }
    }
}

/// SQL LIKE with `%` and `_` (no escapes in the generated patterns).
fn like(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'%', rest)) => (0..=text.len()).any(|skip| like(rest, &text[skip..])),
        Some((b'_', rest)) => !text.is_empty() && like(rest, &text[1..]),
        Some((character, rest)) => text.first() == Some(character) && like(rest, &text[1..]),
    }
}

#[derive(Debug, Clone, Copy)]
enum Key {
    Priority,
    DueOn,
    EstimateHours,
    Title,
    CreatedAt,
    ProjectName,
}

#[derive(Debug, Clone)]
struct OrderBy {
    key: Key,
    descending: bool,
    nulls_first: bool,
}

fn order() -> impl Strategy<Value = Vec<OrderBy>> {
    let key = prop::sample::select(vec![
        Key::Priority,
        Key::DueOn,
        Key::EstimateHours,
        Key::Title,
        Key::CreatedAt,
        Key::ProjectName,
    ]);
    prop::collection::vec(
        (key, any::<bool>(), any::<bool>()).prop_map(|(key, descending, nulls_first)| OrderBy {
            key,
            descending,
            nulls_first,
        }),
        0..3,
    )
}

impl OrderBy {
    fn graphql(&self) -> String {
        let direction = format!(
            "{}_NULLS_{}",
            if self.descending { "DESC" } else { "ASC" },
            if self.nulls_first { "FIRST" } else { "LAST" }
        );
        match self.key {
            Key::Priority => format!("{{priority: {direction}}}"),
            Key::DueOn => format!("{{dueOn: {direction}}}"),
            Key::EstimateHours => format!("{{estimateHours: {direction}}}"),
            Key::Title => format!("{{title: {direction}}}"),
            Key::CreatedAt => format!("{{createdAt: {direction}}}"),
            Key::ProjectName => format!("{{project: {{name: {direction}}}}}"),
        }
    }

    fn compare(&self, left: &entity::task::Model, right: &entity::task::Model, model: &Model) -> Ordering {
        fn place<T: Ord>(left: Option<T>, right: Option<T>, descending: bool, nulls_first: bool) -> Ordering {
            match (left, right) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => {
                    if nulls_first {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    }
                }
                (Some(_), None) => {
                    if nulls_first {
                        Ordering::Greater
                    } else {
                        Ordering::Less
                    }
                }
                (Some(left), Some(right)) => {
                    if descending {
                        right.cmp(&left)
                    } else {
                        left.cmp(&right)
                    }
                }
            }
        }
        let (descending, nulls_first) = (self.descending, self.nulls_first);
        match self.key {
            Key::Priority => place(Some(left.priority), Some(right.priority), descending, nulls_first),
            Key::DueOn => place(left.due_on, right.due_on, descending, nulls_first),
            Key::EstimateHours => place(left.estimate_hours, right.estimate_hours, descending, nulls_first),
            Key::Title => place(Some(&left.title), Some(&right.title), descending, nulls_first),
            Key::CreatedAt => place(Some(left.created_at), Some(right.created_at), descending, nulls_first),
            Key::ProjectName => place(
                Some(&model.projects[&left.project_id].0),
                Some(&model.projects[&right.project_id].0),
                descending,
                nulls_first,
            ),
        }
    }
}

/// The data, read independently of the gateway.
struct Model {
    tasks: Vec<entity::task::Model>,
    /// project id → (name, is_public)
    projects: HashMap<i64, (String, bool)>,
    /// task id → comment bodies
    comments: HashMap<i64, Vec<String>>,
}

async fn load(fixture: &Fixture) -> Model {
    let tasks = entity::task::Entity::find()
        .all(&fixture.connection)
        .await
        .expect("tasks");
    let projects = entity::project::Entity::find()
        .all(&fixture.connection)
        .await
        .expect("projects")
        .into_iter()
        .map(|project| (project.id, (project.name, project.is_public)))
        .collect();
    let mut comments: HashMap<i64, Vec<String>> = HashMap::new();
    for comment in entity::comment::Entity::find()
        .all(&fixture.connection)
        .await
        .expect("comments")
    {
        comments.entry(comment.task_id).or_default().push(comment.body);
    }
    Model {
        tasks,
        projects,
        comments,
    }
}

fn run(backend: DbBackend, cases: u32) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let fixture = runtime.block_on(Fixture::on(backend));
    let model = runtime.block_on(load(&fixture));
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (filter(), order(), 1..40usize);
    let result = runner.run(&strategy, |(filter, order, size)| {
        let mut expected: Vec<&entity::task::Model> = model.tasks.iter().filter(|task| filter.matches(task, &model)).collect();
        expected.sort_by(|left, right| {
            order
                .iter()
                .map(|key| key.compare(left, right, &model))
                .find(|ordering| *ordering != Ordering::Equal)
                .unwrap_or_else(|| left.id.cmp(&right.id))
        });
        let expected: Vec<i64> = expected.iter().map(|task| task.id).collect();
        let order_text = format!("[{}]", order.iter().map(OrderBy::graphql).collect::<Vec<_>>().join(", "));
        let arguments = format!("filter: {}, orderBy: {order_text}", filter.graphql());
        let first = runtime.block_on(fixture.data(&format!(
            "{{ tasks(first: {size}, {arguments}) {{ totalCount nodes {{ id }} pageInfo {{ endCursor hasNextPage }} }} }}"
        )));
        let page = &first["tasks"];
        prop_assert_eq!(page["totalCount"].as_u64(), Some(expected.len() as u64), "totalCount for {}", arguments);
        let first_ids = node_ids(&page["nodes"]);
        prop_assert_eq!(&first_ids[..], &expected[..size.min(expected.len())], "first page for {}", arguments);
        prop_assert_eq!(page["pageInfo"]["hasNextPage"].as_bool(), Some(expected.len() > size));
        // The same filter with its values as variables.
        let mut variables = Vec::new();
        let lifted = filter.lifted(&mut variables);
        let declared: Vec<String> = variables.iter().map(|(name, ty, _)| format!("${name}: {ty}")).collect();
        let declared = if declared.is_empty() { String::new() } else { format!("({})", declared.join(", ")) };
        let values: serde_json::Map<String, serde_json::Value> =
            variables.into_iter().map(|(name, _, value)| (name, value)).collect();
        let with_variables = runtime.block_on(fixture.data_with(
            &format!("query {declared} {{ tasks(first: {size}, filter: {lifted}, orderBy: {order_text}) {{ totalCount nodes {{ id }} }} }}"),
            serde_json::Value::Object(values),
        ));
        prop_assert_eq!(&with_variables["tasks"]["totalCount"], &page["totalCount"], "totalCount with variables for {}", arguments);
        prop_assert_eq!(&node_ids(&with_variables["tasks"]["nodes"])[..], &first_ids[..], "first page with variables for {}", arguments);
        if let Some(cursor) = page["pageInfo"]["endCursor"].as_str() {
            let second = runtime.block_on(fixture.data(&format!(
                "{{ tasks(first: {size}, after: \"{cursor}\", {arguments}) {{ nodes {{ id }} }} }}"
            )));
            let second_ids = node_ids(&second["tasks"]["nodes"]);
            let end = (2 * size).min(expected.len());
            prop_assert_eq!(&second_ids[..], &expected[size.min(expected.len())..end], "second page for {}", arguments);
        }
        Ok(())
    });
    runtime.block_on(fixture.app_stop());
    if let Err(error) = result {
        panic!("{error}");
    }
}

/// A group key a report may use.
#[derive(Debug, Clone, Copy, PartialEq)]
enum GroupKey {
    Status,
    Priority,
    DueMonth,
    ProjectPublic,
}

impl GroupKey {
    fn by(self) -> &'static str {
        match self {
            Self::Status => "{status: VALUE}",
            Self::Priority => "{priority: VALUE}",
            Self::DueMonth => "{dueOn: MONTH}",
            Self::ProjectPublic => "{project: {isPublic: VALUE}}",
        }
    }

    fn selection(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Priority => "priority",
            Self::DueMonth => "dueOn",
            Self::ProjectPublic => "project { isPublic }",
        }
    }

    /// The key's value in the answer's `key` object, as text.
    fn answered(self, key: &serde_json::Value) -> String {
        match self {
            Self::Status => key["status"].to_string(),
            Self::Priority => key["priority"].to_string(),
            Self::DueMonth => key["dueOn"].to_string(),
            Self::ProjectPublic => key["project"]["isPublic"].to_string(),
        }
    }

    /// The key's value for `task`, as the answer would write it.
    fn of(self, task: &entity::task::Model, model: &Model) -> String {
        match self {
            Self::Status => serde_json::Value::from(status_name(task.status)).to_string(),
            Self::Priority => task.priority.to_string(),
            Self::DueMonth => task
                .due_on
                .map_or("null".into(), |due| format!("\"{}\"", due.format("%Y-%m-01"))),
            Self::ProjectPublic => model.projects[&task.project_id].1.to_string(),
        }
    }
}

fn report(backend: DbBackend, cases: u32) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let fixture = runtime.block_on(Fixture::on(backend));
    let model = runtime.block_on(load(&fixture));
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let keys = prop::sample::subsequence(
        vec![
            GroupKey::Status,
            GroupKey::Priority,
            GroupKey::DueMonth,
            GroupKey::ProjectPublic,
        ],
        1..3,
    );
    let strategy = (filter(), keys, 0..40i64, any::<bool>());
    let result = runner.run(&strategy, |(filter, keys, least, nested)| {
        let tasks: Vec<&entity::task::Model> = model.tasks.iter().filter(|task| filter.matches(task, &model)).collect();
        let by = keys.iter().map(|key| key.by()).collect::<Vec<_>>().join(", ");
        let selection = keys.iter().map(|key| key.selection()).collect::<Vec<_>>().join(" ");
        // Groups with at least `least` rows, as (keys → (count, sum of priorities)).
        let mut expected: HashMap<Vec<String>, (i64, i64)> = HashMap::new();
        for task in &tasks {
            let entry = expected
                .entry(keys.iter().map(|key| key.of(task, &model)).collect())
                .or_default();
            entry.0 += 1;
            entry.1 += i64::from(task.priority);
        }
        expected.retain(|_, (count, _)| *count >= least);
        let query = format!(
            "{{ tasksAggregate(filter: {}) {{ groupBy(by: [{by}], having: {{count: {{gte: {least}}}}}, orderBy: [{{count: DESC}}]) {{
                key {{ {selection} }} count sum {{ priority }} }} }} }}",
            filter.graphql()
        );
        let data = runtime.block_on(fixture.data(&query));
        let groups = data["tasksAggregate"]["groupBy"].as_array().expect("groups");
        let mut found: HashMap<Vec<String>, (i64, i64)> = HashMap::new();
        let mut counts = Vec::new();
        for group in groups {
            let key: Vec<String> = keys.iter().map(|key| key.answered(&group["key"])).collect();
            let count = group["count"].as_i64().expect("a count");
            let sum = group["sum"]["priority"].as_str().map_or(0, |sum| sum.parse().expect("a sum"));
            counts.push(count);
            found.insert(key, (count, sum));
        }
        prop_assert_eq!(&found, &expected, "{}", query);
        prop_assert!(counts.windows(2).all(|pair| pair[0] >= pair[1]), "ordered by count: {:?}", counts);
        if nested {
            // The same filter through a relation: each project's filtered tasks.
            let data = runtime.block_on(fixture.data(&format!(
                "{{ projects(first: 20, orderBy: [{{id: ASC}}]) {{ nodes {{ id tasksAggregate(filter: {}) {{ count }} }} }} }}",
                filter.graphql()
            )));
            for project in data["projects"]["nodes"].as_array().expect("projects") {
                let id: i64 = project["id"].as_str().expect("an id").parse().expect("numeric");
                let count = tasks.iter().filter(|task| task.project_id == id).count() as i64;
                prop_assert_eq!(project["tasksAggregate"]["count"].as_i64(), Some(count), "project {}", id);
            }
        }
        Ok(())
    });
    runtime.block_on(fixture.app_stop());
    if let Err(error) = result {
        panic!("{error}");
    }
}

#[test]
fn random_reports_match_the_model_on_postgres() {
    report(DbBackend::Postgres, 48);
}

#[test]
fn random_reports_match_the_model_on_sqlite() {
    report(DbBackend::Sqlite, 32);
}

#[test]
fn random_filters_and_orders_match_the_model_on_postgres() {
    run(DbBackend::Postgres, 96);
}

#[test]
fn random_filters_and_orders_match_the_model_on_sqlite() {
    run(DbBackend::Sqlite, 64);
}
