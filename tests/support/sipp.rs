//! sipp as a scripted PBX or phone: runs one UAS or UAC scenario from `tests/peers/sipp/` on
//! free loopback ports over UDP or TCP, with `@NAME@` substitutions, logs in a temp dir. Killed
//! on drop.

use std::net::{TcpStream, UdpSocket};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, require_binary, wait_until};

/// A running sipp UAS handling one call.
pub struct Sipp {
    child: Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub transport: &'static str,
}

impl Sipp {
    /// Starts sipp's built-in UAS (`-sn uas`, PCMU only) with `-rtp_echo`: it answers and
    /// sends every RTP packet back where it came from, so the caller hears itself.
    pub fn echo_uas() -> Sipp {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::spawn(dir, "udp", &["-sn", "uas", "-rtp_echo"])
    }

    /// Starts sipp's built-in UAS (`-sn uas`, PCMU only) without media: it answers and then
    /// sends no RTP or RTCP at all, like a PBX that died without a BYE; it expects our BYE.
    pub fn silent_uas() -> Sipp {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::spawn(dir, "udp", &["-sn", "uas"])
    }

    /// Starts `sipp -sf tests/peers/sipp/<scenario>` as UAS on a free port; `transport` is
    /// `udp` or `tcp`; each `(NAME, value)` replaces `@NAME@` in the scenario text.
    pub fn uas(scenario: &str, transport: &'static str, fill: &[(&str, &str)]) -> Sipp {
        let (dir, sf) = scenario_file(scenario, fill);
        Self::spawn(dir, transport, &["-sf", &sf, "-timeout_error"])
    }

    /// [`Sipp::uas`] over UDP with `-rtp_echo`: the caller hears itself.
    pub fn uas_echo(scenario: &str) -> Sipp {
        Self::uas_echo_with(scenario, &[])
    }

    /// [`Sipp::uas_echo`] with `(NAME, value)` pairs replacing `@NAME@` in the scenario.
    pub fn uas_echo_with(scenario: &str, fill: &[(&str, &str)]) -> Sipp {
        let (dir, sf) = scenario_file(scenario, fill);
        Self::spawn(dir, "udp", &["-sf", &sf, "-timeout_error", "-rtp_echo"])
    }

    /// Starts `sipp -sf tests/peers/sipp/<scenario>` as UAC calling `service` (the Request-URI
    /// user) at `target` over UDP; `(NAME, value)` pairs replace `@NAME@` in the scenario.
    pub fn uac(
        scenario: &str,
        target: std::net::SocketAddr,
        service: &str,
        fill: &[(&str, &str)],
    ) -> Sipp {
        Self::uac_with(scenario, target, service, fill, &[])
    }

    /// [`Self::uac`] with `-rtp_echo`: every RTP packet that reaches sipp's media port
    /// (`[media_port]` in the scenario's SDP) goes back where it came from.
    pub fn uac_echo(
        scenario: &str,
        target: std::net::SocketAddr,
        service: &str,
        fill: &[(&str, &str)],
    ) -> Sipp {
        Self::uac_with(scenario, target, service, fill, &["-rtp_echo"])
    }

    fn uac_with(
        scenario: &str,
        target: std::net::SocketAddr,
        service: &str,
        fill: &[(&str, &str)],
        extra: &[&str],
    ) -> Sipp {
        let (dir, sf) = scenario_file(scenario, fill);
        let target = target.to_string();
        let mut args = vec!["-sf", &sf, "-s", service, "-timeout_error"];
        args.extend_from_slice(extra);
        args.push(&target);
        let (child, port) = Self::run(&dir, "udp", &args);
        Sipp {
            child,
            dir,
            port,
            transport: "udp",
        }
    }

    /// Runs sipp with `args` as UAS for one call on free loopback ports, logs in `dir`, and
    /// waits until it listens.
    fn spawn(dir: tempfile::TempDir, transport: &'static str, args: &[&str]) -> Sipp {
        let (child, port) = Self::run(&dir, transport, args);
        let s = Sipp {
            child,
            dir,
            port,
            transport,
        };
        let up = wait_until(Duration::from_secs(10), || match transport {
            "tcp" => TcpStream::connect(("127.0.0.1", port)).is_ok(),
            _ => UdpSocket::bind(("127.0.0.1", port)).is_err(),
        });
        assert!(up, "sipp did not bind port {port}: {}", s.logs());
        // The UDP bind check races sipp's own socket set-up by a hair.
        std::thread::sleep(Duration::from_millis(100));
        s
    }

    /// Starts sipp with `args` for one call on free loopback ports, logs in `dir`.
    fn run(dir: &tempfile::TempDir, transport: &str, args: &[&str]) -> (Child, u16) {
        let bin = require_binary("sipp");
        let port = free_port();
        let media = free_port();
        let child = Command::new(bin)
            .args(args)
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .args(["-p", &port.to_string(), "-mp", &media.to_string()])
            .args(["-t", if transport == "tcp" { "t1" } else { "u1" }])
            .args(["-m", "1", "-nostdin", "-timeout", "30s"])
            .args(["-trace_msg", "-trace_err"])
            .arg("-message_file")
            .arg(dir.path().join("messages.log"))
            .arg("-error_file")
            .arg(dir.path().join("errors.log"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp starts");
        (child, port)
    }

    /// The URI that reaches it.
    pub fn uri(&self) -> String {
        match self.transport {
            "tcp" => format!("sip:agents@127.0.0.1:{};transport=tcp", self.port),
            _ => format!("sip:agents@127.0.0.1:{}", self.port),
        }
    }

    /// Messages and errors sipp logged.
    pub fn logs(&self) -> String {
        let read = |n: &str| std::fs::read_to_string(self.dir.path().join(n)).unwrap_or_default();
        format!(
            "--- sipp messages ---\n{}\n--- sipp errors ---\n{}",
            read("messages.log"),
            read("errors.log")
        )
    }

    /// Waits for sipp to finish its call; `None` if it is still running after `within`.
    pub fn wait(&mut self, within: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + within;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Asserts that sipp ran its scenario to the end (exit status 0), printing its logs if not.
    pub fn assert_success(&mut self, within: Duration) {
        let st = self.wait(within);
        assert!(
            st.is_some_and(|s| s.success()),
            "sipp scenario did not succeed ({st:?})\n{}",
            self.logs()
        );
    }
}

/// A temp dir holding `tests/peers/sipp/<scenario>` with each `@NAME@` filled in, and the
/// path of that copy.
fn scenario_file(scenario: &str, fill: &[(&str, &str)]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = format!("{}/tests/peers/sipp/{scenario}", env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(&src).expect("scenario file");
    for (k, v) in fill {
        text = text.replace(&format!("@{k}@"), v);
    }
    let sf = dir.path().join(scenario);
    std::fs::write(&sf, text).unwrap();
    let sf = sf.to_string_lossy().into_owned();
    (dir, sf)
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
