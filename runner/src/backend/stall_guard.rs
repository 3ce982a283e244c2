//! A body read over the network that fails when the sender goes quiet: a server that stops
//! sending in the middle of a body would otherwise hold a read, and the run, for good. A
//! thread reads the body in chunks and hands them over; the reader waits for each chunk at
//! most the idle time.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::time::Duration;

/// Bytes read at once from the body.
const CHUNK: usize = 64 << 10;
/// Chunks read ahead of the consumer.
const AHEAD: usize = 4;

/// `body` read with a stall guard: [`Read::read`] fails with [`io::ErrorKind::TimedOut`],
/// naming `name`, when no byte came for `idle`.
pub struct Guarded {
    name: String,
    idle: Duration,
    chunks: Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    at: usize,
    ended: bool,
}

/// Guards `body` (named `name` in errors), failing a read after `idle` without a byte.
pub fn guard(name: String, body: Box<dyn Read + Send>, idle: Duration) -> io::Result<Guarded> {
    let (sender, chunks) = sync_channel(AHEAD);
    std::thread::Builder::new()
        .name("body-reader".into())
        .spawn(move || {
            let mut body = body;
            loop {
                let mut chunk = vec![0; CHUNK];
                let read = match body.read(&mut chunk) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Ok(n) => {
                        chunk.truncate(n);
                        Ok(chunk)
                    }
                    Err(e) => Err(e),
                };
                // The end (an empty chunk) or an error is the last message.
                let last = read.as_ref().map_or(true, Vec::is_empty);
                if sender.send(read).is_err() || last {
                    return;
                }
            }
        })?;
    Ok(Guarded {
        name,
        idle,
        chunks,
        current: Vec::new(),
        at: 0,
        ended: false,
    })
}

impl Read for Guarded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.current.len() {
            if self.ended {
                return Ok(0);
            }
            match self.chunks.recv_timeout(self.idle) {
                Ok(Ok(chunk)) if chunk.is_empty() => {
                    self.ended = true;
                    return Ok(0);
                }
                Ok(Ok(chunk)) => {
                    self.current = chunk;
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "{}: no data for {} s; the sender stalled (the source's read_timeout)",
                            self.name,
                            self.idle.as_secs_f64()
                        ),
                    ));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(io::Error::other(format!(
                        "{}: the body reader stopped",
                        self.name
                    )));
                }
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `head`, then nothing for `pause`, then `tail`.
    struct Pausing {
        parts: Vec<(Duration, Vec<u8>)>,
    }

    impl Read for Pausing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some((pause, mut part)) = (!self.parts.is_empty()).then(|| self.parts.remove(0))
            else {
                return Ok(0);
            };
            std::thread::sleep(pause);
            let n = buf.len().min(part.len());
            buf[..n].copy_from_slice(&part[..n]);
            if n < part.len() {
                self.parts.insert(0, (Duration::ZERO, part.split_off(n)));
            }
            Ok(n)
        }
    }

    #[test]
    fn a_body_that_keeps_coming_is_read_whole() {
        let body: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
        let slow = Pausing {
            parts: vec![
                (Duration::ZERO, body[..100_000].to_vec()),
                (Duration::from_millis(50), body[100_000..].to_vec()),
            ],
        };
        let mut read = Vec::new();
        guard("x".into(), Box::new(slow), Duration::from_secs(5))
            .expect("guarded")
            .read_to_end(&mut read)
            .expect("read whole");
        assert_eq!(read, body);
    }

    #[test]
    fn a_sender_that_stalls_fails_the_read_after_the_idle_time() {
        let stalled = Pausing {
            parts: vec![
                (Duration::ZERO, b"header\n".to_vec()),
                (Duration::from_secs(30), b"never\n".to_vec()),
            ],
        };
        let started = std::time::Instant::now();
        let mut read = Vec::new();
        let error = guard(
            "GET http://h/x.csv".into(),
            Box::new(stalled),
            Duration::from_millis(200),
        )
        .expect("guarded")
        .read_to_end(&mut read)
        .expect_err("the stall fails the read");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(
            error
                .to_string()
                .starts_with("GET http://h/x.csv: no data for 0.2 s"),
            "{error}"
        );
        assert_eq!(read, b"header\n");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
