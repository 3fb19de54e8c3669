//! `EventRow`s in ClickHouse's Native format, the column-oriented format of its own clients
//! (<https://clickhouse.com/docs/interfaces/formats/Native>): the sink's insert body.
//!
//! Why not RowBinary: ClickHouse reads a Native block column by column into its own column
//! types, where a RowBinary insert is parsed value by value. For the same rows of `events`
//! (its three materialized views included), a RowBinary insert cost the server 16.7–18.2 µs of
//! CPU per row and a Native one 10.3–12.3 µs (bench/PROFILE.md, "Native inserts").
//!
//! A block, as ClickHouse's HTTP interface reads and writes it (no block info, no custom
//! serialization flags): the column count and row count as unsigned LEB128 varints, then for
//! each column its name, its type name and its values for all rows. A string is a varint length
//! and its bytes; numbers are little-endian; `Nullable(T)` is one byte per row (1 = NULL)
//! followed by `T`'s values, a default where NULL; `Array(T)` is each row's end offset into the
//! items as a UInt64, followed by the items. Columns of `LowCardinality(T)` in the table are
//! sent as `T`: the server converts them as it does RowBinary's.

use crate::row::EventRow;

/// A ClickHouse type of a column the sink writes, and how its values are laid out.
trait ColumnType {
    /// The row field's type.
    type Value: ?Sized;
    /// The type name in the block header.
    fn name() -> String;
    fn write(value: &Self::Value, column: &mut Column);
    /// What stands in the values for a NULL of `Nullable(Self)`.
    fn write_default(column: &mut Column);
}

/// One column of a block being built.
#[derive(Default)]
struct Column {
    /// `Nullable`'s null map: 1 per NULL row, 0 per value.
    nulls: Vec<u8>,
    /// `Array`'s end offsets, one per row, counted in items.
    offsets: Vec<u64>,
    values: Vec<u8>,
}

fn write_varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn write_string(s: &[u8], out: &mut Vec<u8>) {
    write_varint(s.len() as u64, out);
    out.extend_from_slice(s);
}

struct Str;
impl ColumnType for Str {
    type Value = String;
    fn name() -> String {
        "String".into()
    }
    fn write(value: &String, column: &mut Column) {
        write_string(value.as_bytes(), &mut column.values);
    }
    fn write_default(column: &mut Column) {
        column.values.push(0);
    }
}

/// Fixed-width little-endian numbers: `$rust` written as ClickHouse's `$name`.
macro_rules! fixed_width {
    ($marker:ident, $rust:ty, $name:literal) => {
        struct $marker;
        impl ColumnType for $marker {
            type Value = $rust;
            fn name() -> String {
                $name.into()
            }
            fn write(value: &$rust, column: &mut Column) {
                column.values.extend_from_slice(&value.to_le_bytes());
            }
            fn write_default(column: &mut Column) {
                column
                    .values
                    .extend_from_slice(&[0; std::mem::size_of::<$rust>()]);
            }
        }
    };
}

fixed_width!(Int32, i32, "Int32");
fixed_width!(Int64, i64, "Int64");
fixed_width!(Float64, f64, "Float64");
// DateTime is seconds since the epoch in a UInt32 (as in RowBinary).
fixed_width!(DateTimeUtc, u32, "DateTime('UTC')");
// Decimal(38, 9) is its mantissa in an Int128 (as in RowBinary).
fixed_width!(Decimal38x9, i128, "Decimal(38, 9)");

struct ArrayOfStr;
impl ColumnType for ArrayOfStr {
    type Value = Vec<String>;
    fn name() -> String {
        "Array(String)".into()
    }
    fn write(value: &Vec<String>, column: &mut Column) {
        for item in value {
            write_string(item.as_bytes(), &mut column.values);
        }
        let end = column.offsets.last().copied().unwrap_or(0) + value.len() as u64;
        column.offsets.push(end);
    }
    fn write_default(_: &mut Column) {
        unreachable!("no column of the sink is Nullable(Array)")
    }
}

struct Nullable<T>(std::marker::PhantomData<T>);
impl<T: ColumnType<Value: Sized>> ColumnType for Nullable<T> {
    type Value = Option<T::Value>;
    fn name() -> String {
        format!("Nullable({})", T::name())
    }
    fn write(value: &Option<T::Value>, column: &mut Column) {
        match value {
            Some(value) => {
                column.nulls.push(0);
                T::write(value, column);
            }
            None => {
                column.nulls.push(1);
                T::write_default(column);
            }
        }
    }
    fn write_default(_: &mut Column) {
        unreachable!("Nullable(Nullable) is not a ClickHouse type")
    }
}

