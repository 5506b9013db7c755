//! baresip as a SIP phone or PBX on loopback: a config written into a temporary directory on
//! free ports (the template of `tests/peers/baresip/mkconf.sh`), auto or manual answer, a
//! 1000 Hz tone as its microphone, what it hears recorded by its `sndfile` module, commands over
//! `ctrl_tcp` (netstring JSON). Used by `callgate demo` and the test suite. Killed on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::sandbox::phone::audio::write_wav_mono;

/// A running baresip.
pub struct Baresip {
    child: Child,
    dir: tempfile::TempDir,
    sip_port: u16,
    ctrl_port: u16,
}

/// `name` on `PATH`, if installed.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

impl Baresip {
    /// Starts baresip answering `answermode` (`auto`/`manual`) with `codecs` (baresip's
    /// `audio_codecs` syntax, e.g. `opus/48000/2,pcmu`), playing a 1000 Hz tone.
    pub fn start(answermode: &str, codecs: &str) -> anyhow::Result<Baresip> {
        Self::start_with(answermode, codecs, "")
    }

    /// Like [`Baresip::start`] with extra account parameters appended to its account line
    /// (e.g. `;auth_user=agents;auth_pass=secret` for digest authentication when dialing).
    pub fn start_with(
        answermode: &str,
        codecs: &str,
        account_params: &str,
    ) -> anyhow::Result<Baresip> {
        // The ports are free when chosen, not reserved: another process may take one before
        // baresip binds it. A start that fails that way is tried again on new ports.
        let mut last = None;
        for _ in 0..3 {
            match Self::start_once(answermode, codecs, account_params) {
                Ok(b) => return Ok(b),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("three attempts"))
    }

    fn start_once(answermode: &str, codecs: &str, account_params: &str) -> anyhow::Result<Baresip> {
        let bin =
            which("baresip").context("baresip is not installed (apt-get install baresip-core)")?;
        let dir = tempfile::tempdir().context("temporary directory for baresip")?;
        let d = dir.path();
        let sip_port = free_port()?;
        let mut ctrl_port = free_port()?;
        while ctrl_port == sip_port {
            ctrl_port = free_port()?;
        }
        let rtp = free_udp_range(40)?;
        let wav = d.join("tone1000.wav");
        write_tone_wav(&wav, 1000.0, 30)?;
        std::fs::create_dir_all(d.join("rec"))?;
        let config = format!(
            "poll_method\tepoll\nsip_listen\t127.0.0.1:{sip_port}\ncall_local_timeout\t120\n\
             call_max_calls\t4\naudio_player\talsa,null\naudio_source\taufile,{wav}\n\
             audio_alert\talsa,null\nausrc_srate\t8000\nauplay_srate\t8000\nausrc_channels\t1\n\
             auplay_channels\t1\naudio_buffer\t20-160\nrtp_ports\t{rtp}-{rtp_end}\nrtcp_mux\tno\n\
             jitter_buffer_delay\t5-10\nrtp_stats\tno\nstatmode_default\toff\n\
             dns_server\t127.0.0.1:53\nnet_interface\t127.0.0.1\n\
             module_path\t/usr/lib/baresip/modules\nmodule\tg711.so\nmodule\tg722.so\n\
             module\topus.so\nmodule\tsndfile.so\n\
             module\talsa.so\nmodule\taufile.so\nmodule_tmp\tuuid.so\nmodule_tmp\taccount.so\n\
             module_app\tmenu.so\nmodule_app\tctrl_tcp.so\nctrl_tcp_listen\t127.0.0.1:{ctrl_port}\n\
             snd_path\t{rec}\nopus_bitrate\t28000\n",
            wav = wav.display(),
            rtp_end = rtp + 39,
            rec = d.join("rec").display(),
        );
        std::fs::write(d.join("config"), config)?;
        std::fs::write(
            d.join("accounts"),
            format!(
                "<sip:pbx@127.0.0.1:{sip_port}>;regint=0;answermode={answermode};audio_codecs={codecs}{account_params}\n"
            ),
        )?;
        std::fs::write(d.join("contacts"), "")?;
        let log = std::fs::File::create(d.join("baresip.log"))?;
        let child = Command::new(bin)
            .arg("-f")
            .arg(d)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start baresip")?;
        let b = Baresip {
            child,
            dir,
            sip_port,
            ctrl_port,
        };
        let end = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", ctrl_port)).is_err() {
            if Instant::now() > end {
                bail!("baresip did not open its control port; log:\n{}", b.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(b)
    }

    /// The SIP URI that reaches it over `transport` (`udp` or `tcp`).
    pub fn uri(&self, transport: &str) -> String {
        match transport {
            "tcp" => format!("sip:pbx@127.0.0.1:{};transport=tcp", self.sip_port),
            _ => format!("sip:pbx@127.0.0.1:{}", self.sip_port),
        }
    }

    /// Its configuration and recordings directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What baresip received (decoded), from the `sndfile` recording of its latest call:
    /// samples and rate. Read to the end of the file whatever its header says, since `sndfile`
    /// writes the final data length only when it closes the file, a moment after the call.
    pub fn heard(&self) -> Option<(Vec<i16>, u32)> {
        let mut decs: Vec<_> = std::fs::read_dir(self.dir.path().join("rec"))
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .collect();
        decs.sort();
        let bytes = std::fs::read(decs.last()?).ok()?;
        let (rate, channels, data) = wav_pcm16(&bytes)?;
        let frames = data
            .chunks_exact(2 * channels)
            .map(|f| i16::from_le_bytes([f[0], f[1]]))
            .collect();
        Some((frames, rate))
    }

    /// Digits baresip reported receiving (RFC 4733), in order.
    pub fn digits_received(&self) -> String {
        self.log()
            .lines()
            .filter_map(|l| l.strip_prefix("received event: '"))
            .filter(|rest| rest.contains("(end=1)"))
            .filter_map(|rest| rest.chars().next())
            .collect()
    }

    /// baresip's stdout/stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("baresip.log")).unwrap_or_default()
    }

    /// Sends one ctrl_tcp command (`dial`, `accept`, `hangup`, `sndcode`...) and returns the
    /// responses and events read within a moment.
    pub fn command(&self, command: &str, params: &str) -> String {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.ctrl_port)) else {
            return String::new();
        };
        let msg =
            serde_json::json!({"command": command, "params": params, "token": "1"}).to_string();
        let _ = s.write_all(format!("{}:{msg},", msg.len()).as_bytes());
        let _ = s.set_read_timeout(Some(Duration::from_millis(700)));
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The rate, channel count and sample bytes (to the end of the file) of a 16-bit PCM WAV.
fn wav_pcm16(bytes: &[u8]) -> Option<(u32, usize, &[u8])> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let (mut at, mut fmt) = (12, None);
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().ok()?) as usize;
        let body = &bytes[at + 8..];
        if id == b"fmt " && body.len() >= 16 {
            let channels = u16::from_le_bytes([body[2], body[3]]);
            let rate = u32::from_le_bytes(body[4..8].try_into().ok()?);
            let bits = u16::from_le_bytes([body[14], body[15]]);
            fmt = (bits == 16 && channels > 0).then_some((rate, usize::from(channels)));
        } else if id == b"data" {
            let (rate, channels) = fmt?;
            return Some((rate, channels, body));
        }
        at += 8 + len + (len & 1);
    }
    None
}

/// A loopback port free for both UDP and TCP a moment ago.
pub fn free_port() -> anyhow::Result<u16> {
    for _ in 0..100 {
        let tcp = TcpListener::bind("127.0.0.1:0")?;
        let port = tcp.local_addr()?.port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free loopback port")
}

/// `n` consecutive UDP ports free a moment ago; returns the first.
pub fn free_udp_range(n: u16) -> anyhow::Result<u16> {
    for _ in 0..100 {
        let base = free_port()?;
        if base.checked_add(n).is_some()
            && (base..base + n).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok())
        {
            return Ok(base);
        }
    }
    bail!("no free UDP port range")
}

/// A 16-bit mono 8 kHz WAV with a sine tone, for peers that play a file.
pub fn write_tone_wav(path: &Path, hz: f64, secs: u32) -> anyhow::Result<()> {
    let samples = crate::media::analysis::tone::sine(hz, 8_000, 0.25, 0, secs as usize * 8_000);
    write_wav_mono(path, &samples, 8_000)?;
    Ok(())
}
