//! Memory system calls (mm/mmap.c, mm/mprotect.c, mm/mremap.c): mmap, mmap2, the old
//! `struct mmap_arg_struct` mmap, munmap, mprotect and mremap. File mappings are private
//! copies read in at map time.

use super::abi::{get_u32, Errno};
use super::host;
use super::mm::{page_up, MMAP_BASE, MMAP_MIN_ADDR, STACK_BOTTOM, TASK_SIZE};
use super::{Process, SysResult};
use crate::mmu::{GuestAddr, Prot, PAGE_SIZE};

const MAP_SHARED: u32 = 0x01;
const MAP_PRIVATE: u32 = 0x02;
const MAP_SHARED_VALIDATE: u32 = 0x03;
const MAP_TYPE: u32 = 0x0f;
const MAP_FIXED: u32 = 0x10;
const MAP_ANONYMOUS: u32 = 0x20;
const MAP_FIXED_NOREPLACE: u32 = 0x10_0000;
const PROT_GROWSDOWN: u32 = 0x0100_0000;
const PROT_GROWSUP: u32 = 0x0200_0000;
const MREMAP_MAYMOVE: u32 = 1;
const MREMAP_FIXED: u32 = 2;

fn prot_from(p: u32) -> Prot {
    Prot::from_bits_truncate((p & 7) as u8)
}

impl Process {
    /// mmap(2) with a byte offset (mmap2's page offset already scaled).
    pub(super) fn sys_mmap(
        &mut self,
        addr: u32,
        len: u32,
        prot: u32,
        flags: u32,
        fd: u32,
        off: u64,
    ) -> SysResult {
        if len == 0 || !off.is_multiple_of(u64::from(PAGE_SIZE)) {
            return Err(Errno::EINVAL.into());
        }
        if prot & !(7 | PROT_GROWSDOWN | PROT_GROWSUP) != 0 {
            return Err(Errno::EINVAL.into());
        }
        let len = page_up(u64::from(len)).ok_or(Errno::ENOMEM)?;
        let shared = match flags & MAP_TYPE {
            MAP_SHARED | MAP_SHARED_VALIDATE => true,
            MAP_PRIVATE => false,
            _ => return Err(Errno::EINVAL.into()),
        };
        let file = if flags & MAP_ANONYMOUS != 0 {
            None
        } else {
            Some(self.mappable_fd(fd, prot, shared)?)
        };

        let at = if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0 {
            if !addr.is_multiple_of(PAGE_SIZE) {
                return Err(Errno::EINVAL.into());
            }
            if addr < MMAP_MIN_ADDR {
                return Err(Errno::EPERM.into());
            }
            if u64::from(addr) + len > u64::from(TASK_SIZE) {
                return Err(Errno::ENOMEM.into());
            }
            if flags & MAP_FIXED == 0 && !self.mm.is_free(addr, len) {
                return Err(Errno::EEXIST.into());
            }
            addr
        } else {
            let hint = addr & !(PAGE_SIZE - 1);
            if hint >= MMAP_MIN_ADDR && self.mm.is_free(hint, len) {
                hint
            } else {
                self.mm
                    .find_free_down(len, MMAP_BASE)
                    .or_else(|| self.mm.find_free_down(len, STACK_BOTTOM))
                    .ok_or(Errno::ENOMEM)?
            }
        };

        self.mm.map(&mut self.m.mem, at, len, prot_from(prot))?;
        if let Some(fd) = file {
            if shared && prot & 2 != 0 {
                self.log
                    .once("writable MAP_SHARED file mapping is a private copy".into());
            }
            self.fill_from_file(fd, at, len, off)?;
        }
        Ok(at)
    }

    /// The fd of a file mapping: a regular file the guest opened with the needed access
    /// (devices other than /dev/zero cannot be mapped here).
    fn mappable_fd(&mut self, fd: u32, prot: u32, shared: bool) -> Result<Option<i32>, Errno> {
        let fd = self.fds.get(fd)?;
        let st = host::fstat(fd)?;
        let fl = host::int_call(libc::SYS_fcntl, &[fd.into(), libc::F_GETFL.into()])? as i32;
        let acc = fl & libc::O_ACCMODE;
        if acc == libc::O_WRONLY || (shared && prot & 2 != 0 && acc != libc::O_RDWR) {
            return Err(Errno::EACCES);
        }
        match st.st_mode & libc::S_IFMT {
            libc::S_IFREG => Ok(Some(fd)),
            // /dev/zero (char 1:5) maps as anonymous memory.
            libc::S_IFCHR if st.st_rdev == libc::makedev(1, 5) => Ok(None),
            _ => Err(Errno::ENODEV),
        }
    }

    fn fill_from_file(
        &mut self,
        fd: Option<i32>,
        at: u32,
        len: u64,
        off: u64,
    ) -> Result<(), Errno> {
        let Some(fd) = fd else { return Ok(()) };
        let mut buf = vec![0u8; len as usize];
        let mut done = 0usize;
        while done < buf.len() {
            let n = host::pread(fd, &mut buf[done..], (off + done as u64) as i64)? as usize;
            if n == 0 {
                break;
            }
            done += n;
        }
        self.m
            .mem
            .poke(GuestAddr(at), &buf[..done])
            .map_err(|_| Errno::EFAULT)
    }

