//! baresip playing the PBX in tests: the library's launcher (`callgate::demo::baresip`), which
//! the demo uses too, failing the test loudly when baresip is missing or does not start.

pub use callgate::demo::baresip::Baresip;

/// Starts baresip answering `answermode` (`auto`/`manual`) with `codecs` (baresip's
/// `audio_codecs` syntax, e.g. `opus/48000/2,pcmu`), playing 1000 Hz.
pub fn start(answermode: &str, codecs: &str) -> Baresip {
    super::require_binary("baresip");
    Baresip::start(answermode, codecs).unwrap_or_else(|e| panic!("baresip: {e:#}"))
}

/// Like [`start`] with extra account parameters (`;auth_user=..;auth_pass=..`).
pub fn start_with(answermode: &str, codecs: &str, account_params: &str) -> Baresip {
    super::require_binary("baresip");
    Baresip::start_with(answermode, codecs, account_params)
        .unwrap_or_else(|e| panic!("baresip: {e:#}"))
}
