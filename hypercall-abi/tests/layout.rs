//! Checks every mirrored struct, constant and table against Xen's public
//! headers compiled as a 32-bit guest would (`gcc -m32`).
//!
//! One list below (`spec()`) drives both sides: it generates a C program that
//! prints `sizeof`/`_Alignof`/`offsetof` and macro values, and records the
//! Rust answers (`size_of`, `align_of`, `offset_of!`, the consts). Nothing is
//! compared against numbers typed by hand. A second pass (`gcc -dM -E`) lists
//! every object-like macro the headers define, so a constant missing from the
//! crate fails the test rather than going unnoticed.
//!
//! Needs gcc with 32-bit support and the Xen headers (Debian: `apt-get install
//! gcc-multilib libxen-dev`). Without them the tests fail; they never skip.
//! `XEN_INCLUDE_DIR` (default /usr/include) and `CC_I386` (default gcc)
//! override the locations.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::mem::{align_of, offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use hypercall_abi::arch_x86_32::*;
use hypercall_abi::callback::*;
use hypercall_abi::errno::*;
use hypercall_abi::event_channel::*;
use hypercall_abi::grant_table::*;
use hypercall_abi::io_console::*;
use hypercall_abi::io_xs_wire::*;
use hypercall_abi::memory::*;
use hypercall_abi::physdev::*;
use hypercall_abi::sched::*;
use hypercall_abi::vcpu::*;
use hypercall_abi::version::*;
use hypercall_abi::xen::*;

const HINT: &str = "the layout tests need gcc with -m32 support and the Xen public headers: \
                    `apt-get install -y gcc-multilib libxen-dev` \
                    (or set CC_I386 / XEN_INCLUDE_DIR)";

// ---------------------------------------------------------------------------
// The specification: what to compare.

struct FieldSpec {
    rust: &'static str,
    c: String,
    offset: usize,
    size: usize,
}

struct StructSpec {
    rust: &'static str,
    c: &'static str,
    size: usize,
    align: usize,
    fields: Vec<FieldSpec>,
}

/// A C expression (usually a macro name) and the Rust value it must equal.
struct ExprSpec {
    c: String,
    rust: String,
    value: i128,
}

#[derive(Default)]
struct Spec {
    structs: Vec<StructSpec>,
    exprs: Vec<ExprSpec>,
    /// String macros: (C name, Rust value).
    strings: Vec<(&'static str, &'static str)>,
}

impl Spec {
    fn expr(&mut self, c: impl Into<String>, rust: impl Into<String>, value: i128) {
        self.exprs.push(ExprSpec {
            c: c.into(),
            rust: rust.into(),
            value,
        });
    }
}

/// The size of the field `$t.$path`, without a value of `$t` to hand.
macro_rules! field_size {
    ($t:ty, $($path:tt)+) => {{
        fn pointee_size<T>(_: *const T) -> usize {
            size_of::<T>()
        }
        let v = std::mem::MaybeUninit::<$t>::uninit();
        let p = v.as_ptr();
        // SAFETY: `&raw const` only computes the address of a field inside `v`,
        // a live allocation; nothing is read and no reference is made.
        pointee_size(unsafe { &raw const (*p).$($path)+ })
    }};
}

/// `layout!(spec, RustType = "C type" { field, nested.field, renamed => "cName", ... })`.
/// The C field path is the Rust one without `r#`, unless given after `=>`.
macro_rules! layout {
    ($spec:ident, $t:ty = $c:literal { $($f:ident $(. $g:ident)* $(=> $cf:literal)?),* $(,)? }) => {{
        #[allow(unused_mut)]
        let mut fields = Vec::new();
        $({
            let rust = concat!(stringify!($f) $(, ".", stringify!($g))*);
            #[allow(unused_mut, unused_assignments)]
            let mut c = rust.replace("r#", "");
            $(c = $cf.to_string();)?
            fields.push(FieldSpec {
                rust,
                c,
                offset: offset_of!($t, $f $(. $g)*),
                size: field_size!($t, $f $(. $g)*),
            });
        })*
        $spec.structs.push(StructSpec {
            rust: stringify!($t),
            c: $c,
            size: size_of::<$t>(),
            align: align_of::<$t>(),
            fields,
        });
    }};
}

/// Constants whose Rust name is the C macro name.
macro_rules! consts {
    ($spec:ident; $($name:ident),* $(,)?) => {
        $($spec.expr(stringify!($name), stringify!($name), $name as i128);)*
    };
}

fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(build_spec)
}

fn build_spec() -> Spec {
    let mut s = Spec::default();
    structs_arch(&mut s);
    structs_xen(&mut s);
    structs_event_channel(&mut s);
    structs_grant_table(&mut s);
    structs_sched_vcpu(&mut s);
    structs_memory_physdev(&mut s);
    structs_callback_version_io(&mut s);
    consts_arch_xen(&mut s);
    consts_others(&mut s);
    derived_and_function_macros(&mut s);
    enums(&mut s);
    s.strings.extend([
        ("XS_WRITE_NONE", XS_WRITE_NONE),
        ("XS_WRITE_CREATE", XS_WRITE_CREATE),
        ("XS_WRITE_CREATE_EXCL", XS_WRITE_CREATE_EXCL),
    ]);
    s
}

fn structs_arch(s: &mut Spec) {
    layout!(s, XenUlong = "xen_ulong_t" {});
    layout!(s, XenPfn = "xen_pfn_t" {});
    layout!(s, GuestHandle<u8> = "XEN_GUEST_HANDLE(uint8)" {});
    layout!(s, GuestHandle<XenPfn> = "XEN_GUEST_HANDLE(xen_pfn_t)" {});
    layout!(s, CpuUserRegs = "struct cpu_user_regs" {
        ebx, ecx, edx, esi, edi, ebp, eax, error_code, entry_vector, eip, cs,
        saved_upcall_mask, _pad0, eflags, esp, ss, _pad1, es, _pad2, ds, _pad3,
        fs, _pad4, gs, _pad5,
    });
    layout!(s, TrapInfo = "struct trap_info" { vector, flags, cs, address });
    layout!(s, VcpuGuestContext = "struct vcpu_guest_context" {
        fpu_ctxt, flags, user_regs, user_regs.eip, user_regs.eflags, trap_ctxt,
        ldt_base, ldt_ents, gdt_frames, gdt_ents, kernel_ss, kernel_sp, ctrlreg,
        debugreg, event_callback_cs, event_callback_eip, failsafe_callback_cs,
        failsafe_callback_eip, vm_assist,
    });
    layout!(s, ArchVcpuInfo = "struct arch_vcpu_info" { cr2, pad });
    layout!(s, XenCallback = "struct xen_callback" { cs, eip });
    layout!(s, ArchSharedInfo = "struct arch_shared_info" {
        max_pfn, pfn_to_mfn_frame_list_list, nmi_reason, p2m_cr3, p2m_vaddr,
        p2m_generation, wc_sec_hi,
    });
}

fn structs_xen(s: &mut Spec) {
    layout!(s, DomId = "domid_t" {});
    layout!(s, XenDomainHandle = "xen_domain_handle_t" {});
    layout!(s, MmuUpdate = "struct mmu_update" { ptr, val });
    layout!(s, MmuextOp = "struct mmuext_op" {
        cmd, arg1, arg1.mfn, arg1.linear_addr, arg2, arg2.nr_ents, arg2.vcpumask,
        arg2.src_mfn,
    });
    layout!(s, MulticallEntry = "struct multicall_entry" { op, result, args });
    layout!(s, VcpuTimeInfo = "struct vcpu_time_info" {
        version, pad0, tsc_timestamp, system_time, tsc_to_system_mul, tsc_shift,
        flags, pad1,
    });
    layout!(s, VcpuInfo = "struct vcpu_info" {
        evtchn_upcall_pending, evtchn_upcall_mask, evtchn_pending_sel, arch,
        arch.cr2, time, time.system_time,
    });
    layout!(s, SharedInfo = "struct shared_info" {
        vcpu_info, evtchn_pending, evtchn_mask, wc_version, wc_sec, wc_nsec, arch,
        arch.wc_sec_hi,
    });
    layout!(s, StartInfo = "struct start_info" {
        magic, nr_pages, shared_info, flags, store_mfn, store_evtchn, console,
        console.dom_u => "console.domU", console.dom_u.mfn => "console.domU.mfn",
        console.dom_u.evtchn => "console.domU.evtchn", console.dom0,
        console.dom0.info_off, console.dom0.info_size, pt_base, nr_pt_frames,
        mfn_list, mod_start, mod_len, cmd_line, first_p2m_pfn, nr_p2m_frames,
    });
    layout!(s, XenMultibootModList = "struct xen_multiboot_mod_list" {
        mod_start, mod_end, cmdline, pad,
    });
    layout!(s, XenUuid = "xen_uuid_t" { a });
}