    /// The pre-mmap2 mmap (#90): one pointer to `{addr, len, prot, flags, fd, offset}`.
    pub(super) fn sys_old_mmap(&mut self, args: u32) -> SysResult {
        let b = self.read_mem(args, 24)?;
        let a = |i: usize| get_u32(&b, i * 4);
        self.sys_mmap(a(0), a(1), a(2), a(3), a(4), u64::from(a(5)))
    }

    pub(super) fn sys_munmap(&mut self, addr: u32, len: u32) -> SysResult {
        if !addr.is_multiple_of(PAGE_SIZE) || len == 0 {
            return Err(Errno::EINVAL.into());
        }
        let len = page_up(u64::from(len)).ok_or(Errno::EINVAL)?;
        if u64::from(addr) + len > u64::from(TASK_SIZE) {
            return Err(Errno::EINVAL.into());
        }
        self.mm.unmap(&mut self.m.mem, addr, len)?;
        Ok(0)
    }

    pub(super) fn sys_mprotect(&mut self, addr: u32, len: u32, prot: u32) -> SysResult {
        if !addr.is_multiple_of(PAGE_SIZE) || prot & !(7 | PROT_GROWSDOWN | PROT_GROWSUP) != 0 {
            return Err(Errno::EINVAL.into());
        }
        let len = page_up(u64::from(len)).ok_or(Errno::ENOMEM)?;
        if len == 0 {
            return Ok(0);
        }
        self.mm
            .protect(&mut self.m.mem, addr, len, prot_from(prot))?;
        Ok(0)
    }

    /// mremap: shrink in place, grow in place when the pages after are free, else move
    /// (MREMAP_MAYMOVE) by copying page by page with each page's permissions.
    pub(super) fn sys_mremap(
        &mut self,
        old: u32,
        old_len: u32,
        new_len: u32,
        flags: u32,
        new_addr: u32,
    ) -> SysResult {
        if !old.is_multiple_of(PAGE_SIZE) || flags & !(MREMAP_MAYMOVE | MREMAP_FIXED) != 0 {
            return Err(Errno::EINVAL.into());
        }
        if flags & MREMAP_FIXED != 0 && flags & MREMAP_MAYMOVE == 0 {
            return Err(Errno::EINVAL.into());
        }
        let old_len = page_up(u64::from(old_len)).ok_or(Errno::EINVAL)?;
        let new_len = page_up(u64::from(new_len)).ok_or(Errno::EINVAL)?;
        if new_len == 0 || old_len == 0 {
            return Err(Errno::EINVAL.into());
        }
        if !self.mm.is_all_mapped(old, old_len) {
            return Err(Errno::EFAULT.into());
        }
        if flags & MREMAP_FIXED != 0 {
            if !new_addr.is_multiple_of(PAGE_SIZE)
                || new_addr < MMAP_MIN_ADDR
                || u64::from(new_addr) + new_len > u64::from(TASK_SIZE)
            {
                return Err(Errno::EINVAL.into());
            }
            let (o0, o1) = (u64::from(old), u64::from(old) + old_len);
            let (n0, n1) = (u64::from(new_addr), u64::from(new_addr) + new_len);
            if n0 < o1 && o0 < n1 {
                return Err(Errno::EINVAL.into());
            }
            self.move_pages(old, old_len, new_addr, new_len)?;
            return Ok(new_addr);
        }
        if new_len <= old_len {
            if new_len < old_len {
                self.mm
                    .unmap(&mut self.m.mem, old + new_len as u32, old_len - new_len)?;
            }
            return Ok(old);
        }
        let tail = u64::from(old) + old_len;
        if tail + (new_len - old_len) <= u64::from(TASK_SIZE)
            && self.mm.is_free(tail as u32, new_len - old_len)
        {
            let prot = self.m.mem.prot_of(GuestAddr(tail as u32 - PAGE_SIZE));
            self.mm
                .map(&mut self.m.mem, tail as u32, new_len - old_len, prot)?;
            return Ok(old);
        }
        if flags & MREMAP_MAYMOVE == 0 {
            return Err(Errno::ENOMEM.into());
        }
        let to = self
            .mm
            .find_free_down(new_len, MMAP_BASE)
            .ok_or(Errno::ENOMEM)?;
        self.move_pages(old, old_len, to, new_len)?;
        Ok(to)
    }

    /// Copy `[from, from+old_len)` to fresh pages at `to` (growing with the last page's
    /// permissions up to `new_len`, or cut to it), then unmap the old range.
    fn move_pages(&mut self, from: u32, old_len: u64, to: u32, new_len: u64) -> Result<(), Errno> {
        let pages = (new_len / u64::from(PAGE_SIZE)) as u32;
        let old_pages = (old_len / u64::from(PAGE_SIZE)) as u32;
        let mut page = vec![0u8; PAGE_SIZE as usize];
        for i in 0..pages {
            let src = from + i.min(old_pages - 1) * PAGE_SIZE;
            let dst = to + i * PAGE_SIZE;
            let prot = self.m.mem.prot_of(GuestAddr(src));
            self.mm
                .map(&mut self.m.mem, dst, u64::from(PAGE_SIZE), prot)?;
            if i < old_pages && self.m.mem.peek(GuestAddr(src), &mut page).is_ok() {
                self.m
                    .mem
                    .poke(GuestAddr(dst), &page)
                    .map_err(|_| Errno::EFAULT)?;
            }
        }
        self.mm.unmap(&mut self.m.mem, from, old_len)?;
        Ok(())
    }
}
