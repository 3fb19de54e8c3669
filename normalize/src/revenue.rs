//! Money: ISO 4217 currency codes and exact decimal amounts (`customRevenue` `total` and
//! `currency`, Netcore `activity_params.currency`).
//!
//! Amounts are `rust_decimal::Decimal`, never floats: `1.99` stays `1.99`, and totals summed
//! downstream do not drift.

use rust_decimal::Decimal;

/// The currency rule lives beside the S2S reading, so the gateway refuses what the enricher
/// could not store (`tributary_wire::money`).
pub use tributary_wire::money::{normalize_currency, CurrencyError};

/// Exponents beyond this cannot give a value `Decimal` holds.
const MAX_EXPONENT_DIGITS: i64 = 100;
/// `Decimal` holds at most 28 digits after the point.
const MAX_SCALE: i64 = 28;
/// Longer texts are not amounts.
const MAX_AMOUNT_LEN: usize = 64;

/// Why an amount was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount is empty")]
    Empty,
    #[error("amount is negative")]
    Negative,
    #[error("amount is too large or too precise to hold exactly")]
    OutOfRange,
    #[error("not a decimal amount: {0:?}")]
    NotANumber(String),
}

/// An amount as an exact decimal.
///
/// Accepts the JSON number grammar, as text: optional sign, digits with an optional
/// fraction, optional exponent (`"1.99"`, `"10"`, `"0.5"`, `".5"`, `"1e2"`, `"1.5E-2"`):
/// JSON allows exponents, so a client's serializer may produce them. The value is exact and
/// keeps the scale it was written with (`"10.990"` is 10.990, equal to 10.99); use
/// [`amount_text`] for the canonical text. Rejected: empty, negative amounts (S2S: `total`
/// has "minimum value 0"; `-0` is 0), `NaN`/`inf`, thousands separators and decimal commas
/// (`"1,000"` is ambiguous), currency symbols, and values `Decimal` cannot hold exactly
/// (more than 28 significant digits, or beyond about 7.9e28).
pub fn parse_amount(text: &str) -> Result<Decimal, AmountError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(AmountError::Empty);
    }
    let not_a_number = || AmountError::NotANumber(s.chars().take(32).collect());
    if s.len() > MAX_AMOUNT_LEN {
        return Err(not_a_number());
    }
    let (negative, unsigned) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (unsigned, None),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty())
        || !all_digits(int_part)
        || !all_digits(frac_part)
    {
        return Err(not_a_number());
    }
    let exponent: i64 = match exponent {
        None => 0,
        Some(e) => {
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || !all_digits(digits) {
                return Err(not_a_number());
            }
            match e.parse::<i64>() {
                Ok(exp) if exp.abs() <= MAX_EXPONENT_DIGITS => exp,
                _ => return Err(AmountError::OutOfRange),
            }
        }
    };
    // The value is digits × 10^-scale, exactly.
    let digits = format!("{int_part}{frac_part}");
    let mut coefficient: i128 = digits.parse().map_err(|_| AmountError::OutOfRange)?;
    let mut scale = frac_part.len() as i64 - exponent;
    while scale > MAX_SCALE && coefficient % 10 == 0 && coefficient != 0 {
        coefficient /= 10;
        scale -= 1;
    }
    if coefficient == 0 {
        scale = scale.clamp(0, MAX_SCALE);
    }
    if scale > MAX_SCALE {
        return Err(AmountError::OutOfRange);
    }
    while scale < 0 {
        coefficient = coefficient.checked_mul(10).ok_or(AmountError::OutOfRange)?;
        scale += 1;
    }
    let mut value = Decimal::try_from_i128_with_scale(coefficient, scale as u32)
        .map_err(|_| AmountError::OutOfRange)?;
    if negative && !value.is_zero() {
        return Err(AmountError::Negative);
    }
    value.set_sign_positive(true);
    Ok(value)
}

/// The canonical text of an amount: plain decimal notation, no exponent, no trailing zeros
/// after the point, no sign on zero (`10.990` -> `"10.99"`, `100` -> `"100"`, `0.00` -> `"0"`).
/// This is what `NormalizedEvent.revenue_amount` holds, so equal amounts compare equal as text.
pub fn amount_text(amount: Decimal) -> String {
    let mut normalized = amount.normalize();
    if normalized.is_zero() {
        normalized.set_sign_positive(true);
    }
    normalized.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn amounts() {
        // (input, value, canonical text)
        let ok: &[(&str, &str, &str)] = &[
            ("1.99", "1.99", "1.99"),
            ("10.99", "10.99", "10.99"),
            ("10.990", "10.990", "10.99"),
            ("0", "0", "0"),
            ("0.00", "0.00", "0"),
            ("-0", "0", "0"),
            ("-0.0", "0", "0"),
            ("+5", "5", "5"),
            (" 250.3 ", "250.3", "250.3"),
            ("100", "100", "100"),
            ("1000000", "1000000", "1000000"),
            (".5", "0.5", "0.5"),
            ("5.", "5", "5"),
            ("1e2", "100", "100"),
            ("1.5E-2", "0.015", "0.015"),
            ("2.5e+3", "2500", "2500"),
            ("0.1", "0.1", "0.1"),
            ("0.000001", "0.000001", "0.000001"),
            (
                "12345678901234567890.12345678",
                "12345678901234567890.12345678",
                "12345678901234567890.12345678",
            ),
        ];
        for (raw, value, text) in ok {
            let got = parse_amount(raw).unwrap_or_else(|e| panic!("input {raw:?}: {e}"));
            assert_eq!(got, dec(value), "input {raw:?}");
            assert_eq!(amount_text(got), *text, "input {raw:?}");
        }
        // The scale as written is kept until amount_text.
        assert_eq!(parse_amount("10.990").unwrap().scale(), 3);

        let bad: &[(&str, AmountError)] = &[
            ("", AmountError::Empty),
            ("  ", AmountError::Empty),
            ("-1", AmountError::Negative),
            ("-0.01", AmountError::Negative),
            ("-1e2", AmountError::Negative),
            ("abc", AmountError::NotANumber("abc".into())),
            ("NaN", AmountError::NotANumber("NaN".into())),
            ("inf", AmountError::NotANumber("inf".into())),
            ("Infinity", AmountError::NotANumber("Infinity".into())),
            ("1,000", AmountError::NotANumber("1,000".into())),
            ("1,99", AmountError::NotANumber("1,99".into())),
            ("$1.99", AmountError::NotANumber("$1.99".into())),
            ("1.99 USD", AmountError::NotANumber("1.99 USD".into())),
            ("1.2.3", AmountError::NotANumber("1.2.3".into())),
            (".", AmountError::NotANumber(".".into())),
            ("-", AmountError::NotANumber("-".into())),
            ("1e", AmountError::NotANumber("1e".into())),
            ("e5", AmountError::NotANumber("e5".into())),
            ("0x10", AmountError::NotANumber("0x10".into())),
            ("1e99999", AmountError::OutOfRange),
            ("1e29", AmountError::OutOfRange),
            ("99999999999999999999999999999999", AmountError::OutOfRange),
            ("1e-40", AmountError::OutOfRange),
            ("0.00000000000000000000000000001", AmountError::OutOfRange),
        ];
        for (raw, want) in bad {
            assert_eq!(parse_amount(raw).as_ref(), Err(want), "input {raw:?}");
        }
    }
}
