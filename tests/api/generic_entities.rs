//! The engine is generic: a gateway over a second, test-only set of entities (other names, a
//! composite primary key, a self-referencing relation) gets the whole API with no engine change.

use crate::support::{TestApp, TestDatabase};
use gateway::metadata::Registry;
use sea_orm::{ConnectionTrait, Schema};
use serde_json::json;

mod shelf {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "shelves", comment = "A shelf in the library.")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub label: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(has_many = "super::placement::Entity")]
        Placements,
    }

    impl Related<super::placement::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Placements.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

mod placement {
    use sea_orm::entity::prelude::*;

    /// A book at a position on a shelf: the key is (shelf, position).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "placements")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub shelf_id: i32,
        #[sea_orm(primary_key, auto_increment = false)]
        pub position: i32,
        pub title: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::shelf::Entity",
            from = "Column::ShelfId",
            to = "super::shelf::Column::Id"
        )]
        Shelf,
    }

    impl Related<super::shelf::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Shelf.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

mod category {
    use sea_orm::RelationType;
    use sea_orm::entity::prelude::*;

    /// A category tree: each category may have a parent category.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "categories")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub name: String,
        pub parent_id: Option<i32>,
    }

    #[derive(Copy, Clone, Debug, EnumIter)]
    pub enum Relation {
        Parent,
        Children,
    }

    impl RelationTrait for Relation {
        fn def(&self) -> RelationDef {
            let parent: RelationDef = Entity::belongs_to(Entity).from(Column::ParentId).to(Column::Id).into();
            match self {
                Self::Parent => parent,
                Self::Children => {
                    let mut children = parent.rev();
                    children.rel_type = RelationType::HasMany;
                    children
                }
            }
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

#[tokio::test]
async fn a_gateway_over_other_entities_serves_the_whole_api() {
    let database = TestDatabase::new().await;
    let connection = database.connect().await;
    let backend = connection.get_database_backend();
    let schema = Schema::new(backend);
    connection
        .execute(&schema.create_table_from_entity(shelf::Entity))
        .await
        .expect("create shelves");
    connection
        .execute(&schema.create_table_from_entity(placement::Entity))
        .await
        .expect("create placements");
    connection
        .execute(&schema.create_table_from_entity(category::Entity))
        .await
        .expect("create categories");
    for sql in [
        "INSERT INTO shelves (id, label) VALUES (1, 'fiction'), (2, 'science')",
        "SELECT setval(pg_get_serial_sequence('shelves', 'id'), 2)",
        "INSERT INTO placements (shelf_id, position, title) VALUES (1, 1, 'Dune'), (1, 2, 'Emma'), (2, 1, 'Cosmos')",
        "INSERT INTO categories (id, name, parent_id) VALUES (1, 'root', NULL), (2, 'books', 1), (3, 'music', 1), (4, 'novels', 2)",
    ] {
        connection.execute_unprepared(sql).await.expect("insert");
    }
    let registry = Registry::builder()
        .register::<shelf::Entity>()
        .register::<placement::Entity>()
        .register::<category::Entity>()
        .build()
        .expect("valid metadata");
    let app = TestApp::builder(&database.args())
        .registry(registry.clone())
        .spawn()
        .await;
    let data = |query: &'static str| {
        let app = &app;
        async move {
            let answer = app.graphql(query, json!({})).await;
            assert!(answer.get("errors").is_none(), "{answer}");
            answer["data"].clone()
        }
    };

    let tree = data(
        "{ categories(orderBy: [{id: ASC}]) { nodes { name parent { name } children(orderBy: [{name: DESC}]) { totalCount nodes { name } } } } }",
    )
    .await;
    assert_eq!(
        tree["categories"]["nodes"],
        json!([
            { "name": "root", "parent": null, "children": { "totalCount": 2, "nodes": [{ "name": "music" }, { "name": "books" }] } },
            { "name": "books", "parent": { "name": "root" }, "children": { "totalCount": 1, "nodes": [{ "name": "novels" }] } },
            { "name": "music", "parent": { "name": "root" }, "children": { "totalCount": 0, "nodes": [] } },
            { "name": "novels", "parent": { "name": "books" }, "children": { "totalCount": 0, "nodes": [] } },
        ])
    );
    let under_root = data("{ categories(filter: {parent: {name: {eq: \"root\"}}}) { totalCount } }").await;
    assert_eq!(under_root["categories"]["totalCount"], 2);
    let leaves =
        data("{ categories(filter: {children: {none: {}}}, orderBy: [{name: ASC}]) { nodes { name } } }").await;
    assert_eq!(
        leaves["categories"]["nodes"],
        json!([{ "name": "music" }, { "name": "novels" }])
    );

    let placement = data("{ placement(shelfId: 1, position: 2) { title shelf { label } } missing: placement(shelfId: 2, position: 2) { title } }").await;
    assert_eq!(
        placement,
        json!({ "placement": { "title": "Emma", "shelf": { "label": "fiction" } }, "missing": null })
    );
    let shelves = data(
        "{ shelves(orderBy: [{label: DESC}]) { nodes { label placements(orderBy: [{position: DESC}]) { nodes { position title } } } } shelvesAggregate { count } placementsAggregate { max { position } } }",
    )
    .await;
    assert_eq!(
        shelves,
        json!({
            "shelves": { "nodes": [
                { "label": "science", "placements": { "nodes": [{ "position": 1, "title": "Cosmos" }] } },
                { "label": "fiction", "placements": { "nodes": [{ "position": 2, "title": "Emma" }, { "position": 1, "title": "Dune" }] } },
            ] },
            "shelvesAggregate": { "count": 2 },
            "placementsAggregate": { "max": { "position": 2 } },
        })
    );
    let sdl = gateway::schema::sdl(std::sync::Arc::new(
        Registry::builder()
            .register::<shelf::Entity>()
            .register::<placement::Entity>()
            .build()
            .expect("valid"),
    ))
    .expect("schema");
    assert!(
        sdl.contains("A shelf in the library."),
        "entity comments become descriptions"
    );

    // Serving did not change the database: no migration tracks these tables, so their
    // subscriptions are refused (coded) and readiness says so, until `gateway changes install`.
    let ready = app.readiness().await;
    assert_eq!(ready["change_feed"], "not installed", "{ready}");
    let mut client = crate::subscriptions::Client::connect(&app, None).await;
    client.subscribe("1", "subscription { placementChanged { op } }").await;
    let refused = client.next_message().await;
    let code = match refused["type"].as_str() {
        Some("error") => refused["payload"][0]["extensions"]["code"].clone(),
        _ => refused["payload"]["errors"][0]["extensions"]["code"].clone(),
    };
    assert_eq!(code, "FEED_NOT_INSTALLED", "{refused}");
    // What `gateway changes install` runs, with this binary's registry.
    let installed = gateway::changes::install(&connection, &registry)
        .await
        .expect("install");
    assert_eq!(installed, ["shelves", "placements", "categories"]);
    // A gateway started after the install hears the changes.
    let live = TestApp::builder(&database.args())
        .registry(registry.clone())
        .spawn()
        .await;
    let mut client = crate::subscriptions::Client::connect(&live, None).await;
    client
        .subscribe(
            "1",
            "subscription { placementChanged { op row { title shelf { label } } oldKey { shelfId position } } }",
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    connection
        .execute_unprepared("INSERT INTO placements (shelf_id, position, title) VALUES (2, 2, 'Origins')")
        .await
        .expect("insert");
    let event = client.data("1").await["placementChanged"].clone();
    assert_eq!(
        event,
        json!({ "op": "INSERT", "row": { "title": "Origins", "shelf": { "label": "science" } }, "oldKey": null })
    );
    connection
        .execute_unprepared("DELETE FROM placements WHERE shelf_id = 1 AND position = 1")
        .await
        .expect("delete");
    let event = client.data("1").await["placementChanged"].clone();
    assert_eq!(
        event,
        json!({ "op": "DELETE", "row": null, "oldKey": { "shelfId": 1, "position": 1 } })
    );
    // Mutations on int4 (serial) keys: the keys written come back whatever their width.
    let created = data(r#"mutation { createShelf(input: {label: "poetry"}) { id label } }"#).await;
    assert_eq!(created["createShelf"]["label"], "poetry", "{created}");
    let id = created["createShelf"]["id"].as_i64().expect("an Int id");
    let renamed = app
        .graphql(
            "mutation ($id: Int!) { updateShelf(id: $id, patch: {label: \"verse\"}) { label } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(renamed["data"]["updateShelf"]["label"], "verse", "{renamed}");
    let placed =
        data(r#"mutation { createPlacement(input: {shelfId: 2, position: 9, title: "Ariel"}) { shelfId position } }"#)
            .await;
    assert_eq!(placed["createPlacement"], json!({ "shelfId": 2, "position": 9 }));
    let removed = app
        .graphql(
            "mutation ($id: Int!) { deleteShelf(id: $id) { label } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(removed["data"]["deleteShelf"]["label"], "verse", "{removed}");

    app.stop().await;
    live.stop().await;
}

mod attachment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "attachments")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub data: Option<Vec<u8>>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Binary columns read and write as base64 on both backends; SQLite, which has no base64
/// function, computes it in SQL, checked here against the `base64` crate at every padding length.
#[tokio::test]
async fn binary_columns_are_base64_on_postgres_and_sqlite() {
    use base64::Engine;
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = format!("sqlite://{}?mode=rwc", dir.path().join("blobs.db").display());
    let postgres = TestDatabase::new().await;
    for url in [sqlite.as_str(), postgres.url.as_str()] {
        let connection = sea_orm::Database::connect(url).await.expect("connect");
        let schema = Schema::new(connection.get_database_backend());
        connection
            .execute(&schema.create_table_from_entity(attachment::Entity))
            .await
            .expect("create attachments");
        let blobs: Vec<Vec<u8>> = (0..=7u8)
            .map(|length| {
                (0..length)
                    .map(|byte| byte.wrapping_mul(37).wrapping_add(250))
                    .collect()
            })
            .collect();
        for (id, blob) in blobs.iter().enumerate() {
            use sea_orm::{ActiveModelTrait, ActiveValue::Set};
            attachment::ActiveModel {
                id: Set(id as i32 + 1),
                data: Set(Some(blob.clone())),
            }
            .insert(&connection)
            .await
            .expect("insert");
        }
        let registry = Registry::builder()
            .register::<attachment::Entity>()
            .build()
            .expect("valid");
        let app = TestApp::builder(&gateway::config::DatabaseArgs::with_url(Some(url)))
            .registry(registry)
            .spawn()
            .await;
        let answer = app
            .graphql("{ attachments(orderBy: [{id: ASC}]) { nodes { data } } }", json!({}))
            .await;
        let expected: Vec<serde_json::Value> = blobs
            .iter()
            .map(|blob| json!({ "data": base64::engine::general_purpose::STANDARD.encode(blob) }))
            .collect();
        assert_eq!(
            answer["data"]["attachments"]["nodes"],
            json!(expected),
            "{url}: {answer}"
        );
        let written = app
            .graphql(
                "mutation { createAttachment(input: {id: 99, data: \"3q2+7w==\"}) { data } }",
                json!({}),
            )
            .await;
        assert_eq!(
            written["data"]["createAttachment"]["data"], "3q2+7w==",
            "{url}: {written}"
        );
        let found = app
            .graphql(
                "{ attachments(filter: {data: {eq: \"3q2+7w==\"}}) { nodes { id } } }",
                json!({}),
            )
            .await;
        assert_eq!(
            found["data"]["attachments"]["nodes"],
            json!([{ "id": 99 }]),
            "{url}: {found}"
        );
        app.stop().await;
    }
}
