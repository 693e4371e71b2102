//! The code cache: executable memory handed out by the host, blocks bump-allocated in it,
//! a map from guest EIP to block, direct chaining of exit stubs, and invalidation by page.
//!
//! The cache memory is mapped twice by the host: a writable view (`rw`) used to install and
//! patch code and an executable view (`rx`) that runs it, so no page is writable and
//! executable at once.

use crate::backend::x64::{self, ChainSite, PcMapEntry, Routines};
use crate::engine::ctx::JitContext;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// Executable memory for the cache (two views of the same pages).
#[derive(Clone, Copy, Debug)]
pub struct ExecMemory {
    pub rw: *mut u8,
    pub rx: u64,
    pub size: usize,
}

/// One translated block.
pub struct Block {
    pub guest: u32,
    pub pages: [Option<u32>; 2],
    pub pc_map: Vec<PcMapEntry>,
    /// Direct exits that may be chained.
    pub sites: Vec<ChainSite>,
    /// Deferred x87 pointers, referenced from `pc_map` entries.
    pub fpu_points: Vec<x64::FpuPoint>,
    pub host_off: u32,
    pub host_len: u32,
    /// A one-instruction block run once after a self-modifying write; never looked up.
    pub transient: bool,
}

pub struct CodeCache {
    mem: ExecMemory,
    /// End of the shared routines; blocks start here.
    routines_end: usize,
    cursor: usize,
    /// Blocks in host address order (the cache is bump-allocated).
    blocks: Vec<Block>,
    by_guest: BTreeMap<u32, usize>,
    by_page: BTreeMap<u32, Vec<usize>>,
    valid: Vec<bool>,
    /// Decoded instructions the interpreter helper is called with: translated code holds
    /// their addresses, so each is boxed to keep it in place while the vector grows.
    #[allow(clippy::vec_box)]
    helper_insns: Vec<alloc::boxed::Box<iced_x86::Instruction>>,
}

impl CodeCache {
    pub fn new(mem: ExecMemory) -> Self {
        Self {
            mem,
            routines_end: 0,
            cursor: 0,
            blocks: Vec::new(),
            by_guest: BTreeMap::new(),
            by_page: BTreeMap::new(),
            valid: Vec::new(),
            helper_insns: Vec::new(),
        }
    }

    /// Keep instructions referenced by translated code alive until the next flush.
    #[allow(clippy::vec_box)]
    pub fn keep_helper_insns(&mut self, v: Vec<alloc::boxed::Box<iced_x86::Instruction>>) {
        self.helper_insns.extend(v);
    }

