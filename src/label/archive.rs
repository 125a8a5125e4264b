//! A zip archive of label files, written as a stream in bounded memory.
//!
//! Each entry is compressed and checksummed beforehand ([`Entry::new`], on the
//! render workers), so the writer only appends bytes in label order. The
//! central directory, which a zip needs at its end and which grows with every
//! entry, is spilled to a side file rather than kept in memory, so a million
//! labels take no more memory than ten. ZIP64 records are added when the
//! entry count or offsets outgrow the classic 16/32-bit fields. The archive
//! is an [`AtomicFile`]: until [`ZipWriter::finish`] renames it, only a
//! `.part` file exists, so an interrupted run never leaves a zip that looks
//! complete.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::job::{self, AtomicFile, Rendered, Renderer};
use super::{Format, LabelError};

/// How an entry's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// As they are (PNG is already deflate-compressed).
    Stored,
    /// Raw deflate (SVG text shrinks several-fold).
    Deflated,
}

/// One file ready to append: name, checksum, sizes and the stored bytes.
#[derive(Debug)]
pub struct Entry {
    name: String,
    method: Method,
    crc: u32,
    size: u64,
    data: Vec<u8>,
}

impl Entry {
    /// Checksums `bytes` and compresses them if `method` asks for it.
    pub fn new(name: String, bytes: Vec<u8>, method: Method) -> Self {
        let crc = crc32fast::hash(&bytes);
        let size = bytes.len() as u64;
        let data = match method {
            Method::Stored => bytes,
            // Level 1: labels are small and alike; more effort buys little.
            Method::Deflated => miniz_oxide::deflate::compress_to_vec(&bytes, 1),
        };
        Entry {
            name,
            method,
            crc,
            size,
            data,
        }
    }
}

const LOCAL: u32 = 0x0403_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;
const END64: u32 = 0x0606_4b50;
const LOCATOR64: u32 = 0x0706_4b50;
/// Name is UTF-8 (general purpose flag bit 11).
const UTF8: u16 = 0x0800;
/// Made by: Unix (3), spec 4.5 (ZIP64).
const MADE_BY: u16 = (3 << 8) | 45;
/// Regular file, rw-r--r--, in the Unix half of the external attributes.
const UNIX_FILE: u32 = 0o100_644 << 16;

/// Writes entries into `{path}.part`, renamed to `path` by [`ZipWriter::finish`].
pub struct ZipWriter {
    out: Option<AtomicFile>,
    path: PathBuf,
    central: Option<BufWriter<File>>,
    central_path: PathBuf,
    offset: u64,
    central_len: u64,
    count: u64,
    dos_time: u16,
    dos_date: u16,
}

