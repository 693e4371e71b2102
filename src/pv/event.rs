//! Event channels with the 2-level ABI (xen/common/event_channel.c, event_2l.c): the port
//! table of one domain, and pending/mask bits kept where the guest reads them, in its
//! shared_info page. The host side of interdomain channels (the console and xenstore
//! backends, dom0 in a real system) is the runner: a send on such a port is handed to it.
//!
//! Not here: the FIFO ABI (EVTCHNOP_init_control answers -ENOSYS, so guests fall back to
//! 2-level, as with Xen booted `evtchn_fifo=0`), PIRQs (a domU without devices gets -EPERM).

use alloc::vec;
use alloc::vec::Vec;
use core::mem::offset_of;
use hypercall_abi::errno::{EEXIST, EINVAL, ENOENT, ENOSPC, EPERM, ESRCH};
use hypercall_abi::xen::{SharedInfo, VcpuInfo};

/// Ports of the 2-level ABI for a 32-bit guest: 32 words of 32 bits.
pub const NR_PORTS: u32 = 1024;
pub const NR_VIRQS: u32 = 24;

/// Byte offsets in shared_info (x86_32 layout, checked against Xen's headers in hypercall-abi).
pub const SI_PENDING: u32 = offset_of!(SharedInfo, evtchn_pending) as u32;
pub const SI_MASK: u32 = offset_of!(SharedInfo, evtchn_mask) as u32;
pub const VCPU_INFO_SIZE: u32 = core::mem::size_of::<VcpuInfo>() as u32;
pub const VI_UPCALL_PENDING: u32 = offset_of!(VcpuInfo, evtchn_upcall_pending) as u32;
pub const VI_UPCALL_MASK: u32 = offset_of!(VcpuInfo, evtchn_upcall_mask) as u32;
pub const VI_PENDING_SEL: u32 = offset_of!(VcpuInfo, evtchn_pending_sel) as u32;

/// The shared_info page, as the host reaches it. Guest vCPUs change it concurrently, so
/// the bit operations must be atomic (as Xen's `guest_test_and_set_bit`).
pub trait SharedPage {
    fn load_u32(&self, off: u32) -> u32;
    fn store_u32(&mut self, off: u32, v: u32);
    /// Atomic OR; returns the old value.
    fn fetch_or_u32(&mut self, off: u32, bits: u32) -> u32;
    /// Atomic AND; returns the old value.
    fn fetch_and_u32(&mut self, off: u32, bits: u32) -> u32;
    fn load_u8(&self, off: u32) -> u8;
    /// Atomic exchange of a byte; returns the old value.
    fn swap_u8(&mut self, off: u32, v: u8) -> u8;
}

pub fn vcpu_info_off(vcpu: u32) -> u32 {
    vcpu * VCPU_INFO_SIZE
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortState {
    Free,
    /// Allocated for `remote` domain to bind (EVTCHNOP_alloc_unbound).
    Unbound {
        remote: u16,
    },
    /// Connected to a port of this domain (a loopback channel).
    Local {
        peer: u32,
    },
    /// Connected to a backend in the host (domain `remote`, e.g. dom0's console daemon).
    Backend {
        remote: u16,
        rport: u32,
    },
    Virq(u32),
    Ipi,
}

#[derive(Clone, Copy, Debug)]
struct Port {
    state: PortState,
    /// The vCPU notified when the port becomes pending.
    vcpu: u32,
}

/// A send the domain cannot complete itself: the host's backend must see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendNotify {
    pub port: u32,
    pub remote: u16,
    pub rport: u32,
}

pub struct EventChannels {
    ports: Vec<Port>,
    nr_vcpus: u32,
    /// virq_port[vcpu][virq]: 0 when unbound (port 0 is never allocated).
    virq_port: Vec<[u32; NR_VIRQS as usize]>,
    domid: u16,
}

/// Virtual IRQs that are per-vCPU (may be bound on any vCPU); the rest are global and bound
/// on vCPU 0 (xen/common/event_channel.c `virq_is_global`).
fn virq_is_global(virq: u32) -> bool {
    !matches!(virq, 0 | 1 | 6 | 7 | 13) && virq < 16
}

impl EventChannels {
    pub fn new(domid: u16, nr_vcpus: u32) -> EventChannels {
        EventChannels {
            ports: vec![
                Port {
                    state: PortState::Free,
                    vcpu: 0
                };
                NR_PORTS as usize
            ],
            nr_vcpus,
            virq_port: vec![[0; NR_VIRQS as usize]; nr_vcpus as usize],
            domid,
        }
    }

    pub fn state(&self, port: u32) -> Option<PortState> {
        self.ports.get(port as usize).map(|p| p.state)
    }

    pub fn port_vcpu(&self, port: u32) -> Option<u32> {
        self.ports.get(port as usize).map(|p| p.vcpu)
    }

