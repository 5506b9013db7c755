//! [`crypto_provider`]: str0m's aws-lc-rs crypto with one change, measured: the DTLS layer's
//! (dimpl's) configuration is built once per process instead of once per `Rtc`.
//!
//! str0m-aws-lc-rs 0.7 builds a fresh `dimpl::Config` for every DTLS instance, and building one
//! self-tests the crypto provider (ECDH on X25519, P-256 and P-384, ECDSA verifies): about
//! 0.6 ms of CPU per call, 90 % of what answering Meta's offer costs ([`super::WaLeg::answer`]:
//! 698 us -> 73 us on the benchmark machine, `docs/benchmarks.md`). The configuration is the
//! same for every call (no cookie, the default MTU), so it is built once and shared; every DTLS
//! instance is still its own `dimpl::Dtls`, with its own keys and handshake.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use str0m::crypto::dtls::{
    DtlsCert, DtlsImplError, DtlsInstance, DtlsOutput, DtlsProvider, DtlsVersion, ProtocolVersion,
};
use str0m::crypto::{CryptoError, CryptoProvider};

/// str0m's default crypto with the shared DTLS configuration. Use with
/// `RtcConfig::set_crypto_provider`.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    static DTLS: SharedConfigDtls = SharedConfigDtls {
        config: OnceLock::new(),
    };
    PROVIDER
        .get_or_init(|| {
            Arc::new(CryptoProvider {
                dtls_provider: &DTLS,
                ..str0m::crypto::from_feature_flags()
            })
        })
        .clone()
}

/// Does the one-time work of the first call's WhatsApp leg now (the shared DTLS configuration,
/// aws-lc's entropy pool, a DTLS certificate): call it at start-up, so the first caller does not
/// wait for it.
pub fn warm_up() {
    let cfg = str0m::RtcConfig::new().set_crypto_provider(crypto_provider());
    drop(cfg.build(Instant::now()));
}

/// The default provider's DTLS with a `dimpl::Config` built once (for the MTU str0m asks first;
/// another MTU gets a configuration of its own, built as the default provider would).
#[derive(Debug)]
struct SharedConfigDtls {
    config: OnceLock<(Option<usize>, Arc<dimpl::Config>)>,
}

fn build_config(mtu: Option<usize>) -> Result<Arc<dimpl::Config>, CryptoError> {
    // ICE verifies return routability before DTLS, making server cookies redundant (as str0m).
    let mut builder = dimpl::Config::builder().use_server_cookie(false);
    if let Some(mtu) = mtu {
        builder = builder.mtu(mtu);
    }
    builder
        .build()
        .map(Arc::new)
        .map_err(|e| CryptoError::Other(format!("DTLS configuration: {e}")))
}

impl SharedConfigDtls {
    fn config(&self, mtu: Option<usize>) -> Result<Arc<dimpl::Config>, CryptoError> {
        if let Some((m, c)) = self.config.get() {
            return if *m == mtu {
                Ok(c.clone())
            } else {
                build_config(mtu)
            };
        }
        let built = build_config(mtu)?;
        Ok(self.config.get_or_init(|| (mtu, built)).1.clone())
    }
}

impl DtlsProvider for SharedConfigDtls {
    fn generate_certificate(&self) -> Option<DtlsCert> {
        str0m::crypto::from_feature_flags()
            .dtls_provider
            .generate_certificate()
    }

    fn new_dtls(
        &self,
        cert: &DtlsCert,
        now: Instant,
        version: DtlsVersion,
        mtu: Option<usize>,
    ) -> Result<Box<dyn DtlsInstance>, CryptoError> {
        let config = self.config(mtu)?;
        let cert = cert.clone();
        let dtls = match version {
            DtlsVersion::Dtls12 => dimpl::Dtls::new_12(config, cert, now),
            DtlsVersion::Dtls13 => dimpl::Dtls::new_13(config, cert, now),
            DtlsVersion::Auto => dimpl::Dtls::new_auto(config, cert, now),
            other => {
                return Err(CryptoError::Other(format!(
                    "unsupported DTLS version {other}"
                )));
            }
        };
        Ok(Box::new(Instance(dtls)))
    }
}

/// One DTLS session (dimpl's, as str0m's default provider wraps it).
struct Instance(dimpl::Dtls);

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DtlsInstance")
    }
}

impl DtlsInstance for Instance {
    fn set_active(&mut self, active: bool) {
        self.0.set_active(active);
    }

    fn handle_packet(&mut self, packet: &[u8]) -> Result<(), DtlsImplError> {
        self.0.handle_packet(packet)
    }

    fn poll_output<'a>(&mut self, buf: &'a mut [u8]) -> DtlsOutput<'a> {
        self.0.poll_output(buf)
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsImplError> {
        self.0.handle_timeout(now)
    }

    fn send_application_data(&mut self, data: &[u8]) -> Result<usize, DtlsImplError> {
        self.0.send_application_data(data)
    }

    fn is_active(&self) -> bool {
        self.0.is_active()
    }

    fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.0.protocol_version()
    }

    fn is_closing(&self) -> bool {
        self.0.is_closing()
    }

    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    fn close(&mut self) -> Result<(), DtlsImplError> {
        self.0.close()
    }
}
