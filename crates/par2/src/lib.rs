//! PAR2 2.0 recovery files, as butcher writes them on every disc: creation, verification and
//! repair of a directory's files, readable by par2cmdline.

pub mod gf;
pub mod kernel;
