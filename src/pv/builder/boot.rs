//! The start-of-day state libxc writes for an x86_32p guest: start_info
//! (`start_info_x86_32`, tools/libs/guest/xg_dom_x86.c:755) and vCPU 0's context
//! (`vcpu_x86_32`, xg_dom_x86.c:880). Layouts: xen/include/public/xen.h, arch-x86/xen-x86_32.h.

use super::notes::PaeMode;
use super::{Mfn, GUEST_TYPE};
use crate::mmu::GuestAddr;
use alloc::boxed::Box;
use hypercall_abi::arch_x86_32::{
    xen_pfn_to_cr3, VGCF_in_kernel, VGCF_online, VcpuGuestContext, FLAT_KERNEL_CS, FLAT_KERNEL_DS,
    FLAT_KERNEL_SS,
};
use hypercall_abi::xen::{
    StartInfo, StartInfoConsole, StartInfoConsoleDomU, VMASST_TYPE_pae_extended_cr3,
    MAX_GUEST_CMDLINE,
};

/// `sizeof(start_info_t)` for x86_32.
pub const START_INFO_SIZE: usize = 1112;
const _: () = assert!(core::mem::size_of::<StartInfo>() == START_INFO_SIZE);

/// Default DR6 and DR7 (xg_dom_x86.c `X86_DR6_DEFAULT`, `X86_DR7_DEFAULT`).
const DR6_DEFAULT: u32 = 0xffff_0ff0;
const DR7_DEFAULT: u32 = 0x0000_0400;
/// EFLAGS.IF. libxc passes only IF (0x200); bit 1 reads as 1 on every x86, so the guest
/// sees 0x202, which is what the context holds.
const EFLAGS_IF: u32 = 1 << 9;
const EFLAGS_MBS: u32 = 1 << 1;

pub(super) struct StartInfoArgs<'a> {
    pub nr_pages: u32,
    pub shared_info_maddr: u32,
    pub flags: u32,
    pub store_mfn: Mfn,
    pub store_evtchn: u32,
    pub console_mfn: Mfn,
    pub console_evtchn: u32,
    pub pt_base: GuestAddr,
    pub nr_pt_frames: u32,
    pub mfn_list: GuestAddr,
    /// (mod_start, mod_len) when there is a module.
    pub module: Option<(u32, u32)>,
    pub cmdline: &'a [u8],
}

/// `start_info_x86_32`. `first_p2m_pfn`/`nr_p2m_frames` stay 0: libxc sets them only for
/// 64-bit guests with INIT_P2M.
pub(super) fn start_info(a: &StartInfoArgs<'_>) -> StartInfo {
    let mut si = StartInfo::default();
    // strncpy(magic, guest_type, 32); magic[31] = 0.
    si.magic[..GUEST_TYPE.len()].copy_from_slice(GUEST_TYPE.as_bytes());
    si.nr_pages = a.nr_pages;
    si.shared_info = a.shared_info_maddr;
    si.pt_base = a.pt_base.0;
    si.nr_pt_frames = a.nr_pt_frames;
    si.mfn_list = a.mfn_list.0;
    si.flags = a.flags;
    si.store_mfn = a.store_mfn.0;
    si.store_evtchn = a.store_evtchn;
    si.console = StartInfoConsole {
        dom_u: StartInfoConsoleDomU {
            mfn: a.console_mfn.0,
            evtchn: a.console_evtchn,
        },
    };
    if let Some((start, len)) = a.module {
        si.mod_start = start;
        si.mod_len = len;
    }
    // strncpy(cmd_line, cmdline, 1024) stops at a NUL; cmd_line[1023] = 0.
    let cmd = a.cmdline;
    let cmd = &cmd[..cmd.iter().position(|&b| b == 0).unwrap_or(cmd.len())];
    let n = cmd.len().min(MAX_GUEST_CMDLINE - 1);
    si.cmd_line[..n].copy_from_slice(&cmd[..n]);
    si
}

