//! The zip archives `torch.save` writes: the central directory read, and
//! the stored (uncompressed) entries it names, each checked to lie inside
//! the file. Compressed and zip64 entries are refused by name.

use super::bad;
use crate::ApdError;

/// The entries of a zip archive; only stored (uncompressed) entries can be read.
pub(crate) struct Zip<'a> {
    bytes: &'a [u8],
    entries: Vec<(String, u16, usize, usize)>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at.checked_add(2)?)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

impl<'a> Zip<'a> {
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, ApdError> {
        let truncated = || bad("the zip archive is truncated or malformed".into());
        // The end-of-central-directory record: the last 22 bytes, or up to a 64 KiB comment before them.
        let eocd = (0..bytes.len().saturating_sub(21))
            .rev()
            .take(65536 + 22)
            .find(|&i| u32_at(bytes, i) == Some(0x0605_4b50))
            .ok_or_else(truncated)?;
        let count = u16_at(bytes, eocd + 10).ok_or_else(truncated)? as usize;
        // Offsets are checked to lie inside the file as they are read, so
        // that the sums below stay far from overflow (usize is 32 bits in wasm).
        let mut at = u32_at(bytes, eocd + 16).ok_or_else(truncated)? as usize;
        let mut entries = Vec::new();
        for _ in 0..count {
            if u32_at(bytes, at) != Some(0x0201_4b50) {
                return Err(truncated());
            }
            let method = u16_at(bytes, at + 10).ok_or_else(truncated)?;
            let size = u32_at(bytes, at + 20).ok_or_else(truncated)?;
            let (n, e, c) = (u16_at(bytes, at + 28), u16_at(bytes, at + 30), u16_at(bytes, at + 32));
            let (n, e, c) = (n.ok_or_else(truncated)? as usize, e.ok_or_else(truncated)? as usize, c.ok_or_else(truncated)? as usize);
            let local = u32_at(bytes, at + 42).ok_or_else(truncated)? as usize;
            let name = bytes.get(at + 46..at + 46 + n).ok_or_else(truncated)?;
            let name = String::from_utf8(name.to_vec()).map_err(|_| truncated())?;
            if size == u32::MAX || local == u32::MAX as usize {
                return Err(bad(format!("`{name}` is stored in zip64 form, which is not read (the file is too large for a toy model)")));
            }
            if local >= bytes.len() {
                return Err(truncated());
            }
            entries.push((name, method, local, size as usize));
            at += 46 + n + e + c;
        }
        Ok(Zip { bytes, entries })
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.0.as_str())
    }

    /// An entry's bytes, checked to lie inside the archive.
    pub(crate) fn entry(&self, name: &str) -> Result<&'a [u8], ApdError> {
        let (_, method, local, size) =
            self.entries.iter().find(|e| e.0 == name).ok_or_else(|| bad(format!("the archive has no `{name}`")))?;
        if *method != 0 {
            return Err(bad(format!(
                "`{name}` is compressed: torch.save stores its entries uncompressed; save the file again with torch.save"
            )));
        }
        let b = self.bytes;
        let bad_entry = || bad(format!("`{name}` lies outside the archive: the file is truncated or malformed"));
        if u32_at(b, *local) != Some(0x0403_4b50) {
            return Err(bad_entry());
        }
        let start =
            local + 30 + u16_at(b, local + 26).ok_or_else(bad_entry)? as usize + u16_at(b, local + 28).ok_or_else(bad_entry)? as usize;
        b.get(start..start.checked_add(*size).ok_or_else(bad_entry)?).ok_or_else(bad_entry)
    }
}
