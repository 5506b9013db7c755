//! Tests of configuration loading: the default, unknown keys, type errors, env overrides, checks.

use super::*;

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn problems(text: &str) -> Vec<ConfigProblem> {
    load_str("test.toml", text, no_env()).unwrap_err().problems
}

#[test]
fn embedded_default_config_is_valid_and_runs_on_the_sandbox() {
    let cfg = load_str("default", DEFAULT_CONFIG, no_env()).unwrap();
    assert!(cfg.sandbox.enabled);
    assert_eq!(
        cfg.meta.graph_base_url,
        format!("http://{}", cfg.sandbox.listen)
    );
    assert_eq!(cfg.numbers.len(), 1);
    assert_eq!(cfg.calls.answer_window_s, 30);
}

#[test]
fn unknown_keys_are_reported_each_with_line_and_key() {
    let text = DEFAULT_CONFIG
        .replace("[http]\n", "[http]\nlisen = \"x\"\n")
        .replace("[store]\n", "[store]\npaht = \"y\"\n");
    let p = problems(&text);
    let keys: Vec<_> = p.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["http.lisen", "store.paht"], "{p:?}");
    let http_line = text.lines().position(|l| l.starts_with("lisen")).unwrap() + 1;
    assert_eq!(p[0].line, Some(http_line));
    assert!(p[0].message.contains("unknown key"));
}

#[test]
fn unknown_key_inside_numbers_array_names_the_entry() {
    let text = DEFAULT_CONFIG.replace(
        "display_phone_number = \"15550000001\"",
        "display_phone_number = \"15550000001\"\nextension = 12",
    );
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].key, "numbers[0].extension");
    let line = text
        .lines()
        .position(|l| l.starts_with("extension"))
        .unwrap()
        + 1;
    assert_eq!(p[0].line, Some(line));
}

#[test]
fn wrong_type_is_reported_with_its_key_and_line() {
    let text = DEFAULT_CONFIG.replace("answer_window_s = 30", "answer_window_s = \"thirty\"");
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].key, "calls.answer_window_s", "{p:?}");
    let line = text
        .lines()
        .position(|l| l.starts_with("answer_window_s"))
        .unwrap()
        + 1;
    assert_eq!(p[0].line, Some(line));
}

#[test]
fn ringback_style_is_one_of_the_named_cadences() {
    let cfg = load_str("default", DEFAULT_CONFIG, no_env()).unwrap();
    assert_eq!(
        cfg.media.ringback,
        crate::media::ringback::RingbackStyle::Eu
    );
    let text = DEFAULT_CONFIG.replace("ringback = \"eu\"", "ringback = \"none\"");
    let cfg = load_str("test.toml", &text, no_env()).unwrap();
    assert_eq!(
        cfg.media.ringback,
        crate::media::ringback::RingbackStyle::None
    );
    let p = problems(&DEFAULT_CONFIG.replace("ringback = \"eu\"", "ringback = \"german\""));
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].key, "media.ringback", "{p:?}");
    assert!(
        p[0].message.contains("`us`"),
        "the message lists the choices: {p:?}"
    );
}

#[test]
fn sip_trunk_username_without_password_is_a_problem() {
    let text = DEFAULT_CONFIG.replace("# username = \"callgate\"", "username = \"callgate\"");
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].key, "sip.password", "{p:?}");
    let env = env(&[("CALLGATE_SIP_PASSWORD", "from-env")]);
    let cfg = load_str("test.toml", &text, env).unwrap();
    let leg = crate::pbx::LegConfig::new(&cfg.sip, "127.0.0.1:5070".parse().unwrap());
    let c = leg
        .credentials
        .expect("credentials for the PBX's challenge");
    assert_eq!(
        (c.username.as_str(), c.password.as_str()),
        ("callgate", "from-env")
    );
}

