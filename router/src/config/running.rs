//! The configuration the router runs now: what `router show config` prints
//! and `show interfaces` lists, replaced as a whole by `router reload`.
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;

use super::Config;

#[derive(Debug)]
pub struct LoadedConfig {
    pub config: Config,
    /// The file's text when it was read.
    pub text: String,
    pub loaded_at: SystemTime,
}

/// Read by the control commands without locks; written by the reload.
pub type RunningConfig = Arc<ArcSwap<LoadedConfig>>;

pub fn running_config(config: Config, text: String) -> RunningConfig {
    Arc::new(ArcSwap::from_pointee(LoadedConfig {
        config,
        text,
        loaded_at: SystemTime::now(),
    }))
}
