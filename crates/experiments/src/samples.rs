//! Drawing generator samples in batches, and saving sample grids.

use anyhow::Result;
use meg_models::Model;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// `n` samples G(z), z ~ N(0, I), generator in evaluation mode (BatchNorm
/// running statistics), `batch` at a time; float on the CPU, in the model's
/// output range.
pub fn generate(model: &Model, n: i64, batch: i64) -> Tensor {
    let mut parts = Vec::new();
    let mut left = n;
    tch::no_grad(|| {
        while left > 0 {
            let b = left.min(batch);
            parts.push(
                model
                    .generate(&model.sample_z(b), false)
                    .to_device(Device::Cpu),
            );
            left -= b;
        }
    });
    Tensor::cat(&parts, 0)
}

/// G(z) for given latents `z` (`[N, z_dim]`), generator in evaluation mode,
/// `batch` at a time; float on the CPU. Draws no random numbers.
pub fn generate_from(model: &Model, z: &Tensor, batch: i64) -> Tensor {
    let parts: Vec<Tensor> = tch::no_grad(|| {
        z.split(batch, 0)
            .iter()
            .map(|zb| model.generate(zb, false).to_device(Device::Cpu))
            .collect()
    });
    Tensor::cat(&parts, 0)
}

/// Maps images from [-1, 1] to [0, 1].
pub fn to_unit(x: &Tensor) -> Tensor {
    ((x + 1.0) / 2.0).clamp(0.0, 1.0)
}

/// Saves the first `show` images of `x` (`[N, C, H, W]` in [-1, 1]) as a grid
/// PNG `out/name`, and returns the markdown that embeds it.
pub fn grid(out: &Path, name: &str, title: &str, x: &Tensor, show: i64) -> Result<String> {
    let s = x.size();
    let k = show.min(s[0]);
    let cols = (k as f64).sqrt().ceil() as usize;
    let px: Vec<f32> = Vec::try_from(
        to_unit(&x.narrow(0, 0, k).to_device(Device::Cpu))
            .to_kind(Kind::Float)
            .contiguous()
            .view([-1]),
    )?;
    let scale = if s[2] <= 32 { 2 } else { 1 };
    meg_reports::grid::image_grid_png(
        &out.join(name),
        &px,
        [k as usize, s[1] as usize, s[2] as usize, s[3] as usize],
        cols,
        scale,
    )?;
    Ok(meg_reports::markdown::image(title, name))
}

/// `n` samples G(z_T) where z_T ends a latent MALA chain started at
/// z_0 ~ N(0, I), `batch` chains at a time; also the mean acceptance rate per
/// step over all chains.
pub fn generate_mala(
    model: &Model,
    mala: &meg_models::mcmc::MalaConfig,
    n: i64,
    batch: i64,
) -> Result<(Tensor, Vec<f64>)> {
    let mut parts = Vec::new();
    let mut accept = vec![0.0; mala.steps];
    let mut left = n;
    while left > 0 {
        let b = left.min(batch);
        let chain = mala.sample_latent(model, &model.sample_z(b), &[])?;
        for (a, r) in accept.iter_mut().zip(&chain.accept_rate) {
            *a += r * b as f64 / n as f64;
        }
        let x = tch::no_grad(|| model.generate(&chain.samples, false));
        parts.push(x.to_device(Device::Cpu));
        left -= b;
    }
    Ok((Tensor::cat(&parts, 0), accept))
}

/// The exact latent sampler (squared norm, prior on) with `steps`, `alpha`
/// and `beta`: the default `eval.mala` of the targets that draw MALA samples.
pub fn exact_mala(steps: usize, alpha: f64, beta: f64) -> meg_models::mcmc::MalaConfig {
    meg_models::mcmc::MalaConfig {
        steps,
        alpha,
        beta,
        prior: None,
        variant: Default::default(),
        clamp: None,
    }
}
