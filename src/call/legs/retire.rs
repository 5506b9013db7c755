//! A PBX leg the call has moved on from (failover to the next target) is handed to a small task
//! of its own, which finishes its SIP transactions (the answer to our CANCEL, the ACK of the 487,
//! the BYE when the PBX's 200 crossed the CANCEL) and then drops it. The call's own task thus
//! only ever drives one PBX leg, and a target left behind is never left ringing.

use tokio::time::Instant;
use tracing::Instrument;

use super::PBX_LINGER;
use super::pbx_side::PbxSide;

/// Lets `side` finish on its own (at most [`PBX_LINGER`]); its events are ignored.
pub(super) fn retire(mut side: PbxSide) {
    if side.is_done() {
        return;
    }
    let give_up = Instant::now() + PBX_LINGER;
    let task = async move {
        loop {
            let deadline = side.poll_timeout().map(Instant::from_std);
            tokio::select! {
                m = side.inbox.recv(), if side.inbox_open => match m {
                    Some(incoming) => side.handle(incoming).await,
                    None => side.inbox_open = false,
                },
                _ = sleep_opt(deadline) => side.handle_timeout().await,
                _ = tokio::time::sleep_until(give_up) => {
                    tracing::info!("retired PBX leg did not finish in time; dropping it");
                    break;
                }
            }
            while side.poll_event().is_some() {}
            if side.is_done() {
                break;
            }
        }
    };
    tokio::spawn(task.in_current_span());
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
