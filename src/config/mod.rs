//! Configuration: the typed model of `callgate.toml`, its embedded default, and loading with
//! operator-facing problem reports (file, line and key of every problem).
//!
//! Key names are a public contract (`[http] listen`, `[meta] graph_base_url, access_token,
//! app_secret, verify_token, api_version`, `[[numbers]] phone_number_id, display_phone_number`,
//! `[api] tokens`, `[store] path`); keep them stable. Any scalar key of a single table can be
//! overridden from the environment as `CALLGATE_<SECTION>_<KEY>` (see [`env`]).

mod env;
mod load;
mod secret;
mod validate;

pub(crate) use load::Seg;
pub use load::{ConfigError, ConfigProblem, load_file, load_str};
pub use secret::Secret;
pub use validate::parse_net;

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The annotated default configuration, compiled in: it runs fully offline against the sandbox.
pub const DEFAULT_CONFIG: &str = include_str!("../../config/callgate.toml");

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// The HTTP server: Meta's webhooks and the operator API.
    pub http: HttpConfig,
    /// Meta's Cloud API: where the Graph API is, and the app's credentials.
    pub meta: MetaConfig,
    /// The WhatsApp business numbers this gateway serves.
    #[serde(default)]
    pub numbers: Vec<NumberConfig>,
    /// The operator REST API.
    #[serde(default)]
    pub api: ApiConfig,
    /// Where call records live.
    #[serde(default)]
    pub store: StoreConfig,
    /// Call timing rules.
    #[serde(default)]
    pub calls: CallsConfig,
    /// The built-in stand-in for Meta's Cloud API.
    #[serde(default)]
    pub sandbox: SandboxConfig,
    /// The SIP side: where callgate listens for and sends SIP.
    #[serde(default)]
    pub sip: SipConfig,
    /// The media side: addresses and ports of the WhatsApp and PBX media legs.
    #[serde(default)]
    pub media: MediaConfig,
    /// Where calls go.
    #[serde(default)]
    pub routing: RoutingConfig,
    /// Call permissions of business-initiated calls.
    #[serde(default)]
    pub permissions: PermissionsConfig,
    /// Calls SIP phones place through callgate to WhatsApp users.
    #[serde(default)]
    pub sip_phones: SipPhonesConfig,
}

/// `[sip_phones]`: who may call WhatsApp users through callgate by sending it an INVITE whose
/// Request-URI user is the WhatsApp number.
#[derive(Debug, Clone, Deserialize)]
pub struct SipPhonesConfig {
    /// Source networks allowed to place calls (CIDR, e.g. `10.0.0.0/8`). Empty: no address check
    /// (then set a password).
    #[serde(default = "default_phone_allow")]
    pub allow: Vec<String>,
    /// Digest user name phones authenticate with; unset: no digest authentication.
    #[serde(default)]
    pub username: Option<String>,
    /// Digest password (a secret: prefer `CALLGATE_SIP_PHONES_PASSWORD`).
    #[serde(default)]
    pub password: Option<secret::Secret>,
    /// Digest realm.
    #[serde(default = "default_phone_realm")]
    pub realm: String,
    /// The business number phones call from (display number or phone number id); default: the
    /// first of `[[numbers]]`.
    #[serde(default)]
    pub from_number: Option<String>,
}

impl Default for SipPhonesConfig {
    fn default() -> Self {
        Self {
            allow: default_phone_allow(),
            username: None,
            password: None,
            realm: default_phone_realm(),
            from_number: None,
        }
    }
}

fn default_phone_allow() -> Vec<String> {
    vec!["127.0.0.0/8".into()]
}

fn default_phone_realm() -> String {
    "callgate".into()
}

/// `[permissions]`: call permissions for business-initiated calls (Meta's rules, spec section 4).
#[derive(Debug, Clone, Deserialize)]
pub struct PermissionsConfig {
    /// Connected business-initiated calls per user per 24 h (Meta: 100 since Dec 2025; older
    /// documents say 5).
    #[serde(default = "default_connected_calls_per_day")]
    pub connected_calls_per_day: usize,
    /// Seconds an answer of Meta's `GET call_permissions` is trusted before asking again.
    #[serde(default = "default_permission_cache_ttl")]
    pub cache_ttl_s: u64,
    /// Approved template (with a call_permission_request component) for requests outside the
    /// 24 h customer-service window; unset: such requests are refused with that reason.
    #[serde(default)]
    pub request_template: Option<String>,
    /// Language code of `request_template`.
    #[serde(default = "default_template_language")]
    pub template_language: String,
    /// Default body text of free-form permission requests.
    #[serde(default)]
    pub request_text: Option<String>,
}

impl Default for PermissionsConfig {
    fn default() -> Self {
        Self {
            connected_calls_per_day: default_connected_calls_per_day(),
            cache_ttl_s: default_permission_cache_ttl(),
            request_template: None,
            template_language: default_template_language(),
            request_text: None,
        }
    }
}

fn default_connected_calls_per_day() -> usize {
    100
}

fn default_permission_cache_ttl() -> u64 {
    60
}