fn structs_event_channel(s: &mut Spec) {
    layout!(s, EvtchnPort = "evtchn_port_t" {});
    layout!(s, EvtchnAllocUnbound = "struct evtchn_alloc_unbound" { dom, remote_dom, port });
    layout!(s, EvtchnBindInterdomain = "struct evtchn_bind_interdomain" {
        remote_dom, remote_port, local_port,
    });
    layout!(s, EvtchnBindVirq = "struct evtchn_bind_virq" { virq, vcpu, port });
    layout!(s, EvtchnBindPirq = "struct evtchn_bind_pirq" { pirq, flags, port });
    layout!(s, EvtchnBindIpi = "struct evtchn_bind_ipi" { vcpu, port });
    layout!(s, EvtchnClose = "struct evtchn_close" { port });
    layout!(s, EvtchnSend = "struct evtchn_send" { port });
    layout!(s, EvtchnStatus = "struct evtchn_status" {
        dom, port, status, vcpu, u, u.unbound, u.unbound.dom, u.interdomain,
        u.interdomain.dom, u.interdomain.port, u.pirq, u.virq,
    });
    layout!(s, EvtchnBindVcpu = "struct evtchn_bind_vcpu" { port, vcpu });
    layout!(s, EvtchnUnmask = "struct evtchn_unmask" { port });
    layout!(s, EvtchnReset = "struct evtchn_reset" { dom });
    layout!(s, EvtchnInitControl = "struct evtchn_init_control" {
        control_gfn, offset, vcpu, link_bits, _pad,
    });
    layout!(s, EvtchnExpandArray = "struct evtchn_expand_array" { array_gfn });
    layout!(s, EvtchnSetPriority = "struct evtchn_set_priority" { port, priority });
    layout!(s, EventWord = "event_word_t" {});
    layout!(s, EvtchnFifoControlBlock = "struct evtchn_fifo_control_block" {
        ready, _rsvd, head,
    });
}

