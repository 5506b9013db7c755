//! The configuration checks of everything the policy reads: `[numbers.hours]` by Meta's rules
//! (except past holidays, which are only warned about), `after_hours`, `[numbers.calling]` and
//! `[[routing.rules]]`. Each problem names the key it is about so `check-config` can give its
//! line.

use crate::config::{Config, Seg};

type Problem = (Vec<Seg>, String);

fn path(parts: &[Seg]) -> Vec<Seg> {
    parts.to_vec()
}

fn k(s: &str) -> Seg {
    Seg::Key(s.to_string())
}

/// Why `uri` cannot be rung, if it cannot.
fn sip_uri_problem(uri: &str) -> Option<String> {
    crate::pbx::Target::parse(uri).err().map(|e| {
        format!("{e}; write a SIP URI like \"sip:agents@pbx.example.com:5060\" (UDP or TCP)")
    })
}

/// Every problem of the policy's part of `cfg`.
pub(crate) fn config_problems(cfg: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    for (i, n) in cfg.numbers.iter().enumerate() {
        let number = [k("numbers"), Seg::Index(i)];
        if let Some(h) = &n.hours
            && let Err(e) = h.validate()
        {
            let mut p = path(&number);
            p.push(k("hours"));
            if !e.key().is_empty() {
                p.push(k(e.key()));
            }
            if let Some(entry) = e.entry() {
                p.push(Seg::Index(entry.index));
            }
            out.push((p, e.to_string()));
        }
        if let Some(a) = n.after_hours.as_deref()
            && !a.trim().eq_ignore_ascii_case("reject")
            && let Some(problem) = sip_uri_problem(a)
        {
            let mut p = path(&number);
            p.push(k("after_hours"));
            out.push((p, format!("must be \"reject\" or a SIP URI: {problem}")));
        }
        if let Some(c) = &n.calling {
            for (key, msg) in c.problems() {
                let mut p = path(&number);
                p.extend([k("calling"), k(key)]);
                out.push((p, msg));
            }
        }
    }
    for (i, rule) in cfg.routing.rules.iter().enumerate() {
        let at = |key: &str| vec![k("routing"), k("rules"), Seg::Index(i), k(key)];
        if rule.targets.is_empty() {
            out.push((
                at("targets"),
                "is empty: list the SIP URI(s) this rule rings, in order".into(),
            ));
        }
        for (j, t) in rule.targets.iter().enumerate() {
            if let Some(problem) = sip_uri_problem(t) {
                let mut p = at("targets");
                p.push(Seg::Index(j));
                out.push((p, problem));
            }
        }
        if let Some(num) = &rule.number
            && !cfg.numbers.iter().any(|n| {
                n.phone_number_id == *num || n.display_phone_number.trim_start_matches('+') == num
            })
        {
            out.push((
                at("number"),
                format!("{num:?} is not a phone_number_id or display_phone_number in [[numbers]]"),
            ));
        }
        for (exact, prefix) in [
            ("cta_payload", "cta_payload_prefix"),
            ("deeplink_payload", "deeplink_payload_prefix"),
        ] {
            let both = match exact {
                "cta_payload" => rule.cta_payload.is_some() && rule.cta_payload_prefix.is_some(),
                _ => rule.deeplink_payload.is_some() && rule.deeplink_payload_prefix.is_some(),
            };
            if both {
                out.push((
                    at(prefix),
                    format!("set either {exact} or {prefix}, not both"),
                ));
            }
        }
        for (j, code) in rule.caller_country_codes.iter().enumerate() {
            let digits = code.trim_start_matches('+');
            if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                let mut p = at("caller_country_codes");
                p.push(Seg::Index(j));
                out.push((
                    p,
                    format!("{code:?} is not a country calling code (1 to 3 digits, e.g. \"55\")"),
                ));
            }
        }
        if let Some(t) = rule.ring_timeout_s
            && (t == 0 || t >= cfg.calls.answer_window_s)
        {
            out.push((
                at("ring_timeout_s"),
                format!(
                    "must be at least 1 and shorter than calls.answer_window_s ({} s)",
                    cfg.calls.answer_window_s
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::config::{DEFAULT_CONFIG, load_str};

    fn problems(extra: &str) -> Vec<(String, Option<usize>, String)> {
        let text = format!("{DEFAULT_CONFIG}\n{extra}");
        match load_str("t.toml", &text, Vec::new()) {
            Ok(_) => Vec::new(),
            Err(e) => e
                .problems
                .into_iter()
                .map(|p| (p.key, p.line, p.message))
                .collect(),
        }
    }

    fn line_of(extra: &str, needle: &str) -> usize {
        let text = format!("{DEFAULT_CONFIG}\n{extra}");
        text.lines().position(|l| l.contains(needle)).unwrap() + 1
    }

    /// The commented examples of `config/callgate.toml`, uncommented, make a valid file.
    #[test]
    fn every_commented_example_in_the_default_config_is_valid() {
        let text: Vec<String> = DEFAULT_CONFIG
            .lines()
            .map(|l| {
                let body = l.strip_prefix("# ").unwrap_or(l);
                let header = body.trim_matches(['[', ']']);
                let is_toml = (body.starts_with('[')
                    && body.ends_with(']')
                    && header
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'))
                    || body.starts_with("  {")
                    || body == "]"
                    || body.split_once(" = ").is_some_and(|(k, _)| {
                        !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    });
                if is_toml { body } else { l }.to_string()
            })
            .collect();
        let text = text.join("\n");
        assert!(
            text.contains("\n[[routing.rules]]\n"),
            "examples were uncommented"
        );
        if let Err(e) = load_str("uncommented", &text, Vec::new()) {
            panic!("{e}");
        }
    }

    #[test]
    fn overlapping_hours_in_the_file_are_reported_at_the_entry_line() {
        let extra = r#"
[[numbers]]
phone_number_id = "100000000000002"
display_phone_number = "15550000002"
[numbers.hours]
status = "ENABLED"
timezone_id = "Europe/Berlin"
weekly_operating_hours = [
  { day_of_week = "MONDAY", open_time = "0900", close_time = "1300" },
  { day_of_week = "MONDAY", open_time = "1200", close_time = "1800" },
]
"#;
        let p = problems(extra);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "numbers[1].hours.weekly_operating_hours[1]");
        assert_eq!(p[0].1, Some(line_of(extra, "open_time = \"1200\"")));
        assert!(p[0].2.contains("overlapping schedule"), "{}", p[0].2);
    }

    #[test]
    fn rules_after_hours_and_calling_values_are_checked() {
        let extra = r#"
[[routing.rules]]
name = "bad"
number = "19999999999"
cta_payload = "a"
cta_payload_prefix = "b"
caller_country_codes = ["BR"]
targets = ["http://not-sip"]
ring_timeout_s = 60
"#;
        let keys: Vec<String> = problems(extra).into_iter().map(|p| p.0).collect();
        assert_eq!(
            keys,
            [
                "routing.rules[0].number",
                "routing.rules[0].cta_payload_prefix",
                "routing.rules[0].caller_country_codes[0]",
                "routing.rules[0].targets[0]",
                "routing.rules[0].ring_timeout_s",
            ]
        );
        let text = DEFAULT_CONFIG.replace(
            "display_phone_number = \"15550000001\"",
            "display_phone_number = \"15550000001\"\nafter_hours = \"voicemail\"\n\
             [numbers.calling]\nstatus = \"ON\"",
        );
        let p = load_str("t.toml", &text, Vec::new()).unwrap_err().problems;
        let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            ["numbers[0].after_hours", "numbers[0].calling.status"],
            "{p:?}"
        );
    }
}