fn default_template_language() -> String {
    "en_US".into()
}

/// `[sip]`
#[derive(Debug, Clone, Deserialize)]
pub struct SipConfig {
    /// Address SIP is received and sent on (UDP and TCP, same port).
    #[serde(default = "default_sip_listen")]
    pub listen: SocketAddr,
    /// Seconds to wait for any response to an INVITE before the PBX counts as unreachable.
    #[serde(default = "default_sip_setup_timeout")]
    pub setup_timeout_s: u64,
    /// Audio codecs offered to the PBX, in preference order (`opus`, `g722`, `pcmu`, `pcma`).
    /// Opus first means passthrough (no transcoding) whenever the PBX speaks Opus.
    #[serde(default = "default_sip_codecs")]
    pub codecs: Vec<String>,
    /// Seconds without RTP or RTCP from an answered PBX leg (not on hold) before the call is
    /// ended as if the PBX had hung up (it crashed or lost its network without a BYE); 0: never.
    #[serde(default = "default_sip_rtp_timeout")]
    pub rtp_timeout_s: u64,
    /// Digest user name for when the PBX challenges our INVITEs (401/407), e.g. a hosted PBX's
    /// trunk account; unset: a challenge fails the call.
    #[serde(default)]
    pub username: Option<String>,
    /// Its password (a secret: prefer `CALLGATE_SIP_PASSWORD`).
    #[serde(default)]
    pub password: Option<secret::Secret>,
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            listen: default_sip_listen(),
            setup_timeout_s: default_sip_setup_timeout(),
            codecs: default_sip_codecs(),
            rtp_timeout_s: default_sip_rtp_timeout(),
            username: None,
            password: None,
        }
    }
}

fn default_sip_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5070))
}

fn default_sip_setup_timeout() -> u64 {
    5
}

fn default_sip_rtp_timeout() -> u64 {
    60
}

fn default_sip_codecs() -> Vec<String> {
    ["opus", "g722", "pcmu", "pcma"].map(String::from).to_vec()
}

/// `[media]`
#[derive(Debug, Clone, Deserialize)]
pub struct MediaConfig {
    /// The address Meta and the PBX send media to (advertised in SDP and ICE candidates).
    #[serde(default = "default_public_ip")]
    pub public_ip: std::net::IpAddr,
    /// The local address media sockets bind (default: `public_ip`). Set it, e.g. to `0.0.0.0`,
    /// when `public_ip` is a NAT address that is not on this host.
    #[serde(default)]
    pub bind_ip: Option<std::net::IpAddr>,
    /// Lowest UDP port for media sockets.
    #[serde(default = "default_port_min")]
    pub port_min: u16,
    /// Highest UDP port for media sockets.
    #[serde(default = "default_port_max")]
    pub port_max: u16,
    /// Opus encoder complexity (0-10) when transcoding.
    #[serde(default = "default_opus_complexity")]
    pub opus_complexity: u8,
    /// The ringback a business call's waiting party hears while the other one rings.
    #[serde(default)]
    pub ringback: crate::media::ringback::RingbackStyle,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            public_ip: default_public_ip(),
            bind_ip: None,
            port_min: default_port_min(),
            port_max: default_port_max(),
            opus_complexity: default_opus_complexity(),
            ringback: crate::media::ringback::RingbackStyle::default(),
        }
    }
}

impl MediaConfig {
    /// The address media sockets bind: `bind_ip`, or `public_ip` when unset.
    pub fn bind_ip(&self) -> std::net::IpAddr {
        self.bind_ip.unwrap_or(self.public_ip)
    }
}

fn default_public_ip() -> std::net::IpAddr {
    std::net::IpAddr::from([127, 0, 0, 1])
}

fn default_port_min() -> u16 {
    40000
}

fn default_port_max() -> u16 {
    40999
}

/// Measured (docs/benchmarks.md): complexity 1 encodes a 20 ms 8 kHz frame in 16 us against 39
/// us at 5, for 0.7 dB less segmental SNR on narrowband speech that G.711 has already limited.
fn default_opus_complexity() -> u8 {
    1
}

/// `[routing]`
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RoutingConfig {
    /// The SIP URI WhatsApp users' calls ring (e.g. `sip:agents@pbx.example.com:5060`). Without
    /// it, user-initiated calls are declined with that reason.
    #[serde(default)]
    pub default: Option<String>,
    /// Ordered `[[routing.rules]]`, tried before the default (see `policy::routing`).
    #[serde(default)]
    pub rules: Vec<crate::policy::routing::RoutingRule>,
}

/// `[http]`
#[derive(Debug, Clone, Deserialize)]
pub struct HttpConfig {
    /// Address the webhook endpoint (`/webhook`) and the operator API listen on.
    pub listen: SocketAddr,
    /// Largest webhook body accepted, in bytes (Meta's maximum is 3 MB).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
}

fn default_max_body() -> usize {
    3 * 1024 * 1024
}

