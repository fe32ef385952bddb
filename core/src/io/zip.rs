//! The zip container under NumPy's `.npz` and PyTorch's `torch.save` archives: central
//! directory (ZIP64 included), stored or deflated members, CRC-32 checked.
//!
//! Every offset and size is checked against the input before it is used, declared sizes are
//! bounded by what the input can hold (deflate expands at most ~1032:1), so a corrupt or
//! hostile archive gives an error, never a panic or an unbounded allocation.

use std::borrow::Cow;

/// What is wrong with an archive. The readers on top ([`super::npz`], [`super::torch`]) turn
/// it into their own error type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ZipError {
    /// The archive as a whole (end record, central directory) is unusable; `member` is the
    /// 1-based central-directory entry being read, if any.
    #[error("{msg}")]
    Archive {
        /// 1-based member number, when one was being read.
        member: Option<usize>,
        /// What is wrong.
        msg: String,
    },
    /// One member is unusable (local header, sizes, compression, CRC).
    #[error("{name}: {field}: {msg}")]
    Member {
        /// 1-based member number in the central directory.
        member: usize,
        /// Member name.
        name: String,
        /// The part of the member at fault, e.g. `"crc32"`.
        field: &'static str,
        /// What is wrong.
        msg: String,
    },
}

/// One member, located but not yet inflated.
#[derive(Debug, Clone)]
pub(crate) struct ZipEntry<'a> {
    /// 1-based member number in the central directory.
    pub member: usize,
    /// Compression method (0 stored, 8 deflate).
    pub method: u16,
    /// CRC-32 of the content.
    pub crc: u32,
    /// Uncompressed size.
    pub size: u64,
    /// The (compressed) bytes.
    pub data: &'a [u8],
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// The members of a zip archive with their names, in central-directory order.
pub(crate) fn entries(bytes: &[u8]) -> Result<Vec<(String, ZipEntry<'_>)>, ZipError> {
    let archive = |member: Option<usize>, msg: String| ZipError::Archive { member, msg };
    // End of central directory: scan back over at most a 64 KiB comment.
    let min = bytes.len().saturating_sub(22 + 65_535);
    let eocd = (min..=bytes.len().saturating_sub(22))
        .rev()
        .find(|&i| bytes.get(i..i + 4) == Some(b"PK\x05\x06"))
        .ok_or_else(|| {
            archive(
                None,
                if bytes.starts_with(b"PK\x03\x04") {
                    "no end-of-central-directory record (truncated archive?)".to_owned()
                } else {
                    "not a zip archive (no end-of-central-directory record)".to_owned()
                },
            )
        })?;
    let bad = |what: &str| archive(None, format!("truncated or corrupt {what}"));
    let mut n_entries = u64::from(u16_at(bytes, eocd + 10).ok_or_else(|| bad("directory"))?);
    let mut cd_offset = u64::from(u32_at(bytes, eocd + 16).ok_or_else(|| bad("directory"))?);
    // ZIP64 end of central directory locator just before the end record.
    if eocd >= 20 && bytes.get(eocd - 20..eocd - 16) == Some(b"PK\x06\x07") {
        let z64 = u64_at(bytes, eocd - 12).ok_or_else(|| bad("zip64 locator"))?;
        let z64 = usize::try_from(z64).map_err(|_| bad("zip64 locator"))?;
        if z64.checked_add(4).and_then(|e| bytes.get(z64..e)) != Some(b"PK\x06\x06") {
            return Err(bad("zip64 directory"));
        }
        n_entries = u64_at(bytes, z64 + 32).ok_or_else(|| bad("zip64 directory"))?;
        cd_offset = u64_at(bytes, z64 + 48).ok_or_else(|| bad("zip64 directory"))?;
    }
    // Each central entry takes at least 46 bytes.
    if n_entries > (bytes.len() / 46) as u64 {
        return Err(archive(
            None,
            format!(
                "declares {n_entries} members, too many for {} bytes",
                bytes.len()
            ),
        ));
    }
    let mut at = usize::try_from(cd_offset).map_err(|_| bad("directory offset"))?;
    let mut out = Vec::with_capacity(n_entries as usize);
    for k in 0..n_entries as usize {
        let member = k + 1;
        let hdr = |what: &str| archive(Some(member), format!("truncated or corrupt {what}"));
        if at
            .checked_add(46)
            .and_then(|e| bytes.get(at..e))
            .map(|h| &h[..4])
            != Some(b"PK\x01\x02")
        {
            return Err(hdr("central directory entry"));
        }
        let entry = || hdr("central directory entry");
        let method = u16_at(bytes, at + 10).ok_or_else(entry)?;
        let crc = u32_at(bytes, at + 16).ok_or_else(entry)?;
        let mut csize = u64::from(u32_at(bytes, at + 20).ok_or_else(entry)?);
        let mut size = u64::from(u32_at(bytes, at + 24).ok_or_else(entry)?);
        let nlen = usize::from(u16_at(bytes, at + 28).ok_or_else(entry)?);
        let xlen = usize::from(u16_at(bytes, at + 30).ok_or_else(entry)?);
        let clen = usize::from(u16_at(bytes, at + 32).ok_or_else(entry)?);
        let mut local = u64::from(u32_at(bytes, at + 42).ok_or_else(entry)?);
        let name = bytes
            .get(at + 46..at + 46 + nlen)
            .ok_or_else(|| hdr("name"))?;
        let name = String::from_utf8_lossy(name).into_owned();
        let extra = bytes
            .get(at + 46 + nlen..at + 46 + nlen + xlen)
            .ok_or_else(|| hdr("extra field"))?;
        let merr = |field: &'static str, msg: String| ZipError::Member {
            member,
            name: name.clone(),
            field,
            msg,
        };
        // ZIP64 extra field: values present only for the fields that are 0xFFFFFFFF, in order.
        let mut e = 0;
        while e + 4 <= extra.len() {
            let id = u16_at(extra, e).unwrap_or(0);
            let len = usize::from(u16_at(extra, e + 2).unwrap_or(0));
            if id == 1 {
                let mut p = e + 4;
                for field in [&mut size, &mut csize, &mut local] {
                    if *field == 0xFFFF_FFFF {
                        *field = u64_at(extra, p)
                            .ok_or_else(|| merr("zip64 extra field", "truncated".to_owned()))?;
                        p += 8;
                    }
                }
            }
            e += 4 + len;
        }
        at += 46 + nlen + xlen + clen;
        let lo = usize::try_from(local)
            .map_err(|_| merr("local header", "offset out of range".to_owned()))?;
        if lo
            .checked_add(30)
            .and_then(|e| bytes.get(lo..e))
            .map(|h| &h[..4])
            != Some(b"PK\x03\x04")
        {
            return Err(merr(
                "local header",
                "no local header at its offset".to_owned(),
            ));
        }
        let truncated = || merr("local header", "truncated".to_owned());
        let lnlen = usize::from(u16_at(bytes, lo + 26).ok_or_else(truncated)?);
        let lxlen = usize::from(u16_at(bytes, lo + 28).ok_or_else(truncated)?);
        let start = lo + 30 + lnlen + lxlen;
        let data = usize::try_from(csize)
            .ok()
            .and_then(|c| start.checked_add(c))
            .and_then(|end| bytes.get(start..end))
            .ok_or_else(|| {
                merr(
                    "compressed size",
                    format!("{csize} bytes declared, the archive ends first"),
                )
            })?;
        out.push((
            name,
            ZipEntry {
                member,
                method,
                crc,
                size,
                data,
            },
        ));
    }
    Ok(out)
}

