//! The entities this gateway serves: one line per table. To serve a new table, add its migration,
//! its entity module in `entity/`, and a `register` line here; the engine reads nothing else.

use crate::metadata::{MetadataErrors, Registry};
use entity::{comment, organization, project, tag, task, task_tag, user};

/// The registry of the shipped sample schema.
pub fn registry() -> Result<Registry, MetadataErrors> {
    Registry::builder()
        .register::<organization::Entity>()
        .register::<user::Entity>()
        .register::<project::Entity>()
        .register::<task::Entity>()
        .register::<comment::Entity>()
        .register::<tag::Entity>()
        .register::<task_tag::Entity>()
        .build()
}
