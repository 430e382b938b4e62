//! Building blocks shared by the models and metrics crates: layers with
//! PyTorch's default initialization, device and thread selection, facts
//! about the libtorch this process actually loaded, and the golden-value
//! and tolerance helpers of the tensor tests. Plumbing that needs no tensor
//! lives in `meg-plumbing`.

pub mod golden;
pub mod grad;
pub mod init;
pub mod layout;
pub mod runtime;
pub mod tolerance;

pub use init::{batch_norm1d, batch_norm2d, conv2d, conv_transpose2d, linear};
pub mod act;
pub use act::leaky_relu;
pub use layout::conv_layout;
pub use runtime::{
    parse_device, provenance, reuse_freed_memory, set_threads_from_env, RuntimeInfo,
};
