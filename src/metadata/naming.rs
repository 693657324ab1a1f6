//! GraphQL names from database names: `task_tags` → type `TaskTag`, list `taskTags`, lookup
//! `taskTag`; `estimate_hours` → `estimateHours`. Inflection comes from `cruet`.

use cruet::{to_camel_case, to_pascal_case, to_plural, to_screaming_snake_case, to_singular};

/// A column or relation name as a GraphQL field.
pub fn field(name: &str) -> String {
    to_camel_case(name)
}

/// A table name as a GraphQL type: PascalCase and singular.
pub fn type_name(table: &str) -> String {
    to_pascal_case(&to_singular(table))
}

/// The root list field of a type: camelCase and plural.
pub fn list_field(type_name: &str) -> String {
    to_camel_case(&to_plural(type_name))
}

/// The root lookup field: camelCase singular, or `…ByKey` when singular and plural coincide.
pub fn lookup_field(type_name: &str, list_field: &str) -> String {
    let singular = to_camel_case(type_name);
    if singular == list_field {
        format!("{singular}ByKey")
    } else {
        singular
    }
}

/// A database enum type as a GraphQL enum type: `task_status` → `TaskStatus`.
pub fn enum_type_name(name: &str) -> String {
    to_pascal_case(name)
}

/// A database enum label as a GraphQL enum value: `in_progress` → `IN_PROGRESS`.
pub fn enum_value_name(label: &str) -> String {
    to_screaming_snake_case(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_api_conventions() {
        assert_eq!(type_name("task_tags"), "TaskTag");
        assert_eq!(type_name("categories"), "Category");
        assert_eq!(list_field("TaskTag"), "taskTags");
        assert_eq!(lookup_field("Task", "tasks"), "task");
        assert_eq!(field("estimate_hours"), "estimateHours");
        assert_eq!(field("AssignedTasks"), "assignedTasks");
    }
}
