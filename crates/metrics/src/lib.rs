//! Evaluation metrics for generative models and anomaly detectors.
//!
//! - [`inception`]: pytorch-fid's Inception-v3 (the FID variant) in tch, with
//!   [`weights`] loading PyTorch state dicts, and [`images`] reading image folders.
//! - [`fid`]: Gaussian statistics of features and the Fréchet distance.
//! - [`inception_score`]: the Inception Score as torch-fidelity defines it.
//! - [`classifier`] and [`modes`]: the MNIST classifier and StackedMNIST mode counting.
//! - [`toy`]: mode coverage and grid KL for the 2-D toy densities.
//! - [`anomaly`]: precision/recall/F1 at the 80th-percentile threshold, AUPRC, average precision.

pub mod anomaly;
pub mod classifier;
pub mod fid;
pub mod images;
pub mod inception;
pub mod inception_score;
pub mod modes;
pub mod toy;
pub mod weights;

pub use anomaly::{anomaly_metrics, AnomalyMetrics};
pub use classifier::MnistClassifier;
pub use fid::{fid, Stats};
pub use inception::InceptionFid;
pub use inception_score::inception_score;
pub use modes::{count_modes, ModeCount};