/// The columns of `events` the sink writes, each once: the block header's names and types
/// and the code that writes a row's fields come from this one list, in `EventRow`'s order
/// (`tests/tests/columns.rs` holds it to `EventRow` and to the table on a real ClickHouse).
macro_rules! event_columns {
    ($($field:ident: $type:ty),* $(,)?) => {
        /// `(name, type)` of each column, in the order the block holds them.
        pub fn columns() -> Vec<(&'static str, String)> {
            vec![$((stringify!($field), <$type>::name())),*]
        }

        const COLUMN_COUNT: usize = [$(stringify!($field)),*].len();

        fn write_row(row: &EventRow, columns: &mut [Column; COLUMN_COUNT]) {
            let mut columns = columns.iter_mut();
            $(<$type>::write(&row.$field, columns.next().expect("one column per field"));)*
        }
    };
}

event_columns! {
    event_uid: Str,
    tenant: Str,
    source: Str,
    batch_id: Str,
    event_index: Int32,
    event_id: Nullable<Str>,
    event_name: Str,
    event_category: Nullable<Str>,
    event_time: DateTimeUtc,
    event_time_ms: Int64,
    client_time_raw: Nullable<Str>,
    sent_at_ms: Nullable<Int64>,
    received_at: DateTimeUtc,
    received_at_ms: Int64,
    time_flags: ArrayOfStr,
    user_key: Str,
    user_key_kind: Str,
    user_id: Nullable<Str>,
    identity: Nullable<Str>,
    anonymous_id: Nullable<Str>,
    session_id: Nullable<Str>,
    instance_id: Nullable<Str>,
    lvid: Nullable<Str>,
    gaid: Nullable<Str>,
    android_id: Nullable<Str>,
    idfa: Nullable<Str>,
    ios_vendor_id: Nullable<Str>,
    email: Nullable<Str>,
    phone: Nullable<Str>,
    phone_raw: Nullable<Str>,
    name: Nullable<Str>,
    hashed_fields: ArrayOfStr,
    ip: Nullable<Str>,
    country: Nullable<Str>,
    country_raw: Nullable<Str>,
    region: Nullable<Str>,
    city: Nullable<Str>,
    zip: Nullable<Str>,
    latitude: Nullable<Float64>,
    longitude: Nullable<Float64>,
    geo_source: Nullable<Str>,
    user_agent: Nullable<Str>,
    sender_ip: Nullable<Str>,
    sender_user_agent: Nullable<Str>,
    screen_name: Nullable<Str>,
    duration_seconds: Nullable<Int64>,
    app_id: Nullable<Str>,
    platform: Nullable<Str>,
    gender: Nullable<Int32>,
    age: Nullable<Int32>,
    connection_type: Nullable<Int32>,
    bluetooth_enabled: Nullable<Int32>,
    ad_tracking_enabled: Nullable<Int32>,
    ad_blocker: Nullable<Int32>,
    customer_id: Nullable<Str>,
    entity_type: Nullable<Str>,
    entity_id: Nullable<Str>,
    tool_signature: Nullable<Str>,
    recording_id: Nullable<Str>,
    message: Nullable<Str>,
    javascript_local_time: Nullable<Str>,
    apex_local_time: Nullable<Str>,
    event_environment_path: Nullable<Str>,
    name_parser_event_id: Nullable<Str>,
    recommendation_model_event_id: Nullable<Str>,
    record_partition_key: Nullable<Str>,
    transaction_id: Nullable<Str>,
    revenue_amount: Nullable<Decimal38x9>,
    currency: Nullable<Str>,
    properties: Str,
    raw: Str,
}

/// Rows per Native block: a batch of up to 100k rows goes as several blocks, so the sink holds
/// one block's columns at a time (a few MiB) beside the batch. The server joins the blocks of
/// one insert into one part (up to `min_insert_block_size_rows`, 1,048,576).
pub const ROWS_PER_BLOCK: usize = 8192;

/// Writes Native blocks, keeping its column buffers from one block to the next: growing them
/// from empty for every block showed as copies and page faults in perf of the sink (bench
/// phase (b), bench/PROFILE.md).
#[derive(Default)]
pub struct BlockWriter {
    columns: Vec<Column>,
}

