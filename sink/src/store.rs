//! The ClickHouse side of the sink: one table's inserts (RowBinary through the `clickhouse`
//! crate), each failure classified as transient (retry the same rows) or caused by the rows
//! (bisect and dead-letter the culprit).

use crate::row::EventRow;

/// Where rows go: one ClickHouse table.
pub struct Store {
    client: clickhouse::Client,
    table: String,
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
    pub fn new(client: clickhouse::Client, table: impl Into<String>) -> Self {
        Store {
            client,
            table: table.into(),
        }
    }

    /// Insert `rows` in one statement.
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
        let mut insert = self
            .client
            .insert::<EventRow>(&self.table)
            .await
            .map_err(classify)?;
        for row in rows {
            insert.write(row).await.map_err(classify)?;
        }
        insert.end().await.map_err(classify)
    }
}
