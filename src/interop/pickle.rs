//! The pickle in a `torch.save` file, read by a small machine that knows
//! only what a state dict of tensors needs: it calls no code, and any
//! other callable in the stream (a pickled class, a hook) is refused by
//! name. Its stack, nesting and copies are bounded by the pickle's length.

use super::bad;
use crate::ApdError;
use std::collections::HashMap;

/// A view of a storage, as `torch._utils._rebuild_tensor_v2` describes it.
#[derive(Clone, Debug)]
pub(crate) struct TensorRef {
    pub key: String,
    pub dtype: &'static str,
    pub numel: usize,
    pub offset: usize,
    pub size: Vec<usize>,
    pub stride: Vec<usize>,
}

/// What the machine's stack holds.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    None,
    Bool,
    Int(i64),
    Float,
    Str(String),
    Tuple(Seq),
    List(Seq),
    /// Keys and values alternate.
    Dict(Seq),
    Global(String),
    Storage {
        key: String,
        dtype: &'static str,
        numel: usize,
    },
    Tensor(TensorRef),
}

/// A container's items, with its nesting depth and size kept as it grows,
/// so that the limits on both are checked without walking it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Seq {
    pub items: Vec<Value>,
    depth: usize,
    weight: usize,
}

impl Seq {
    fn of(items: Vec<Value>) -> Result<Seq, String> {
        let mut s = Seq::default();
        s.extend(items)?;
        Ok(s)
    }
    fn extend(&mut self, items: Vec<Value>) -> Result<(), String> {
        for v in &items {
            self.depth = self.depth.max(v.depth());
            self.weight = self.weight.saturating_add(v.weight());
        }
        if self.depth > MAX_DEPTH {
            return Err("values nested deeper than any state dict's".into());
        }
        self.items.extend(items);
        Ok(())
    }
}

impl Value {
    fn depth(&self) -> usize {
        match self {
            Value::Tuple(s) | Value::List(s) | Value::Dict(s) => s.depth + 1,
            _ => 1,
        }
    }
    fn weight(&self) -> usize {
        match self {
            Value::Tuple(s) | Value::List(s) | Value::Dict(s) => s.weight.saturating_add(1),
            Value::Str(t) => 1 + t.len() / 16,
            Value::Tensor(t) => 1 + t.size.len(),
            _ => 1,
        }
    }
}

/// How deep values may nest: a state dict is a dict of tensors built from tuples.
const MAX_DEPTH: usize = 16;

/// The callables a state dict's pickle names; anything else is refused.
const ALLOWED: &[&str] = &["collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter"];

fn storage_dtype(global: &str) -> Option<&'static str> {
    Some(match global {
        "torch.FloatStorage" => "F32",
        "torch.DoubleStorage" => "F64",
        "torch.HalfStorage" => "F16",
        "torch.BFloat16Storage" => "BF16",
        g if g.starts_with("torch.") && g.ends_with("Storage") => "non-float",
        _ => return None,
    })
}

/// Bounds that keep a hostile pickle from growing the machine's memory
/// past a multiple of its own length.
const MAX_STACK: usize = 1 << 16;

pub(crate) struct Unpickler<'a> {
    b: &'a [u8],
    at: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    /// What copying out of the memo may still create, in [`Value::weight`]s.
    budget: usize,
}

