//! EFLAGS (SDM Vol. 1, 3.4.3).
use bitflags::bitflags;

bitflags! {
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Eflags: u32 {
        const CF = 1 << 0;
        const FIXED1 = 1 << 1;
        const PF = 1 << 2;
        const AF = 1 << 4;
        const ZF = 1 << 6;
        const SF = 1 << 7;
        const TF = 1 << 8;
        const IF = 1 << 9;
        const DF = 1 << 10;
        const OF = 1 << 11;
        const IOPL = 3 << 12;
        const NT = 1 << 14;
        const RF = 1 << 16;
        const VM = 1 << 17;
        const AC = 1 << 18;
        const VIF = 1 << 19;
        const VIP = 1 << 20;
        const ID = 1 << 21;
    }
}

impl Eflags {
    /// The six status flags that translated code keeps in the host's RFLAGS.
    pub const ARITH: Eflags = Eflags::CF
        .union(Eflags::PF)
        .union(Eflags::AF)
        .union(Eflags::ZF)
        .union(Eflags::SF)
        .union(Eflags::OF);
    /// Flags a CPL-3 POPF may change (IF and IOPL are silently kept).
    pub const USER_WRITABLE: Eflags = Eflags::ARITH
        .union(Eflags::TF)
        .union(Eflags::DF)
        .union(Eflags::NT)
        .union(Eflags::AC)
        .union(Eflags::ID);
}
