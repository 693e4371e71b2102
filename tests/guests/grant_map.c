/*
 * grant_map: GNTTABOP_map_grant_ref / unmap_grant_ref of a grant the domain gave itself
 * (xen/common/grant_table.c map_grant_ref, unmap_common, unmap_common_complete;
 * xen/arch/x86/pv/grant_table.c create_grant_pv_mapping, replace_grant_pv_mapping).
 *
 * The granting domain must be named by its id: rcu_lock_domain_by_id(DOMID_SELF) finds no
 * domain (GNTST_bad_domain). Our id comes from an unbound channel's status (alloc_unbound
 * stores the current domain's id for a DOMID_SELF remote). A host mapping at a linear
 * address replaces that address's L1 entry with frame|P|A|D|RW (NX too where the CPU has
 * it; _PAGE_GNTTAB is 0 in a release build); the entry gets GTF_reading|GTF_writing
 * (_set_status_v1) until the last unmap (reduce_status_for_pin). Handles come from the
 * maptrack: 0, 1, ... from a fresh page, freed ones go to the tail of the free list
 * (get_maptrack_handle, put_maptrack_handle).
 */
#define TEST_NAME "grant_map"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-grant_map");

#define GNTTABOP_map_grant_ref   0
#define GNTTABOP_unmap_grant_ref 1

#define GNTMAP_device_map   (1u << 0)
#define GNTMAP_host_map     (1u << 1)
#define GNTMAP_readonly     (1u << 2)
#define GNTMAP_contains_pte (1u << 4)

#define GTF_permit_access 1
#define GTF_readonly      (1 << 2)
#define GTF_reading       (1 << 3)
#define GTF_writing       (1 << 4)

#define GNTST_okay          0
#define GNTST_general_error (-1)
#define GNTST_bad_domain    (-2)
#define GNTST_bad_gntref    (-3)
#define GNTST_bad_handle    (-4)
#define GNTST_bad_page      (-9)

/* The compat layout (identical to the native one: CHECK_gnttab_map_grant_ref). */
struct gnttab_map_grant_ref {
    uint64_t host_addr;
    uint32_t flags;
    uint32_t ref;
    uint16_t dom;
    int16_t status;
    uint32_t handle;
    uint64_t dev_bus_addr;
} __attribute__((packed, aligned(4)));

struct gnttab_unmap_grant_ref {
    uint64_t host_addr;
    uint64_t dev_bus_addr;
    uint32_t handle;
    int16_t status;
    uint16_t pad;
} __attribute__((packed, aligned(4)));

_Static_assert(sizeof(struct gnttab_map_grant_ref) == 32, "map layout");
_Static_assert(sizeof(struct gnttab_unmap_grant_ref) == 24, "unmap layout");

static char gframe[4096] PAGE_ALIGNED;
static char data[4096] PAGE_ALIGNED;
static char mapva[4096] PAGE_ALIGNED;
static char mapva2[4096] PAGE_ALIGNED;
static volatile uint16_t *gflags(unsigned ref) { return (volatile uint16_t *)(gframe + 8 * ref); }

static void grant(unsigned ref, uint16_t flags, uint16_t dom, uint32_t frame)
{
    volatile uint32_t *e = (volatile uint32_t *)(gframe + 8 * ref);
    e[1] = frame;
    e[0] = flags | ((uint32_t)dom << 16);
}

static uint16_t mydom;

static int16_t map1(uint32_t va, uint32_t flags, uint32_t ref, uint16_t dom, uint32_t *handle)
{
    struct gnttab_map_grant_ref m = { va, flags, ref, dom, 77, 0xabcd, 0x55 };
    check_eq(HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, &m, 1), 0, "map hypercall");
    if (m.status != GNTST_okay) {
        /* The struct is copied back as it was, but for the status. */
        check_eq(m.handle, 0xabcd, "handle untouched on failure");
        check(m.dev_bus_addr == 0x55, "dev_bus_addr untouched on failure");
    }
    if (handle)
        *handle = m.handle;
    return m.status;
}