    /// Reserve `port` as connected to a host backend: what the toolstack and the console
    /// and store daemons set up before the guest starts.
    pub fn connect_backend(&mut self, port: u32, remote: u16, rport: u32) {
        if let Some(p) = self.ports.get_mut(port as usize) {
            p.state = PortState::Backend { remote, rport };
            p.vcpu = 0;
        }
    }

    fn alloc(&mut self) -> Result<u32, i32> {
        (1..NR_PORTS)
            .find(|&p| self.ports[p as usize].state == PortState::Free)
            .ok_or(-ENOSPC)
    }

    fn resolve_dom(&self, dom: u16) -> Result<u16, i32> {
        if dom == hypercall_abi::xen::DOMID_SELF || dom == self.domid {
            Ok(self.domid)
        } else {
            Err(-ESRCH)
        }
    }

    pub fn alloc_unbound(&mut self, dom: u16, remote: u16) -> Result<u32, i32> {
        if dom != hypercall_abi::xen::DOMID_SELF && dom != self.domid {
            // Allocating in another domain is the toolstack's privilege.
            return Err(-EPERM);
        }
        let remote = if remote == hypercall_abi::xen::DOMID_SELF {
            self.domid
        } else {
            remote
        };
        let p = self.alloc()?;
        self.ports[p as usize] = Port {
            state: PortState::Unbound { remote },
            vcpu: 0,
        };
        Ok(p)
    }

    /// EVTCHNOP_bind_interdomain. As Xen does (evtchn_bind_interdomain), the new local port
    /// is set pending: notifications sent to the unbound port may have been lost.
    pub fn bind_interdomain(
        &mut self,
        sh: &mut dyn SharedPage,
        remote_dom: u16,
        remote_port: u32,
    ) -> Result<u32, i32> {
        // Only loopback channels can be made from inside the domain here: the backends'
        // ends are created by the host.
        self.resolve_dom(remote_dom)?;
        match self.ports.get(remote_port as usize).map(|p| p.state) {
            Some(PortState::Unbound { remote }) if remote == self.domid => {}
            _ => return Err(-EINVAL),
        }
        let p = self.alloc()?;
        self.ports[p as usize] = Port {
            state: PortState::Local { peer: remote_port },
            vcpu: 0,
        };
        self.ports[remote_port as usize].state = PortState::Local { peer: p };
        self.set_pending(sh, p);
        Ok(p)
    }

    pub fn bind_virq(&mut self, virq: u32, vcpu: u32) -> Result<u32, i32> {
        if virq >= NR_VIRQS {
            return Err(-EINVAL);
        }
        if virq_is_global(virq) && vcpu != 0 {
            return Err(-EINVAL);
        }
        if vcpu >= self.nr_vcpus {
            return Err(-ENOENT);
        }
        if self.virq_port[vcpu as usize][virq as usize] != 0 {
            return Err(-EEXIST);
        }
        let p = self.alloc()?;
        self.ports[p as usize] = Port {
            state: PortState::Virq(virq),
            vcpu,
        };
        self.virq_port[vcpu as usize][virq as usize] = p;
        Ok(p)
    }

    pub fn bind_ipi(&mut self, vcpu: u32) -> Result<u32, i32> {
        if vcpu >= self.nr_vcpus {
            return Err(-ENOENT);
        }
        let p = self.alloc()?;
        self.ports[p as usize] = Port {
            state: PortState::Ipi,
            vcpu,
        };
        Ok(p)
    }

    pub fn bind_vcpu(&mut self, port: u32, vcpu: u32) -> Result<(), i32> {
        if vcpu >= self.nr_vcpus {
            return Err(-ENOENT);
        }
        let p = self.ports.get_mut(port as usize).ok_or(-EINVAL)?;
        match p.state {
            PortState::Virq(v) if virq_is_global(v) => {}
            PortState::Unbound { .. } | PortState::Local { .. } | PortState::Backend { .. } => {}
            _ => return Err(-EINVAL),
        }
        p.vcpu = vcpu;
        Ok(())
    }

    pub fn close(&mut self, port: u32) -> Result<(), i32> {
        let p = *self.ports.get(port as usize).ok_or(-EINVAL)?;
        match p.state {
            PortState::Free => return Err(-EINVAL),
            PortState::Virq(v) => self.virq_port[p.vcpu as usize][v as usize] = 0,
            PortState::Local { peer } if peer != port => {
                self.ports[peer as usize].state = PortState::Unbound { remote: self.domid };
            }
            _ => {}
        }
        self.ports[port as usize] = Port {
            state: PortState::Free,
            vcpu: 0,
        };
        Ok(())
    }

    /// EVTCHNOP_reset: close every port.
    pub fn reset(&mut self, dom: u16) -> Result<(), i32> {
        self.resolve_dom(dom)?;
        for p in 1..NR_PORTS {
            if !matches!(self.ports[p as usize].state, PortState::Backend { .. }) {
                let _ = self.close(p);
            }
        }
        Ok(())
    }