/// The content of member `name`, inflated if needed, CRC-checked.
pub(crate) fn read<'a>(name: &str, e: &ZipEntry<'a>) -> Result<Cow<'a, [u8]>, ZipError> {
    let merr = |field: &'static str, msg: String| ZipError::Member {
        member: e.member,
        name: name.to_owned(),
        field,
        msg,
    };
    let content: Cow<'a, [u8]> = match e.method {
        0 => {
            if e.size != e.data.len() as u64 {
                return Err(merr(
                    "size",
                    format!(
                        "stored member declares {} bytes, holds {}",
                        e.size,
                        e.data.len()
                    ),
                ));
            }
            Cow::Borrowed(e.data)
        }
        8 => {
            // Deflate cannot expand beyond ~1032:1.
            let limit = (e.data.len() as u64)
                .saturating_mul(1032)
                .saturating_add(64);
            if e.size > limit {
                return Err(merr(
                    "uncompressed size",
                    format!("{} bytes declared from {} compressed", e.size, e.data.len()),
                ));
            }
            let n = usize::try_from(e.size)
                .map_err(|_| merr("uncompressed size", "out of range".to_owned()))?;
            let v = miniz_oxide::inflate::decompress_to_vec_with_limit(e.data, n)
                .map_err(|err| merr("deflate", format!("inflate failed: {:?}", err.status)))?;
            if v.len() != n {
                return Err(merr(
                    "uncompressed size",
                    format!("{n} bytes declared, {} inflated", v.len()),
                ));
            }
            Cow::Owned(v)
        }
        m => {
            return Err(merr(
                "method",
                format!("unsupported compression method {m}"),
            ));
        }
    };
    if crc32(&content) != e.crc {
        return Err(merr("crc32", "CRC-32 mismatch".to_owned()));
    }
    Ok(content)
}

/// CRC-32 (IEEE 802.3, reflected, as zip uses it), by the `crc32fast` crate.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_reference() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn not_a_zip_is_an_error() {
        let e = entries(b"not a zip at all, just some text").unwrap_err();
        assert!(e.to_string().contains("not a zip archive"), "{e}");
        let e = entries(b"PK\x03\x04 and then nothing").unwrap_err();
        assert!(e.to_string().contains("truncated archive"), "{e}");
    }

    #[test]
    fn absurd_member_count_is_an_error() {
        let mut eocd = b"PK\x05\x06".to_vec();
        eocd.extend_from_slice(&[0; 6]);
        eocd.extend_from_slice(&u16::MAX.to_le_bytes()); // entries
        eocd.extend_from_slice(&[0; 10]);
        let e = entries(&eocd).unwrap_err();
        assert!(e.to_string().contains("too many"), "{e}");
    }
}
