//! `[bgp]` section of the router config. STUB: filled in by the BGP transport work.
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BgpConfig {}
