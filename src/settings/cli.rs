//! `callgate settings pull|diff|push --number N`: read a number's calling settings from Meta,
//! show how they differ from callgate's, and write callgate's to Meta. A push validates the
//! business hours by Meta's rules first (including "no past holidays") and never sends hours Meta
//! would refuse; it shows the diff, posts only the managed keys, and reads the settings back to
//! confirm.
//!
//! The hours compared and pushed are the ones in force: those set through the operator API (in
//! the store at `[store] path`) when there are any, else `[numbers.hours]`.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::diff::{Difference, Missing, diff};
use super::watch::SettingsWatch;
use crate::cloud::graph::{GraphClient, GraphClientConfig, GraphError};
use crate::config::Config;
use crate::policy::Policy;
use crate::policy::hours::{CallHours, HoursError};

/// `callgate settings ...`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum SettingsCommand {
    /// Print Meta's calling settings of a number as callgate.toml blocks (or JSON).
    Pull {
        /// The number: phone_number_id or display number.
        #[arg(long)]
        number: String,
        /// Print Meta's JSON as is.
        #[arg(long)]
        json: bool,
    },
    /// Show how Meta's calling settings differ from callgate's (exit status 1 when they do).
    Diff {
        /// The number: phone_number_id or display number.
        #[arg(long)]
        number: String,
    },
    /// Write callgate's calling settings to Meta, after checking the hours by Meta's rules.
    Push {
        /// The number: phone_number_id or display number.
        #[arg(long)]
        number: String,
    },
}

/// Runs `command` on `cfg`: the text to print and the exit status (0, or 1 for a diff that found
/// differences).
pub async fn run(cfg: &Config, command: &SettingsCommand) -> Result<(String, u8), SettingsError> {
    let cli = SettingsCli::new(cfg)?;
    match command {
        SettingsCommand::Pull { number, json } => Ok((cli.pull(number, *json).await?, 0)),
        SettingsCommand::Diff { number } => {
            let report = cli.diff(number).await?;
            let status = u8::from(!report.differences.is_empty());
            Ok((report.text, status))
        }
        SettingsCommand::Push { number } => Ok((cli.push(number, Timestamp::now()).await?, 0)),
    }
}

