//! The entities this gateway serves: one `register` line per table of `entity/`.
//!
//! This is the shipped sample's list. `gateway generate --from URL` replaces it (and `entity/`)
//! with the tables of an existing database; the engine reads nothing else.

use crate::metadata::{MetadataErrors, Registry};

/// The registry of every served entity.
pub fn registry() -> Result<Registry, MetadataErrors> {
    Registry::builder()
        .register::<entity::organization::Entity>()
        .register::<entity::user::Entity>()
        .register::<entity::project::Entity>()
        .register::<entity::task::Entity>()
        .register::<entity::comment::Entity>()
        .register::<entity::tag::Entity>()
        .register::<entity::task_tag::Entity>()
        .build()
}
