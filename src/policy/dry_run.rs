//! `callgate route --number N --from WA_ID [--payload P] [--deeplink P] [--at TIME]`: the
//! decision a WhatsApp user's call would get, with every step of it (hours, each rule's verdict,
//! the outcome), from the same code the gateway runs. Hours set through the operator API (in the
//! store at `[store] path`) are used when present, as the gateway would.

use jiff::Timestamp;
use jiff::civil::DateTime;

use super::Policy;
use crate::call::UserCallParams;
use crate::config::Config;

/// The arguments of `callgate route`.
#[derive(Debug, Clone, clap::Args)]
pub struct RouteArgs {
    /// Configuration file (default: the embedded one).
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// The business number called: phone_number_id or display number.
    #[arg(long)]
    pub number: String,
    /// The caller's WhatsApp number (wa_id, digits).
    #[arg(long)]
    pub from: String,
    /// Call-button payload (`cta_payload`).
    #[arg(long)]
    pub payload: Option<String>,
    /// Deep-link payload (`deeplink_payload`).
    #[arg(long)]
    pub deeplink: Option<String>,
    /// When the call arrives: RFC 3339 (`2026-12-24T18:00:00Z`, `...-03:00`) or a wall-clock
    /// time in the number's time zone (`2026-12-24T18:00`). Default: now.
    #[arg(long)]
    pub at: Option<String>,
}

/// Runs the dry run on `cfg`; returns the text to print, or why it could not run.
pub fn route(cfg: &Config, args: &RouteArgs) -> Result<String, String> {
    let policy = Policy::with_stored_hours(cfg).map_err(|e| e.to_string())?;
    let pnid = policy
        .phone_number_id(&args.number)
        .ok_or_else(|| {
            format!(
                "number {} is not in [[numbers]]: give its phone_number_id or display_phone_number",
                args.number
            )
        })?
        .to_string();
    let at = match &args.at {
        None => Timestamp::now(),
        Some(text) => parse_at(&policy, &pnid, text)?,
    };
    let call = UserCallParams {
        call_id: "dry-run".into(),
        phone_number_id: pnid.clone(),
        from: Some(args.from.trim_start_matches('+').to_string()),
        cta_payload: args.payload.clone(),
        deeplink_payload: args.deeplink.clone(),
        ..UserCallParams::default()
    };
    let e = policy.explain_user_call(&call, at);
    let mut out = format!(
        "call to {pnid} from {} at {at}{}{}\n",
        call.from.as_deref().unwrap_or(""),
        call.cta_payload
            .as_deref()
            .map(|p| format!(", cta_payload {p:?}"))
            .unwrap_or_default(),
        call.deeplink_payload
            .as_deref()
            .map(|p| format!(", deeplink_payload {p:?}"))
            .unwrap_or_default(),
    );
    for line in &e.lines {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

/// `--at`: an instant, or a wall-clock time in the number's time zone (UTC without hours).
fn parse_at(policy: &Policy, pnid: &str, text: &str) -> Result<Timestamp, String> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    let dt: DateTime = text.parse().map_err(|_| {
        format!("--at {text:?}: use RFC 3339 (2026-12-24T18:00:00Z) or a local 2026-12-24T18:00")
    })?;
    let tz = policy
        .hours(pnid)
        .and_then(|(s, _)| s.and_then(|s| s.time_zone().cloned()))
        .unwrap_or(jiff::tz::TimeZone::UTC);
    dt.to_zoned(tz)
        .map(|z| z.timestamp())
        .map_err(|e| format!("--at {text:?}: {e}"))
}
