//! Models and training for Maximum Entropy Generators (MEG).
//!
//! - [`nets`]: the energy E, generator G and statistics network T of each
//!   model family, initialized as the authors' code does (PyTorch defaults,
//!   or their `weights_init` for the MNIST and CIFAR nets);
//! - [`objectives`]: the MEG energy and generator steps and the WGAN-GP
//!   baseline;
//! - [`mcmc`]: Metropolis-adjusted Langevin in latent or visible space;
//! - [`adam`]: Adam with PyTorch's update rule and checkpointable state;
//! - [`train`]: the one training loop, driven by a [`config::RunConfig`];
//! - [`checkpoint`]: atomic safetensors checkpoints of networks and optimizers.

pub mod adam;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod mcmc;
pub mod memory;
pub mod nets;
pub mod objectives;
pub mod train;

pub use config::RunConfig;
pub use nets::Model;