fn structs_grant_table(s: &mut Spec) {
    layout!(s, GrantRef = "grant_ref_t" {});
    layout!(s, GrantHandle = "grant_handle_t" {});
    layout!(s, GrantStatus = "grant_status_t" {});
    layout!(s, GrantEntryV1 = "struct grant_entry_v1" { flags, domid, frame });
    layout!(s, GrantEntryHeader = "struct grant_entry_header" { flags, domid });
    layout!(s, GrantEntryV2 = "union grant_entry_v2" {
        hdr, full_page, full_page.hdr, full_page.pad0, full_page.frame, sub_page,
        sub_page.hdr, sub_page.page_off, sub_page.length, sub_page.frame,
        transitive, transitive.hdr, transitive.trans_domid, transitive.pad0,
        transitive.gref, __spacer,
    });
    layout!(s, GnttabMapGrantRef = "struct gnttab_map_grant_ref" {
        host_addr, flags, r#ref, dom, status, handle, dev_bus_addr,
    });
    layout!(s, GnttabUnmapGrantRef = "struct gnttab_unmap_grant_ref" {
        host_addr, dev_bus_addr, handle, status,
    });
    layout!(s, GnttabSetupTable = "struct gnttab_setup_table" {
        dom, nr_frames, status, frame_list,
    });
    layout!(s, GnttabDumpTable = "struct gnttab_dump_table" { dom, status });
    layout!(s, GnttabTransfer = "struct gnttab_transfer" { mfn, domid, r#ref, status });
    layout!(s, GnttabCopyPtr = "struct gnttab_copy_ptr" { u, u.r#ref, u.gmfn, domid, offset });
    layout!(s, GnttabCopy = "struct gnttab_copy" {
        source, source.u, source.domid, source.offset, dest, dest.u, dest.domid,
        dest.offset, len, flags, status,
    });
    layout!(s, GnttabQuerySize = "struct gnttab_query_size" {
        dom, nr_frames, max_nr_frames, status,
    });
    layout!(s, GnttabUnmapAndReplace = "struct gnttab_unmap_and_replace" {
        host_addr, new_addr, handle, status,
    });
    layout!(s, GnttabSetVersion = "struct gnttab_set_version" { version });
    layout!(s, GnttabGetStatusFrames = "struct gnttab_get_status_frames" {
        nr_frames, dom, status, frame_list,
    });
    layout!(s, GnttabGetVersion = "struct gnttab_get_version" { dom, pad, version });
    layout!(s, GnttabSwapGrantRef = "struct gnttab_swap_grant_ref" { ref_a, ref_b, status });
    layout!(s, GnttabCacheFlush = "struct gnttab_cache_flush" {
        a, a.dev_bus_addr, a.r#ref, offset, length, op,
    });
}

fn structs_sched_vcpu(s: &mut Spec) {
    layout!(s, SchedShutdown = "struct sched_shutdown" { reason });
    layout!(s, SchedPoll = "struct sched_poll" { ports, nr_ports, timeout });
    layout!(s, SchedRemoteShutdown = "struct sched_remote_shutdown" { domain_id, reason });
    layout!(s, SchedWatchdog = "struct sched_watchdog" { id, timeout });
    layout!(s, SchedPinOverride = "struct sched_pin_override" { pcpu });
    layout!(s, VcpuRunstateInfo = "struct vcpu_runstate_info" {
        state, state_entry_time, time,
    });
    layout!(s, VcpuRegisterRunstateMemoryArea = "struct vcpu_register_runstate_memory_area" {
        addr, addr.h, addr.p,
    });
    layout!(s, VcpuSetPeriodicTimer = "struct vcpu_set_periodic_timer" { period_ns });
    layout!(s, VcpuSetSingleshotTimer = "struct vcpu_set_singleshot_timer" {
        timeout_abs_ns, flags,
    });
    layout!(s, VcpuRegisterVcpuInfo = "struct vcpu_register_vcpu_info" { mfn, offset, rsvd });
    layout!(s, VcpuGetPhysid = "struct vcpu_get_physid" { phys_id });
    layout!(s, VcpuRegisterTimeMemoryArea = "struct vcpu_register_time_memory_area" {
        addr, addr.h, addr.p,
    });
}

fn structs_memory_physdev(s: &mut Spec) {
    layout!(s, XenMemoryReservation = "struct xen_memory_reservation" {
        extent_start, nr_extents, extent_order, mem_flags, domid,
    });
    layout!(s, XenMemoryExchange = "struct xen_memory_exchange" {
        r#in, r#in.domid, out, out.extent_start, nr_exchanged,
    });
    layout!(s, XenMemoryDomain = "struct xen_memory_domain" { domid });
    layout!(s, XenMachphysMfnList = "struct xen_machphys_mfn_list" {
        max_extents, extent_start, nr_extents,
    });
    layout!(s, XenMachphysMapping = "struct xen_machphys_mapping" { v_start, v_end, max_mfn });
    layout!(s, XenAddToPhysmap = "struct xen_add_to_physmap" { domid, size, space, idx, gpfn });
    layout!(s, XenAddToPhysmapBatch = "struct xen_add_to_physmap_batch" {
        domid, space, size, u, u.foreign_domid, u.res0, idxs, gpfns, errs,
    });
    layout!(s, XenRemoveFromPhysmap = "struct xen_remove_from_physmap" { domid, gpfn });
    layout!(s, XenMemoryMap = "struct xen_memory_map" { nr_entries, buffer });
    layout!(s, XenForeignMemoryMap = "struct xen_foreign_memory_map" {
        domid, map, map.buffer,
    });
    layout!(s, XenPodTarget = "struct xen_pod_target" {
        target_pages, tot_pages, pod_cache_pages, pod_entries, domid,
    });
    layout!(s, XenMemAcquireResource = "struct xen_mem_acquire_resource" {
        domid, r#type, id, nr_frames, pad, frame, frame_list,
    });

    layout!(s, PhysdevEoi = "struct physdev_eoi" { irq });
    layout!(s, PhysdevPirqEoiGmfn = "struct physdev_pirq_eoi_gmfn" { gmfn });
    layout!(s, PhysdevIrqStatusQuery = "struct physdev_irq_status_query" { irq, flags });
    layout!(s, PhysdevSetIopl = "struct physdev_set_iopl" { iopl });
    layout!(s, PhysdevSetIobitmap = "struct physdev_set_iobitmap" { bitmap, nr_ports });
    layout!(s, PhysdevApic = "struct physdev_apic" { apic_physbase, reg, value });
    layout!(s, PhysdevIrq = "struct physdev_irq" { irq, vector });
    layout!(s, PhysdevMapPirq = "struct physdev_map_pirq" {
        domid, r#type, index, pirq, bus, devfn, entry_nr, table_base,
    });
    layout!(s, PhysdevUnmapPirq = "struct physdev_unmap_pirq" { domid, pirq });
}

fn structs_callback_version_io(s: &mut Spec) {
    layout!(s, CallbackRegister = "struct callback_register" {
        r#type, flags, address, address.cs, address.eip,
    });
    layout!(s, CallbackUnregister = "struct callback_unregister" { r#type, _unused });

    layout!(s, XenExtraversion = "xen_extraversion_t" {});
    layout!(s, XenCompileInfo = "struct xen_compile_info" {
        compiler, compile_by, compile_domain, compile_date,
    });
    layout!(s, XenCapabilitiesInfo = "xen_capabilities_info_t" {});
    layout!(s, XenChangesetInfo = "xen_changeset_info_t" {});
    layout!(s, XenPlatformParameters = "struct xen_platform_parameters" { virt_start });
    layout!(s, XenFeatureInfo = "struct xen_feature_info" { submap_idx, submap });
    layout!(s, XenCommandline = "xen_commandline_t" {});
    layout!(s, XenBuildId = "struct xen_build_id" { len, buf });

    layout!(s, XenconsRingIdx = "XENCONS_RING_IDX" {});
    layout!(s, XenconsInterface = "struct xencons_interface" {
        r#in, out, in_cons, in_prod, out_cons, out_prod,
    });
    layout!(s, XenstoreRingIdx = "XENSTORE_RING_IDX" {});
    layout!(s, XsdSockmsg = "struct xsd_sockmsg" { r#type, req_id, tx_id, len });
    layout!(s, XenstoreDomainInterface = "struct xenstore_domain_interface" {
        req, rsp, req_cons, req_prod, rsp_cons, rsp_prod, server_features,
        connection, error,
    });
}

fn consts_arch_xen(s: &mut Spec) {
    // arch-x86/xen-x86_32.h, arch-x86/xen.h
    consts!(s;
        FLAT_RING1_CS, FLAT_RING1_DS, FLAT_RING1_SS, FLAT_RING3_CS, FLAT_RING3_DS,
        FLAT_RING3_SS, FLAT_KERNEL_CS, FLAT_KERNEL_DS, FLAT_KERNEL_SS, FLAT_USER_CS,
        FLAT_USER_DS, FLAT_USER_SS,
        __HYPERVISOR_VIRT_START_PAE, __MACH2PHYS_VIRT_START_PAE, __MACH2PHYS_VIRT_END_PAE,
        HYPERVISOR_VIRT_START_PAE, MACH2PHYS_VIRT_START_PAE, MACH2PHYS_VIRT_END_PAE,
        __HYPERVISOR_VIRT_START_NONPAE, __MACH2PHYS_VIRT_START_NONPAE,
        __MACH2PHYS_VIRT_END_NONPAE, HYPERVISOR_VIRT_START_NONPAE,
        MACH2PHYS_VIRT_START_NONPAE, MACH2PHYS_VIRT_END_NONPAE,
        __HYPERVISOR_VIRT_START, __MACH2PHYS_VIRT_START, __MACH2PHYS_VIRT_END,
        HYPERVISOR_VIRT_START, MACH2PHYS_VIRT_START, MACH2PHYS_VIRT_END,
        MACH2PHYS_NR_ENTRIES,
        FIRST_RESERVED_GDT_PAGE, FIRST_RESERVED_GDT_BYTE, FIRST_RESERVED_GDT_ENTRY,
        XEN_LEGACY_MAX_VCPUS, XEN_CPUID_NO_SUBLEAF, XEN_HVM_DEBUGCONS_IOPORT,
        VGCF_I387_VALID, VGCF_IN_KERNEL, _VGCF_i387_valid, VGCF_i387_valid,
        _VGCF_in_kernel, VGCF_in_kernel, _VGCF_failsafe_disables_events,
        VGCF_failsafe_disables_events, _VGCF_syscall_disables_events,
        VGCF_syscall_disables_events, _VGCF_online, VGCF_online,
    );
    // The compat hole starts where the (obsolete) native PAE one did.
    s.expr(
        "__HYPERVISOR_VIRT_START_PAE",
        "HYPERVISOR_COMPAT_VIRT_START",
        HYPERVISOR_COMPAT_VIRT_START as i128,
    );

    // xen.h
    s.expr(
        "__XEN_LATEST_INTERFACE_VERSION__",
        "XEN_INTERFACE_VERSION",
        XEN_INTERFACE_VERSION as i128,
    );
    consts!(s;
        __HYPERVISOR_set_trap_table, __HYPERVISOR_mmu_update, __HYPERVISOR_set_gdt,
        __HYPERVISOR_stack_switch, __HYPERVISOR_set_callbacks, __HYPERVISOR_fpu_taskswitch,
        __HYPERVISOR_sched_op_compat, __HYPERVISOR_platform_op, __HYPERVISOR_set_debugreg,
        __HYPERVISOR_get_debugreg, __HYPERVISOR_update_descriptor, __HYPERVISOR_memory_op,
        __HYPERVISOR_multicall, __HYPERVISOR_update_va_mapping, __HYPERVISOR_set_timer_op,
        __HYPERVISOR_event_channel_op_compat, __HYPERVISOR_xen_version,
        __HYPERVISOR_console_io, __HYPERVISOR_physdev_op_compat,
        __HYPERVISOR_grant_table_op, __HYPERVISOR_vm_assist,
        __HYPERVISOR_update_va_mapping_otherdomain, __HYPERVISOR_iret, __HYPERVISOR_vcpu_op,
        __HYPERVISOR_set_segment_base, __HYPERVISOR_mmuext_op, __HYPERVISOR_xsm_op,
        __HYPERVISOR_nmi_op, __HYPERVISOR_sched_op, __HYPERVISOR_callback_op,
        __HYPERVISOR_xenoprof_op, __HYPERVISOR_event_channel_op, __HYPERVISOR_physdev_op,
        __HYPERVISOR_hvm_op, __HYPERVISOR_sysctl, __HYPERVISOR_domctl, __HYPERVISOR_kexec_op,
        __HYPERVISOR_tmem_op, __HYPERVISOR_argo_op, __HYPERVISOR_xenpmu_op,
        __HYPERVISOR_dm_op, __HYPERVISOR_hypfs_op, __HYPERVISOR_arch_0, __HYPERVISOR_arch_1,
        __HYPERVISOR_arch_2, __HYPERVISOR_arch_3, __HYPERVISOR_arch_4, __HYPERVISOR_arch_5,
        __HYPERVISOR_arch_6, __HYPERVISOR_arch_7,
        VIRQ_TIMER, VIRQ_DEBUG, VIRQ_CONSOLE, VIRQ_DOM_EXC, VIRQ_TBUF, VIRQ_DEBUGGER,
        VIRQ_XENOPROF, VIRQ_CON_RING, VIRQ_PCPU_STATE, VIRQ_MEM_EVENT, VIRQ_ARGO,
        VIRQ_ENOMEM, VIRQ_XENPMU, VIRQ_ARCH_0, VIRQ_ARCH_1, VIRQ_ARCH_2, VIRQ_ARCH_3,
        VIRQ_ARCH_4, VIRQ_ARCH_5, VIRQ_ARCH_6, VIRQ_ARCH_7, NR_VIRQS,
        MMU_NORMAL_PT_UPDATE, MMU_MACHPHYS_UPDATE, MMU_PT_UPDATE_PRESERVE_AD,
        MMU_PT_UPDATE_NO_TRANSLATE,
        MMUEXT_PIN_L1_TABLE, MMUEXT_PIN_L2_TABLE, MMUEXT_PIN_L3_TABLE, MMUEXT_PIN_L4_TABLE,
        MMUEXT_UNPIN_TABLE, MMUEXT_NEW_BASEPTR, MMUEXT_TLB_FLUSH_LOCAL, MMUEXT_INVLPG_LOCAL,
        MMUEXT_TLB_FLUSH_MULTI, MMUEXT_INVLPG_MULTI, MMUEXT_TLB_FLUSH_ALL,
        MMUEXT_INVLPG_ALL, MMUEXT_FLUSH_CACHE, MMUEXT_SET_LDT, MMUEXT_NEW_USER_BASEPTR,
        MMUEXT_CLEAR_PAGE, MMUEXT_COPY_PAGE, MMUEXT_FLUSH_CACHE_GLOBAL, MMUEXT_MARK_SUPER,
        MMUEXT_UNMARK_SUPER,
        UVMF_NONE, UVMF_TLB_FLUSH, UVMF_INVLPG, UVMF_FLUSHTYPE_MASK, UVMF_MULTI, UVMF_LOCAL,
        UVMF_ALL,
        CONSOLEIO_write, CONSOLEIO_read,
        VMASST_CMD_enable, VMASST_CMD_disable, VMASST_TYPE_4gb_segments,
        VMASST_TYPE_4gb_segments_notify, VMASST_TYPE_writable_pagetables,
        VMASST_TYPE_pae_extended_cr3, VMASST_TYPE_architectural_iopl,
        VMASST_TYPE_runstate_update_flag, VMASST_TYPE_m2p_strict,
        DOMID_FIRST_RESERVED, DOMID_SELF, DOMID_IO, DOMID_XEN, DOMID_COW, DOMID_INVALID,
        DOMID_IDLE, DOMID_MASK,
        XEN_PVCLOCK_TSC_STABLE_BIT, XEN_PVCLOCK_GUEST_STOPPED,
        MAX_GUEST_CMDLINE,
        SIF_PRIVILEGED, SIF_INITDOMAIN, SIF_MULTIBOOT_MOD, SIF_MOD_START_PFN,
        SIF_VIRT_P2M_4TOOLS, SIF_PM_MASK,
        XEN_VGATYPE_TEXT_MODE_3, XEN_VGATYPE_VESA_LFB, XEN_VGATYPE_EFI_LFB,
    );
}

fn consts_others(s: &mut Spec) {
    // event_channel.h
    consts!(s;
        EVTCHNOP_bind_interdomain, EVTCHNOP_bind_virq, EVTCHNOP_bind_pirq, EVTCHNOP_close,
        EVTCHNOP_send, EVTCHNOP_status, EVTCHNOP_alloc_unbound, EVTCHNOP_bind_ipi,
        EVTCHNOP_bind_vcpu, EVTCHNOP_unmask, EVTCHNOP_reset, EVTCHNOP_init_control,
        EVTCHNOP_expand_array, EVTCHNOP_set_priority, BIND_PIRQ__WILL_SHARE,
        EVTCHNSTAT_closed, EVTCHNSTAT_unbound, EVTCHNSTAT_interdomain, EVTCHNSTAT_pirq,
        EVTCHNSTAT_virq, EVTCHNSTAT_ipi, EVTCHN_2L_NR_CHANNELS,
        EVTCHN_FIFO_PRIORITY_MAX, EVTCHN_FIFO_PRIORITY_DEFAULT, EVTCHN_FIFO_PRIORITY_MIN,
        EVTCHN_FIFO_MAX_QUEUES, EVTCHN_FIFO_PENDING, EVTCHN_FIFO_MASKED,
        EVTCHN_FIFO_LINKED, EVTCHN_FIFO_BUSY, EVTCHN_FIFO_LINK_BITS, EVTCHN_FIFO_LINK_MASK,
        EVTCHN_FIFO_NR_CHANNELS,
    );
    // grant_table.h
    consts!(s;
        GNTTAB_NR_RESERVED_ENTRIES, GNTTAB_RESERVED_CONSOLE, GNTTAB_RESERVED_XENSTORE,
        GTF_invalid, GTF_permit_access, GTF_accept_transfer, GTF_transitive, GTF_type_mask,
        _GTF_readonly, GTF_readonly, _GTF_reading, GTF_reading, _GTF_writing, GTF_writing,
        _GTF_PWT, GTF_PWT, _GTF_PCD, GTF_PCD, _GTF_PAT, GTF_PAT, _GTF_sub_page, GTF_sub_page,
        _GTF_transfer_committed, GTF_transfer_committed, _GTF_transfer_completed,
        GTF_transfer_completed,
        GNTTABOP_map_grant_ref, GNTTABOP_unmap_grant_ref, GNTTABOP_setup_table,
        GNTTABOP_dump_table, GNTTABOP_transfer, GNTTABOP_copy, GNTTABOP_query_size,
        GNTTABOP_unmap_and_replace, GNTTABOP_set_version, GNTTABOP_get_status_frames,
        GNTTABOP_get_version, GNTTABOP_swap_grant_ref, GNTTABOP_cache_flush,
        _GNTCOPY_source_gref, GNTCOPY_source_gref, _GNTCOPY_dest_gref, GNTCOPY_dest_gref,
        GNTTAB_CACHE_CLEAN, GNTTAB_CACHE_INVAL, GNTTAB_CACHE_SOURCE_GREF,
        _GNTMAP_device_map, GNTMAP_device_map, _GNTMAP_host_map, GNTMAP_host_map,
        _GNTMAP_readonly, GNTMAP_readonly, _GNTMAP_application_map, GNTMAP_application_map,
        _GNTMAP_contains_pte, GNTMAP_contains_pte, _GNTMAP_guest_avail0,
        GNTMAP_guest_avail_mask,
        GNTST_okay, GNTST_general_error, GNTST_bad_domain, GNTST_bad_gntref,
        GNTST_bad_handle, GNTST_bad_virt_addr, GNTST_bad_dev_addr, GNTST_no_device_space,
        GNTST_permission_denied, GNTST_bad_page, GNTST_bad_copy_arg, GNTST_address_too_big,
        GNTST_eagain, GNTST_no_space,
    );
    // sched.h
    consts!(s;
        SCHEDOP_yield, SCHEDOP_block, SCHEDOP_shutdown, SCHEDOP_poll, SCHEDOP_remote_shutdown,
        SCHEDOP_shutdown_code, SCHEDOP_watchdog, SCHEDOP_pin_override,
        SHUTDOWN_poweroff, SHUTDOWN_reboot, SHUTDOWN_suspend, SHUTDOWN_crash,
        SHUTDOWN_watchdog, SHUTDOWN_soft_reset, SHUTDOWN_MAX,
    );
    // vcpu.h
    consts!(s;
        VCPUOP_initialise, VCPUOP_up, VCPUOP_down, VCPUOP_is_up, VCPUOP_get_runstate_info,
        VCPUOP_register_runstate_memory_area, VCPUOP_set_periodic_timer,
        VCPUOP_stop_periodic_timer, VCPUOP_set_singleshot_timer, VCPUOP_stop_singleshot_timer,
        VCPUOP_register_vcpu_info, VCPUOP_send_nmi, VCPUOP_get_physid,
        VCPUOP_register_vcpu_time_memory_area, XEN_RUNSTATE_UPDATE,
        RUNSTATE_running, RUNSTATE_runnable, RUNSTATE_blocked, RUNSTATE_offline,
        _VCPU_SSHOTTMR_future, VCPU_SSHOTTMR_future,
    );
    // memory.h
    consts!(s;
        XENMEM_increase_reservation, XENMEM_decrease_reservation, XENMEM_populate_physmap,
        XENMEMF_populate_on_demand, XENMEMF_exact_node_request, XENMEMF_vnode,
        XENMEM_exchange, XENMEM_maximum_ram_page, XENMEM_current_reservation,
        XENMEM_maximum_reservation, XENMEM_maximum_gpfn, XENMEM_machphys_mfn_list,
        XENMEM_machphys_compat_mfn_list, XENMEM_machphys_mapping,
        XENMAPSPACE_shared_info, XENMAPSPACE_grant_table, XENMAPSPACE_gmfn,
        XENMAPSPACE_gmfn_range, XENMAPSPACE_gmfn_foreign, XENMAPSPACE_dev_mmio,
        XENMEM_add_to_physmap, XENMAPIDX_grant_table_status, XENMEM_add_to_physmap_batch,
        XENMEM_remove_from_physmap, XENMEM_memory_map, XENMEM_machine_memory_map,
        XENMEM_set_memory_map, XENMEM_set_pod_target, XENMEM_get_pod_target,
        XENMEM_acquire_resource, XENMEM_resource_ioreq_server, XENMEM_resource_grant_table,
        XENMEM_resource_vmtrace_buf, XENMEM_resource_grant_table_id_shared,
        XENMEM_resource_grant_table_id_status, XENMEM_resource_ioreq_server_frame_bufioreq,
        XENMEM_get_vnumainfo,
    );
    // physdev.h
    consts!(s;
        PHYSDEVOP_eoi, PHYSDEVOP_pirq_eoi_gmfn_v1, PHYSDEVOP_pirq_eoi_gmfn_v2,
        PHYSDEVOP_pirq_eoi_gmfn, PHYSDEVOP_irq_status_query, _XENIRQSTAT_needs_eoi,
        XENIRQSTAT_needs_eoi, _XENIRQSTAT_shared, XENIRQSTAT_shared, PHYSDEVOP_set_iopl,
        PHYSDEVOP_set_iobitmap, PHYSDEVOP_apic_read, PHYSDEVOP_apic_write,
        PHYSDEVOP_alloc_irq_vector, PHYSDEVOP_free_irq_vector, MAP_PIRQ_TYPE_MSI,
        MAP_PIRQ_TYPE_GSI, MAP_PIRQ_TYPE_UNKNOWN, MAP_PIRQ_TYPE_MSI_SEG,
        MAP_PIRQ_TYPE_MULTI_MSI, PHYSDEVOP_map_pirq, PHYSDEVOP_unmap_pirq,
        PHYSDEVOP_manage_pci_add, PHYSDEVOP_manage_pci_remove, PHYSDEVOP_restore_msi,
        PHYSDEVOP_manage_pci_add_ext, PHYSDEVOP_setup_gsi, PHYSDEVOP_get_free_pirq,
        PHYSDEVOP_pci_mmcfg_reserved, PHYSDEVOP_pci_device_add, PHYSDEVOP_pci_device_remove,
        PHYSDEVOP_restore_msi_ext, PHYSDEVOP_dbgp_op, PHYSDEVOP_prepare_msix,
        PHYSDEVOP_release_msix, PHYSDEVOP_IRQ_UNMASK_NOTIFY, XEN_PCI_MMCFG_RESERVED,
        XEN_PCI_DEV_EXTFN, XEN_PCI_DEV_VIRTFN, XEN_PCI_DEV_PXM, PHYSDEVOP_DBGP_RESET_PREPARE,
        PHYSDEVOP_DBGP_RESET_DONE, PHYSDEVOP_DBGP_BUS_UNKNOWN, PHYSDEVOP_DBGP_BUS_PCI,
    );
    // callback.h
    consts!(s;
        CALLBACKTYPE_event, CALLBACKTYPE_failsafe, CALLBACKTYPE_syscall,
        CALLBACKTYPE_sysenter_deprecated, CALLBACKTYPE_nmi, CALLBACKTYPE_sysenter,
        CALLBACKTYPE_syscall32, _CALLBACKF_mask_events, CALLBACKF_mask_events,
        CALLBACKOP_register, CALLBACKOP_unregister,
    );
    // version.h, features.h
    consts!(s;
        XENVER_version, XENVER_extraversion, XENVER_compile_info, XENVER_capabilities,
        XENVER_changeset, XENVER_platform_parameters, XENVER_get_features, XENVER_pagesize,
        XENVER_guest_handle, XENVER_commandline, XENVER_build_id, XEN_EXTRAVERSION_LEN,
        XEN_CAPABILITIES_INFO_LEN, XEN_CHANGESET_INFO_LEN,
        XENFEAT_writable_page_tables, XENFEAT_writable_descriptor_tables,
        XENFEAT_auto_translated_physmap, XENFEAT_supervisor_mode_kernel,
        XENFEAT_pae_pgdir_above_4gb, XENFEAT_mmu_pt_update_preserve_ad,
        XENFEAT_highmem_assist, XENFEAT_gnttab_map_avail_bits, XENFEAT_hvm_callback_vector,
        XENFEAT_hvm_safe_pvclock, XENFEAT_hvm_pirqs, XENFEAT_dom0,
        XENFEAT_memory_op_vnode_supported, XENFEAT_ARM_SMCCC_supported,
        XENFEAT_linux_rsdp_unrestricted, XENFEAT_not_direct_mapped, XENFEAT_direct_mapped,
        XENFEAT_NR_SUBMAPS,
    );
    // io/xs_wire.h
    consts!(s;
        XS_TYPE_COUNT, XENSTORE_RING_SIZE, XENSTORE_PAYLOAD_MAX, XENSTORE_ABS_PATH_MAX,
        XENSTORE_REL_PATH_MAX, XENSTORE_SERVER_FEATURE_RECONNECTION,
        XENSTORE_SERVER_FEATURE_ERROR, XENSTORE_CONNECTED, XENSTORE_RECONNECT,
        XENSTORE_ERROR_NONE, XENSTORE_ERROR_COMM, XENSTORE_ERROR_RINGIDX,
        XENSTORE_ERROR_PROTO,
    );
    s.expr("XS_DEBUG", "XS_DEBUG", XS_DEBUG as i128);
}

/// Rust-side sizes that have a C expression, and the function-like macros
/// evaluated at sample arguments.
fn derived_and_function_macros(s: &mut Spec) {
    let xencons = "((struct xencons_interface *)0)";
    s.expr(
        format!("sizeof({xencons}->in)"),
        "XENCONS_IN_SIZE",
        XENCONS_IN_SIZE as i128,
    );
    s.expr(
        format!("sizeof({xencons}->out)"),
        "XENCONS_OUT_SIZE",
        XENCONS_OUT_SIZE as i128,
    );
    for idx in [0u32, 1023, 1024, 3000, 0xffff_ffff] {
        s.expr(
            format!("MASK_XENCONS_IDX({idx}u, {xencons}->in)"),
            format!("XenconsInterface::mask_in({idx})"),
            XenconsInterface::mask_in(idx) as i128,
        );
        s.expr(
            format!("MASK_XENCONS_IDX({idx}u, {xencons}->out)"),
            format!("XenconsInterface::mask_out({idx})"),
            XenconsInterface::mask_out(idx) as i128,
        );
        s.expr(
            format!("MASK_XENSTORE_IDX({idx}u)"),
            format!("mask_xenstore_idx({idx})"),
            mask_xenstore_idx(idx) as i128,
        );
    }
    for pfn in [0u32, 1, 0x000f_ffff, 0x0010_0000, 0x1234_5678, 0xffff_ffff] {
        s.expr(
            format!("xen_pfn_to_cr3({pfn}u)"),
            format!("xen_pfn_to_cr3({pfn:#x})"),
            xen_pfn_to_cr3(pfn) as i128,
        );
        s.expr(
            format!("xen_cr3_to_pfn({pfn}u)"),
            format!("xen_cr3_to_pfn({pfn:#x})"),
            xen_cr3_to_pfn(pfn) as i128,
        );
    }
    // TI_* take a struct trap_info pointer; a GNU statement expression gives
    // them one.
    for flags in [0u8, 1, 3, 4, 7, 0xff] {
        let t = TrapInfo {
            flags,
            ..TrapInfo::default()
        };
        s.expr(
            format!("({{ struct trap_info t = {{ .flags = {flags} }}; TI_GET_DPL(&t); }})"),
            format!("TrapInfo{{flags:{flags}}}.dpl()"),
            t.dpl() as i128,
        );
        s.expr(
            format!("({{ struct trap_info t = {{ .flags = {flags} }}; !!TI_GET_IF(&t); }})"),
            format!("TrapInfo{{flags:{flags}}}.masks_events()"),
            t.masks_events() as i128,
        );
    }
    for (dpl, mask) in [(0u8, false), (1, false), (3, true), (2, true)] {
        let mut t = TrapInfo::default();
        t.set_dpl(dpl);
        t.set_masks_events(mask);
        s.expr(
            format!(
                "({{ struct trap_info t = {{ 0 }}; TI_SET_DPL(&t, {dpl}); \
                 TI_SET_IF(&t, {}); t.flags; }})",
                u8::from(mask)
            ),
            format!("set_dpl({dpl}) + set_masks_events({mask})"),
            t.flags as i128,
        );
    }
    for bits in [0u32, 32, 0x1234] {
        s.expr(
            format!("XENMEMF_address_bits({bits}u)"),
            format!("xenmemf_address_bits({bits})"),
            xenmemf_address_bits(bits) as i128,
        );
        s.expr(
            format!("XENMEMF_get_address_bits({bits}u)"),
            format!("xenmemf_get_address_bits({bits})"),
            xenmemf_get_address_bits(bits) as i128,
        );
        s.expr(
            format!("XENMEMF_get_node({bits}u)"),
            format!("xenmemf_get_node({bits})"),
            xenmemf_get_node(bits) as i128,
        );
    }
    for node in [0u32, 3, 254] {
        s.expr(
            format!("XENMEMF_node({node}u)"),
            format!("xenmemf_node({node})"),
            xenmemf_node(node) as i128,
        );
        s.expr(
            format!("XENMEMF_exact_node({node}u)"),
            format!("xenmemf_exact_node({node})"),
            xenmemf_exact_node(node) as i128,
        );
        s.expr(
            format!("XENMEMF_get_node(XENMEMF_node({node}u))"),
            format!("xenmemf_get_node(xenmemf_node({node}))"),
            xenmemf_get_node(xenmemf_node(node)) as i128,
        );
    }
    s.expr(
        "XENMEM_resource_ioreq_server_frame_ioreq(5)",
        "xenmem_resource_ioreq_server_frame_ioreq(5)",
        xenmem_resource_ioreq_server_frame_ioreq(5) as i128,
    );
    let physid = 0x1122_3344_5566_7788u64;
    s.expr(
        format!("xen_vcpu_physid_to_x86_apicid({physid:#x}ull)"),
        "xen_vcpu_physid_to_x86_apicid",
        xen_vcpu_physid_to_x86_apicid(physid) as i128,
    );
    s.expr(
        format!("xen_vcpu_physid_to_x86_acpiid({physid:#x}ull)"),
        "xen_vcpu_physid_to_x86_acpiid",
        xen_vcpu_physid_to_x86_acpiid(physid) as i128,
    );
}

fn enums(s: &mut Spec) {
    for &h in Hypercall::ALL {
        s.expr(
            format!("__HYPERVISOR_{}", h.name()),
            format!("Hypercall::{h:?}"),
            h as i128,
        );
    }
    for &t in XsdSockmsgType::ALL {
        s.expr(t.name(), format!("XsdSockmsgType::{t:?}"), t as i128);
    }
    s.expr(
        "XS_WATCH_PATH",
        "XsWatchType::Path",
        XsWatchType::Path as i128,
    );
    s.expr(
        "XS_WATCH_TOKEN",
        "XsWatchType::Token",
        XsWatchType::Token as i128,
    );
}

/// Object-like macros of the headers deliberately not mirrored as Rust
/// constants, with the reason. Anything else the headers define must be in
/// the spec.
const NOT_MIRRORED: &[(&str, &str)] = &[
    (
        "__XEN_INTERFACE_VERSION__",
        "set by the test program itself",
    ),
    ("XEN_HAVE_PV_GUEST_ENTRY", "C feature-test macro"),
    ("XEN_HAVE_PV_UPCALL_MASK", "C feature-test macro"),
    ("XEN_FLEX_ARRAY_DIM", "C syntax helper"),
    ("COMPAT_FLEX_ARRAY_DIM", "C syntax helper"),
    ("PRI_xen_pfn", "printf format"),
    ("PRIu_xen_pfn", "printf format"),
    ("PRI_xen_ulong", "printf format"),
    (
        "machine_to_phys_mapping",
        "C pointer to the M2P; see MACH2PHYS_VIRT_START",
    ),
    ("xen_wc_sec_hi", "field alias for arch.wc_sec_hi"),
    ("xen_vga_console_info", "type alias"),
    ("xen_vga_console_info_t", "type alias"),
    ("_XS_WIRE_H", "include guard"),
    // Checked byte for byte by `emulate_prefix_and_hypercall_stubs`.
    ("XEN_EMULATE_PREFIX", "assembler string"),
    ("XEN_CPUID", "assembler string"),
    // Checked entry by entry by `gnttab_error_messages`.
    ("GNTTABOP_error_msgs", "string table"),
];

// ---------------------------------------------------------------------------
// Running the C side.

/// C's `(size, align, [(offset, size)] per field)` for one StructSpec.
type CStruct = (usize, usize, Vec<(usize, usize)>);

/// What the C program printed.
struct CResults {
    structs: Vec<CStruct>,
    exprs: Vec<i128>,
    strings: Vec<String>,
    xsd_errors: Vec<(i32, String)>,
    gnttab_msgs: Vec<String>,
    xen_errnos: Vec<(String, i32)>,
    /// Name -> bytes assembled by gcc.
    blobs: BTreeMap<String, Vec<u8>>,
    /// Object-like macros the Xen headers define (system headers' removed).
    header_macros: BTreeSet<String>,
}

fn xen_include_dir() -> PathBuf {
    let dir =
        PathBuf::from(std::env::var_os("XEN_INCLUDE_DIR").unwrap_or_else(|| "/usr/include".into()));
    assert!(
        dir.join("xen/xen.h").is_file(),
        "Xen public headers not found ({}/xen/xen.h missing): {HINT}",
        dir.display()
    );
    dir
}

fn cc() -> String {
    std::env::var("CC_I386").unwrap_or_else(|_| "gcc".into())
}

const SYSTEM_INCLUDES: &str = "\
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h> /* xs_wire.h builds xsd_errors[] only if EINVAL exists */
";

const XEN_INCLUDES: &str = "\
/* Guests get interface 0 unless they ask; ask for the one Xen 4.17 ships. */
#define __XEN_INTERFACE_VERSION__ 0x00040e00
#include <xen/xen.h>
#include <xen/event_channel.h>
#include <xen/grant_table.h>
#include <xen/sched.h>
#include <xen/vcpu.h>
#include <xen/memory.h>
#include <xen/physdev.h>
#include <xen/callback.h>
#include <xen/version.h>
#include <xen/io/console.h>
#include <xen/io/xs_wire.h>
";

fn generate_c(spec: &Spec) -> String {
    let mut c = String::new();
    c.push_str(SYSTEM_INCLUDES);
    c.push_str(XEN_INCLUDES);
    c.push_str(
        r#"
/* Every errno of the header, including the __XEN__-only ones. */
static const struct { const char *name; long value; } xen_errnos[] = {
#define XEN_ERRNO(name, value) { #name, value },
#define __XEN__
#include <xen/errno.h>
#undef __XEN__
};

static const char *const gnttab_msgs[] = GNTTABOP_error_msgs;

/* The hypercall stubs and the emulation prefix, as gcc assembles them. */
__asm__(".pushsection .rodata\n"
        "xdbt_stub_call:\n"
        "\tmovl $0x12345678, %eax\n\tint $0x82\n\tret\n"
        "xdbt_stub_iret:\n"
        "\tpushl %eax\n\tmovl $23, %eax\n\tint $0x82\n"
        "xdbt_emulate_prefix:\n"
        "\t" XEN_EMULATE_PREFIX "\n"
        "xdbt_cpuid:\n"
        "\t" XEN_CPUID "\n"
        "xdbt_end:\n"
        ".popsection\n");
extern const unsigned char xdbt_stub_call[], xdbt_stub_iret[],
    xdbt_emulate_prefix[], xdbt_cpuid[], xdbt_end[];

static void blob(const char *name, const unsigned char *from,
                 const unsigned char *to)
{
    printf("B\t%s\t", name);
    for ( ; from < to; from++ )
        printf("%02x", *from);
    printf("\n");
}

static void value(int i, int negative, long long s, unsigned long long u)
{
    if ( negative )
        printf("E\t%d\t%lld\n", i, s);
    else
        printf("E\t%d\t%llu\n", i, u);
}
#define VALUE(i, e) value(i, (e) < 0, (long long)(e), (unsigned long long)(e))
#define FIELD(i, j, t, f) \
    printf("F\t%d\t%d\t%zu\t%zu\n", i, j, offsetof(t, f), sizeof(((t *)0)->f))
#define FLEX(i, j, t, f) printf("F\t%d\t%d\t%zu\t0\n", i, j, offsetof(t, f))

int main(void)
{
    size_t i;
"#,
    );
    for (i, st) in spec.structs.iter().enumerate() {
        let t = st.c;
        writeln!(
            c,
            "    printf(\"S\\t{i}\\t%zu\\t%zu\\n\", sizeof({t}), _Alignof({t}));"
        )
        .unwrap();
        for (j, f) in st.fields.iter().enumerate() {
            // A zero-sized Rust field mirrors a C flexible array member, whose
            // type is incomplete: sizeof would not compile.
            let field = if f.size == 0 { "FLEX" } else { "FIELD" };
            writeln!(c, "    {field}({i}, {j}, {t}, {});", f.c).unwrap();
        }
    }
    for (i, e) in spec.exprs.iter().enumerate() {
        writeln!(c, "    VALUE({i}, {});", e.c).unwrap();
    }
    for (i, (name, _)) in spec.strings.iter().enumerate() {
        writeln!(c, "    printf(\"T\\t{i}\\t%s\\n\", {name});").unwrap();
    }
    c.push_str(
        r#"    for ( i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++ )
        printf("X\t%d\t%s\n", xsd_errors[i].errnum, xsd_errors[i].errstring);
    for ( i = 0; i < sizeof(gnttab_msgs) / sizeof(gnttab_msgs[0]); i++ )
        printf("G\t%s\n", gnttab_msgs[i]);
    for ( i = 0; i < sizeof(xen_errnos) / sizeof(xen_errnos[0]); i++ )
        printf("R\t%s\t%ld\n", xen_errnos[i].name, xen_errnos[i].value);
    blob("call", xdbt_stub_call, xdbt_stub_iret);
    blob("iret", xdbt_stub_iret, xdbt_emulate_prefix);
    blob("emulate_prefix", xdbt_emulate_prefix, xdbt_cpuid);
    blob("cpuid", xdbt_cpuid, xdbt_end);
    return 0;
}
"#,
    );
    c
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {what} ({cmd:?}): {e}; {HINT}");
    });
    assert!(
        out.status.success(),
        "{what} failed ({}): {cmd:?}\n{}\n{HINT}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap_or_else(|e| panic!("{what}: output is not UTF-8: {e}"))
}

fn work_dir() -> PathBuf {
    // Per process, so concurrent test runs do not trample each other.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("hypercall-abi-layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Object-like macro names `gcc -dM -E` reports for `source`.
fn macro_names(dir: &Path, inc: &Path, name: &str, source: &str) -> BTreeSet<String> {
    let path = dir.join(name);
    std::fs::write(&path, source).unwrap();
    let out = run(
        Command::new(cc())
            .args(["-m32", "-std=gnu11", "-dM", "-E", "-I"])
            .arg(inc)
            .arg(&path),
        "gcc -dM -E",
    );
    out.lines()
        .filter_map(|l| l.strip_prefix("#define "))
        .filter_map(|l| {
            let name: String = l
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // Function-like macros are followed directly by '('.
            (!l[name.len()..].starts_with('(')).then_some(name)
        })
        .collect()
}

fn c_results() -> &'static CResults {
    static RESULTS: OnceLock<CResults> = OnceLock::new();
    RESULTS.get_or_init(compile_and_run)
}

fn compile_and_run() -> CResults {
    let spec = spec();
    let inc = xen_include_dir();
    let dir = work_dir();
    let src = dir.join("layout.c");
    let exe = dir.join("layout");
    std::fs::write(&src, generate_c(spec)).unwrap();
    run(
        Command::new(cc())
            .args([
                "-m32",
                "-std=gnu11",
                "-O0",
                "-Wall",
                "-Wno-type-limits",
                "-I",
            ])
            .arg(&inc)
            .arg(&src)
            .arg("-o")
            .arg(&exe),
        "gcc -m32 (layout program)",
    );
    let output = run(&mut Command::new(&exe), "the layout program");

    let system = macro_names(&dir, &inc, "system.c", SYSTEM_INCLUDES);
    let all = macro_names(
        &dir,
        &inc,
        "headers.c",
        &format!("{SYSTEM_INCLUDES}{XEN_INCLUDES}"),
    );
    let header_macros = all
        .difference(&system)
        // Include guards.
        .filter(|m| !(m.starts_with("__XEN_PUBLIC_") && m.ends_with("_H__")))
        .cloned()
        .collect();

    let mut r = CResults {
        structs: spec
            .structs
            .iter()
            .map(|s| {
                (
                    usize::MAX,
                    usize::MAX,
                    vec![(usize::MAX, usize::MAX); s.fields.len()],
                )
            })
            .collect(),
        exprs: vec![i128::MIN; spec.exprs.len()],
        strings: vec![String::new(); spec.strings.len()],
        xsd_errors: Vec::new(),
        gnttab_msgs: Vec::new(),
        xen_errnos: Vec::new(),
        blobs: BTreeMap::new(),
        header_macros,
    };
    let num = |s: &str| -> usize { s.parse().unwrap() };
    for line in output.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f[0] {
            "S" => {
                let st = &mut r.structs[num(f[1])];
                st.0 = num(f[2]);
                st.1 = num(f[3]);
            }
            "F" => r.structs[num(f[1])].2[num(f[2])] = (num(f[3]), num(f[4])),
            "E" => r.exprs[num(f[1])] = f[2].parse().unwrap(),
            "T" => r.strings[num(f[1])] = f[2].to_string(),
            "X" => r.xsd_errors.push((f[1].parse().unwrap(), f[2].to_string())),
            "G" => r.gnttab_msgs.push(f[1].to_string()),
            "R" => r.xen_errnos.push((f[1].to_string(), f[2].parse().unwrap())),
            "B" => {
                let bytes = (0..f[2].len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&f[2][i..i + 2], 16).unwrap())
                    .collect();
                r.blobs.insert(f[1].to_string(), bytes);
            }
            other => panic!("unexpected line from the layout program: {other:?}"),
        }
    }
    // Kept on failure (the panics above) for inspection, removed otherwise.
    let _ = std::fs::remove_dir_all(&dir);
    r
}

fn check(problems: Vec<String>, what: &str) {
    assert!(
        problems.is_empty(),
        "{} {what} mismatch(es) against the Xen headers:\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

// ---------------------------------------------------------------------------
// The tests.

#[test]
fn struct_layouts_match_gcc_m32() {
    let (spec, c) = (spec(), c_results());
    let mut problems = Vec::new();
    let (mut nstructs, mut nfields) = (0, 0);
    for (st, (size, align, fields)) in spec.structs.iter().zip(&c.structs) {
        nstructs += 1;
        if (st.size, st.align) != (*size, *align) {
            problems.push(format!(
                "{} ({}): Rust size {} align {}, C size {size} align {align}",
                st.rust, st.c, st.size, st.align
            ));
        }
        for (f, (off, fsize)) in st.fields.iter().zip(fields) {
            nfields += 1;
            if (f.offset, f.size) != (*off, *fsize) {
                problems.push(format!(
                    "{}.{} ({}.{}): Rust offset {} size {}, C offset {off} size {fsize}",
                    st.rust, f.rust, st.c, f.c, f.offset, f.size
                ));
            }
        }
    }
    println!(
        "{nstructs} types ({} checks) and {nfields} fields ({} checks) compared",
        2 * nstructs,
        2 * nfields
    );
    check(problems, "layout");
}

#[test]
fn constants_match_header_values() {
    let (spec, c) = (spec(), c_results());
    let mut problems = Vec::new();
    for (e, v) in spec.exprs.iter().zip(&c.exprs) {
        if e.value != *v {
            problems.push(format!("{} = {}, but C {} = {v}", e.rust, e.value, e.c));
        }
    }
    for ((name, rust), cval) in spec.strings.iter().zip(&c.strings) {
        if rust != cval {
            problems.push(format!("{name}: Rust {rust:?}, C {cval:?}"));
        }
    }
    println!(
        "{} expressions and {} strings compared",
        spec.exprs.len(),
        spec.strings.len()
    );
    check(problems, "constant");
}

#[test]
fn every_header_macro_is_mirrored() {
    let (spec, c) = (spec(), c_results());
    let covered: BTreeSet<&str> = spec
        .exprs
        .iter()
        .map(|e| e.c.as_str())
        .chain(spec.strings.iter().map(|s| s.0))
        .chain(NOT_MIRRORED.iter().map(|n| n.0))
        .collect();
    let missing: Vec<String> = c
        .header_macros
        .iter()
        .filter(|m| !covered.contains(m.as_str()))
        .map(|m| format!("{m} is defined by the headers but has no Rust twin"))
        .collect();
    // A stale exclusion hides nothing, but says something false about the headers.
    let stale: Vec<String> = NOT_MIRRORED
        .iter()
        .filter(|(n, _)| !c.header_macros.contains(*n))
        .map(|(n, _)| format!("NOT_MIRRORED lists {n}, which the headers no longer define"))
        .collect();
    println!("{} header macros accounted for", c.header_macros.len());
    check(missing.into_iter().chain(stale).collect(), "coverage");
}

#[test]
fn xen_errno_table_matches_header() {
    let c = c_results();
    let rust: Vec<(String, i32)> = XEN_ERRNOS
        .iter()
        .map(|&(n, v)| (n.to_string(), v))
        .collect();
    assert_eq!(rust, c.xen_errnos, "XEN_ERRNOS differs from xen/errno.h");
    // The named consts are what XEN_ERRNOS lists (spot checks of the macro).
    assert_eq!((EPERM, ENOENT, ENOSYS, EOPNOTSUPP), (1, 2, 38, 95));
    assert_eq!(errno_name(EAGAIN), Some("EAGAIN"));
    assert_eq!(errno_from_name("EWOULDBLOCK"), Some(EAGAIN));
}

#[test]
fn xsd_error_table_matches_header() {
    let c = c_results();
    let rust: Vec<&str> = XSD_ERRORS.iter().map(|e| e.errstring).collect();
    let header: Vec<&str> = c.xsd_errors.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(
        rust, header,
        "XSD_ERRORS order or names differ from xsd_errors[]"
    );
    for e in XSD_ERRORS {
        // The header's numbers are the host libc's; ours must be Xen's.
        assert_eq!(
            Some(e.errnum),
            errno_from_name(e.errstring),
            "{} does not carry Xen's errno",
            e.errstring
        );
    }
    for (num, name) in &c.xsd_errors {
        assert_eq!(
            Some(*num),
            errno_from_name(name),
            "host errno {name} = {num} differs from Xen's"
        );
    }
}

#[test]
fn gnttab_error_messages() {
    let c = c_results();
    assert_eq!(GNTTABOP_error_msgs.as_slice(), c.gnttab_msgs.as_slice());
    assert_eq!(gntst_message(GNTST_okay), Some("okay"));
    assert_eq!(gntst_message(GNTST_no_space), Some("out of space"));
    assert_eq!(gntst_message(GNTST_no_space - 1), None);
    assert_eq!(gntst_message(1), None);
}

#[test]
fn emulate_prefix_and_hypercall_stubs() {
    let c = c_results();
    let blob = |n: &str| c.blobs[n].as_slice();

    assert_eq!(&hypercall_stub(0x1234_5678)[..8], blob("call"));
    assert_eq!(&hypercall_stub(__HYPERVISOR_iret)[..8], blob("iret"));
    assert!(hypercall_stub(0)[8..]
        .iter()
        .all(|&b| b == HYPERCALL_PAGE_FILL));

    assert_eq!(XEN_EMULATE_PREFIX.as_slice(), blob("emulate_prefix"));
    let mut cpuid = XEN_EMULATE_PREFIX.to_vec();
    cpuid.extend([0x0f, 0xa2]);
    assert_eq!(cpuid, blob("cpuid"));

    let page = hypercall_page();
    for nr in 0..HYPERCALL_SLOTS {
        let slot = &page[nr * HYPERCALL_SLOT_SIZE..][..HYPERCALL_SLOT_SIZE];
        assert_eq!(slot, hypercall_stub(nr as u32));
    }
}

// Rust-side behaviour that has no C counterpart to compare with.

#[test]
fn hypercall_enum_round_trips() {
    for &h in Hypercall::ALL {
        assert_eq!(Hypercall::from_nr(h.nr()), Some(h));
        assert_eq!(Hypercall::try_from(h.nr()), Ok(h));
    }
    assert_eq!(Hypercall::from_nr(11), None);
    assert_eq!(Hypercall::try_from(56), Err(56));
    assert_eq!(Hypercall::SchedOp.name(), "sched_op");
}

#[test]
fn xs_types_cover_every_valid_value() {
    for v in 0..XS_TYPE_COUNT {
        // 20 was XS_RESTRICT, which Xen removed.
        assert_eq!(XsdSockmsgType::from_u32(v).is_some(), v != 20, "type {v}");
    }
    assert_eq!(
        XsdSockmsgType::from_u32(0xffff),
        Some(XsdSockmsgType::Invalid)
    );
    assert_eq!(xsd_error_string(ENOENT), "ENOENT");
    assert_eq!(xsd_error_string(EFAULT), "EINVAL");
    assert_eq!(xsd_error_errno("EISCONN"), Some(EISCONN));
}

#[test]
fn trap_info_and_cr3_helpers() {
    let mut t = TrapInfo::default();
    t.set_dpl(3);
    t.set_masks_events(true);
    assert_eq!((t.dpl(), t.masks_events()), (3, true));
    for pfn in [0, 1, 0xfffff, 0x100000, 0xffff_ffff] {
        assert_eq!(xen_cr3_to_pfn(xen_pfn_to_cr3(pfn)), pfn);
    }
}

#[test]
fn guest_handles_are_plain_addresses() {
    let h = GuestHandle::<u64>::new(0xc000_1000);
    assert_eq!(h.addr(), 0xc000_1000);
    assert!(!h.is_null() && GuestHandle::<u8>::default().is_null());
    assert_eq!(h.cast::<u8>().addr(), h.addr());
}
