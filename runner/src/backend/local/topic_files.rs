//! The local target's file-backed log: per partition an append-only data file and an index
//! of record positions, plus consumer-group offsets, with Kafka's semantics (offsets start
//! at 0 and grow by one per record; a key always maps to the same partition).
//!
//! ```text
//! .runner/kafka/<topic>/<partition>.log      [key len + 1: u32][key][value len: u32][value] ...
//! .runner/kafka/<topic>/<partition>.index    [position: u64] per record (little endian)
//! .runner/kafka/<topic>/_groups/<group>.json {"<partition>": next offset}
//! ```
//!
//! The index is the source of truth: a record counts once its index entry is written and
//! synced. Bytes a crash left after the last indexed record are cut before the next append.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::backend::{BackendError, Message, Record, Result};

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackendError + '_ {
    move |source| BackendError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Kafka's murmur2 hash (as its default partitioner uses), so keys land in the same
/// partition on the local log as on a Kafka cluster.
pub fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = SEED ^ (data.len() as u32);
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for chunk in chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    match tail.len() {
        3 => {
            h ^= u32::from(tail[2]) << 16;
            h ^= u32::from(tail[1]) << 8;
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        2 => {
            h ^= u32::from(tail[1]) << 8;
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        1 => {
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        _ => {}
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// The partition of `key` among `partitions`, as Kafka's default partitioner picks it.
pub fn partition_for(key: &[u8], partitions: u32) -> u32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

/// One topic directory of the local log.
pub struct TopicFiles {
    dir: PathBuf,
}

impl TopicFiles {
    /// The files of the topic stored in `dir`.
    pub fn new(dir: PathBuf) -> Self {
        TopicFiles { dir }
    }

    fn log(&self, partition: u32) -> PathBuf {
        self.dir.join(format!("{partition}.log"))
    }

    fn index(&self, partition: u32) -> PathBuf {
        self.dir.join(format!("{partition}.index"))
    }

    /// The offsets file of `group`, refused when the name would leave the topic's
    /// directory.
    fn group(&self, group: &str) -> Result<PathBuf> {
        super::files::check_segment("consumer group", group)?;
        Ok(self.dir.join("_groups").join(format!("{group}.json")))
    }

    /// The folder of `group`'s member files (see [`super::group`]), refused when the
    /// name would leave the topic's directory.
    pub fn members(&self, group: &str) -> Result<PathBuf> {
        super::files::check_segment("consumer group", group)?;
        Ok(self.dir.join("_members").join(group))
    }

    /// Number of records in a partition (its end offset).
    pub fn end_offset(&self, partition: u32) -> Result<u64> {
        let path = self.index(partition);
        match std::fs::metadata(&path) {
            Ok(m) => Ok(m.len() / 8),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Position of record `offset` in the data file.
    fn position(&self, partition: u32, offset: u64) -> Result<u64> {
        let path = self.index(partition);
        let mut file = File::open(&path).map_err(io(&path))?;
        file.seek(SeekFrom::Start(offset * 8)).map_err(io(&path))?;
        let mut bytes = [0u8; 8];
        file.read_exact(&mut bytes).map_err(io(&path))?;
        Ok(u64::from_le_bytes(bytes))
    }

    /// Where the data file's last indexed record ends.
    fn data_end(&self, partition: u32) -> Result<u64> {
        let count = self.end_offset(partition)?;
        if count == 0 {
            return Ok(0);
        }
        let start = self.position(partition, count - 1)?;
        let path = self.log(partition);
        let mut file = File::open(&path).map_err(io(&path))?;
        file.seek(SeekFrom::Start(start)).map_err(io(&path))?;
        let (key, value) = read_record(&mut file).map_err(io(&path))?;
        Ok(start + 8 + key.map_or(0, |k| k.len() as u64) + value.len() as u64)
    }

    /// Appends records to one partition, synced, and returns their offsets.
    pub fn append(&self, partition: u32, records: &[&Record]) -> Result<Vec<u64>> {
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let first = self.end_offset(partition)?;
        let mut position = self.data_end(partition)?;
        let log_path = self.log(partition);
        let mut log = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&log_path)
            .map_err(io(&log_path))?;
        // Cut whatever a crash left after the last indexed record.
        log.set_len(position).map_err(io(&log_path))?;
        log.seek(SeekFrom::Start(position)).map_err(io(&log_path))?;
        let mut data = Vec::new();
        let mut index = Vec::with_capacity(records.len() * 8);
        for record in records {
            index.extend_from_slice(&position.to_le_bytes());
            let key_len = record.key.map_or(0, |k| k.len() as u32 + 1);
            data.extend_from_slice(&key_len.to_le_bytes());
            if let Some(key) = record.key {
                data.extend_from_slice(key);
            }
            data.extend_from_slice(&(record.value.len() as u32).to_le_bytes());
            data.extend_from_slice(record.value);
            position += 8 + record.key.map_or(0, |k| k.len() as u64) + record.value.len() as u64;
        }
        log.write_all(&data).map_err(io(&log_path))?;
        log.sync_data().map_err(io(&log_path))?;
        let index_path = self.index(partition);
        let mut index_file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&index_path)
            .map_err(io(&index_path))?;
        index_file.write_all(&index).map_err(io(&index_path))?;
        index_file.sync_data().map_err(io(&index_path))?;
        Ok((first..first + records.len() as u64).collect())
    }

    /// Up to `max` records of a partition from `offset` on.
    pub fn read(&self, partition: u32, offset: u64, max: usize) -> Result<Vec<Message>> {
        let end = self.end_offset(partition)?;
        if offset >= end || max == 0 {
            return Ok(Vec::new());
        }
        let path = self.log(partition);
        let mut file = std::io::BufReader::new(File::open(&path).map_err(io(&path))?);
        file.seek(SeekFrom::Start(self.position(partition, offset)?))
            .map_err(io(&path))?;
        let last = end.min(offset.saturating_add(max as u64));
        let mut out = Vec::with_capacity((last - offset) as usize);
        for current in offset..last {
            let (key, value) = read_record(&mut file).map_err(io(&path))?;
            out.push(Message {
                offset: current,
                key: key.map(Bytes::from),
                value: Bytes::from(value),
                buffer: None,
            });
        }
        Ok(out)
    }

    /// A group's committed offset in a partition.
    pub fn committed(&self, group: &str, partition: u32) -> Result<Option<u64>> {
        let path = self.group(group)?;
        match std::fs::read(&path) {
            Ok(bytes) => {
                let offsets: std::collections::BTreeMap<String, u64> =
                    serde_json::from_slice(&bytes).map_err(|e| BackendError::Service {
                        service: "local",
                        message: format!("{}: {e}", path.display()),
                    })?;
                Ok(offsets.get(&partition.to_string()).copied())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Records a group's offset in a partition (atomically, beside the others).
    pub fn commit(&self, group: &str, partition: u32, next_offset: u64) -> Result<()> {
        let path = self.group(group)?;
        let mut offsets: std::collections::BTreeMap<String, u64> = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
            Err(_) => Default::default(),
        };
        offsets.insert(partition.to_string(), next_offset);
        let bytes = serde_json::to_vec(&offsets).map_err(|e| BackendError::Service {
            service: "local",
            message: e.to_string(),
        })?;
        super::files::write_atomic(&path, &bytes)
    }
}

/// Reads one `[key len + 1][key][value len][value]` record.
fn read_record(reader: &mut impl Read) -> std::io::Result<(Option<Vec<u8>>, Vec<u8>)> {
    let mut len = [0u8; 4];
    reader.read_exact(&mut len)?;
    let key_len = u32::from_le_bytes(len);
    let key = if key_len == 0 {
        None
    } else {
        let mut key = vec![0u8; (key_len - 1) as usize];
        reader.read_exact(&mut key)?;
        Some(key)
    };
    reader.read_exact(&mut len)?;
    let mut value = vec![0u8; u32::from_le_bytes(len) as usize];
    reader.read_exact(&mut value)?;
    Ok((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka() {
        // Values from Kafka's own tests (Utils.murmur2).
        assert_eq!(murmur2(b"21") as i32, -973932308);
        assert_eq!(murmur2(b"foobar") as i32, -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string") as i32, -1486304829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") as i32,
            -58897971
        );
        assert_eq!(murmur2(b"abc") as i32, 479470107);
    }

    #[test]
    fn a_crash_between_data_and_index_loses_nothing_acknowledged() {
        let dir = std::env::temp_dir().join(format!("runner-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let files = TopicFiles::new(dir.clone());
        let a = Record {
            key: Some(b"k"),
            value: b"one",
        };
        let b = Record {
            key: None,
            value: b"two",
        };
        assert_eq!(files.append(0, &[&a, &b]).unwrap(), [0, 1]);
        // A crash after writing data but before its index entry: garbage at the end.
        let mut log = OpenOptions::new().append(true).open(files.log(0)).unwrap();
        log.write_all(b"\x05\x00\x00\x00half").unwrap();
        let c = Record {
            key: None,
            value: b"three",
        };
        assert_eq!(files.append(0, &[&c]).unwrap(), [2]);
        let read = files.read(0, 0, 10).unwrap();
        let values: Vec<&[u8]> = read.iter().map(|m| &m.value[..]).collect();
        assert_eq!(values, [&b"one"[..], b"two", b"three"]);
        assert_eq!(read[0].key.as_deref(), Some(&b"k"[..]));
        assert_eq!(files.read(0, 2, 10).unwrap()[0].offset, 2);
        let _ = std::fs::remove_dir_all(dir);
    }
}
