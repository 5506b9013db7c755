//! The `callgate` command line.
#![forbid(unsafe_code)]
fn main() {}
