//! One column list: the `NormalizedEvent` record of `schemas/avro/normalized_batch.avsc` is
//! the source, and the Rust type, the sink's `EventRow`, the `events` table the migrations
//! build on the real ClickHouse, and the column list of `docs/field-mapping.md` must all agree
//! with it. Adding a column is an `.avsc` edit plus a migration; this test fails until the
//! types, the table and the document follow.

use apache_avro::Schema;
use clickhouse::Row;
use serde::Deserialize;
use tributary_schemas::{Contract, NormalizedBatch, NormalizedEvent};
use tributary_sink::row::{EventRow, DERIVED_COLUMNS};
use tributary_tests::Pipeline;

/// The fields of the event record inside `NormalizedBatch.events`, in schema order.
fn avsc_event_fields() -> Vec<String> {
    let Schema::Record(batch) = NormalizedBatch::schema() else {
        panic!("NormalizedBatch is a record");
    };
    let events = batch
        .fields
        .iter()
        .find(|f| f.name == "events")
        .expect("NormalizedBatch.events");
    let Schema::Array(array) = &events.schema else {
        panic!("events is an array");
    };
    let Schema::Record(event) = array.items.as_ref() else {
        panic!("events holds records");
    };
    event.fields.iter().map(|f| f.name.clone()).collect()
}

/// The `NormalizedEvent` field a row column is built from.
fn field_of(column: &str) -> &str {
    DERIVED_COLUMNS
        .iter()
        .find(|(c, _)| *c == column)
        .map_or(column, |(_, field)| field)
}

#[test]
fn the_rust_event_type_has_exactly_the_avsc_fields_in_order() {
    let value = serde_json::to_value(NormalizedEvent::default()).unwrap();
    let rust: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    assert_eq!(rust, avsc_event_fields());
}

#[test]
fn every_row_column_comes_from_one_avsc_field_and_every_field_is_stored() {
    let fields = avsc_event_fields();
    for column in EventRow::COLUMN_NAMES {
        assert!(
            fields.iter().any(|f| f == field_of(column)),
            "EventRow column {column} is neither an avsc field nor in DERIVED_COLUMNS"
        );
    }
    for field in &fields {
        assert!(
            EventRow::COLUMN_NAMES.iter().any(|c| field_of(c) == field),
            "avsc field {field} has no EventRow column"
        );
    }
}

#[derive(Debug, Row, Deserialize)]
struct Column {
    name: String,
    default_kind: String,
    #[serde(rename = "type")]
    type_name: String,
}

/// A fresh database on the real server with every migration applied.
async fn migrated(test: &str) -> Pipeline {
    let pipeline = Pipeline::new(test).await;
    tributary_sink::migrate::migrate(&pipeline.clickhouse)
        .await
        .expect("migrations apply");
    pipeline
}

/// The columns of `events` after every migration, on the real server.
async fn table_columns() -> Vec<Column> {
    migrated("columns")
        .await
        .clickhouse()
        .query(
            "SELECT name, default_kind, type FROM system.columns \
             WHERE database = currentDatabase() AND table = 'events' ORDER BY position",
        )
        .fetch_all()
        .await
        .expect("system.columns")
}

#[tokio::test]
async fn the_events_table_holds_every_row_column_and_fills_the_rest_itself() {
    let columns = table_columns().await;
    for name in EventRow::COLUMN_NAMES {
        assert!(
            columns.iter().any(|c| c.name == *name),
            "events has no column {name}: add it in a migration"
        );
    }
    for column in &columns {
        assert!(
            EventRow::COLUMN_NAMES.contains(&column.name.as_str())
                || !column.default_kind.is_empty(),
            "events.{} is not in EventRow and has no DEFAULT/MATERIALIZED: inserts would fail",
            column.name
        );
    }
}

/// The backticked names of the "Columns of `events`" section of the field-mapping document.
fn documented_columns() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/field-mapping.md");
    let text = std::fs::read_to_string(path).expect("docs/field-mapping.md");
    let start = text
        .find("## Columns of `events`")
        .expect("a \"## Columns of `events`\" section");
    let section = &text[start..];
    let section = &section[..section[3..]
        .find("\n## ")
        .map_or(section.len(), |end| end + 3)];
    section
        .lines()
        .filter(|line| line.starts_with("| `"))
        .filter_map(|line| line.split('`').nth(1).map(str::to_string))
        .collect()
}

#[tokio::test]
async fn the_field_mapping_document_lists_exactly_the_tables_columns() {
    let table: Vec<String> = table_columns().await.into_iter().map(|c| c.name).collect();
    assert_eq!(documented_columns(), table);
}

/// The sink sends `LowCardinality(T)` columns as `T` (`tributary_sink::native`); every other
/// type must be the table's own, or the server would convert values (an Int128 cast to a
/// Decimal scales it).
#[tokio::test]
async fn the_sinks_native_columns_have_the_events_tables_types() {
    let table = table_columns().await;
    for (name, sent) in tributary_sink::native::columns() {
        let column = table
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("events has no column {name}"));
        let stored = column
            .type_name
            .strip_prefix("LowCardinality(")
            .and_then(|t| t.strip_suffix(')'))
            .unwrap_or(&column.type_name);
        assert_eq!(sent, stored, "events.{name}: the sink sends {sent}");
    }
}

/// The same rows through the sink's Native insert and through the `clickhouse` crate's
/// RowBinary insert (what the sink sent before) are stored alike, value for value.
#[tokio::test]
async fn native_inserts_store_what_rowbinary_inserts_store() {
    let client = migrated("native_rows").await.clickhouse();
    client
        .query("CREATE TABLE events_rowbinary AS events")
        .execute()
        .await
        .unwrap();
    let mut events = vec![NormalizedEvent::default()];
    events.extend((0..20_000).map(tributary_sink::row::every_field_set));
    for (i, event) in events.iter_mut().enumerate().skip(1).step_by(3) {
        // Rows of mixed shape in one block: some optional fields unset, arrays empty.
        event.email = None;
        event.latitude = None;
        event.revenue_amount = None;
        event.time_flags.clear();
        event.raw = format!("{{\"i\":{i}}}");
    }
    let rows: Vec<EventRow> = events
        .into_iter()
        .map(|e| EventRow::from_event(e).unwrap())
        .collect();

    tributary_sink::store::Store::new(client.clone(), "events")
        .insert(&rows)
        .await
        .expect("native insert");
    let mut insert = client.insert::<EventRow>("events_rowbinary").await.unwrap();
    for row in &rows {
        insert.write(row).await.unwrap();
    }
    insert.end().await.unwrap();

    let count = |sql: &str| {
        let client = client.clone();
        let sql = sql.to_string();
        async move { client.query(&sql).fetch_one::<u64>().await.unwrap() }
    };
    assert_eq!(count("SELECT count() FROM events").await, rows.len() as u64);
    assert_eq!(
        count("SELECT count() FROM events_rowbinary").await,
        rows.len() as u64
    );
    let differing = "SELECT count() FROM (\
         SELECT * EXCEPT (inserted_at) FROM events \
         EXCEPT SELECT * EXCEPT (inserted_at) FROM events_rowbinary)";
    assert_eq!(
        count(differing).await,
        0,
        "rows differ between the two inserts"
    );
    // Spot check of the values themselves, not only of the two paths agreeing.
    let amounts = count(
        "SELECT countIf(revenue_amount = toDecimal128('-99999999999999999999999999999.999999999', 9)) \
         + 1000000 * countIf(revenue_amount IS NULL) FROM events",
    )
    .await;
    assert_eq!(amounts, 13_333 + 1_000_000 * 6_668);
}
