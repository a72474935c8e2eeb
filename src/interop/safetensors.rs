//! The safetensors format (huggingface/safetensors): an 8-byte
//! little-endian header length, a JSON header naming each tensor's dtype,
//! shape and byte range, then the raw little-endian data. Read from f32,
//! f16, bf16 and f64; written as f32.

use super::{bad, NamedTensors, Tensor32};
use serde_json::{Map, Value};

/// The tensors of a safetensors file, converted to f32; every length,
/// offset and shape is checked against the bytes the file holds before
/// anything is allocated.
pub fn read(bytes: &[u8]) -> Result<NamedTensors, crate::ApdError> {
    if bytes.len() < 8 {
        return Err(bad(format!("the file is {} bytes: too short for a safetensors header", bytes.len())));
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    let rest = (bytes.len() - 8) as u64;
    if n > rest {
        return Err(bad(format!("the safetensors header says it is {n} bytes long, but only {rest} bytes follow")));
    }
    let (header, data) = bytes[8..].split_at(n as usize);
    let header: Map<String, Value> =
        serde_json::from_slice(header).map_err(|e| bad(format!("the safetensors header is not a JSON object: {e}")))?;
    let mut out = NamedTensors::new();
    for (name, entry) in &header {
        if name == "__metadata__" {
            continue;
        }
        out.insert(name.clone(), tensor(name, entry, data)?);
    }
    Ok(out)
}

fn tensor(name: &str, entry: &Value, data: &[u8]) -> Result<Tensor32, crate::ApdError> {
    let field = |k: &str| entry.get(k).ok_or_else(|| bad(format!("tensor `{name}` has no `{k}` in the header")));
    let dtype = field("dtype")?.as_str().ok_or_else(|| bad(format!("tensor `{name}`: `dtype` is not a string")))?;
    let width =
        width(dtype).ok_or_else(|| bad(format!("tensor `{name}` is of type {dtype}: only F32, F16, BF16 and F64 tensors are read")))?;
    let shape = usizes(field("shape")?).ok_or_else(|| bad(format!("tensor `{name}`: `shape` is not a list of sizes")))?;
    let offsets = usizes(field("data_offsets")?)
        .filter(|o| o.len() == 2)
        .ok_or_else(|| bad(format!("tensor `{name}`: `data_offsets` is not a pair of byte offsets")))?;
    let (begin, end) = (offsets[0], offsets[1]);
    if begin > end || end > data.len() {
        return Err(bad(format!("tensor `{name}`'s bytes {begin}..{end} lie outside the {} bytes of data the file holds", data.len())));
    }
    let numel = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if numel.and_then(|n| n.checked_mul(width)) != Some(end - begin) {
        return Err(bad(format!("tensor `{name}` of shape {shape:?} ({dtype}) does not fill its {} bytes", end - begin)));
    }
    let values = decode(dtype, &data[begin..end]);
    super::check_finite(name, &values)?;
    Ok(Tensor32 { shape, values })
}

fn usizes(v: &Value) -> Option<Vec<usize>> {
    v.as_array()?.iter().map(|x| x.as_u64().and_then(|u| usize::try_from(u).ok())).collect()
}

/// Bytes per value of the dtypes read (`F32`, `F16`, `BF16`, `F64`).
pub(crate) fn width(dtype: &str) -> Option<usize> {
    match dtype {
        "F32" => Some(4),
        "F16" | "BF16" => Some(2),
        "F64" => Some(8),
        _ => None,
    }
}

/// Little-endian values of `dtype` (`F32`, `F16`, `BF16`, `F64`) as f32.
pub(crate) fn decode(dtype: &str, raw: &[u8]) -> Vec<f32> {
    match dtype {
        "F32" => raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect(),
        "F64" => raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32).collect(),
        "BF16" => raw.chunks_exact(2).map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16)).collect(),
        "F16" => raw.chunks_exact(2).map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]]))).collect(),
        _ => unreachable!("dtypes are checked before decoding"),
    }
}

/// IEEE 754 half precision to single, exactly (subnormals included).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        // Subnormal: frac * 2^-24, exact in f32.
        (0, f) => {
            let v = f as f32 * 2f32.powi(-24);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

/// A safetensors file of `tensors` (f32, in name order), with string
/// `metadata` under `__metadata__`.
pub fn write(tensors: &NamedTensors, metadata: &[(&str, String)]) -> Vec<u8> {
    let mut header = Map::new();
    if !metadata.is_empty() {
        let meta: Map<String, Value> = metadata.iter().map(|(k, v)| (k.to_string(), Value::String(v.clone()))).collect();
        header.insert("__metadata__".into(), Value::Object(meta));
    }
    let mut offset = 0usize;
    for (name, t) in tensors {
        let end = offset + 4 * t.values.len();
        header.insert(name.clone(), serde_json::json!({"dtype": "F32", "shape": t.shape, "data_offsets": [offset, end]}));
        offset = end;
    }
    let mut head = serde_json::to_vec(&Value::Object(header)).expect("a JSON map serialises");
    // The format asks that the data start 8-byte aligned; spaces pad the JSON.
    while !head.len().is_multiple_of(8) {
        head.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + head.len() + offset);
    out.extend_from_slice(&(head.len() as u64).to_le_bytes());
    out.extend_from_slice(&head);
    for t in tensors.values() {
        for v in &t.values {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}
