//! `tributary-enricher` configuration: the shared `[kafka]` section plus `[enricher]`
//! (defined in `tributary-normalize`, which the gateway reads too).

use serde::{Deserialize, Serialize};
pub use tributary_normalize::config::{EnricherConfig, TenantSettings};
use tributary_service::KafkaConfig;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub kafka: KafkaConfig,
    pub enricher: EnricherConfig,
}
