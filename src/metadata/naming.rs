//! GraphQL names from database names: `task_tags` → type `TaskTag`, list `taskTags`, lookup
//! `taskTag`; `estimate_hours` → `estimateHours`. Inflection comes from `cruet`.

use cruet::{to_camel_case, to_pascal_case, to_plural, to_screaming_snake_case, to_singular, to_snake_case};

/// A column or relation name as a GraphQL field.
pub fn field(name: &str) -> String {
    to_camel_case(name)
}

/// A table name as a GraphQL type: PascalCase and singular.
pub fn type_name(table: &str) -> String {
    to_pascal_case(&to_singular(table))
}

/// The root list field of a type: camelCase and plural. Inflected in lower case, where the
/// irregular plurals are known (`Person` → `people`, `Child` → `children`).
pub fn list_field(type_name: &str) -> String {
    to_camel_case(&to_plural(&to_snake_case(type_name)))
}

/// A to-many relation's field: plural whatever its declaration says (`sea-orm-cli` names has-many
/// variants in the singular: `Album` → `albums`; `Tasks` stays `tasks`).
pub fn to_many_field(relation: &str) -> String {
    to_camel_case(&to_plural(&to_singular(&to_snake_case(relation))))
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

    #[test]
    fn plurals_are_inflected_as_words() {
        // Irregular plurals are known in lower case only (the PascalCase type once gave `persons`).
        assert_eq!(list_field("Person"), "people");
        assert_eq!(list_field("People"), "people", "never `peoples`");
        assert_eq!(list_field("Child"), "children");
        assert_eq!(list_field("Category"), "categories");
        assert_eq!(to_many_field("Album"), "albums");
        assert_eq!(to_many_field("Tasks"), "tasks");
        assert_eq!(to_many_field("AssignedTasks"), "assignedTasks");
        assert_eq!(to_many_field("Comments"), "comments");
    }
}
