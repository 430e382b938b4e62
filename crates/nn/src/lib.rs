//! Building blocks shared by the models and metrics crates: layers with
//! PyTorch's default initialization, device and thread selection, and facts
//! about the libtorch this process actually loaded.

pub mod dirlock;
pub mod fault;
pub mod golden;
pub mod grad;
pub mod init;
pub mod io;
pub mod layout;
pub mod provenance;
pub mod runtime;
pub mod tolerance;

pub use init::{batch_norm1d, batch_norm2d, conv2d, conv_transpose2d, linear};
pub mod act;
pub use act::leaky_relu;
pub use layout::conv_layout;
pub use provenance::Provenance;
pub use runtime::{
    cpu_kind, numeric_path, parse_device, reuse_freed_memory, set_threads_from_env, RuntimeInfo,
};
