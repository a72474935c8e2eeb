//! PyTorch's `torch.save` files (the zip format of PyTorch 1.6 and later):
//! a zip archive, stored without compression, holding `data.pkl` (a
//! pickle of the state dict) and one raw little-endian file per storage
//! under `data/` (`pickle.rs` reads the pickle, running no code).

use super::pickle::{TensorRef, Unpickler, Value};
use super::zip::Zip;
use super::{bad, NamedTensors, Tensor32};
use crate::ApdError;

/// The tensors of a `torch.save(model.state_dict(), path)` file, as f32.
pub fn read(bytes: &[u8]) -> Result<NamedTensors, ApdError> {
    let zip = Zip::parse(bytes)?;
    let pkl = zip
        .names()
        .find(|n| n.ends_with("data.pkl"))
        .ok_or_else(|| bad("the zip archive has no data.pkl: not a torch.save file".into()))?;
    let prefix = &pkl[..pkl.len() - "data.pkl".len()];
    if let Some(order) = zip.names().find(|n| *n == format!("{prefix}byteorder")) {
        if zip.entry(order)? != b"little" {
            return Err(bad("the tensors are stored big-endian: save them on a little-endian machine".into()));
        }
    }
    let root = Unpickler::new(zip.entry(pkl)?).run()?;
    let Value::Dict(items) = root else {
        return Err(bad("the pickle is not a state dict: save model.state_dict(), not the model".into()));
    };
    let mut out = NamedTensors::new();
    let mut items = items.items.into_iter();
    while let (Some(k), Some(v)) = (items.next(), items.next()) {
        let Value::Str(name) = k else { return Err(bad("a state dict key is not a string".into())) };
        let Value::Tensor(t) = v else {
            return Err(bad(format!("`{name}` is not a tensor: only a plain state dict of tensors is read (save model.state_dict())")));
        };
        let data =
            zip.entry(&format!("{prefix}data/{}", t.key)).map_err(|_| bad(format!("tensor `{name}`'s storage {} is missing", t.key)))?;
        out.insert(name.clone(), t.gather(&name, data)?);
    }
    Ok(out)
}

impl TensorRef {
    /// The view's values, row-major, after checking that every index it
    /// reaches lies inside the storage and the storage inside `data`.
    fn gather(&self, name: &str, data: &[u8]) -> Result<Tensor32, ApdError> {
        let width = super::safetensors::width(self.dtype).ok_or_else(|| {
            bad(format!("tensor `{name}` is of type {}: only float, double, half and bfloat16 tensors are read", self.dtype))
        })?;
        if self.numel.checked_mul(width) != Some(data.len()) {
            return Err(bad(format!("tensor `{name}`'s storage holds {} bytes, not the {} elements it claims", data.len(), self.numel)));
        }
        let count = self.size.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).filter(|&n| n <= self.numel);
        let count =
            count.ok_or_else(|| bad(format!("tensor `{name}` of shape {:?} has more elements than its storage holds", self.size)))?;
        let last =
            self.size.iter().zip(&self.stride).try_fold(self.offset, |a, (&d, &s)| a.checked_add(d.saturating_sub(1).checked_mul(s)?));
        if count > 0 && !matches!(last, Some(l) if l < self.numel) {
            return Err(bad(format!("tensor `{name}` reaches past the end of its storage")));
        }
        let all = super::safetensors::decode(self.dtype, data);
        let mut values = Vec::with_capacity(count);
        let mut index = vec![0usize; self.size.len()];
        for _ in 0..count {
            values.push(all[self.offset + index.iter().zip(&self.stride).map(|(i, s)| i * s).sum::<usize>()]);
            for d in (0..index.len()).rev() {
                index[d] += 1;
                if index[d] < self.size[d] {
                    break;
                }
                index[d] = 0;
            }
        }
        super::check_finite(name, &values)?;
        Ok(Tensor32 { shape: self.size.clone(), values })
    }
}