    fn write(&mut self, off: usize, bytes: &[u8]) {
        assert!(off + bytes.len() <= self.mem.size);
        // SAFETY: `rw` is a writable mapping of `size` bytes (ExecMemory's contract) and the
        // range was just checked; no translated code runs while the run loop writes.
        unsafe {
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), self.mem.rw.add(off), bytes.len())
        };
    }

    pub fn install_routines(&mut self, bytes: &[u8]) {
        self.write(0, bytes);
        self.routines_end = bytes.len().next_multiple_of(64);
        self.cursor = self.routines_end;
    }

    pub fn rx_range(&self) -> (u64, u64) {
        (self.mem.rx, self.mem.rx + self.mem.size as u64)
    }

    /// Host address the next block will be installed at.
    pub fn next_addr(&self) -> u64 {
        self.mem.rx + self.cursor as u64
    }

    pub fn flush(&mut self) {
        self.cursor = self.routines_end;
        self.blocks.clear();
        self.by_guest.clear();
        self.by_page.clear();
        self.valid.clear();
        self.helper_insns.clear();
    }

    /// Install a block's code at `next_addr()`; None if the cache is full.
    pub fn insert(&mut self, mut b: Block, code: &[u8]) -> Option<u64> {
        let off = self.cursor;
        if off + code.len() > self.mem.size {
            return None;
        }
        self.write(off, code);
        self.cursor = (off + code.len()).next_multiple_of(16);
        b.host_off = off as u32;
        b.host_len = code.len() as u32;
        let idx = self.blocks.len();
        if !b.transient {
            self.by_guest.insert(b.guest, idx);
            for p in b.pages.iter().flatten() {
                self.by_page.entry(*p).or_default().push(idx);
            }
        }
        let host = self.mem.rx + off as u64;
        self.blocks.push(b);
        self.valid.push(true);
        Some(host)
    }

    pub fn lookup(&self, eip: u32) -> Option<u64> {
        self.by_guest
            .get(&eip)
            .map(|&i| self.mem.rx + u64::from(self.blocks[i].host_off))
    }

    fn block_at(&self, host: u64) -> Option<usize> {
        let off = host.checked_sub(self.mem.rx)? as usize;
        let i = self
            .blocks
            .partition_point(|b| (b.host_off as usize) <= off);
        let i = i.checked_sub(1)?;
        let b = &self.blocks[i];
        (off < (b.host_off + b.host_len) as usize).then_some(i)
    }

    /// The live, non-transient block and chain site whose stub is at host address `site`.
    fn chain_site(&self, site: u64) -> Option<(usize, ChainSite)> {
        let i = self.block_at(site)?;
        let b = &self.blocks[i];
        let off = (site - self.mem.rx) as u32 - b.host_off;
        if !self.valid[i] || b.transient {
            return None;
        }
        b.sites.iter().find(|c| c.stub == off).map(|&c| (i, c))
    }

    /// True if `site` is an exit stub of a live, non-transient block.
    pub fn is_chainable_site(&self, site: u64) -> bool {
        self.chain_site(site).is_some()
    }

    /// Chain the exit whose stub is at `site` to the block at host address `target`: the
    /// jump (or call) in the block body is pointed straight at it, and so is the stub.
    pub fn chain(&mut self, site: u64, target: u64) -> bool {
        let Some((i, c)) = self.chain_site(site) else {
            return false;
        };
        let jmp = x64::chain_jump(site, target);
        self.write((site - self.mem.rx) as usize, &jmp);
        let field = u64::from(self.blocks[i].host_off + c.jump_field);
        let rel = target.wrapping_sub(self.mem.rx + field + 4) as i64 as i32;
        self.write(field as usize, &rel.to_le_bytes());
        true
    }

    /// The guest instruction whose host code contains `host_pc`, and the x87 pointers its
    /// block had deferred there.
    pub fn pc_lookup(&self, host_pc: u64) -> Option<(PcMapEntry, Option<x64::FpuPoint>)> {
        let i = self.block_at(host_pc)?;
        let b = &self.blocks[i];
        let off = (host_pc - self.mem.rx) as u32 - b.host_off;
        let k = b.pc_map.partition_point(|e| e.host_off <= off);
        let pm = *b.pc_map.get(k.checked_sub(1)?)?;
        let fpu = pm
            .fpu
            .checked_sub(1)
            .and_then(|j| b.fpu_points.get(usize::from(j)).copied());
        Some((pm, fpu))
    }

    /// Drop the translations made from `page`: their entries are rewritten to go back to the
    /// run loop, so chained jumps and IBTC entries that still point at them stay correct.
    pub fn invalidate_page(&mut self, page: u32, routines: &Routines) {
        let Some(list) = self.by_page.remove(&page) else {
            return;
        };
        for i in list {
            if !self.valid[i] {
                continue;
            }
            self.valid[i] = false;
            let (guest, off) = (self.blocks[i].guest, self.blocks[i].host_off as usize);
            if self.by_guest.get(&guest) == Some(&i) {
                self.by_guest.remove(&guest);
            }
            let entry = x64::invalidated_entry(routines, self.mem.rx + off as u64, guest);
            self.write(off, &entry);
        }
    }

    /// Enter translated code at `target`.
    ///
    /// # Safety
    /// `enter` must be the trampoline from `emit_routines` installed in this cache and
    /// `target` the entry of a block in it; the host must have pointed the GS base at the
    /// guest window the block was translated for.
    pub unsafe fn enter(&self, enter: u64, ctx: &mut JitContext, target: u64) -> u32 {
        // SAFETY: per the contract above, `enter` is code with this exact signature.
        let f: extern "C" fn(*mut JitContext, u64) -> u32 = unsafe { core::mem::transmute(enter) };
        f(ctx, target)
    }
}
