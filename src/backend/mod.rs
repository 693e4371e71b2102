//! Host code generation. Only this module expands `dynasm!`; one backend per host ISA.
pub mod codebuf;
pub mod x64;