/// The bytes of `si` as a 32-bit guest reads them (xen.h `struct start_info`).
pub fn start_info_bytes(si: &StartInfo) -> [u8; START_INFO_SIZE] {
    let mut b = [0u8; START_INFO_SIZE];
    let mut put = |off: usize, v: u32| b[off..off + 4].copy_from_slice(&v.to_le_bytes());
    let con = si.console.dom_u();
    put(32, si.nr_pages);
    put(36, si.shared_info);
    put(40, si.flags);
    put(44, si.store_mfn);
    put(48, si.store_evtchn);
    put(52, con.mfn);
    put(56, con.evtchn);
    put(60, si.pt_base);
    put(64, si.nr_pt_frames);
    put(68, si.mfn_list);
    put(72, si.mod_start);
    put(76, si.mod_len);
    put(1104, si.first_p2m_pfn);
    put(1108, si.nr_p2m_frames);
    b[..32].copy_from_slice(&si.magic);
    b[80..80 + MAX_GUEST_CMDLINE].copy_from_slice(&si.cmd_line);
    b
}

/// `vcpu_x86_32`.
pub(super) fn vcpu_context(
    entry: GuestAddr,
    stack_top: GuestAddr,
    start_info: GuestAddr,
    pae: PaeMode,
    l3_mfn: Mfn,
) -> Box<VcpuGuestContext> {
    let mut c = Box::<VcpuGuestContext>::default();
    c.user_regs.eip = entry.0;
    c.user_regs.esp = stack_top.0;
    c.user_regs.esi = start_info.0;
    c.user_regs.eflags = EFLAGS_IF | EFLAGS_MBS;
    c.debugreg[6] = DR6_DEFAULT;
    c.debugreg[7] = DR7_DEFAULT;
    c.flags = VGCF_in_kernel | VGCF_online;
    if matches!(pae, PaeMode::ExtendedCr3 | PaeMode::Bimodal) {
        c.vm_assist |= 1 << VMASST_TYPE_pae_extended_cr3;
    }
    c.ctrlreg[3] = xen_pfn_to_cr3(l3_mfn.0);
    c.user_regs.ds = FLAT_KERNEL_DS;
    c.user_regs.es = FLAT_KERNEL_DS;
    c.user_regs.fs = FLAT_KERNEL_DS;
    c.user_regs.gs = FLAT_KERNEL_DS;
    c.user_regs.ss = FLAT_KERNEL_SS;
    c.user_regs.cs = FLAT_KERNEL_CS;
    c.kernel_ss = u32::from(c.user_regs.ss);
    c.kernel_sp = c.user_regs.esp;
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_is_cut_and_terminated() {
        let long = [b'a'; 2000];
        let mut a = StartInfoArgs {
            nr_pages: 1,
            shared_info_maddr: 0,
            flags: 0,
            store_mfn: Mfn(0),
            store_evtchn: 0,
            console_mfn: Mfn(0),
            console_evtchn: 0,
            pt_base: GuestAddr(0),
            nr_pt_frames: 0,
            mfn_list: GuestAddr(0),
            module: None,
            cmdline: &long,
        };
        let si = start_info(&a);
        assert!(si.cmd_line[..1023].iter().all(|&b| b == b'a'));
        assert_eq!(si.cmd_line[1023], 0);
        a.cmdline = b"root=/dev/xvda\0ignored";
        let si = start_info(&a);
        assert_eq!(&si.cmd_line[..15], b"root=/dev/xvda\0");
        assert!(si.cmd_line[15..].iter().all(|&b| b == 0));
        assert_eq!(&start_info_bytes(&si)[..16], b"xen-3.0-x86_32p\0");
    }

    #[test]
    fn vcpu_as_libxc() {
        let c = vcpu_context(
            GuestAddr(0xc000_1000),
            GuestAddr(0xc001_6000),
            GuestAddr(0xc000_e000),
            PaeMode::ExtendedCr3,
            Mfn(0x12_3456),
        );
        assert_eq!(c.user_regs.eflags, 0x202);
        assert_eq!(c.user_regs.cs, 0xe019);
        assert_eq!(c.user_regs.ss, 0xe021);
        assert_eq!(c.kernel_ss, 0xe021);
        assert_eq!(c.kernel_sp, 0xc001_6000);
        // xen_pfn_to_cr3: (0x123456 << 12) | (0x123456 >> 20), in 32 bits.
        assert_eq!(c.ctrlreg[3], 0x2345_6001);
        assert_eq!(c.vm_assist, 1 << 3);
        assert_eq!(c.flags, (1 << 2) | (1 << 5));
        let c = vcpu_context(
            GuestAddr(0),
            GuestAddr(0),
            GuestAddr(0),
            PaeMode::Yes,
            Mfn(1),
        );
        assert_eq!(c.vm_assist, 0);
    }
}