/// Why a settings command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// `--number` names no `[[numbers]]` entry.
    #[error("number {0} is not in [[numbers]]: give its phone_number_id or display_phone_number")]
    UnknownNumber(String),
    /// Neither `[numbers.calling]` nor business hours are set, so nothing is managed.
    #[error(
        "number {0} has no [numbers.calling] and no business hours: callgate manages none of its settings"
    )]
    NothingManaged(String),
    /// The hours in force break one of Meta's rules: nothing was sent.
    #[error("not pushed: {0}")]
    InvalidHours(#[from] HoursError),
    /// Meta (or the network) failed the request.
    #[error("{0}")]
    Graph(#[from] GraphError),
    /// Meta accepted the push but its settings still differ.
    #[error("Meta accepted the settings but still differs:\n{0}")]
    NotApplied(String),
    /// The store or the Graph client could not be set up.
    #[error("{0}")]
    Setup(String),
}

/// What `settings diff` found.
#[derive(Debug, Clone)]
pub struct DiffReport {
    /// The text to print.
    pub text: String,
    /// The differences (empty: in sync).
    pub differences: Vec<Difference>,
}

/// The context of the settings commands.
pub struct SettingsCli {
    watch: SettingsWatch,
    graph: GraphClient,
}

impl SettingsCli {
    /// Builds the context from a configuration; the store at `[store] path` is read (never
    /// created) for hours set through the operator API.
    pub fn new(cfg: &Config) -> Result<Self, SettingsError> {
        let policy =
            Policy::with_stored_hours(cfg).map_err(|e| SettingsError::Setup(e.to_string()))?;
        let graph = GraphClient::new(GraphClientConfig {
            base_url: url::Url::parse(&cfg.meta.graph_base_url)
                .map_err(|e| SettingsError::Setup(format!("[meta] graph_base_url: {e}")))?,
            api_version: cfg.meta.api_version.clone(),
            access_token: cfg.meta.access_token.expose().to_string(),
            timeout: std::time::Duration::from_secs(cfg.meta.request_timeout_s),
            max_retries: cfg.meta.max_retries,
            backoff_base: std::time::Duration::from_millis(200),
        })?;
        Ok(SettingsCli {
            watch: SettingsWatch::new(cfg, policy),
            graph,
        })
    }

    fn number(&self, number: &str) -> Result<String, SettingsError> {
        self.watch
            .policy()
            .phone_number_id(number)
            .map(String::from)
            .ok_or_else(|| SettingsError::UnknownNumber(number.to_string()))
    }

    async fn meta(&self, pnid: &str) -> Result<Value, SettingsError> {
        Ok(self.graph.get_settings(pnid).await?["calling"].clone())
    }

    /// Meta's settings for `number`, as `callgate.toml` blocks (or the raw JSON).
    pub async fn pull(&self, number: &str, as_json: bool) -> Result<String, SettingsError> {
        let pnid = self.number(number)?;
        let calling = self.meta(&pnid).await?;
        if as_json {
            return Ok(
                serde_json::to_string_pretty(&json!({ "calling": calling })).unwrap_or_default()
            );
        }
        Ok(pull_as_toml(&pnid, &calling))
    }

    /// How Meta's settings for `number` differ from callgate's.
    pub async fn diff(&self, number: &str) -> Result<DiffReport, SettingsError> {
        let pnid = self.number(number)?;
        let desired = self.watch.desired(&pnid);
        if desired.is_empty() {
            return Err(SettingsError::NothingManaged(pnid));
        }
        let differences = diff(&desired, &self.meta(&pnid).await?, Missing::Differs);
        let text = render(&pnid, &differences);
        Ok(DiffReport { text, differences })
    }

    /// Writes callgate's settings for `number` to Meta, after checking the hours by Meta's rules
    /// at `now` and showing the diff. Returns the text to print.
    pub async fn push(&self, number: &str, now: Timestamp) -> Result<String, SettingsError> {
        let pnid = self.number(number)?;
        let desired = self.watch.desired(&pnid);
        if desired.is_empty() {
            return Err(SettingsError::NothingManaged(pnid));
        }
        if let Some(h) = desired.get("call_hours") {
            let hours: CallHours = serde_json::from_value(h.clone())
                .map_err(|e| SettingsError::Setup(e.to_string()))?;
            hours.validate_for_meta(now)?;
        }
        let before = diff(&desired, &self.meta(&pnid).await?, Missing::Differs);
        let mut text = render(&pnid, &before);
        if before.is_empty() {
            text.push_str("nothing to push\n");
            return Ok(text);
        }
        self.graph
            .post_settings(&pnid, &json!({ "calling": desired }))
            .await?;
        let after = diff(&desired, &self.meta(&pnid).await?, Missing::Differs);
        if !after.is_empty() {
            return Err(SettingsError::NotApplied(render(&pnid, &after)));
        }
        text.push_str(&format!(
            "pushed: Meta now has callgate's settings for {pnid}\n"
        ));
        Ok(text)
    }
}

fn render(pnid: &str, differences: &[Difference]) -> String {
    if differences.is_empty() {
        return format!("number {pnid}: Meta's calling settings match callgate's\n");
    }
    let mut out = format!(
        "number {pnid}: {} difference(s) between Meta and callgate (a push makes Meta match callgate):\n",
        differences.len()
    );
    for d in differences {
        out.push_str(&format!("  {d}\n"));
    }
    out
}

/// Meta's `calling` object as the `[numbers.calling]` and `[numbers.hours]` blocks that would
/// reproduce it, with its restrictions and other keys as comments.
fn pull_as_toml(pnid: &str, calling: &Value) -> String {
    let mut out = format!("# calling settings of number {pnid} at Meta\n");
    let mut managed = serde_json::Map::new();
    for key in [
        "status",
        "call_icon_visibility",
        "callback_permission_status",
    ] {
        if let Some(v) = calling.get(key) {
            managed.insert(key.into(), v.clone());
        }
    }
    let mut numbers = serde_json::Map::new();
    numbers.insert("calling".into(), Value::Object(managed));
    if let Some(h) = calling.get("call_hours") {
        match serde_json::from_value::<CallHours>(h.clone()) {
            Ok(hours) => {
                numbers.insert("hours".into(), super::hours_json(&hours));
            }
            Err(e) => out.push_str(&format!("# call_hours unreadable: {e}\n")),
        }
    }
    match toml::to_string(&json!({ "numbers": numbers })) {
        Ok(t) => out.push_str(&t),
        Err(e) => out.push_str(&format!("# cannot render as TOML: {e}\n")),
    }
    if let Some(list) = calling["restrictions"]["restrictions_list"].as_array() {
        for r in list {
            out.push_str(&format!("# restriction: {r}\n"));
        }
    }
    for key in ["sip", "srtp_key_exchange_protocol", "audio", "call_icons"] {
        if let Some(v) = calling.get(key) {
            out.push_str(&format!("# not managed by callgate: {key} = {v}\n"));
        }
    }
    out
}
