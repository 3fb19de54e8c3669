//! The ClickHouse side of the sink: one table's inserts (Native blocks, `crate::native`, over
//! the `clickhouse` crate's HTTP client), each failure classified as transient (retry the same
//! rows) or caused by the rows (bisect and dead-letter the culprit).

use crate::native;
use crate::row::EventRow;

/// Where rows go: one ClickHouse table.
pub struct Store {
    client: clickhouse::Client,
    /// `INSERT INTO <table> (<every column>) FORMAT Native`.
    insert_sql: String,
    /// Held only while a block is written, never across an await.
    writer: std::sync::Mutex<native::BlockWriter>,
    /// Bytes of the largest block written: the next block's buffer starts that large instead
    /// of growing by doubling (each step a copy into freshly faulted pages).
    largest_block_len: std::sync::atomic::AtomicUsize,
}

/// A failed insert: worth retrying as is, or caused by the rows themselves.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    #[error("transient: {0}")]
    Transient(clickhouse::error::Error),
    #[error("rejected: {0}")]
    Rejected(clickhouse::error::Error),
}

/// ClickHouse error codes that mean "try again later", not "these rows are bad":
/// too many parts, memory limit, too many simultaneous queries, timeouts, readonly replica.
const TRANSIENT_CODES: &[&str] = &[
    "Code: 252",
    "Code: 241",
    "Code: 202",
    "Code: 159",
    "Code: 209",
    "Code: 210",
    "Code: 242",
    "Code: 319",
    "Code: 999",
    "Code: 425",
    "Code: 164",
];

impl Store {
    pub fn new(client: clickhouse::Client, table: &str) -> Self {
        let columns: Vec<&str> = native::columns()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let insert_sql = format!("INSERT INTO {table} ({}) FORMAT Native", columns.join(", "));
        Store {
            client,
            insert_sql,
            writer: Default::default(),
            largest_block_len: Default::default(),
        }
    }

    /// Insert `rows` in one statement, in the `events` table's order (`ORDER BY (tenant,
    /// event_uid)`, schemas/clickhouse/005): ClickHouse checks whether an insert block is
    /// already sorted and then skips sorting it, which is most of its CPU for an insert of
    /// rows in arrival order (bench/PROFILE.md: 300k rows cost it 11.8 CPU-seconds shuffled,
    /// 5.0 sorted). The sort is stable, so copies of one event keep the order they came in,
    /// as ClickHouse's own stable sort keeps them.
    pub async fn insert(&self, rows: &[EventRow]) -> Result<(), InsertError> {
        let classify = |e: clickhouse::error::Error| match &e {
            // Code 252 also means "rows of too many months in one insert": smaller batches
            // succeed, so bisect instead of retrying the same batch forever.
            clickhouse::error::Error::BadResponse(text)
                if text.contains("Too many partitions for single INSERT block") =>
            {
                InsertError::Rejected(e)
            }
            clickhouse::error::Error::BadResponse(text)
                if !TRANSIENT_CODES.iter().any(|c| text.contains(c)) =>
            {
                InsertError::Rejected(e)
            }
            _ => InsertError::Transient(e),
        };
        let mut insert = self.client.insert_formatted_with(&self.insert_sql);
        for block in in_table_order(rows).chunks(native::ROWS_PER_BLOCK) {
            use std::sync::atomic::Ordering::Relaxed;
            let mut body = Vec::with_capacity(self.largest_block_len.load(Relaxed));
            self.writer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .write_block(block.iter().copied(), &mut body);
            self.largest_block_len.fetch_max(body.len(), Relaxed);
            insert.send(body.into()).await.map_err(classify)?;
        }
        insert.end().await.map_err(classify)
    }
}

/// `rows` in the `events` table's sorting key order, `(tenant, event_uid)` compared byte by
/// byte as ClickHouse compares `String`s; rows with equal keys keep their order.
pub fn in_table_order(rows: &[EventRow]) -> Vec<&EventRow> {
    let mut sorted: Vec<&EventRow> = rows.iter().collect();
    sorted.sort_by(|a, b| (&a.tenant, &a.event_uid).cmp(&(&b.tenant, &b.event_uid)));
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_go_in_the_table_order_and_copies_keep_theirs() {
        let row = |tenant: &str, uid: &str, received_at: i64| {
            EventRow::from_event(tributary_schemas::NormalizedEvent {
                tenant: tenant.into(),
                event_uid: uid.into(),
                received_at,
                ..Default::default()
            })
            .unwrap()
        };
        let rows = [
            row("b", "1", 0),
            row("a", "2", 1),
            row("a", "10", 2),
            row("a", "2", 3),
            row("A", "9", 4),
        ];
        let order: Vec<i64> = in_table_order(&rows)
            .iter()
            .map(|r| r.received_at_ms)
            .collect();
        // Bytes compare: "A" < "a" < "b", "10" < "2"; the two copies of (a, 2) in arrival order.
        assert_eq!(order, [4, 2, 1, 3, 0]);
    }
}
