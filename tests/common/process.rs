//! Child processes in tests: [`ChildGuard`] kills and reaps one when the test ends, whatever
//! happens, and [`output_ok`] runs a command that must succeed.

use std::process::{Child, Command, ExitStatus, Output};
use std::time::{Duration, Instant};

/// Kills and reaps a child process when dropped.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl ChildGuard {
    /// Waits up to `within` for the process to exit on its own (polling every 100 ms); panics
    /// with "`what` did not finish" when it does not.
    pub async fn exit_within(&mut self, within: Duration, what: &str) -> ExitStatus {
        let end = Instant::now() + within;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < end, "{what} did not finish");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Runs `cmd` to completion; unless it succeeds, panics with `what`, its status, stdout and
/// stderr.
pub fn output_ok(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
