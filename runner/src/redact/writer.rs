//! [`Redacting`]: a writer that passes whole lines through the process-wide redactor.

use std::io::Write;

/// Text held back waiting for its line's end is passed on anyway past this size.
const MAX_PENDING: usize = 64 * 1024;

/// Wraps a writer (stdout, stderr, a log line) so hidden values never reach it: text is
/// held until its line ends, so a value written in pieces is still recognised, then
/// redacted and passed on. [`Write::flush`] and dropping pass on a partial line too.
pub struct Redacting<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> Redacting<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Redacting {
            inner,
            pending: Vec::new(),
        }
    }

    /// Redacts and writes the first `len` pending bytes.
    fn pass_on(&mut self, len: usize) -> std::io::Result<()> {
        super::write_redacted(&mut self.inner, &self.pending[..len])?;
        self.pending.drain(..len);
        Ok(())
    }
}

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(last) = self.pending.iter().rposition(|&b| b == b'\n') {
            self.pass_on(last + 1)?;
        }
        if self.pending.len() > MAX_PENDING {
            self.pass_on(self.pending.len())?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.pass_on(self.pending.len())?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for Redacting<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}
