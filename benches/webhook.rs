//! Webhook verify + parse benchmark (being built).
fn main() {}