static int16_t unmap1(uint32_t va, uint32_t handle)
{
    struct gnttab_unmap_grant_ref u = { va, 0, handle, 77, 0 };
    check_eq(HYPERVISOR_grant_table_op(GNTTABOP_unmap_grant_ref, &u, 1), 0, "unmap hypercall");
    return u.status;
}

void guest_main(struct start_info *start)
{
    si = start;

    struct evtchn_alloc_unbound au = { DOMID_SELF, DOMID_SELF, 0 };
    check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &au), 0, "alloc_unbound");
    struct evtchn_status es = { DOMID_SELF, 0, au.port };
    check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_status, &es), 0, "evtchn status");
    mydom = es.u.unbound.dom;
    check(mydom != DOMID_SELF, "own domain id");

    uint32_t frames[1] = { 0 };
    struct gnttab_setup_table st = { DOMID_SELF, 0, 1, 7, 0, frames };
    check_eq(HYPERVISOR_grant_table_op(GNTTABOP_setup_table, &st, 1), 0, "setup_table");
    check_eq(st.status, GNTST_okay, "setup_table status");
    check_eq(HYPERVISOR_update_va_mapping((uint32_t)gframe, pte(frames[0], PTE_RW), UVMF_INVLPG),
             0, "map grant frame");

    uint32_t dmfn = va_to_mfn(data);
    for (int i = 0; i < 1024; i++)
        ((volatile uint32_t *)data)[i] = 0x1000 + i;
    grant(10, GTF_permit_access, mydom, dmfn);

    /* Map ref 10 writable at mapva: handle 0 from the first maptrack page. */
    struct gnttab_map_grant_ref m = { (uint32_t)mapva, GNTMAP_host_map, 10, mydom, 77, 0, 0 };
    check_eq(HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, &m, 1), 0, "map");
    check_eq(m.status, GNTST_okay, "map status");
    check_eq(m.handle, 0, "first handle");
    check(m.dev_bus_addr == ((uint64_t)dmfn << 12), "dev_bus_addr is the frame's address");
    uint32_t h0 = m.handle;
    check_eq(*gflags(10), GTF_permit_access | GTF_reading | GTF_writing, "entry pinned r/w");
    uint64_t l1e = *l1e_of((uint32_t)mapva);
    check(l1e == (pte(dmfn, PTE_RW) | (l1e & (1ull << 63))), "grant PTE: frame|P|RW|A|D(|NX)");
    volatile uint32_t *a = (volatile uint32_t *)data, *b = (volatile uint32_t *)mapva;
    check_eq(b[5], 0x1005, "same contents through the mapping");
    b[7] = 0xfeedf00d;
    check_eq(a[7], 0xfeedf00d, "write through the mapping");
    a[8] = 0x12345678;
    check_eq(b[8], 0x12345678, "write through the original address");

    /* Map it again read-only at mapva2: handle 1, no RW in the PTE. */
    uint32_t h1;
    check_eq(map1((uint32_t)mapva2, GNTMAP_host_map | GNTMAP_readonly, 10, mydom, &h1),
             GNTST_okay, "read-only map");
    check_eq(h1, 1, "second handle");
    l1e = *l1e_of((uint32_t)mapva2);
    check(l1e == (pte(dmfn, PTE_RO | _PAGE_DIRTY) | (l1e & (1ull << 63))), "read-only grant PTE");
    check_eq(((volatile uint32_t *)mapva2)[7], 0xfeedf00d, "read through the r/o mapping");

    /* Errors. */
    check_eq(map1((uint32_t)mapva2, GNTMAP_host_map, 10, DOMID_SELF, 0), GNTST_bad_domain,
             "DOMID_SELF is no domain for rcu_lock_domain_by_id");
    check_eq(map1((uint32_t)mapva2, GNTMAP_host_map, 10, 0x7FEF, 0), GNTST_bad_domain,
             "unknown domain");
    check_eq(map1((uint32_t)mapva2, 0, 10, mydom, 0), GNTST_bad_gntref,
             "neither host nor device map");
    check_eq(map1((uint32_t)mapva2, GNTMAP_host_map, 0x100000, mydom, 0), GNTST_bad_gntref,
             "ref beyond nr_grant_entries");
    grant(11, 0, 0, dmfn);
    check_eq(map1((uint32_t)mapva2, GNTMAP_host_map, 11, mydom, 0), GNTST_general_error,
             "ungranted entry");
    check_eq(*gflags(11), 0, "ungranted entry untouched");
    grant(12, GTF_permit_access | GTF_readonly, mydom, dmfn);
    check_eq(map1((uint32_t)mapva2, GNTMAP_host_map, 12, mydom, 0), GNTST_general_error,
             "read-only grant mapped writable");
    check_eq(*gflags(12), GTF_permit_access | GTF_readonly, "r/o grant untouched");
    grant(13, GTF_permit_access, 0x7FEF, dmfn);
    check_eq(map1((uint32_t)mapva2, GNTMAP_host_map, 13, mydom, 0), GNTST_general_error,
             "grant to another domain");
    grant(14, GTF_permit_access, mydom, 0x0FFFFFFF);
    check_eq(map1((uint32_t)mapva2, GNTMAP_host_map, 14, mydom, 0), GNTST_bad_page,
             "frame not ours");
    check_eq(*gflags(14), GTF_permit_access, "bad page: status flags dropped");
    /* A page-table frame cannot take PGT_writable_page (could_not_pin). */
    grant(15, GTF_permit_access, mydom, (uint32_t)(entry_maddr(l1e_of((uint32_t)data)) >> 12));
    check_eq(map1((uint32_t)mapva2, GNTMAP_host_map, 15, mydom, 0), GNTST_general_error,
             "writable map of a page table");
    check_eq(*gflags(15), GTF_permit_access, "could_not_pin: status flags dropped");
    /* No L1 table maps 0x40000000 (map_guest_l1e fails). */
    grant(16, GTF_permit_access, mydom, dmfn);
    check_eq(map1(0x40000000u, GNTMAP_host_map, 16, mydom, 0), GNTST_general_error,
             "linear address without an L1");
    check_eq(*gflags(16), GTF_permit_access, "failed host map: status flags dropped");
    check_eq(HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, (void *)0x40000000u, 1),
             -XEN_EFAULT, "map: unreadable argument");
    check_eq(HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref | 0x1000, &m, 1), -XEN_EINVAL,
             "continuation bits in the command");
    check_eq(HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, &m, 0), 0, "count 0");

    check_eq(unmap1((uint32_t)mapva, 12345), GNTST_bad_handle, "handle beyond the maptrack");
    check_eq(unmap1((uint32_t)mapva, 5), GNTST_bad_handle, "free handle");
    check_eq(unmap1((uint32_t)mapva2, h0), GNTST_general_error, "address of another mapping");
    check_eq(unmap1(0, h0), GNTST_okay, "host_addr 0 unmaps nothing");
    check(*l1e_of((uint32_t)mapva) != 0, "mapping still there");

    /* A batch: per-entry status. */
    struct gnttab_unmap_grant_ref ub[2] = {
        { (uint32_t)mapva, 0, h0, 77, 0 },
        { (uint32_t)mapva, 0, 200, 77, 0 },
    };
    check_eq(HYPERVISOR_grant_table_op(GNTTABOP_unmap_grant_ref, ub, 2), 0, "unmap batch");
    check_eq(ub[0].status, GNTST_okay, "unmap");
    check_eq(ub[1].status, GNTST_bad_handle, "unmap of a free handle in a batch");
    check(*l1e_of((uint32_t)mapva) == 0, "PTE cleared");
    check_eq(*gflags(10), GTF_permit_access | GTF_reading, "writing dropped, reading kept");
    check_eq(unmap1((uint32_t)mapva, h0), GNTST_bad_handle, "unmap twice");

    /*
     * Freed handles go to the tail of the free list: handle 0, and also 2..8, which the seven
     * maps that failed after get_maptrack_handle took and put back (map_grant_ref's
     * unlock_out). The next handle is 9.
     */
    uint32_t h2;
    check_eq(map1((uint32_t)mapva, GNTMAP_host_map, 10, mydom, &h2), GNTST_okay, "map again");
    check_eq(h2, 9, "handles come from the head of the free list");
    check_eq(unmap1((uint32_t)mapva, h2), GNTST_okay, "unmap again");
    check_eq(unmap1((uint32_t)mapva2, h1), GNTST_okay, "unmap read-only");
    check_eq(*gflags(10), GTF_permit_access, "entry unpinned");
    check_eq(a[7], 0xfeedf00d, "data kept");

    /* GNTMAP_contains_pte: host_addr is the machine address of the L1 entry. */
    uint64_t pte_ma = entry_maddr(l1e_of((uint32_t)mapva));
    check_eq(map1((uint32_t)pte_ma, GNTMAP_host_map | GNTMAP_contains_pte, 10, mydom, &h2),
             GNTST_okay, "map by PTE address");
    check_eq(((volatile uint32_t *)mapva)[7], 0xfeedf00d, "read through the PTE-address map");
    check_eq(map1((uint32_t)pte_ma + 4, GNTMAP_host_map | GNTMAP_contains_pte, 10, mydom, 0),
             GNTST_general_error, "misaligned PTE address");
    struct gnttab_unmap_grant_ref uc = { pte_ma, 0, h2, 77, 0 };
    check_eq(HYPERVISOR_grant_table_op(GNTTABOP_unmap_grant_ref, &uc, 1), 0, "unmap by PTE");
    check_eq(uc.status, GNTST_okay, "unmap by PTE address");
    check(*l1e_of((uint32_t)mapva) == 0, "PTE cleared (contains_pte)");

    /* GNTMAP_device_map alone: a pin and dev_bus_addr, no mapping. */
    struct gnttab_map_grant_ref md = { 0, GNTMAP_device_map, 10, mydom, 77, 0, 0 };
    check_eq(HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, &md, 1), 0, "device map");
    check_eq(md.status, GNTST_okay, "device map status");
    check(md.dev_bus_addr == ((uint64_t)dmfn << 12), "device map dev_bus_addr");
    check_eq(*gflags(10), GTF_permit_access | GTF_reading | GTF_writing, "device pin r/w");
    struct gnttab_unmap_grant_ref ud = { 0, md.dev_bus_addr + 4096, md.handle, 77, 0 };
    check_eq(HYPERVISOR_grant_table_op(GNTTABOP_unmap_grant_ref, &ud, 1), 0, "device unmap");
    check_eq(ud.status, -6 /* GNTST_bad_dev_addr */, "wrong dev_bus_addr");
    ud.dev_bus_addr = md.dev_bus_addr;
    check_eq(HYPERVISOR_grant_table_op(GNTTABOP_unmap_grant_ref, &ud, 1), 0, "device unmap");
    check_eq(ud.status, GNTST_okay, "device unmap status");
    check_eq(*gflags(10), GTF_permit_access, "device pin dropped");

    /* The page behind mapva is ours again. */
    check_eq(HYPERVISOR_update_va_mapping((uint32_t)mapva, pte(va_to_mfn(mapva), PTE_RW),
                                          UVMF_INVLPG), 0, "restore mapva");
    check_eq(HYPERVISOR_update_va_mapping((uint32_t)mapva2, pte(va_to_mfn(mapva2), PTE_RW),
                                          UVMF_INVLPG), 0, "restore mapva2");
    /* With no writable grant mapping left, the data frame can become a page table. */
    check_eq(make_ro(data), 0, "data read-only");
    check_eq(mmuext1(MMUEXT_PIN_L1_TABLE, dmfn, 0), 0, "pin the data frame as an L1");
    check_eq(mmuext1(MMUEXT_UNPIN_TABLE, dmfn, 0), 0, "unpin");
    pass();
}
