//! Routing rules: which SIP target(s) a user-initiated call rings, chosen by ordered
//! `[[routing.rules]]` that match on the business number, the call-button or deep-link payload
//! (exact or prefix), the caller's country calling code and whether the number is open.
//!
//! Matching order (also in `docs/hours-and-routing.md`): rules are tried in file order and the
//! first whose every condition holds wins. A rule applies while the number is open unless it says
//! `hours = "closed"` or `hours = "any"`, so business hours are never bypassed by accident. With
//! no matching rule an open number rings `[routing] default`; a closed one gets its
//! `after_hours` action. Every evaluation keeps a trace of why each rule did or did not match,
//! which `callgate route` prints.

use serde::{Deserialize, Serialize};

/// When a rule applies, relative to the number's business hours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleHours {
    /// Only while the number is open (the default).
    #[default]
    Open,
    /// Only while it is closed (an after-hours route that depends on the caller or payload).
    Closed,
    /// Whether open or not (e.g. a VIP line that always rings).
    Any,
}

/// One `[[routing.rules]]` entry. Conditions left out match every call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingRule {
    /// A name for logs, call timelines and `callgate route`.
    #[serde(default)]
    pub name: Option<String>,
    /// Only calls to this business number (its `phone_number_id` or `display_phone_number`).
    #[serde(default)]
    pub number: Option<String>,
    /// Only calls from a call button whose payload is exactly this.
    #[serde(default)]
    pub cta_payload: Option<String>,
    /// Only calls from a call button whose payload starts with this.
    #[serde(default)]
    pub cta_payload_prefix: Option<String>,
    /// Only calls from a deep link whose `biz_payload` is exactly this.
    #[serde(default)]
    pub deeplink_payload: Option<String>,
    /// Only calls from a deep link whose `biz_payload` starts with this.
    #[serde(default)]
    pub deeplink_payload_prefix: Option<String>,
    /// Only callers whose number starts with one of these country calling codes (`"1"`, `"55"`).
    #[serde(default)]
    pub caller_country_codes: Vec<String>,
    /// When the rule applies: `open` (default), `closed` or `any`.
    #[serde(default)]
    pub hours: RuleHours,
    /// SIP URIs rung in order: the next on a 5xx, no answer within the ring timeout, or no
    /// response at all.
    pub targets: Vec<String>,
    /// Seconds each target rings (default `[calls] pbx_ring_timeout_s`).
    #[serde(default)]
    pub ring_timeout_s: Option<u64>,
}

/// What a rule is matched against.
#[derive(Debug, Clone, Copy)]
pub struct CallFacts<'a> {
    /// The business number's `phone_number_id`.
    pub phone_number_id: &'a str,
    /// Its display number.
    pub display_number: &'a str,
    /// The caller's number (digits), if Meta sent one.
    pub from: Option<&'a str>,
    /// Call-button payload.
    pub cta_payload: Option<&'a str>,
    /// Deep-link payload.
    pub deeplink_payload: Option<&'a str>,
    /// Whether the number is open now.
    pub open: bool,
}

/// One rule's verdict in a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleVerdict {
    /// `rule 2 "sales"`.
    pub rule: String,
    /// Whether every condition held.
    pub matched: bool,
    /// The conditions that held, or the first one that did not.
    pub why: String,
}

impl RoutingRule {
    /// `rule N "name"` (N from 1, as an operator counts entries in the file).
    pub fn label(&self, index: usize) -> String {
        match &self.name {
            Some(n) => format!("rule {} {n:?}", index + 1),
            None => format!("rule {}", index + 1),
        }
    }

    /// Whether the rule matches `call`: `Ok` with the conditions that held, or `Err` with the
    /// first that did not.
    pub fn check(&self, call: &CallFacts<'_>) -> Result<String, String> {
        let mut held = Vec::new();
        match (self.hours, call.open) {
            (RuleHours::Open, false) => {
                return Err("applies while open, and the number is closed".into());
            }
            (RuleHours::Closed, true) => {
                return Err("applies while closed, and the number is open".into());
            }
            (RuleHours::Open, true) => held.push("number open".to_string()),
            (RuleHours::Closed, false) => held.push("number closed".to_string()),
            (RuleHours::Any, _) => {}
        }
        if let Some(n) = &self.number {
            if n != call.phone_number_id && n != call.display_number {
                return Err(format!("for number {n}, not this one"));
            }
            held.push(format!("number {n}"));
        }
        payload(
            "cta_payload",
            call.cta_payload,
            &self.cta_payload,
            &self.cta_payload_prefix,
            &mut held,
        )?;
        payload(
            "deeplink_payload",
            call.deeplink_payload,
            &self.deeplink_payload,
            &self.deeplink_payload_prefix,
            &mut held,
        )?;
        if !self.caller_country_codes.is_empty() {
            let codes = self.caller_country_codes.join(", ");
            let from = call.from.map(|f| f.trim_start_matches('+'));
            match from {
                Some(f)
                    if self
                        .caller_country_codes
                        .iter()
                        .any(|c| f.starts_with(c.as_str())) =>
                {
                    held.push(format!("caller {f} has country code in [{codes}]"));
                }
                Some(f) => return Err(format!("caller {f} has no country code in [{codes}]")),
                None => {
                    return Err(format!(
                        "caller has no phone number (username only), so no country code in [{codes}]"
                    ));
                }
            }
        }
        if held.is_empty() {
            held.push("no conditions".into());
        }
        Ok(held.join("; "))
    }
}

