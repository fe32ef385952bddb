//! The pickle machine that runs a checkpoint's `data.pkl` (see the parent module for what it
//! interprets): opcodes, stack, memo and a heap of Python objects. Nothing in the pickle is
//! executed: globals become names, and only the extraction in the parent module gives meaning
//! to the few that rebuild tensors and containers.

use std::collections::HashMap;

use super::{DType, TorchError};

/// A pickle value: scalars inline, everything else in the heap (so that the memo shares
/// objects as Python does, and copies stay cheap).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Val {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Obj(usize),
}

/// How a tensor is laid over its storage.
#[derive(Debug, Clone)]
pub(super) struct TensorRef {
    pub(super) key: String,
    pub(super) storage_dtype: DType,
    pub(super) dtype: DType,
    pub(super) offset: usize,
    pub(super) size: Vec<usize>,
    pub(super) stride: Vec<usize>,
}

#[derive(Debug)]
pub(super) enum Obj {
    Str(String),
    Bytes(Vec<u8>),
    /// An integer wider than 64 bits (its byte length).
    BigInt(usize),
    Tuple(Vec<Val>),
    List(Vec<Val>),
    Dict(Vec<(Val, Val)>),
    Set(Vec<Val>),
    Global(String, String),
    /// `('storage', type, key, location, numel)`; dtype `None` for an unsupported type.
    Storage(Option<DType>, String, String),
    /// A rebuilt tensor, or why it could not be (reported only if the tensor is needed).
    Tensor(Result<TensorRef, String>),
    Instance {
        class: String,
        args: Vec<Val>,
        items: Vec<(Val, Val)>,
        elems: Vec<Val>,
        state: Option<Val>,
    },
}

pub(super) struct Machine<'p> {
    pub(super) entry: &'p str,
    pub(super) code: &'p [u8],
    pub(super) pos: usize,
    /// Position and opcode of the instruction being run (for errors).
    pub(super) op_at: usize,
    pub(super) op: u8,
    pub(super) stack: Vec<Val>,
    pub(super) marks: Vec<usize>,
    pub(super) memo: HashMap<u64, Val>,
    pub(super) heap: Vec<Obj>,
    /// Values that REDUCE/NEWOBJ may still copy out of shared (memoized) containers; bounds
    /// the work of a pickle that applies many calls to one large tuple.
    pub(super) copies: usize,
}

impl<'p> Machine<'p> {
    pub(super) fn err(&self, msg: impl Into<String>) -> TorchError {
        TorchError::Pickle {
            entry: self.entry.to_owned(),
            offset: self.op_at,
            opcode: self.op,
            msg: msg.into(),
        }
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'p [u8], TorchError> {
        let code = self.code;
        let end = self.pos.checked_add(n).filter(|&e| e <= code.len());
        match end {
            Some(e) => {
                let s = &code[self.pos..e];
                self.pos = e;
                Ok(s)
            }
            None => Err(self.err(format!(
                "needs {n} bytes, {} left in the pickle",
                code.len() - self.pos.min(code.len())
            ))),
        }
    }

    pub(super) fn u8(&mut self) -> Result<u8, TorchError> {
        Ok(self.take(1)?[0])
    }

    pub(super) fn u16(&mut self) -> Result<u16, TorchError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub(super) fn u32(&mut self) -> Result<u32, TorchError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(super) fn u64(&mut self) -> Result<u64, TorchError> {
        let b = self.take(8)?;
        let mut w = [0u8; 8];
        w.copy_from_slice(b);
        Ok(u64::from_le_bytes(w))
    }