impl ZipWriter {
    /// Starts an archive at `path`; entries get the modification time `now`.
    pub fn create(path: &Path, now: time::OffsetDateTime) -> Result<Self, LabelError> {
        let out = AtomicFile::create(path)?;
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".directory.part");
        let central_path = path.with_file_name(name);
        let central =
            File::create(&central_path).map_err(|e| LabelError::io(central_path.display(), e))?;
        let (dos_time, dos_date) = dos_time(now);
        Ok(ZipWriter {
            out: Some(out),
            path: path.to_owned(),
            central: Some(BufWriter::with_capacity(1 << 16, central)),
            central_path,
            offset: 0,
            central_len: 0,
            count: 0,
            dos_time,
            dos_date,
        })
    }

    /// Appends one entry (local header and data) and notes it for the directory.
    pub fn add(&mut self, e: &Entry) -> Result<(), LabelError> {
        let name = e.name.as_bytes();
        let (Ok(name_len), Ok(csize), Ok(usize)) = (
            u16::try_from(name.len()),
            u32::try_from(e.data.len()),
            u32::try_from(e.size),
        ) else {
            return Err(LabelError::BadOption(format!(
                "zip entry {} is too large for a label archive",
                e.name
            )));
        };
        let method: u16 = match e.method {
            Method::Stored => 0,
            Method::Deflated => 8,
        };
        let mut local = Vec::with_capacity(30 + name.len());
        put32(&mut local, LOCAL);
        put16(&mut local, 20);
        put16(&mut local, UTF8);
        put16(&mut local, method);
        put16(&mut local, self.dos_time);
        put16(&mut local, self.dos_date);
        put32(&mut local, e.crc);
        put32(&mut local, csize);
        put32(&mut local, usize);
        put16(&mut local, name_len);
        put16(&mut local, 0);
        local.extend_from_slice(name);
        let at = self.offset;
        self.write(&local)?;
        self.write(&e.data)?;

        // The directory record; the local header's offset goes into a ZIP64
        // extra field once it no longer fits in 32 bits.
        let big = at >= u64::from(u32::MAX);
        let mut c = Vec::with_capacity(58 + name.len());
        put32(&mut c, CENTRAL);
        put16(&mut c, MADE_BY);
        put16(&mut c, if big { 45 } else { 20 });
        put16(&mut c, UTF8);
        put16(&mut c, method);
        put16(&mut c, self.dos_time);
        put16(&mut c, self.dos_date);
        put32(&mut c, e.crc);
        put32(&mut c, csize);
        put32(&mut c, usize);
        put16(&mut c, name_len);
        put16(&mut c, if big { 12 } else { 0 });
        put16(&mut c, 0); // comment
        put16(&mut c, 0); // disk
        put16(&mut c, 0); // internal attributes
        put32(&mut c, UNIX_FILE);
        put32(&mut c, if big { u32::MAX } else { at as u32 });
        c.extend_from_slice(name);
        if big {
            put16(&mut c, 0x0001);
            put16(&mut c, 8);
            put64(&mut c, at);
        }
        let central = self
            .central
            .as_mut()
            .ok_or_else(|| LabelError::io(self.central_path.display(), closed()))?;
        central
            .write_all(&c)
            .map_err(|e| LabelError::io(self.central_path.display(), e))?;
        self.central_len += c.len() as u64;
        self.count += 1;
        Ok(())
    }

    /// Entries added so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    fn write(&mut self, b: &[u8]) -> Result<(), LabelError> {
        self.out
            .as_mut()
            .ok_or_else(closed)
            .and_then(|o| o.write_all(b))
            .map_err(|e| LabelError::io(self.path.display(), e))?;
        self.offset += b.len() as u64;
        Ok(())
    }

    /// Appends the directory and end records, then syncs and renames the archive into place.
    pub fn finish(mut self) -> Result<(), LabelError> {
        let spill = self.central_path.clone();
        let central = self
            .central
            .take()
            .ok_or_else(|| LabelError::io(spill.display(), closed()))?;
        let f = central
            .into_inner()
            .map_err(|e| LabelError::io(spill.display(), e.into_error()))?;
        drop(f);
        let dir_at = self.offset;
        let mut r = BufReader::with_capacity(
            1 << 16,
            File::open(&spill).map_err(|e| LabelError::io(spill.display(), e))?,
        );
        let copied = self
            .out
            .as_mut()
            .ok_or_else(closed)
            .and_then(|o| std::io::copy(&mut r, o))
            .map_err(|e| LabelError::io(self.path.display(), e))?;
        if copied != self.central_len {
            return Err(LabelError::io(
                spill.display(),
                std::io::Error::other("zip directory file changed while writing"),
            ));
        }
        self.offset += copied;
        let dir_len = self.central_len;
        let count = self.count;
        let mut end = Vec::with_capacity(98);
        let zip64 = count >= u64::from(u16::MAX)
            || dir_at >= u64::from(u32::MAX)
            || dir_len >= u64::from(u32::MAX);
        if zip64 {
            let end64_at = self.offset;
            put32(&mut end, END64);
            put64(&mut end, 44);
            put16(&mut end, MADE_BY);
            put16(&mut end, 45);
            put32(&mut end, 0);
            put32(&mut end, 0);
            put64(&mut end, count);
            put64(&mut end, count);
            put64(&mut end, dir_len);
            put64(&mut end, dir_at);
            put32(&mut end, LOCATOR64);
            put32(&mut end, 0);
            put64(&mut end, end64_at);
            put32(&mut end, 1);
        }
        // Fields that overflow say so with all ones; readers then use ZIP64.
        let n16 = u16::try_from(count).unwrap_or(u16::MAX);
        put32(&mut end, END);
        put16(&mut end, 0);
        put16(&mut end, 0);
        put16(&mut end, n16);
        put16(&mut end, n16);
        put32(&mut end, u32::try_from(dir_len).unwrap_or(u32::MAX));
        put32(&mut end, u32::try_from(dir_at).unwrap_or(u32::MAX));
        put16(&mut end, 0);
        self.write(&end)?;
        let _ = std::fs::remove_file(&spill);
        self.out
            .take()
            .ok_or_else(|| LabelError::io(self.path.display(), closed()))?
            .commit()
    }
}

