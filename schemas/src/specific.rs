//! Avro binary encoding of `NormalizedBatch` by code written for exactly its current schema:
//! what the Avro specification calls a *specific* record, as Avro's Java and C++ code
//! generators make one. The hot path's messages (`enricher.process` writes one per request,
//! `sink.decode` reads it) go through here.
//!
//! Why: `serde_avro_fast` reaches each of `NormalizedEvent`'s 69 fields through serde, which
//! matches every field by name when reading and checks the name when writing. That machinery
//! was most of `sink.decode` (about 26.6k instructions per mobile event) and a quarter of
//! `enricher.process` (bench/PROFILE.md, "Specific records for the normalized batch"). Here a
//! record is its fields in schema order and nothing else.
//!
//! Layout (Avro 1.11 specification, "Binary Encoding"): `int` and `long` are zigzag varints;
//! `double` is 8 bytes little-endian; `string` is a `long` byte count and UTF-8 bytes; a union
//! is a `long` branch index and the branch's value (`["null", T]`: 0 is null, 1 is `T`); an
//! array is blocks of a `long` item count and the items, ending with a count of 0 (a negative
//! count is followed by the block's size in bytes); a record is its fields in order.
//!
//! Only a datum written with the current schema comes here (the caller checks the
//! fingerprint). [`Specific::read`] is strict: anything it does not read completely and exactly
//! (a varint past 64 bits, an `int` beyond 32, a branch index other than 0 or 1, invalid
//! UTF-8, bytes left over) is `None`, and the caller hands the datum to the general decoders
//! (`serde_avro_fast`, then apache-avro's `Value` path), which accept or refuse it and word the
//! error. What it reads, they read the same. The tests in `codec.rs` hold the bytes written and
//! the values read to apache-avro's on every field, set and unset.

use crate::types::{NormalizedBatch, NormalizedEvent};

/// A type with code for its Avro binary encoding under our current schema.
pub(crate) trait Specific: Sized {
    /// Append the encoding of `self` to `out`.
    fn write(&self, out: &mut Vec<u8>);
    /// Read one value from the front of `input`, advancing it; `None` when the bytes are not
    /// exactly an encoding of this type.
    fn read(input: &mut &[u8]) -> Option<Self>;
}

/// Read a whole datum: `None` unless the value takes every byte.
pub(crate) fn read_datum<T: Specific>(mut datum: &[u8]) -> Option<T> {
    let value = T::read(&mut datum)?;
    datum.is_empty().then_some(value)
}

fn write_long(n: i64, out: &mut Vec<u8>) {
    let mut zigzag = ((n << 1) ^ (n >> 63)) as u64;
    while zigzag >= 0x80 {
        out.push((zigzag as u8) | 0x80);
        zigzag >>= 7;
    }
    out.push(zigzag as u8);
}

/// A zigzag varint of at most 10 bytes whose value fits 64 bits.
fn read_long(input: &mut &[u8]) -> Option<i64> {
    // Most varints here (branch indexes, short lengths) are one byte.
    if let Some((&byte, rest)) = input.split_first() {
        if byte < 0x80 {
            *input = rest;
            return Some(i64::from(byte >> 1) ^ -i64::from(byte & 1));
        }
    }
    let mut value: u64 = 0;
    for (i, &byte) in input.iter().enumerate().take(10) {
        let bits = u64::from(byte & 0x7f);
        if i == 9 && bits > 1 {
            return None;
        }
        value |= bits << (7 * i);
        if byte < 0x80 {
            *input = &input[i + 1..];
            return Some(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    None
}

/// A byte count: a `long` that is not negative and not beyond the input.
fn read_len(input: &mut &[u8]) -> Option<usize> {
    let len = usize::try_from(read_long(input)?).ok()?;
    (len <= input.len()).then_some(len)
}

impl Specific for i64 {
    fn write(&self, out: &mut Vec<u8>) {
        write_long(*self, out);
    }
    fn read(input: &mut &[u8]) -> Option<i64> {
        read_long(input)
    }
}

impl Specific for i32 {
    fn write(&self, out: &mut Vec<u8>) {
        write_long(i64::from(*self), out);
    }
    fn read(input: &mut &[u8]) -> Option<i32> {
        i32::try_from(read_long(input)?).ok()
    }
}

impl Specific for f64 {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn read(input: &mut &[u8]) -> Option<f64> {
        let (bytes, rest) = input.split_first_chunk::<8>()?;
        *input = rest;
        Some(f64::from_le_bytes(*bytes))
    }
}

impl Specific for String {
    fn write(&self, out: &mut Vec<u8>) {
        write_long(self.len() as i64, out);
        out.extend_from_slice(self.as_bytes());
    }
    fn read(input: &mut &[u8]) -> Option<String> {
        let len = read_len(input)?;
        let (bytes, rest) = input.split_at(len);
        let text = std::str::from_utf8(bytes).ok()?;
        *input = rest;
        Some(text.to_owned())
    }
}

/// `["null", T]`.
impl<T: Specific> Specific for Option<T> {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(value) => {
                out.push(2); // branch 1, zigzag
                value.write(out);
            }
        }
    }
    fn read(input: &mut &[u8]) -> Option<Option<T>> {
        match read_long(input)? {
            0 => Some(None),
            1 => T::read(input).map(Some),
            _ => None,
        }
    }
}

/// An array, written as one block (as apache-avro and `serde_avro_fast` write it).
impl<T: Specific> Specific for Vec<T> {
    fn write(&self, out: &mut Vec<u8>) {
        if !self.is_empty() {
            write_long(self.len() as i64, out);
            for item in self {
                item.write(out);
            }
        }
        out.push(0);
    }
    fn read(input: &mut &[u8]) -> Option<Vec<T>> {
        let mut items = Vec::new();
        loop {
            let count = read_long(input)?;
            if count == 0 {
                return Some(items);
            }
            if count < 0 {
                read_long(input)?; // the block's size in bytes
            }
            let count = usize::try_from(count.unsigned_abs()).ok()?;
            // Every item takes at least one byte, so a forged count runs out of input here
            // instead of reserving memory for it.
            if count > input.len() {
                return None;
            }
            // At most 1 MiB reserved from a declared count, as serde's own length hint.
            items.reserve(count.min((1 << 20) / std::mem::size_of::<T>().max(1)));
            for _ in 0..count {
                items.push(T::read(input)?);
            }
        }
    }
}

/// A record: its fields, listed in the schema's order. Writing destructures and reading
/// builds the struct, so a field added to the type and not here does not compile; the order
/// and types are held to the `.avsc` by the tests in `codec.rs`.
macro_rules! specific_record {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        impl $ty {
            /// The fields `Specific` writes and reads, in order.
            #[cfg(test)]
            pub(crate) const SPECIFIC_FIELDS: &'static [&'static str] =
                &[$(stringify!($field)),*];
        }

        impl Specific for $ty {
            fn write(&self, out: &mut Vec<u8>) {
                let $ty { $($field),* } = self;
                $(Specific::write($field, out);)*
            }
            fn read(input: &mut &[u8]) -> Option<$ty> {
                // Struct expression fields are evaluated in the order written.
                Some($ty { $($field: Specific::read(input)?,)* })
            }
        }
    };
}