impl BlockWriter {
    /// `rows` as one Native block, appended to `out`.
    pub fn write_block<'a>(
        &mut self,
        rows: impl ExactSizeIterator<Item = &'a EventRow>,
        out: &mut Vec<u8>,
    ) {
        self.columns.resize_with(COLUMN_COUNT, Column::default);
        let data: &mut [Column; COLUMN_COUNT] = (&mut self.columns[..])
            .try_into()
            .expect("COLUMN_COUNT columns");
        for column in data.iter_mut() {
            column.nulls.clear();
            column.offsets.clear();
            column.values.clear();
        }
        let count = rows.len();
        for row in rows {
            write_row(row, data);
        }
        let header = columns();
        let size: usize = header
            .iter()
            .zip(data.iter())
            .map(|((name, type_name), c)| {
                20 + name.len()
                    + type_name.len()
                    + c.nulls.len()
                    + 8 * c.offsets.len()
                    + c.values.len()
            })
            .sum();
        out.reserve(20 + size);
        write_varint(COLUMN_COUNT as u64, out);
        write_varint(count as u64, out);
        for ((name, type_name), column) in header.iter().zip(data.iter()) {
            write_string(name.as_bytes(), out);
            write_string(type_name.as_bytes(), out);
            out.extend_from_slice(&column.nulls);
            for offset in &column.offsets {
                out.extend_from_slice(&offset.to_le_bytes());
            }
            out.extend_from_slice(&column.values);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clickhouse::Row;

    #[test]
    fn the_columns_are_the_row_fields_in_order() {
        let names: Vec<&str> = columns().into_iter().map(|(name, _)| name).collect();
        assert_eq!(names, EventRow::COLUMN_NAMES);
    }

    #[test]
    fn a_block_lays_out_nulls_offsets_and_values_per_column() {
        let row = |uid: &str, flags: &[&str], latitude: Option<f64>| {
            let mut row = EventRow::from_event(tributary_schemas::NormalizedEvent {
                event_uid: uid.into(),
                time_flags: flags.iter().map(|f| f.to_string()).collect(),
                latitude,
                event_time: 1_500,
                ..Default::default()
            })
            .unwrap();
            row.revenue_amount = Some(-2);
            row
        };
        let rows = [row("a", &["x", "yz"], Some(1.5)), row("bc", &[], None)];
        let mut writer = BlockWriter::default();
        let mut block = Vec::new();
        // Twice through one writer: the second block must not carry the first's values.
        writer.write_block(rows[..1].iter(), &mut block);
        block.clear();
        writer.write_block(rows.iter(), &mut block);

        let mut expected = vec![COLUMN_COUNT as u8, 2];
        let header = |name: &str, type_name: &str, out: &mut Vec<u8>| {
            write_string(name.as_bytes(), out);
            write_string(type_name.as_bytes(), out);
        };
        header("event_uid", "String", &mut expected);
        expected.extend_from_slice(b"\x01a\x02bc");
        let at = |name: &str| {
            let needle: Vec<u8> = [&[name.len() as u8], name.as_bytes()].concat();
            block
                .windows(needle.len())
                .position(|w| w == needle)
                .unwrap_or_else(|| panic!("no column {name}"))
        };
        assert_eq!(&block[..expected.len()], &expected[..]);

        let mut flags = Vec::new();
        header("time_flags", "Array(String)", &mut flags);
        flags.extend_from_slice(&2u64.to_le_bytes());
        flags.extend_from_slice(&2u64.to_le_bytes());
        flags.extend_from_slice(b"\x01x\x02yz");
        assert_eq!(&block[at("time_flags")..][..flags.len()], &flags[..]);

        let mut latitude = Vec::new();
        header("latitude", "Nullable(Float64)", &mut latitude);
        latitude.extend_from_slice(&[0, 1]);
        latitude.extend_from_slice(&1.5f64.to_le_bytes());
        latitude.extend_from_slice(&[0; 8]);
        assert_eq!(&block[at("latitude")..][..latitude.len()], &latitude[..]);

        let mut event_time = Vec::new();
        header("event_time", "DateTime('UTC')", &mut event_time);
        event_time.extend_from_slice(&1u32.to_le_bytes());
        event_time.extend_from_slice(&1u32.to_le_bytes());
        assert_eq!(
            &block[at("event_time")..][..event_time.len()],
            &event_time[..]
        );

        let mut amount = Vec::new();
        header("revenue_amount", "Nullable(Decimal(38, 9))", &mut amount);
        amount.extend_from_slice(&[0, 0]);
        amount.extend_from_slice(&(-2i128).to_le_bytes());
        amount.extend_from_slice(&(-2i128).to_le_bytes());
        assert_eq!(&block[at("revenue_amount")..][..amount.len()], &amount[..]);
    }

    #[test]
    fn varints_are_leb128() {
        let mut out = Vec::new();
        for n in [0, 127, 128, 300, u64::MAX] {
            write_varint(n, &mut out);
        }
        let mut expected = vec![0, 0x7f, 0x80, 0x01, 0xac, 0x02];
        expected.extend_from_slice(&[0xff; 9]);
        expected.push(0x01);
        assert_eq!(out, expected);
    }
}