impl Drop for ZipWriter {
    fn drop(&mut self) {
        // The archive's own `.part` is removed by AtomicFile; this is the directory's.
        self.central.take();
        let _ = std::fs::remove_file(&self.central_path);
    }
}

/// Renders `first..=last` (PNG or SVG) into one zip at `path`, one file per
/// label in index order: PNG stored (it is deflate-compressed already), SVG
/// deflated. Returns the number of entries written.
pub fn render_zip(
    renderer: &Renderer,
    first: u64,
    last: u64,
    path: &Path,
    progress: impl Fn(u64),
) -> Result<u64, LabelError> {
    let method = match renderer.format() {
        Format::Png => Method::Stored,
        Format::Svg => Method::Deflated,
        other => {
            return Err(LabelError::BadOption(format!(
                "a zip holds one PNG or SVG per label; {} is written as one file, without --zip",
                other.ext()
            )))
        }
    };
    let mut zip = ZipWriter::create(path, time::OffsetDateTime::now_utc())?;
    job::run_with(
        renderer,
        first,
        last,
        |_, r| match r {
            Rendered::File { name, bytes } => Ok(Entry::new(name, bytes, method)),
            _ => Err(LabelError::BadOption("not a file format".into())),
        },
        |_, e| zip.add(&e),
        progress,
    )?;
    let n = zip.count();
    zip.finish()?;
    Ok(n)
}

fn closed() -> std::io::Error {
    std::io::Error::other("zip archive already finished")
}

fn put16(v: &mut Vec<u8>, n: u16) {
    v.extend_from_slice(&n.to_le_bytes());
}

fn put32(v: &mut Vec<u8>, n: u32) {
    v.extend_from_slice(&n.to_le_bytes());
}

fn put64(v: &mut Vec<u8>, n: u64) {
    v.extend_from_slice(&n.to_le_bytes());
}

/// MS-DOS time and date fields (2-second steps, years 1980..=2107).
fn dos_time(t: time::OffsetDateTime) -> (u16, u16) {
    let year = t.year().clamp(1980, 2107) as u16;
    let time =
        (u16::from(t.hour()) << 11) | (u16::from(t.minute()) << 5) | u16::from(t.second() / 2);
    let date = ((year - 1980) << 9) | (u16::from(u8::from(t.month())) << 5) | u16::from(t.day());
    (time, date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_time_packs_fields() {
        let t = time::macros::datetime!(2026-11-28 17:30:58 UTC);
        let (tm, dt) = dos_time(t);
        assert_eq!(tm >> 11, 17);
        assert_eq!((tm >> 5) & 0x3f, 30);
        assert_eq!(tm & 0x1f, 29);
        assert_eq!(dt >> 9, 46);
        assert_eq!((dt >> 5) & 0xf, 11);
        assert_eq!(dt & 0x1f, 28);
    }

    #[test]
    fn an_unfinished_archive_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("labels.zip");
        {
            let mut z = ZipWriter::create(&p, time::OffsetDateTime::UNIX_EPOCH).unwrap();
            z.add(&Entry::new(
                "a.svg".into(),
                b"<svg/>".to_vec(),
                Method::Deflated,
            ))
            .unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