specific_record!(NormalizedBatch { events });

specific_record!(NormalizedEvent {
    event_uid,
    tenant,
    source,
    batch_id,
    event_index,
    event_id,
    event_name,
    event_category,
    event_time,
    client_time_raw,
    sent_at,
    received_at,
    time_flags,
    user_key,
    user_key_kind,
    user_id,
    identity,
    anonymous_id,
    session_id,
    instance_id,
    lvid,
    gaid,
    android_id,
    idfa,
    ios_vendor_id,
    email,
    phone,
    phone_raw,
    name,
    hashed_fields,
    ip,
    country,
    country_raw,
    region,
    city,
    zip,
    latitude,
    longitude,
    geo_source,
    user_agent,
    sender_ip,
    sender_user_agent,
    screen_name,
    duration_seconds,
    app_id,
    platform,
    gender,
    age,
    connection_type,
    bluetooth_enabled,
    ad_tracking_enabled,
    ad_blocker,
    customer_id,
    entity_type,
    entity_id,
    tool_signature,
    recording_id,
    message,
    javascript_local_time,
    apex_local_time,
    event_environment_path,
    name_parser_event_id,
    recommendation_model_event_id,
    record_partition_key,
    transaction_id,
    revenue_amount,
    currency,
    properties,
    raw,
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longs_are_zigzag_varints_of_at_most_ten_bytes() {
        let (min, max) = (i64::MIN, i64::MAX);
        let cases = [0, -1, 1, -64, 64, 300, i64::from(i32::MIN), max, min];
        for n in cases {
            let mut out = Vec::new();
            write_long(n, &mut out);
            let mut input = &out[..];
            assert_eq!(read_long(&mut input), Some(n), "{n}");
            assert!(input.is_empty());
        }
        let mut out = Vec::new();
        write_long(-3, &mut out);
        assert_eq!(out, [5]);
        // An overlong zero is a zero, as the general decoders read it.
        assert_eq!(read_long(&mut &[0x80, 0x00][..]), Some(0));
        // Eleven bytes, bits past 64, and a varint cut short are refused.
        let mut eleven = [0x80; 11];
        eleven[10] = 0x00;
        assert_eq!(read_long(&mut &eleven[..]), None);
        assert_eq!(read_long(&mut &[0xff; 10][..]), None);
        assert_eq!(
            read_long(&mut &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02][..]),
            None
        );
        assert_eq!(read_long(&mut &[0x80][..]), None);
        // An int beyond 32 bits is refused.
        let mut out = Vec::new();
        write_long(i64::from(i32::MAX) + 1, &mut out);
        assert_eq!(i32::read(&mut &out[..]), None);
    }

    #[test]
    fn strings_unions_and_arrays_refuse_what_they_cannot_read_exactly() {
        // A length past the input, a negative length, invalid UTF-8.
        assert_eq!(String::read(&mut &[0x08, b'a'][..]), None);
        assert_eq!(String::read(&mut &[0x01][..]), None);
        assert_eq!(String::read(&mut &[0x02, 0xff][..]), None);
        // Branch 2 of a two-branch union.
        assert_eq!(Option::<i64>::read(&mut &[0x04, 0x00][..]), None);
        // An array in two blocks, the second with its byte size (negative count).
        let datum = [0x02, 0x02, b'a', 0x01, 0x04, 0x02, b'b', 0x00];
        assert_eq!(
            read_datum::<Vec<String>>(&datum),
            Some(vec!["a".to_string(), "b".to_string()])
        );
        // A forged count far beyond the input is refused without reserving for it.
        let mut forged = Vec::new();
        write_long(1 << 40, &mut forged);
        assert_eq!(read_datum::<Vec<String>>(&forged), None);
        // Bytes left over.
        assert_eq!(read_datum::<Vec<String>>(&[0x00, 0x00]), None);
    }
}
