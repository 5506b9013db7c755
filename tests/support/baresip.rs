//! A baresip instance playing the PBX: config written into a temp dir on free ports (the
//! template of tests/peers/baresip/mkconf.sh with the RTP range chosen free), auto or manual
//! answer, commands over ctrl_tcp (netstring JSON, like bsctl.py). Killed on drop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_port, free_udp_range, require_binary, wait_until, write_tone_wav};

/// A running baresip.
pub struct Baresip {
    child: Child,
    pub dir: tempfile::TempDir,
    pub sip_port: u16,
    pub ctrl_port: u16,
}

impl Baresip {
    /// Starts baresip answering `answermode` (`auto`/`manual`) with `codecs` (baresip's
    /// `audio_codecs` syntax, e.g. `opus/48000/2,pcmu`).
    pub fn start(answermode: &str, codecs: &str) -> Baresip {
        let bin = require_binary("baresip");
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        let sip_port = free_port();
        let mut ctrl_port = free_port();
        while ctrl_port == sip_port {
            ctrl_port = free_port();
        }
        let rtp = free_udp_range(40);
        let wav = d.join("tone1000.wav");
        write_tone_wav(&wav, 1000.0, 30);
        std::fs::create_dir_all(d.join("rec")).unwrap();
        let config = format!(
            "poll_method\tepoll\nsip_listen\t127.0.0.1:{sip_port}\ncall_local_timeout\t120\n\
             call_max_calls\t4\naudio_player\talsa,null\naudio_source\taufile,{wav}\n\
             audio_alert\talsa,null\nausrc_srate\t8000\nauplay_srate\t8000\nausrc_channels\t1\n\
             auplay_channels\t1\naudio_buffer\t20-160\nrtp_ports\t{rtp}-{rtp_end}\nrtcp_mux\tno\n\
             jitter_buffer_delay\t5-10\nrtp_stats\tno\nstatmode_default\toff\n\
             dns_server\t127.0.0.1:53\nnet_interface\t127.0.0.1\n\
             module_path\t/usr/lib/baresip/modules\nmodule\tg711.so\nmodule\tg722.so\nmodule\topus.so\n\
             module\tsndfile.so\n\
             module\talsa.so\nmodule\taufile.so\nmodule_tmp\tuuid.so\nmodule_tmp\taccount.so\n\
             module_app\tmenu.so\nmodule_app\tctrl_tcp.so\nctrl_tcp_listen\t127.0.0.1:{ctrl_port}\n\
             snd_path\t{rec}\nopus_bitrate\t28000\n",
            wav = wav.display(),
            rtp_end = rtp + 39,
            rec = d.join("rec").display(),
        );
        std::fs::write(d.join("config"), config).unwrap();
        std::fs::write(
            d.join("accounts"),
            format!(
                "<sip:pbx@127.0.0.1:{sip_port}>;regint=0;answermode={answermode};audio_codecs={codecs}\n"
            ),
        )
        .unwrap();
        std::fs::write(d.join("contacts"), "").unwrap();
        let log = std::fs::File::create(d.join("baresip.log")).unwrap();
        let child = Command::new(bin)
            .arg("-f")
            .arg(d)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("baresip starts");
        let b = Baresip {
            child,
            dir,
            sip_port,
            ctrl_port,
        };
        let up = wait_until(Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", ctrl_port)).is_ok()
        });
        assert!(up, "baresip did not open ctrl_tcp; log:\n{}", b.log());
        b
    }

    /// The SIP URI that reaches it over `transport` (`udp` or `tcp`).
    pub fn uri(&self, transport: &str) -> String {
        match transport {
            "tcp" => format!("sip:pbx@127.0.0.1:{};transport=tcp", self.sip_port),
            _ => format!("sip:pbx@127.0.0.1:{}", self.sip_port),
        }
    }

    /// What baresip received (decoded), from the `sndfile` recording of its latest call:
    /// samples and rate. The file is complete once the call has ended.
    pub fn heard(&self) -> Option<(Vec<i16>, u32)> {
        let rec = self.dir.path().join("rec");
        let mut decs: Vec<_> = std::fs::read_dir(rec)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .collect();
        decs.sort();
        callgate::sandbox::phone::audio::read_wav_mono(decs.last()?).ok()
    }

    /// baresip's stdout/stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("baresip.log")).unwrap_or_default()
    }

    /// Sends one ctrl_tcp command and returns the responses/events read within a moment.
    pub fn command(&self, command: &str, params: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.ctrl_port)).expect("ctrl_tcp");
        let msg =
            serde_json::json!({"command": command, "params": params, "token": "1"}).to_string();
        s.write_all(format!("{}:{msg},", msg.len()).as_bytes())
            .unwrap();
        s.set_read_timeout(Some(Duration::from_millis(700)))
            .unwrap();
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