/// Checks one payload condition (exact and/or prefix).
fn payload(
    name: &str,
    got: Option<&str>,
    exact: &Option<String>,
    prefix: &Option<String>,
    held: &mut Vec<String>,
) -> Result<(), String> {
    if let Some(want) = exact {
        match got {
            Some(g) if g == want => held.push(format!("{name} is {want:?}")),
            Some(g) => return Err(format!("{name} {g:?} is not {want:?}")),
            None => return Err(format!("no {name} (wanted {want:?})")),
        }
    }
    if let Some(want) = prefix {
        match got {
            Some(g) if g.starts_with(want.as_str()) => {
                held.push(format!("{name} {g:?} starts with {want:?}"));
            }
            Some(g) => return Err(format!("{name} {g:?} does not start with {want:?}")),
            None => return Err(format!("no {name} (wanted one starting with {want:?})")),
        }
    }
    Ok(())
}

/// The first rule of `rules` that matches `call`, with every rule's verdict up to it.
pub fn first_match<'r>(
    rules: &'r [RoutingRule],
    call: &CallFacts<'_>,
) -> (Option<(usize, &'r RoutingRule)>, Vec<RuleVerdict>) {
    let mut trace = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let verdict = rule.check(call);
        let matched = verdict.is_ok();
        trace.push(RuleVerdict {
            rule: rule.label(i),
            matched,
            why: verdict.unwrap_or_else(|e| e),
        });
        if matched {
            return (Some((i, rule)), trace);
        }
    }
    (None, trace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(open: bool) -> CallFacts<'static> {
        CallFacts {
            phone_number_id: "100000000000001",
            display_number: "15550000001",
            from: Some("5511987650000"),
            cta_payload: Some("sales-br-7"),
            deeplink_payload: None,
            open,
        }
    }

    fn rule(f: impl FnOnce(&mut RoutingRule)) -> RoutingRule {
        let mut r = RoutingRule {
            targets: vec!["sip:a@pbx".into()],
            ..RoutingRule::default()
        };
        f(&mut r);
        r
    }

    #[test]
    fn first_matching_rule_wins_and_the_trace_says_why_the_others_did_not() {
        let rules = [
            rule(|r| {
                r.name = Some("vip".into());
                r.cta_payload = Some("vip".into());
            }),
            rule(|r| r.caller_country_codes = vec!["1".into()]),
            rule(|r| {
                r.name = Some("brazil sales".into());
                r.cta_payload_prefix = Some("sales-".into());
                r.caller_country_codes = vec!["351".into(), "55".into()];
            }),
            rule(|r| r.name = Some("catch-all".into())),
        ];
        let (found, trace) = first_match(&rules, &facts(true));
        assert_eq!(found.map(|(i, _)| i), Some(2));
        let lines: Vec<String> = trace
            .iter()
            .map(|v| format!("{} {}: {}", v.rule, v.matched, v.why))
            .collect();
        assert_eq!(
            lines,
            [
                "rule 1 \"vip\" false: cta_payload \"sales-br-7\" is not \"vip\"",
                "rule 2 false: caller 5511987650000 has no country code in [1]",
                "rule 3 \"brazil sales\" true: number open; cta_payload \"sales-br-7\" starts with \
                 \"sales-\"; caller 5511987650000 has country code in [351, 55]",
            ]
        );
    }

    #[test]
    fn rules_apply_while_open_unless_they_say_closed_or_any() {
        let open_only = rule(|_| {});
        let closed_only = rule(|r| r.hours = RuleHours::Closed);
        let any = rule(|r| r.hours = RuleHours::Any);
        assert!(open_only.check(&facts(true)).is_ok());
        assert!(open_only.check(&facts(false)).is_err());
        assert!(closed_only.check(&facts(true)).is_err());
        assert!(closed_only.check(&facts(false)).is_ok());
        assert!(any.check(&facts(true)).is_ok() && any.check(&facts(false)).is_ok());
    }

    #[test]
    fn number_and_deeplink_conditions_match_exactly_or_by_prefix() {
        let mut call = facts(true);
        call.deeplink_payload = Some("campaign-42");
        let by_display = rule(|r| r.number = Some("15550000001".into()));
        let other = rule(|r| r.number = Some("15550000002".into()));
        let prefix = rule(|r| r.deeplink_payload_prefix = Some("campaign-".into()));
        let exact = rule(|r| r.deeplink_payload = Some("campaign-4".into()));
        assert!(by_display.check(&call).is_ok());
        assert!(other.check(&call).is_err());
        assert!(prefix.check(&call).is_ok());
        assert_eq!(
            exact.check(&call),
            Err("deeplink_payload \"campaign-42\" is not \"campaign-4\"".into())
        );
        call.from = None;
        let country = rule(|r| r.caller_country_codes = vec!["55".into()]);
        assert!(country.check(&call).unwrap_err().contains("username only"));
    }
}