#[test]
fn invalid_toml_syntax_gives_the_line() {
    let text = "[http]\nlisten = \"127.0.0.1:1\n";
    let p = problems(text);
    assert_eq!(p.len(), 1);
    assert!(p[0].message.starts_with("not valid TOML"), "{p:?}");
    assert_eq!(p[0].line, Some(2));
}

#[test]
fn missing_required_section_is_named() {
    let text = DEFAULT_CONFIG.replace("[meta]", "[metaa]");
    let p = problems(&text);
    assert!(p.iter().any(|p| p.message.contains("meta")), "{p:?}");
}

#[test]
fn semantic_problems_are_all_reported_at_once() {
    let text = DEFAULT_CONFIG
        .replace("api_version = \"v23.0\"", "api_version = \"23\"")
        .replace(
            "phone_number_id = \"100000000000001\"",
            "phone_number_id = \"abc\"",
        )
        .replace("pbx_ring_timeout_s = 25", "pbx_ring_timeout_s = 40");
    let p = problems(&text);
    let keys: Vec<_> = p.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "meta.api_version",
            "numbers[0].phone_number_id",
            "calls.pbx_ring_timeout_s"
        ],
        "{p:?}"
    );
    assert!(p.iter().all(|p| p.line.is_some()));
}

#[test]
fn sandbox_enabled_requires_graph_base_url_to_point_at_it() {
    let text = DEFAULT_CONFIG.replace(
        "graph_base_url = \"http://127.0.0.1:8089\"",
        "graph_base_url = \"https://graph.facebook.com\"",
    );
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].key, "meta.graph_base_url");
    assert!(p[0].message.contains("sandbox"));
}

#[test]
fn environment_overrides_secrets_and_lists() {
    let cfg = load_str(
        "default",
        DEFAULT_CONFIG,
        env(&[
            ("CALLGATE_META_APP_SECRET", "from-env-secret"),
            ("CALLGATE_API_TOKENS", "aaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbb"),
            ("CALLGATE_CALLS_ANSWER_WINDOW_S", "45"),
            ("HOME", "/root"),
        ]),
    )
    .unwrap();
    assert_eq!(cfg.meta.app_secret.expose(), "from-env-secret");
    assert_eq!(cfg.api.tokens.len(), 2);
    assert_eq!(cfg.api.tokens[1].expose(), "bbbbbbbbbbbbbbbb");
    assert_eq!(cfg.calls.answer_window_s, 45);
}

#[test]
fn unknown_or_unparsable_environment_override_is_a_problem() {
    let err = load_str(
        "default",
        DEFAULT_CONFIG,
        env(&[
            ("CALLGATE_META_APP_SECERT", "x"),
            ("CALLGATE_HTTP_LISTEN", "not-an-address"),
        ]),
    )
    .unwrap_err();
    let keys: Vec<_> = err.problems.iter().map(|p| p.key.as_str()).collect();
    assert!(keys.contains(&"CALLGATE_META_APP_SECERT"), "{keys:?}");
    assert!(keys.contains(&"CALLGATE_HTTP_LISTEN"), "{keys:?}");
}

#[test]
fn error_display_lists_file_line_and_key() {
    let text = DEFAULT_CONFIG.replace("[store]\n", "[store]\nbogus = 1\n");
    let err = load_str("my.toml", &text, no_env()).unwrap_err();
    let line = text.lines().position(|l| l.starts_with("bogus")).unwrap() + 1;
    assert!(
        err.to_string()
            .starts_with(&format!("my.toml:{line}: store.bogus: unknown key")),
        "{err}"
    );
}

#[test]
fn debug_output_of_config_hides_secrets() {
    let cfg = load_str("default", DEFAULT_CONFIG, no_env()).unwrap();
    let dbg = format!("{cfg:?}");
    assert!(!dbg.contains("sandbox-app-secret"));
    assert!(!dbg.contains("sandbox-access-token"));
    assert!(!dbg.contains("sandbox-operator-token"));
}
