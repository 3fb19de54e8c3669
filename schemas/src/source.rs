//! The API variants that accept events; a `Source` is written into every RawBatch and event.

use std::fmt;
use std::str::FromStr;

/// The four API families of `shared/seeds/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// Seed 000: mobile/web analytics batch.
    MobileBatch,
    /// Seed 001: CRM Data Analytics Service v1.
    Crm,
    /// Seed 002: myTracker-style server-to-server import.
    S2s,
    /// Seed 003: Netcore-style activity upload.
    Activity,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::MobileBatch => "mobile_batch",
            Family::Crm => "crm",
            Family::S2s => "s2s",
            Family::Activity => "activity",
        }
    }
}

macro_rules! sources {
    ($($variant:ident => $name:literal, $family:ident;)*) => {
        /// One endpoint (API variant) that accepts events.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Source { $($variant,)* }

        impl Source {
            pub const ALL: &'static [Source] = &[$(Source::$variant,)*];

            /// The stable name written to Kafka and ClickHouse.
            pub fn as_str(self) -> &'static str {
                match self { $(Source::$variant => $name,)* }
            }

            pub fn family(self) -> Family {
                match self { $(Source::$variant => Family::$family,)* }
            }
        }

        impl FromStr for Source {
            type Err = UnknownSource;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok(Source::$variant),)*
                    other => Err(UnknownSource(other.to_string())),
                }
            }
        }
    };
}

sources! {
    MobileBatch => "mobile_batch", MobileBatch;
    CrmAnalyticsEvents => "crm.analytics_events", Crm;
    CrmLeadAnalytics => "crm.lead_analytics", Crm;
    CrmContactAnalytics => "crm.contact_analytics", Crm;
    S2sRegistration => "s2s.registration", S2s;
    S2sRegistrationBatch => "s2s.registrationBatch", S2s;
    S2sLogin => "s2s.login", S2s;
    S2sLoginBatch => "s2s.loginBatch", S2s;
    S2sCustomEvent => "s2s.customEvent", S2s;
    S2sCustomEventBatch => "s2s.customEventBatch", S2s;
    S2sCustomRevenue => "s2s.customRevenue", S2s;
    S2sCustomRevenueBatch => "s2s.customRevenueBatch", S2s;
    ActivityUpload => "activity.upload", Activity;
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown source {0:?}")]
pub struct UnknownSource(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_name_round_trips() {
        for source in Source::ALL {
            assert_eq!(source.as_str().parse::<Source>(), Ok(*source));
        }
        assert!("s2s.nope".parse::<Source>().is_err());
    }

    #[test]
    fn source_names_start_with_their_family() {
        for source in Source::ALL {
            let family = source.family().as_str();
            assert!(source.as_str().starts_with(family), "{source}");
        }
    }
}