    pub(super) fn line(&mut self) -> Result<&'p str, TorchError> {
        let rest = &self.code[self.pos.min(self.code.len())..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| self.err("unterminated text argument"))?;
        let s = std::str::from_utf8(&rest[..n]).map_err(|_| self.err("text is not UTF-8"))?;
        self.pos += n + 1;
        Ok(s)
    }

    pub(super) fn len_arg(&mut self, n: u64) -> Result<&'p [u8], TorchError> {
        let n = usize::try_from(n).map_err(|_| self.err("length out of range"))?;
        self.take(n)
    }

    pub(super) fn charge(&mut self, n: usize) -> Result<(), TorchError> {
        self.copies = self
            .copies
            .checked_sub(n)
            .ok_or_else(|| self.err("calls copy more values than this pickle can justify"))?;
        Ok(())
    }

    pub(super) fn alloc(&mut self, o: Obj) -> Val {
        self.heap.push(o);
        Val::Obj(self.heap.len() - 1)
    }

    pub(super) fn push(&mut self, v: Val) {
        self.stack.push(v);
    }

    pub(super) fn pop(&mut self) -> Result<Val, TorchError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.err("stack underflow"));
        }
        self.stack.pop().ok_or_else(|| self.err("stack underflow"))
    }

    pub(super) fn top(&self) -> Result<Val, TorchError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.err("stack underflow"));
        }
        self.stack
            .last()
            .copied()
            .ok_or_else(|| self.err("stack underflow"))
    }

    pub(super) fn pop_mark(&mut self) -> Result<Vec<Val>, TorchError> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| self.err("no MARK on the stack"))?;
        Ok(self.stack.split_off(m.min(self.stack.len())))
    }

    pub(super) fn string(&mut self, b: &[u8]) -> Result<Val, TorchError> {
        let s = std::str::from_utf8(b).map_err(|_| self.err("string is not UTF-8"))?;
        Ok(self.alloc(Obj::Str(s.to_owned())))
    }

    pub(super) fn obj(&self, v: Val) -> Option<&Obj> {
        match v {
            Val::Obj(i) => self.heap.get(i),
            _ => None,
        }
    }

    pub(super) fn str_of(&self, v: Val) -> Option<&str> {
        match self.obj(v) {
            Some(Obj::Str(s)) => Some(s),
            _ => None,
        }
    }

    pub(super) fn seq(&self, v: Val) -> Option<&[Val]> {
        match self.obj(v) {
            Some(Obj::Tuple(t) | Obj::List(t)) => Some(t),
            _ => None,
        }
    }

    pub(super) fn int(&self, v: Val) -> Option<i64> {
        match v {
            Val::Int(i) => Some(i),
            Val::Bool(b) => Some(i64::from(b)),
            _ => None,
        }
    }

    pub(super) fn set_items(&mut self, target: Val, kv: Vec<Val>) -> Result<(), TorchError> {
        if !kv.len().is_multiple_of(2) {
            return Err(self.err("odd number of items for SETITEMS"));
        }
        let pairs = kv.chunks_exact(2).map(|c| (c[0], c[1]));
        match target {
            Val::Obj(i) => match self.heap.get_mut(i) {
                Some(Obj::Dict(d) | Obj::Instance { items: d, .. }) => {
                    d.extend(pairs);
                    Ok(())
                }
                _ => Err(self.err("SETITEM(S) target is not a dict")),
            },
            _ => Err(self.err("SETITEM(S) target is not a dict")),
        }
    }

    pub(super) fn append(&mut self, target: Val, vals: Vec<Val>) -> Result<(), TorchError> {
        match target {
            Val::Obj(i) => match self.heap.get_mut(i) {
                Some(Obj::List(l) | Obj::Set(l) | Obj::Instance { elems: l, .. }) => {
                    l.extend(vals);
                    Ok(())
                }
                _ => Err(self.err("APPEND(S)/ADDITEMS target is not a list or set")),
            },
            _ => Err(self.err("APPEND(S)/ADDITEMS target is not a list or set")),
        }
    }

    pub(super) fn persistent_load(&mut self, pid: Val) -> Result<Val, TorchError> {
        let t = self
            .seq(pid)
            .ok_or_else(|| self.err("persistent id is not a tuple"))?;
        if t.len() < 3 || self.str_of(t[0]) != Some("storage") {
            return Err(self.err("persistent id is not ('storage', type, key, ...)"));
        }
        let (ty, key) = (t[1], t[2]);
        let dtype = match self.obj(ty) {
            Some(Obj::Global(_, name)) => DType::from_storage(name),
            _ => None,
        };
        let type_name = match self.obj(ty) {
            Some(Obj::Global(m, n)) => format!("{m}.{n}"),
            _ => "?".to_owned(),
        };
        let key = match (self.str_of(key), key) {
            (Some(s), _) => s.to_owned(),
            (None, Val::Int(i)) => i.to_string(),
            _ => return Err(self.err("storage key is not a string")),
        };
        Ok(self.alloc(Obj::Storage(dtype, key, type_name)))
    }

    /// `callable(*args)` for REDUCE / NEWOBJ.
    pub(super) fn call(
        &mut self,
        callable: Val,
        args: Val,
        depth: usize,
    ) -> Result<Val, TorchError> {
        let (module, name) = match self.obj(callable) {
            Some(Obj::Global(m, n)) => (m.clone(), n.clone()),
            _ => {
                let args = self.seq(args).map(<[Val]>::to_vec).unwrap_or_default();
                self.charge(args.len())?;
                return Ok(self.alloc(Obj::Instance {
                    class: "<call>".to_owned(),
                    args,
                    items: Vec::new(),
                    elems: Vec::new(),
                    state: None,
                }));
            }
        };
        let a = self.seq(args).map(<[Val]>::to_vec).unwrap_or_default();
        self.charge(a.len())?;
        let obj = match (module.as_str(), name.as_str()) {
            ("torch._utils", "_rebuild_tensor" | "_rebuild_tensor_v2" | "_rebuild_tensor_v3") => {
                Obj::Tensor(self.rebuild_tensor(&name, &a))
            }
            ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
                return match a.first() {
                    Some(&t) if matches!(self.obj(t), Some(Obj::Tensor(_))) => Ok(t),
                    _ => Ok(self.alloc(Obj::Tensor(Err(format!(
                        "{module}.{name} without a tensor argument"
                    ))))),
                };
            }
            ("torch._tensor", "_rebuild_from_type_v2") if a.len() >= 3 && depth < 4 => {
                return self.call(a[0], a[2], depth + 1);
            }
            ("collections", "OrderedDict") => {
                let pairs = a.first().and_then(|&v| self.seq(v)).unwrap_or(&[]).to_vec();
                self.charge(pairs.len())?;
                let d = pairs
                    .iter()
                    .filter_map(|&p| match self.seq(p) {
                        Some(&[k, v]) => Some((k, v)),
                        _ => None,
                    })
                    .collect();
                Obj::Dict(d)
            }
            // `torch.Size(t)`, `set(l)`: the sequence itself stands in for the result.
            ("torch", "Size") | ("builtins" | "__builtin__", "set" | "frozenset")
                if a.first().and_then(|&v| self.seq(v)).is_some() =>
            {
                return Ok(a[0]);
            }
            ("_codecs", "encode") if a.first().and_then(|&v| self.str_of(v)).is_some() => {
                // Protocol 2 pickles bytes as `_codecs.encode(text, 'latin1')`.
                let s = a.first().and_then(|&v| self.str_of(v)).unwrap_or_default();
                let b: Vec<u8> = s.chars().map(|c| c as u32 as u8).collect();
                self.charge(b.len())?;
                Obj::Bytes(b)
            }
            _ => Obj::Instance {
                class: format!("{module}.{name}"),
                args: a,
                items: Vec::new(),
                elems: Vec::new(),
                state: None,
            },
        };
        Ok(self.alloc(obj))
    }

    pub(super) fn rebuild_tensor(&self, name: &str, a: &[Val]) -> Result<TensorRef, String> {
        if a.len() < 4 {
            return Err(format!("torch._utils.{name} with {} arguments", a.len()));
        }
        let (sdtype, key, ty) = match self.obj(a[0]) {
            Some(Obj::Storage(d, k, t)) => (*d, k.clone(), t.clone()),
            _ => {
                return Err(format!(
                    "torch._utils.{name}: first argument is not a storage"
                ));
            }
        };
        let storage_dtype = sdtype.ok_or_else(|| format!("unsupported storage type {ty}"))?;
        let dtype = if name == "_rebuild_tensor_v3" {
            match a.get(6).and_then(|&v| self.obj(v)) {
                Some(Obj::Global(m, n)) if m == "torch" => {
                    DType::from_torch(n).ok_or_else(|| format!("unsupported dtype torch.{n}"))?
                }
                _ => return Err("_rebuild_tensor_v3 without a torch dtype".to_owned()),
            }
        } else {
            storage_dtype
        };
        let offset = self
            .int(a[1])
            .and_then(|o| usize::try_from(o).ok())
            .ok_or("storage offset is not a non-negative integer")?;
        let dims = |v: Val, what: &str| -> Result<Vec<usize>, String> {
            self.seq(v)
                .ok_or_else(|| format!("{what} is not a tuple"))?
                .iter()
                .map(|&d| {
                    self.int(d)
                        .and_then(|d| usize::try_from(d).ok())
                        .ok_or_else(|| format!("{what} has a non-integer or negative entry"))
                })
                .collect()
        };
        let size = dims(a[2], "size")?;
        let stride = dims(a[3], "stride")?;
        if size.len() != stride.len() {
            return Err(format!(
                "size {size:?} and stride {stride:?} differ in rank"
            ));
        }
        Ok(TensorRef {
            key,
            storage_dtype,
            dtype,
            offset,
            size,
            stride,
        })
    }

    pub(super) fn build(&mut self, target: Val, state: Val) {
        if let Val::Obj(i) = target
            && let Some(Obj::Instance { state: s, .. }) = self.heap.get_mut(i)
        {
            *s = Some(state);
        }
        // BUILD on dicts (OrderedDict `_metadata`), tensors and others: the state is not needed.
    }

    pub(super) fn run(&mut self) -> Result<Val, TorchError> {
        loop {
            self.op_at = self.pos;
            self.op = 0;
            let op = self
                .u8()
                .map_err(|_| self.err("pickle ends without STOP"))?;
            self.op = op;
            match op {
                0x80 => {
                    let p = self.u8()?;
                    if p > 5 {
                        return Err(self.err(format!("unsupported pickle protocol {p}")));
                    }
                }
                0x95 => {
                    self.u64()?; // FRAME: a hint only
                }
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?;
                    self.push(v);
                }
                b'}' => {
                    let v = self.alloc(Obj::Dict(Vec::new()));
                    self.push(v);
                }
                b']' => {
                    let v = self.alloc(Obj::List(Vec::new()));
                    self.push(v);
                }
                b')' => {
                    let v = self.alloc(Obj::Tuple(Vec::new()));
                    self.push(v);
                }
                0x8f => {
                    let v = self.alloc(Obj::Set(Vec::new()));
                    self.push(v);
                }
                b't' => {
                    let items = self.pop_mark()?;
                    let v = self.alloc(Obj::Tuple(items));
                    self.push(v);
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let floor = self.marks.last().copied().unwrap_or(0);
                    if self.stack.len() < floor + n {
                        return Err(self.err("stack underflow"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    let v = self.alloc(Obj::Tuple(items));
                    self.push(v);
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    let v = self.alloc(Obj::List(items));
                    self.push(v);
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    let v = self.alloc(Obj::Set(items));
                    self.push(v);
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let v = self.alloc(Obj::Dict(Vec::new()));
                    self.set_items(v, items)?;
                    self.push(v);
                }
                b'a' => {
                    let v = self.pop()?;
                    let l = self.top()?;
                    self.append(l, vec![v])?;
                }
                b'e' | 0x90 => {
                    let items = self.pop_mark()?;
                    let l = self.top()?;
                    self.append(l, items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let d = self.top()?;
                    self.set_items(d, vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let d = self.top()?;
                    self.set_items(d, items)?;
                }
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Val::Int(i64::from(v)));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Val::Int(i64::from(v)));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Val::Int(i64::from(v)));
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a {
                        u64::from(self.u8()?)
                    } else {
                        u64::from(self.u32()?)
                    };
                    let b = self.len_arg(n)?;
                    let v = if b.len() <= 8 {
                        let fill = if b.last().is_some_and(|&x| x & 0x80 != 0) {
                            0xff
                        } else {
                            0
                        };
                        let mut w = [fill; 8];
                        w[..b.len()].copy_from_slice(b);
                        Val::Int(i64::from_le_bytes(w))
                    } else {
                        self.alloc(Obj::BigInt(b.len()))
                    };
                    self.push(v);
                }
                b'I' | b'L' => {
                    let s = self.line()?;
                    let s = s.trim_end_matches('L');
                    let v = match s {
                        "00" => Val::Bool(false),
                        "01" => Val::Bool(true),
                        _ => match s.parse::<i64>() {
                            Ok(i) => Val::Int(i),
                            Err(_) => self.alloc(Obj::BigInt(s.len())),
                        },
                    };
                    self.push(v);
                }
                b'G' => {
                    let b = self.take(8)?;
                    let mut w = [0u8; 8];
                    w.copy_from_slice(b);
                    self.push(Val::Float(f64::from_be_bytes(w)));
                }
                b'F' => {
                    let s = self.line()?;
                    let f = s
                        .trim()
                        .parse::<f64>()
                        .map_err(|_| self.err(format!("bad float {s:?}")))?;
                    self.push(Val::Float(f));
                }
                b'N' => self.push(Val::None),
                0x88 => self.push(Val::Bool(true)),
                0x89 => self.push(Val::Bool(false)),
                b'X' | 0x8c | 0x8d => {
                    let n = match op {
                        b'X' => u64::from(self.u32()?),
                        0x8c => u64::from(self.u8()?),
                        _ => self.u64()?,
                    };
                    let b = self.len_arg(n)?;
                    let v = self.string(b)?;
                    self.push(v);
                }
                b'T' | b'U' => {
                    // Python 2 str: bytes, read as Latin-1 text.
                    let n = if op == b'T' {
                        u64::from(self.u32()?)
                    } else {
                        u64::from(self.u8()?)
                    };
                    let b = self.len_arg(n)?;
                    let s = b.iter().map(|&c| char::from(c)).collect();
                    let v = self.alloc(Obj::Str(s));
                    self.push(v);
                }
                b'B' | b'C' | 0x8e | 0x96 => {
                    let n = match op {
                        b'B' => u64::from(self.u32()?),
                        b'C' => u64::from(self.u8()?),
                        _ => self.u64()?,
                    };
                    let b = self.len_arg(n)?.to_vec();
                    let v = self.alloc(Obj::Bytes(b));
                    self.push(v);
                }
                b'c' => {
                    let m = self.line()?.to_owned();
                    let n = self.line()?.to_owned();
                    let v = self.alloc(Obj::Global(m, n));
                    self.push(v);
                }
                0x93 => {
                    let n = self.pop()?;
                    let m = self.pop()?;
                    let (Some(m), Some(n)) = (self.str_of(m), self.str_of(n)) else {
                        return Err(self.err("STACK_GLOBAL needs two strings"));
                    };
                    let g = Obj::Global(m.to_owned(), n.to_owned());
                    let v = self.alloc(g);
                    self.push(v);
                }
                b'R' => {
                    let args = self.pop()?;
                    let f = self.pop()?;
                    let v = self.call(f, args, 0)?;
                    self.push(v);
                }
                0x81 => {
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let v = self.call(cls, args, 0)?;
                    self.push(v);
                }
                0x92 => {
                    let _kwargs = self.pop()?;
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let v = self.call(cls, args, 0)?;
                    self.push(v);
                }
                b'o' => {
                    let mut items = self.pop_mark()?;
                    if items.is_empty() {
                        return Err(self.err("OBJ without a class"));
                    }
                    let args = items.split_off(1);
                    let args = self.alloc(Obj::Tuple(args));
                    let v = self.call(items[0], args, 0)?;
                    self.push(v);
                }
                b'i' => {
                    let m = self.line()?.to_owned();
                    let n = self.line()?.to_owned();
                    let items = self.pop_mark()?;
                    let cls = self.alloc(Obj::Global(m, n));
                    let args = self.alloc(Obj::Tuple(items));
                    let v = self.call(cls, args, 0)?;
                    self.push(v);
                }
                b'b' => {
                    let state = self.pop()?;
                    let target = self.top()?;
                    self.build(target, state);
                }
                b'q' | b'r' | b'p' => {
                    let k = match op {
                        b'q' => u64::from(self.u8()?),
                        b'r' => u64::from(self.u32()?),
                        _ => {
                            let s = self.line()?;
                            s.parse()
                                .map_err(|_| self.err(format!("bad memo key {s:?}")))?
                        }
                    };
                    let v = self.top()?;
                    self.memo.insert(k, v);
                }
                0x94 => {
                    let v = self.top()?;
                    let k = self.memo.len() as u64;
                    self.memo.insert(k, v);
                }
                b'h' | b'j' | b'g' => {
                    let k = match op {
                        b'h' => u64::from(self.u8()?),
                        b'j' => u64::from(self.u32()?),
                        _ => {
                            let s = self.line()?;
                            s.parse()
                                .map_err(|_| self.err(format!("bad memo key {s:?}")))?
                        }
                    };
                    let v = *self
                        .memo
                        .get(&k)
                        .ok_or_else(|| self.err(format!("memo key {k} not set")))?;
                    self.push(v);
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent_load(pid)?;
                    self.push(v);
                }
                b'P' => {
                    let _ = self.line()?;
                    return Err(self.err("text persistent ids are not used by torch.save"));
                }
                _ => return Err(self.err("unsupported opcode")),
            }
        }
    }
}

pub(super) fn unpickle<'p>(
    entry: &'p str,
    code: &'p [u8],
) -> Result<(Val, Machine<'p>), TorchError> {
    let mut m = Machine {
        entry,
        code,
        pos: 0,
        op_at: 0,
        op: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        heap: Vec::new(),
        copies: code.len().saturating_mul(8).saturating_add(4096),
    };
    let root = m.run()?;
    Ok((root, m))
}