/// `[meta]`
#[derive(Debug, Clone, Deserialize)]
pub struct MetaConfig {
    /// Base URL of the Graph API (`https://graph.facebook.com`, or the sandbox's address).
    pub graph_base_url: String,
    /// System-user access token used as `Authorization: Bearer`.
    pub access_token: Secret,
    /// The app secret: key of the `X-Hub-Signature-256` HMAC on every webhook.
    pub app_secret: Secret,
    /// The token Meta echoes in the subscription handshake (`hub.verify_token`).
    pub verify_token: Secret,
    /// Graph API version, e.g. `v23.0`.
    pub api_version: String,
    /// Timeout of one Graph request, in seconds.
    #[serde(default = "default_graph_timeout")]
    pub request_timeout_s: u64,
    /// Retries for Graph requests that are safe to repeat.
    #[serde(default = "default_graph_retries")]
    pub max_retries: u32,
}

fn default_graph_timeout() -> u64 {
    10
}

fn default_graph_retries() -> u32 {
    3
}

/// One `[[numbers]]` entry.
#[derive(Debug, Clone, Deserialize)]
pub struct NumberConfig {
    /// Meta's phone number id (the `{PNID}` in Graph URLs, `metadata.phone_number_id` in webhooks).
    pub phone_number_id: String,
    /// The number as people dial it, digits only (e.g. `15550001234`).
    pub display_phone_number: String,
    /// Business hours in Meta's `call_hours` shape (`[numbers.hours]`); none: always open.
    #[serde(default)]
    pub hours: Option<crate::policy::hours::CallHours>,
    /// A WhatsApp user's call outside business hours: `"reject"` (the default) or the SIP URI of
    /// an after-hours target (voicemail, IVR).
    #[serde(default)]
    pub after_hours: Option<String>,
    /// Business-initiated calls outside business hours: `"refuse"` (the default) or `"allow"`.
    #[serde(default)]
    pub business_calls_after_hours: crate::policy::BusinessCallsAfterHours,
    /// The calling settings `callgate settings push` keeps at Meta (`[numbers.calling]`).
    #[serde(default)]
    pub calling: Option<crate::settings::CallingSettings>,
}

/// `[api]`
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ApiConfig {
    /// Bearer tokens accepted by the operator API. Empty: the API answers 401 to everything.
    #[serde(default)]
    pub tokens: Vec<Secret>,
}

/// `[store]`
#[derive(Debug, Clone, Deserialize)]
pub struct StoreConfig {
    /// Path of the SQLite database (created with its directory if missing).
    pub path: PathBuf,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("callgate.db"),
        }
    }
}

/// `[calls]`
#[derive(Debug, Clone, Deserialize)]
pub struct CallsConfig {
    /// Seconds from a user's connect webhook to our accept or reject; Meta's caller gives up
    /// around 30-60 s.
    #[serde(default = "default_answer_window")]
    pub answer_window_s: u64,
    /// Seconds to ring the PBX before giving up (must be shorter than the answer window).
    #[serde(default = "default_ring_timeout")]
    pub pbx_ring_timeout_s: u64,
    /// Calls carried at once at most; a SIP phone's call beyond it gets 503 (Meta allows 1000
    /// concurrent calls per number).
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent: usize,
}

impl Default for CallsConfig {
    fn default() -> Self {
        Self {
            answer_window_s: default_answer_window(),
            pbx_ring_timeout_s: default_ring_timeout(),
            max_concurrent: default_max_concurrent(),
        }
    }
}

fn default_max_concurrent() -> usize {
    1000
}

impl CallsConfig {
    /// The answer window as a duration.
    pub fn answer_window(&self) -> Duration {
        Duration::from_secs(self.answer_window_s)
    }
}

fn default_answer_window() -> u64 {
    30
}

fn default_ring_timeout() -> u64 {
    25
}

/// `[sandbox]`
#[derive(Debug, Clone, Deserialize)]
pub struct SandboxConfig {
    /// Run the sandbox Cloud API inside `callgate run` (then `[meta] graph_base_url` must point
    /// at `[sandbox] listen`).
    #[serde(default)]
    pub enabled: bool,
    /// Address the sandbox's Graph endpoints and control API listen on.
    #[serde(default = "default_sandbox_listen")]
    pub listen: SocketAddr,
    /// Deliver every webhook twice, as Meta sometimes does.
    #[serde(default)]
    pub duplicate_deliveries: bool,
    /// Deliver webhooks out of order (a terminate may beat its connect), as Meta sometimes does.
    #[serde(default)]
    pub reorder_deliveries: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: default_sandbox_listen(),
            duplicate_deliveries: false,
            reorder_deliveries: false,
        }
    }
}

fn default_sandbox_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8089))
}

impl Config {
    /// The configuration compiled into the binary (the offline demo).
    pub fn embedded_default() -> Result<Self, ConfigError> {
        load_str("<embedded default>", DEFAULT_CONFIG, std::env::vars())
    }

    /// The number entry for a phone number id, if this gateway serves it.
    pub fn number(&self, phone_number_id: &str) -> Option<&NumberConfig> {
        self.numbers
            .iter()
            .find(|n| n.phone_number_id == phone_number_id)
    }
}

#[cfg(test)]
mod tests;
