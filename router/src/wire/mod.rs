//! Wire formats. Each has a zero-copy view whose accessors cannot panic once
//! its `check_len` has passed; offsets are named constants.
pub mod vnet;
