//! Stopping long-running work cleanly on SIGINT (Ctrl-C) or SIGTERM: a flow finishes the
//! step it is in (a page produced and its watermark saved, a batch delivered and its
//! offset committed) and returns; a query is cancelled.

use std::time::Duration;

use tokio::sync::watch;

/// Whether the flow was asked to stop; cheap to clone and check.
#[derive(Clone, Debug)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    /// A stop that is set when the process receives SIGINT or SIGTERM.
    pub fn on_signals() -> Stop {
        let (set, stop) = watch::channel(false);
        tokio::spawn(async move {
            let interrupt = tokio::signal::ctrl_c();
            #[cfg(unix)]
            {
                let mut terminate =
                    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    {
                        Ok(signal) => signal,
                        Err(_) => {
                            let _ = interrupt.await;
                            let _ = set.send(true);
                            return;
                        }
                    };
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            #[cfg(not(unix))]
            let _ = interrupt.await;
            tracing::info!("stop requested; finishing the current step");
            let _ = set.send(true);
        });
        Stop(stop)
    }

    /// A stop that is never set (tests, one-shot runs driven by the caller).
    pub fn never() -> Stop {
        let (set, stop) = watch::channel(false);
        // Dropping the sender leaves the value as it is: never set.
        drop(set);
        Stop(stop)
    }

    /// A stop that is set when `channel` says `true` (tests of what a stop ends).
    #[cfg(test)]
    pub(crate) fn from_channel(channel: watch::Receiver<bool>) -> Stop {
        Stop(channel)
    }

    /// Whether a stop was requested.
    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits until a stop is requested (for ever with [`Stop::never`]).
    pub async fn requested(&mut self) {
        if self.0.wait_for(|&set| set).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Sleeps for `duration` or until a stop is requested; `true` when stopped.
    pub async fn sleep(&mut self, duration: Duration) -> bool {
        if self.is_set() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(duration) => self.is_set(),
            changed = self.0.changed() => changed.is_ok() && self.is_set(),
        }
    }
}
