//! Training data as an endless stream of batches on the training device.

use crate::config::DataConfig;
use anyhow::Result;
use meg_datasets::toy::ToySampler;
use tch::{Device, Tensor};

/// A seeded stream of training batches.
pub trait DataSource {
    /// The next `n` examples, on the training device.
    fn next_batch(&mut self, n: i64) -> Tensor;

    /// Number of examples in one pass, or `None` for an endless stream.
    fn size(&self) -> Option<usize> {
        None
    }
}

struct Toy {
    sampler: ToySampler,
    device: Device,
}

impl DataSource for Toy {
    fn next_batch(&mut self, n: i64) -> Tensor {
        self.sampler.batch(n as usize).to_device(self.device)
    }
}

/// Opens the data of a run config as a stream seeded by `seed`.
pub fn open(cfg: &DataConfig, seed: u64, device: Device) -> Result<Box<dyn DataSource>> {
    Ok(match cfg {
        DataConfig::Toy { name } => Box::new(Toy {
            sampler: ToySampler::new(*name, seed),
            device,
        }),
    })
}
