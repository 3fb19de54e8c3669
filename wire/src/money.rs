//! ISO 4217 currency codes (`customRevenue` `currency`), checked where the S2S body is read so
//! the gateway refuses a code the enricher could not store, instead of accepting it and
//! dead-lettering the event later.

use iso_currency::Currency;

/// Why a currency code was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurrencyError {
    #[error("currency is empty")]
    Empty,
    #[error("{0:?} is not an ISO 4217 currency code")]
    Unknown(String),
    #[error("{0} is an ISO 4217 code that denotes no currency")]
    NotACurrency(&'static str),
}

/// An ISO 4217 currency as its alphabetic code (`"usd"` -> `"USD"`).
///
/// Accepts the three-letter code in any case, or the three-digit numeric code (`"840"` ->
/// `"USD"`): the S2S document describes `currency` as "the numeric code assigned to a
/// currency by ISO 4217" while its examples send `"USD"`. Rejected: anything else (`"US"`,
/// `"$"`, `"Rs"`, `"dollar"`), and `XXX` ("no currency") and `XTS` ("reserved for testing"),
/// which are codes but not money a revenue event can be in. Superseded codes and precious
/// metals (`XAU`) stay what they are.
pub fn normalize_currency(raw: &str) -> Result<&'static str, CurrencyError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(CurrencyError::Empty);
    }
    let currency = if text.len() == 3 && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<u16>().ok().and_then(Currency::from_numeric)
    } else if text.len() == 3 && text.bytes().all(|b| b.is_ascii_alphabetic()) {
        Currency::from_code(&text.to_ascii_uppercase())
    } else {
        None
    };
    match currency {
        Some(Currency::XXX) => Err(CurrencyError::NotACurrency("XXX")),
        Some(Currency::XTS) => Err(CurrencyError::NotACurrency("XTS")),
        Some(currency) => Ok(currency.code()),
        None => Err(CurrencyError::Unknown(text.chars().take(16).collect())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies() {
        let cases: &[(&str, Result<&str, CurrencyError>)] = &[
            ("USD", Ok("USD")),
            ("usd", Ok("USD")),
            (" Usd ", Ok("USD")),
            ("INR", Ok("INR")),
            ("eur", Ok("EUR")),
            ("JPY", Ok("JPY")),
            ("840", Ok("USD")),
            ("356", Ok("INR")),
            ("978", Ok("EUR")),
            ("XAU", Ok("XAU")),
            ("", Err(CurrencyError::Empty)),
            ("  ", Err(CurrencyError::Empty)),
            ("US", Err(CurrencyError::Unknown("US".into()))),
            ("USDT", Err(CurrencyError::Unknown("USDT".into()))),
            ("ABC", Err(CurrencyError::Unknown("ABC".into()))),
            ("$", Err(CurrencyError::Unknown("$".into()))),
            ("Rs", Err(CurrencyError::Unknown("Rs".into()))),
            ("₹", Err(CurrencyError::Unknown("₹".into()))),
            ("84", Err(CurrencyError::Unknown("84".into()))),
            ("000", Err(CurrencyError::Unknown("000".into()))),
            ("dollar", Err(CurrencyError::Unknown("dollar".into()))),
            ("XXX", Err(CurrencyError::NotACurrency("XXX"))),
            ("xxx", Err(CurrencyError::NotACurrency("XXX"))),
            ("999", Err(CurrencyError::NotACurrency("XXX"))),
            ("XTS", Err(CurrencyError::NotACurrency("XTS"))),
        ];
        for (raw, want) in cases {
            assert_eq!(&normalize_currency(raw), want, "input {raw:?}");
        }
    }
}