impl<'a> Unpickler<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Self {
        Unpickler { b, at: 0, stack: Vec::new(), marks: Vec::new(), memo: HashMap::new(), budget: 4 * b.len() + 4096 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ApdError> {
        let s = self
            .b
            .get(self.at..self.at.checked_add(n).ok_or_else(|| self.err("a length overflows"))?)
            .ok_or_else(|| self.err("the pickle ends early"))?;
        self.at += n;
        Ok(s)
    }
    fn uint(&mut self, n: usize) -> Result<u64, ApdError> {
        Ok(self.take(n)?.iter().rev().fold(0u64, |a, &x| (a << 8) | x as u64))
    }
    fn err(&self, what: &str) -> ApdError {
        bad(format!("the pickle in data.pkl is malformed at byte {}: {what}", self.at))
    }
    fn pop(&mut self) -> Result<Value, ApdError> {
        self.stack.pop().ok_or_else(|| self.err("the stack is empty"))
    }
    fn pop_mark(&mut self) -> Result<Vec<Value>, ApdError> {
        let m = self.marks.pop().ok_or_else(|| self.err("no mark"))?;
        if m > self.stack.len() {
            return Err(self.err("a mark past the stack"));
        }
        Ok(self.stack.split_off(m))
    }
    fn push(&mut self, v: Value) -> Result<(), ApdError> {
        if self.stack.len() >= MAX_STACK {
            return Err(self.err("the stack grows past any state dict's"));
        }
        self.stack.push(v);
        Ok(())
    }
    fn line(&mut self) -> Result<String, ApdError> {
        let rest = &self.b[self.at..];
        let n = rest.iter().position(|&c| c == b'\n').ok_or_else(|| self.err("a name without its newline"))?;
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.at += n + 1;
        Ok(s)
    }
    fn text(&mut self, n: usize) -> Result<Value, ApdError> {
        let raw = self.take(n)?;
        Ok(Value::Str(String::from_utf8(raw.to_vec()).map_err(|_| self.err("a string is not UTF-8"))?))
    }

    pub(crate) fn run(mut self) -> Result<Value, ApdError> {
        loop {
            let op = self.take(1)?[0];
            match op {
                0x80 => drop(self.take(1)?),                      // PROTO
                0x95 => drop(self.take(8)?),                      // FRAME
                b'.' => return self.pop(),                        // STOP
                b'(' => self.marks.push(self.stack.len()),        // MARK
                b'}' => self.push(Value::Dict(Seq::default()))?,  // EMPTY_DICT
                b']' => self.push(Value::List(Seq::default()))?,  // EMPTY_LIST
                b')' => self.push(Value::Tuple(Seq::default()))?, // EMPTY_TUPLE
                b'N' => self.push(Value::None)?,                  // NONE
                0x88 | 0x89 => self.push(Value::Bool)?,           // NEWTRUE, NEWFALSE
                b'K' => {
                    let v = self.uint(1)? as i64;
                    self.push(Value::Int(v))?
                }
                b'M' => {
                    let v = self.uint(2)? as i64;
                    self.push(Value::Int(v))?
                }
                b'J' => {
                    let v = self.uint(4)? as u32 as i32 as i64;
                    self.push(Value::Int(v))?
                }
                0x8a => {
                    // LONG1: a little-endian two's-complement integer of n bytes.
                    let n = self.uint(1)? as usize;
                    if n > 8 {
                        return Err(self.err("an integer too large for a size"));
                    }
                    let raw = self.uint(n)?;
                    let v = if n > 0 && n < 8 && raw >> (8 * n - 1) & 1 == 1 { (raw | (!0u64 << (8 * n))) as i64 } else { raw as i64 };
                    self.push(Value::Int(v))?
                }
                b'G' => {
                    self.take(8)?;
                    self.push(Value::Float)?
                }
                b'X' => {
                    let n = self.uint(4)? as usize;
                    let v = self.text(n)?;
                    self.push(v)?
                }
                0x8c => {
                    let n = self.uint(1)? as usize;
                    let v = self.text(n)?;
                    self.push(v)?
                }
                b'c' => {
                    let name = format!("{}.{}", self.line()?, self.line()?);
                    if !ALLOWED.contains(&name.as_str()) && storage_dtype(&name).is_none() {
                        return Err(bad(format!("the pickle names `{name}`: only a plain state dict of tensors is read, and no code is run (save model.state_dict())")));
                    }
                    self.push(Value::Global(name))?
                }
                b'q' | b'r' | 0x94 => {
                    // BINPUT, LONG_BINPUT, MEMOIZE
                    let key = match op {
                        b'q' => self.uint(1)? as u32,
                        b'r' => self.uint(4)? as u32,
                        _ => self.memo.len() as u32,
                    };
                    let top = self.stack.last().ok_or_else(|| self.err("nothing to memoise"))?.clone();
                    self.budget =
                        self.budget.checked_sub(top.weight()).ok_or_else(|| self.err("it copies more than any state dict needs"))?;
                    self.memo.insert(key, top);
                }
                b'h' | b'j' => {
                    let key = if op == b'h' { self.uint(1)? } else { self.uint(4)? } as u32;
                    let v = self.memo.get(&key).cloned().ok_or_else(|| self.err("a memo entry that was never stored"))?;
                    // Copies of copies could grow without bound from a few bytes of pickle.
                    self.budget =
                        self.budget.checked_sub(v.weight()).ok_or_else(|| self.err("it copies more than any state dict needs"))?;
                    self.push(v)?
                }
                b't' => {
                    let items = self.pop_mark()?;
                    let t = Seq::of(items).map_err(|e| self.err(&e))?;
                    self.push(Value::Tuple(t))?
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err(self.err("a tuple of more items than the stack holds"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    let t = Seq::of(items).map_err(|e| self.err(&e))?;
                    self.push(Value::Tuple(t))?
                }
                b'u' | b's' => {
                    let items = if op == b'u' { self.pop_mark()? } else { vec![self.pop()?, self.pop()?].into_iter().rev().collect() };
                    if !items.len().is_multiple_of(2) {
                        return Err(self.err("a dict item without its value"));
                    }
                    let at = self.at;
                    let Some(Value::Dict(d)) = self.stack.last_mut() else {
                        return Err(self.err("items set on something that is not a dict"));
                    };
                    d.extend(items).map_err(|e| bad(format!("the pickle in data.pkl is malformed at byte {at}: {e}")))?;
                }
                b'a' | b'e' => {
                    let items = if op == b'e' { self.pop_mark()? } else { vec![self.pop()?] };
                    let at = self.at;
                    let Some(Value::List(l)) = self.stack.last_mut() else {
                        return Err(self.err("items appended to something that is not a list"));
                    };
                    l.extend(items).map_err(|e| bad(format!("the pickle in data.pkl is malformed at byte {at}: {e}")))?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = persistent(pid).map_err(|e| self.err(&e))?;
                    self.push(v)?
                }
                b'R' => {
                    let args = self.pop()?;
                    let f = self.pop()?;
                    let v = reduce(f, args).map_err(|e| self.err(&e))?;
                    self.push(v)?
                }
                b'b' => {
                    // BUILD: an OrderedDict's attributes (its `_metadata`), which a state dict does not need.
                    self.pop()?;
                    if !matches!(self.stack.last(), Some(Value::Dict(_) | Value::Tensor(_))) {
                        return Err(self.err("attributes set on an object that is not a dict or tensor"));
                    }
                }
                other => return Err(self.err(&format!("opcode 0x{other:02x} is not one a state dict needs"))),
            }
        }
    }
}

fn persistent(pid: Value) -> Result<Value, String> {
    let Value::Tuple(t) = pid else { return Err("a persistent id that is not a tuple".into()) };
    match t.items.as_slice() {
        [Value::Str(kind), Value::Global(g), Value::Str(key), Value::Str(_location), Value::Int(numel)]
            if kind == "storage" && *numel >= 0 =>
        {
            let dtype = storage_dtype(g).ok_or("a storage of no known type")?;
            if key.contains('/') || key.contains("..") {
                return Err("a storage key that is a path".into());
            }
            let numel = usize::try_from(*numel).map_err(|_| "a storage too large for this machine")?;
            Ok(Value::Storage { key: key.clone(), dtype, numel })
        }
        _ => Err("a persistent id that is not a tensor storage".into()),
    }
}

fn sizes(v: &Value) -> Option<Vec<usize>> {
    let Value::Tuple(t) = v else { return None };
    t.items.iter().map(|x| if let Value::Int(i) = x { usize::try_from(*i).ok() } else { None }).collect()
}

fn reduce(f: Value, args: Value) -> Result<Value, String> {
    let (Value::Global(f), Value::Tuple(args)) = (f, args) else { return Err("a call that is not of a known function".into()) };
    match (f.as_str(), args.items.as_slice()) {
        ("collections.OrderedDict", []) => Ok(Value::Dict(Seq::default())),
        ("torch._utils._rebuild_tensor_v2", [Value::Storage { key, dtype, numel }, Value::Int(offset), size, stride, ..]) => {
            let (size, stride) = (sizes(size).ok_or("a tensor's size")?, sizes(stride).ok_or("a tensor's stride")?);
            if size.len() != stride.len() || *offset < 0 {
                return Err("a tensor whose size and stride differ in length".into());
            }
            Ok(Value::Tensor(TensorRef {
                key: key.clone(),
                dtype,
                numel: *numel,
                offset: usize::try_from(*offset).map_err(|_| "a tensor offset too large")?,
                size,
                stride,
            }))
        }
        ("torch._utils._rebuild_parameter", [t @ Value::Tensor(_), ..]) => Ok(t.clone()),
        (f, _) => Err(format!("`{f}` called with arguments a state dict does not hold")),
    }
}
