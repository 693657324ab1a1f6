//! GraphQL names from database names: `task_tags` → type `TaskTag`, list `taskTags`, lookup
//! `taskTag`; `estimate_hours` → `estimateHours`. Case conversion comes from `cruet`; plurals from
//! `pluralizer` (the rules of the JavaScript `pluralize` package: `person` ↔ `people`, `staff` and
//! `equipment` uncountable), always on lower-case snake_case words.

use cruet::{to_camel_case, to_pascal_case, to_screaming_snake_case, to_snake_case};

/// `film_actors` → `film_actor`, `people` → `person`: the last word made singular.
pub fn singular(snake: &str) -> String {
    pluralizer::pluralize(snake, 1, false)
}

/// `film_actor` → `film_actors`, `person` → `people`, `staff` → `staff`.
pub fn plural(snake: &str) -> String {
    pluralizer::pluralize(snake, 2, false)
}

/// A column or relation name as a GraphQL field.
pub fn field(name: &str) -> String {
    to_camel_case(name)
}

/// A table name as a GraphQL type: PascalCase and singular.
pub fn type_name(table: &str) -> String {
    to_pascal_case(&singular(&to_snake_case(table)))
}

/// The root list field of a type: camelCase and plural. Inflected in lower case, where the
/// irregular plurals are known (`Person` → `people`, `Child` → `children`).
pub fn list_field(type_name: &str) -> String {
    to_camel_case(&plural(&to_snake_case(type_name)))
}

/// A to-many relation's field: plural whatever its declaration says (`sea-orm-cli` names has-many
/// variants in the singular: `Album` → `albums`; `Tasks` stays `tasks`). In a qualified name only
/// the noun before `By` is inflected: `FilmsByOriginalLanguage` → `filmsByOriginalLanguage`.
pub fn to_many_field(relation: &str) -> String {
    let snake = to_snake_case(relation);
    let (noun, qualifier) = match snake.split_once("_by_") {
        Some((noun, qualifier)) => (noun, Some(qualifier)),
        None => (snake.as_str(), None),
    };
    let noun = plural(&singular(noun));
    to_camel_case(&match qualifier {
        Some(qualifier) => format!("{noun}_by_{qualifier}"),
        None => noun,
    })
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
        assert_eq!(to_many_field("FilmsByOriginalLanguage"), "filmsByOriginalLanguage");
        assert_eq!(to_many_field("Reports"), "reports");
        assert_eq!(to_many_field("Children"), "children");
    }

    #[test]
    fn irregular_and_uncountable_words_keep_their_forms() {
        assert_eq!(type_name("people"), "Person");
        assert_eq!(list_field("Person"), "people");
        assert_eq!(type_name("staff"), "Staff");
        assert_eq!(list_field("Staff"), "staff");
        assert_eq!(lookup_field("Staff", "staff"), "staffByKey");
        assert_eq!(type_name("film_actor"), "FilmActor");
        assert_eq!(list_field("FilmActor"), "filmActors");
        assert_eq!(type_name("Employees"), "Employee");
    }
}
