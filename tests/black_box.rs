//! The `callgate` binary as an operator runs it: `check-config` on good and broken files, and
//! `callgate run` on the embedded default (ports and store moved by environment overrides so the
//! test binds only free loopback ports), probed over HTTP.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::process::{ChildGuard, output_ok};

const BIN: &str = env!("CARGO_BIN_EXE_callgate");

#[test]
fn check_config_accepts_the_shipped_default() {
    output_ok(
        Command::new(BIN).args([
            "check-config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config/callgate.toml"),
        ]),
        "check-config of the shipped default",
    );
}

#[test]
fn check_config_names_file_line_and_key_of_each_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    let text = callgate::config::DEFAULT_CONFIG
        .replace("[http]\n", "[http]\nlisten_port = 8080\n")
        .replace("api_version = \"v23.0\"", "api_version = \"latest\"");
    std::fs::write(&path, &text).unwrap();
    let out = Command::new(BIN)
        .arg("check-config")
        .arg(&path)
        .env_remove("CALLGATE_META_APP_SECRET")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let line_of = |needle: &str| text.lines().position(|l| l.starts_with(needle)).unwrap() + 1;
    let p = path.display();
    assert!(
        err.contains(&format!(
            "{p}:{}: http.listen_port: unknown key",
            line_of("listen_port")
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{p}:{}: meta.api_version:",
            line_of("api_version")
        )),
        "{err}"
    );
}

fn start_default() -> (
    ChildGuard,
    String,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    let dir = tempfile::tempdir().unwrap().keep();
    let mut child = Command::new(BIN)
        .args(["--log-format", "json", "run"])
        .env("CALLGATE_HTTP_LISTEN", "127.0.0.1:0")
        .env("CALLGATE_SANDBOX_LISTEN", "127.0.0.1:0")
        .env("CALLGATE_SIP_LISTEN", "127.0.0.1:0")
        .env("CALLGATE_META_GRAPH_BASE_URL", "http://127.0.0.1:0")
        .env("CALLGATE_STORE_PATH", dir.join("callgate.db"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let running = ChildGuard(child);
    let (tx, rx) = std::sync::mpsc::channel();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line.clone());
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && v["message"] == "callgate running"
            {
                let _ = tx.send(v["http_addr"].as_str().unwrap_or_default().to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("callgate logs 'callgate running' with its address");
    (running, format!("http://{addr}"), lines)
}

#[tokio::test]
async fn default_config_run_answers_verify_refuses_unsigned_accepts_signed() {
    let (proc, base, logs) = tokio::task::spawn_blocking(start_default).await.unwrap();
    let http = reqwest::Client::new();

    let verify = http
        .get(format!(
            "{base}/webhook?hub.mode=subscribe&hub.challenge=424242&hub.verify_token=sandbox-verify-token"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(verify.status(), 200);
    assert_eq!(verify.text().await.unwrap(), "424242");

    let body = common::connect_webhook("wacid.blackbox-1");
    let unsigned = http
        .post(format!("{base}/webhook"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);

    let signed = http
        .post(format!("{base}/webhook"))
        .header(
            "X-Hub-Signature-256",
            callgate::cloud::signature::sign(common::APP_SECRET.as_bytes(), &body),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 200);

    let calls = http.get(format!("{base}/v1/calls")).send().await.unwrap();
    assert_eq!(calls.status(), 401);

    // The signed connect became a call record (the default has no PBX route: declined).
    let start = Instant::now();
    loop {
        let call = http
            .get(format!("{base}/v1/calls/wacid.blackbox-1"))
            .bearer_auth(common::API_TOKEN);
        let v = common::send_json(call).await;
        if v["call"]["outcome"] == "denied" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    drop(proc);
    let logs = logs.lock().unwrap().join("\n");
    assert!(
        logs.contains("wacid.blackbox-1"),
        "call lines carry the call id:\n{logs}"
    );
    for secret in [
        "sandbox-access-token",
        "sandbox-app-secret",
        "sandbox-verify-token",
        "sandbox-operator-token",
    ] {
        assert!(
            !logs.contains(secret),
            "secret {secret} leaked into the logs:\n{logs}"
        );
    }
}

/// Runs `callgate demo` with `path` as PATH; returns (success, stdout).
fn run_demo(path: &std::ffi::OsStr) -> (bool, String) {
    let out = Command::new(BIN)
        .arg("demo")
        .env("PATH", path)
        .stdin(Stdio::null())
        .output()
        .expect("callgate demo runs");
    (
        out.status.success(),
        format!(
            "{}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn demo_rings_baresip_and_reports_tones_dtmf_and_hangup() {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let (ok, out) = run_demo(&path);
    assert!(ok, "callgate demo failed:\n{out}");
    assert!(out.contains("agent phone  baresip at"), "{out}");
    for line in [
        "to WhatsApp    1000 Hz",
        "to the agent   440 Hz",
        "agent received \"1#\"",
        "WhatsApp user received \"5\"",
        "hang-up        by user",
        "demo OK",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
}

#[test]
fn demo_without_baresip_says_so_and_uses_the_built_in_agent() {
    let empty = tempfile::tempdir().unwrap();
    let (ok, out) = run_demo(empty.path().as_os_str());
    assert!(ok, "callgate demo failed:\n{out}");
    assert!(out.contains("baresip is not installed"), "{out}");
    assert!(out.contains("built-in SIP agent"), "{out}");
    assert!(out.contains("to the agent   440 Hz"), "{out}");
    assert!(out.contains("demo OK"), "{out}");
}
