//! The workspace's plumbing, free of libtorch so that every crate (data sets,
//! reports, xtask) can use it: atomic file writes ([`io`]), directory locks
//! ([`dirlock`]), deterministic fault points ([`fault`]), what is recorded
//! next to results ([`provenance`]), where the checkout is ([`workspace_root`]),
//! the CPU facts that change float results ([`cpu`]) and the version of a
//! libtorch directory ([`libtorch`]).

pub mod cpu;
pub mod dirlock;
pub mod fault;
pub mod golden;
pub mod io;
pub mod libtorch;
pub mod markdown;
pub mod provenance;
pub mod resources;
pub mod seed;
mod workspace;

pub use cpu::{cpu_kind, numeric_path, NUMERIC_PATH_VARS};
pub use dirlock::DirLock;
pub use io::{write_atomic, write_atomic_with};
pub use provenance::Provenance;
pub use workspace::workspace_root;
