//! A `no_std` code buffer with the method names the `dynasm!` macro expands into
//! (`push`, `extend`, `offset`, labels and relocations), so one set of templates serves the
//! hosted build and the Xen build alike. Only PC-relative 8/32-bit relocations to local and
//! dynamic labels are supported: that is all the templates use.

use alloc::vec::Vec;

/// A position in the buffer (mirrors dynasmrt's `AssemblyOffset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AssemblyOffset(pub usize);

/// A label allocated at run time (mirrors dynasmrt's `DynamicLabel`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DynamicLabel(usize);

struct Reloc {
    /// Offset just past the instruction that refers to the label.
    at: usize,
    field_offset: u8,
    ref_offset: u8,
    size: u8,
    target: Target,
}

enum Target {
    Forward(&'static str),
    Backward(usize),
    Dynamic(DynamicLabel),
}

#[derive(Default)]
pub struct CodeBuffer {
    pub bytes: Vec<u8>,
    locals: Vec<(&'static str, usize)>,
    dynamics: Vec<Option<usize>>,
    relocs: Vec<Reloc>,
    /// Set when a relocation could not be resolved or did not fit.
    pub error: bool,
}

impl CodeBuffer {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn offset(&self) -> AssemblyOffset {
        AssemblyOffset(self.bytes.len())
    }
    pub fn push(&mut self, b: u8) {
        self.bytes.push(b);
    }
    pub fn push_i8(&mut self, v: i8) {
        self.bytes.push(v as u8);
    }
    pub fn push_i16(&mut self, v: i16) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    pub fn push_i32(&mut self, v: i32) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    pub fn push_i64(&mut self, v: i64) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    pub fn push_u16(&mut self, v: u16) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    pub fn push_u32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    pub fn push_u64(&mut self, v: u64) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    pub fn extend<'a, T: IntoIterator<Item = &'a u8>>(&mut self, it: T) {
        self.bytes.extend(it);
    }
    pub fn align(&mut self, alignment: usize, with: u8) {
        while !self.bytes.len().is_multiple_of(alignment) {
            self.bytes.push(with);
        }
    }

    pub fn new_dynamic_label(&mut self) -> DynamicLabel {
        self.dynamics.push(None);
        DynamicLabel(self.dynamics.len() - 1)
    }
    pub fn dynamic_label(&mut self, id: DynamicLabel) {
        self.dynamics[id.0] = Some(self.bytes.len());
    }
    pub fn local_label(&mut self, name: &'static str) {
        let here = self.bytes.len();
        // Resolve pending forward references to this name.
        let mut i = 0;
        while i < self.relocs.len() {
            if matches!(self.relocs[i].target, Target::Forward(n) if n == name) {
                let mut r = self.relocs.swap_remove(i);
                r.target = Target::Backward(here);
                self.resolve(&r);
            } else {
                i += 1;
            }
        }
        self.locals.push((name, here));
    }
    pub fn forward_reloc(&mut self, name: &'static str, _t: isize, fo: u8, ro: u8, kind: u8) {
        let r = self.reloc(Target::Forward(name), fo, ro, kind);
        self.relocs.push(r);
    }
    pub fn backward_reloc(&mut self, name: &'static str, _t: isize, fo: u8, ro: u8, kind: u8) {
        match self.locals.iter().rev().find(|(n, _)| *n == name) {
            Some(&(_, at)) => {
                let r = self.reloc(Target::Backward(at), fo, ro, kind);
                self.resolve(&r);
            }
            None => self.error = true,
        }
    }
    pub fn dynamic_reloc(&mut self, id: DynamicLabel, _t: isize, fo: u8, ro: u8, kind: u8) {
        let r = self.reloc(Target::Dynamic(id), fo, ro, kind);
        self.relocs.push(r);
    }

    fn reloc(&mut self, target: Target, field_offset: u8, ref_offset: u8, kind: u8) -> Reloc {
        // Only "relative" relocations (kind bits 7:6 == 0) of 1 or 4 bytes are generated.
        let size = match kind {
            0 => 1,
            2 => 4,
            _ => {
                self.error = true;
                4
            }
        };
        Reloc {
            at: self.bytes.len(),
            field_offset,
            ref_offset,
            size,
            target,
        }
    }

    fn resolve(&mut self, r: &Reloc) {
        let target = match r.target {
            Target::Backward(t) => t,
            Target::Dynamic(id) => match self.dynamics[id.0] {
                Some(t) => t,
                None => {
                    self.error = true;
                    return;
                }
            },
            Target::Forward(_) => {
                self.error = true;
                return;
            }
        };
        let field = r.at - usize::from(r.field_offset);
        let reference = r.at - usize::from(r.ref_offset);
        let delta = target as isize - reference as isize;
        match r.size {
            1 => match i8::try_from(delta) {
                Ok(d) => self.bytes[field] = d as u8,
                Err(_) => self.error = true,
            },
            _ => match i32::try_from(delta) {
                Ok(d) => self.bytes[field..field + 4].copy_from_slice(&d.to_le_bytes()),
                Err(_) => self.error = true,
            },
        }
    }

    /// Resolve the remaining relocations; false if any label was missing or out of range.
    pub fn finish(&mut self) -> bool {
        let relocs = core::mem::take(&mut self.relocs);
        for r in &relocs {
            if let Target::Forward(_) = r.target {
                self.error = true;
            } else {
                self.resolve(r);
            }
        }
        !self.error
    }
}