    /// EVTCHNOP_send. A port connected to a backend returns the notification for the host.
    pub fn send(
        &mut self,
        sh: &mut dyn SharedPage,
        port: u32,
    ) -> Result<Option<BackendNotify>, i32> {
        let p = *self.ports.get(port as usize).ok_or(-EINVAL)?;
        match p.state {
            PortState::Local { peer } => {
                self.set_pending(sh, peer);
                Ok(None)
            }
            PortState::Ipi => {
                self.set_pending(sh, port);
                Ok(None)
            }
            PortState::Backend { remote, rport } => Ok(Some(BackendNotify {
                port,
                remote,
                rport,
            })),
            // Nobody is listening yet: Xen drops it silently.
            PortState::Unbound { .. } => Ok(None),
            PortState::Free | PortState::Virq(_) => Err(-EINVAL),
        }
    }

    /// Raise `virq` on `vcpu` if the guest bound it; returns whether an upcall became due.
    pub fn raise_virq(&mut self, sh: &mut dyn SharedPage, virq: u32, vcpu: u32) -> bool {
        let v = if virq_is_global(virq) { 0 } else { vcpu };
        match self
            .virq_port
            .get(v as usize)
            .and_then(|t| t.get(virq as usize))
        {
            Some(&p) if p != 0 => self.set_pending(sh, p),
            _ => false,
        }
    }

    /// The host backend notifies the guest's end of a channel.
    pub fn notify_from_backend(&mut self, sh: &mut dyn SharedPage, port: u32) -> bool {
        match self.state(port) {
            Some(PortState::Backend { .. }) => self.set_pending(sh, port),
            _ => false,
        }
    }

    /// evtchn_2l_set_pending: returns true when the port's vCPU got a new upcall pending.
    pub fn set_pending(&mut self, sh: &mut dyn SharedPage, port: u32) -> bool {
        let Some(p) = self.ports.get(port as usize) else {
            return false;
        };
        let (word, bit) = (port / 32, 1u32 << (port % 32));
        if sh.fetch_or_u32(SI_PENDING + 4 * word, bit) & bit != 0 {
            return false;
        }
        if sh.load_u32(SI_MASK + 4 * word) & bit != 0 {
            return false;
        }
        self.mark_sel(sh, p.vcpu, word)
    }

    fn mark_sel(&self, sh: &mut dyn SharedPage, vcpu: u32, word: u32) -> bool {
        let vi = vcpu_info_off(vcpu);
        if sh.fetch_or_u32(vi + VI_PENDING_SEL, 1 << word) & (1 << word) != 0 {
            return false;
        }
        sh.swap_u8(vi + VI_UPCALL_PENDING, 1) == 0
    }

    /// EVTCHNOP_unmask (evtchn_2l_unmask): a port pending while masked now raises its upcall.
    pub fn unmask(&mut self, sh: &mut dyn SharedPage, port: u32) -> Result<bool, i32> {
        let p = *self.ports.get(port as usize).ok_or(-EINVAL)?;
        let (word, bit) = (port / 32, 1u32 << (port % 32));
        if sh.fetch_and_u32(SI_MASK + 4 * word, !bit) & bit != 0
            && sh.load_u32(SI_PENDING + 4 * word) & bit != 0
        {
            return Ok(self.mark_sel(sh, p.vcpu, word));
        }
        Ok(false)
    }

    /// EVTCHNOP_status's answer: (status, vcpu, union word 0, union word 1).
    pub fn status(&self, dom: u16, port: u32) -> Result<(u32, u32, u32, u32), i32> {
        self.resolve_dom(dom)?;
        let p = self.ports.get(port as usize).ok_or(-EINVAL)?;
        use hypercall_abi::event_channel::*;
        Ok(match p.state {
            PortState::Free => (EVTCHNSTAT_closed, p.vcpu, 0, 0),
            PortState::Unbound { remote } => (EVTCHNSTAT_unbound, p.vcpu, remote.into(), 0),
            PortState::Local { peer } => (EVTCHNSTAT_interdomain, p.vcpu, self.domid.into(), peer),
            PortState::Backend { remote, rport } => {
                (EVTCHNSTAT_interdomain, p.vcpu, remote.into(), rport)
            }
            PortState::Virq(v) => (EVTCHNSTAT_virq, p.vcpu, v, 0),
            PortState::Ipi => (EVTCHNSTAT_ipi, p.vcpu, 0, 0),
        })
    }

    /// Is an upcall due on `vcpu` (pending and not masked)?
    pub fn upcall_due(sh: &dyn SharedPage, vcpu: u32) -> bool {
        let vi = vcpu_info_off(vcpu);
        sh.load_u8(vi + VI_UPCALL_PENDING) != 0 && sh.load_u8(vi + VI_UPCALL_MASK) == 0
    }

    /// Is any of `ports` pending (SCHEDOP_poll)?
    pub fn any_pending(sh: &dyn SharedPage, ports: &[u32]) -> bool {
        ports
            .iter()
            .any(|&p| p < NR_PORTS && sh.load_u32(SI_PENDING + 4 * (p / 32)) & (1 << (p % 32)) != 0)
    }
}
