//! Reading JSON fields the way the original services bound them: numbers sent as numeric
//! strings and strings sent as numbers are both accepted (the seeds' own examples do this),
//! `null` counts as absent, anything else is a type error naming what was expected.
//!
//! A JSON number taken as text keeps exactly the characters sent (`serde_json`'s
//! `arbitrary_precision`): `7510383332886585625306` stays those 22 digits, never
//! `7.510383332886586e21`. An integer field refuses a number beyond its range rather than
//! round it.

use serde_json::Value;

/// Why a field's value was refused.
pub type FieldProblem = String;

/// A string field; numbers and booleans are taken as their text.
pub fn string(value: Option<&Value>) -> Result<Option<String>, FieldProblem> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err("must be a string".into()),
    }
}

/// An integer field, as a JSON integer or a string of one (`"38"`). Integral floats (`25.0`)
/// count; an integer beyond `i64` is "out of range", never rounded.
pub fn integer(value: Option<&Value>) -> Result<Option<i64>, FieldProblem> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(Some(i)),
            _ if is_integer_text(&n.to_string()) => Err(out_of_range(n)),
            (_, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
            _ => Err("must be an integer".into()),
        },
        Some(Value::String(s)) => {
            let t = s.trim();
            if t.is_empty() {
                return Err("must be an integer".into());
            }
            t.parse::<i64>().map(Some).map_err(|_| {
                if is_integer_text(t) {
                    out_of_range(format!("{s:?}"))
                } else {
                    format!("must be an integer, got {s:?}")
                }
            })
        }
        Some(_) => Err("must be an integer".into()),
    }
}

/// The problem of an integer beyond `i64`, naming the range (a 19-digit value can be out of it).
fn out_of_range(n: impl std::fmt::Display) -> FieldProblem {
    format!("is out of range ({} to {}), got {n}", i64::MIN, i64::MAX)
}

/// `-?[0-9]+`: the text of a JSON integer, however long.
pub fn is_integer_text(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A number field, as a JSON number or a string of one (`"1.99"`). Non-finite values are refused.
pub fn number(value: Option<&Value>) -> Result<Option<f64>, FieldProblem> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| "must be a finite number".into()),
        Some(Value::String(s)) => match s.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Some(f)),
            _ => Err(format!("must be a number, got {s:?}")),
        },
        Some(_) => Err("must be a number".into()),
    }
}

/// A number field kept as its exact decimal text (`1.99` stays `1.99`, never `1.9899999`).
pub fn decimal_text(value: Option<&Value>) -> Result<Option<String>, FieldProblem> {
    let parsed = number(value)?;
    Ok(parsed.map(|_| match value {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(other) => other.to_string(),
        None => unreachable!("number() returned Some"),
    }))
}

/// An object field.
pub fn object(
    value: Option<&Value>,
) -> Result<Option<serde_json::Map<String, Value>>, FieldProblem> {
    object_type(value)?;
    Ok(value.and_then(Value::as_object).cloned())
}

/// `object`'s check alone, without copying the object.
pub fn object_type(value: Option<&Value>) -> Result<(), FieldProblem> {
    match value {
        None | Some(Value::Null) | Some(Value::Object(_)) => Ok(()),
        Some(_) => Err("must be an object".into()),
    }
}

/// A value sent by the client, quoted, at most 64 characters of it (messages stay short).
pub fn shown(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// The JSON type of a refused value, for messages.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn coercions() {
        let cases: &[(Value, Option<i64>, bool)] = &[
            (json!(38), Some(38), true),
            (json!("38"), Some(38), true),
            (json!(" 38 "), Some(38), true),
            (json!(38.0), Some(38), true),
            (json!(38.5), None, false),
            (json!("x"), None, false),
            (json!(""), None, false),
            (json!(true), None, false),
            (json!(null), None, true),
            (json!(u64::MAX), None, false),
        ];
        for (value, want, ok) in cases {
            let got = integer(Some(value));
            assert_eq!(got.is_ok(), *ok, "{value}");
            if *ok {
                assert_eq!(got.unwrap(), *want, "{value}");
            }
        }
        assert_eq!(string(Some(&json!(7))).unwrap(), Some("7".into()));
        assert!(string(Some(&json!([1]))).is_err());
        assert_eq!(number(Some(&json!("1.1"))).unwrap(), Some(1.1));
        assert!(number(Some(&json!("NaN"))).is_err());
        assert_eq!(
            decimal_text(Some(&json!(1.99))).unwrap(),
            Some("1.99".into())
        );
        assert_eq!(
            decimal_text(Some(&json!("10.990"))).unwrap(),
            Some("10.990".into())
        );
        assert!(object(Some(&json!("x"))).is_err());
    }

    #[test]
    fn an_integer_beyond_i64_is_out_of_range_whatever_its_digit_count() {
        let range = "is out of range (-9223372036854775808 to 9223372036854775807)";
        for value in [
            json!(9223372036854775808u64),
            json!("9223372036854775808"),
            json!("-9223372036854775809"),
            json!("123456789012345678901234567890"),
        ] {
            let problem = integer(Some(&value)).unwrap_err();
            assert!(problem.starts_with(range), "{value}: {problem}");
        }
        assert_eq!(
            integer(Some(&json!("9223372036854775807"))).unwrap(),
            Some(i64::MAX)
        );
        assert_eq!(
            integer(Some(&json!("12x"))).unwrap_err(),
            "must be an integer, got \"12x\""
        );
    }
}
