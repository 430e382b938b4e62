//! The 2-D toy densities of Figure 2, as the authors' code draws them.
//!
//! - `swissroll`: scikit-learn's `make_swiss_roll(noise = 0.25)`, keeping
//!   coordinates (x, z), divided by 7.5;
//! - `25gaussians`: a 5x5 grid at {-4,-2,0,2,4}², std 0.05, divided by 2.828;
//! - `8gaussians`: 8 points on a circle of radius 2, std 0.02, divided by 1.414.
//!
//! Sampling uses its own seeded ChaCha stream, so a batch depends only on the
//! seed and the number of batches drawn before it.

use anyhow::{bail, Result};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// Which toy density.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Toy {
    #[serde(rename = "swissroll")]
    SwissRoll,
    #[serde(rename = "25gaussians")]
    Gaussians25,
    #[serde(rename = "8gaussians")]
    Gaussians8,
}

impl Toy {
    /// All three, in the paper's order.
    pub const ALL: [Toy; 3] = [Toy::SwissRoll, Toy::Gaussians25, Toy::Gaussians8];

    /// The name used in configs and file names.
    pub fn name(self) -> &'static str {
        match self {
            Toy::SwissRoll => "swissroll",
            Toy::Gaussians25 => "25gaussians",
            Toy::Gaussians8 => "8gaussians",
        }
    }

    /// Parses a name as written by [`Toy::name`].
    pub fn parse(s: &str) -> Result<Toy> {
        match Toy::ALL.into_iter().find(|t| t.name() == s) {
            Some(t) => Ok(t),
            None => {
                bail!("unknown toy data set `{s}`: expected swissroll, 25gaussians or 8gaussians")
            }
        }
    }

    /// Mixture centres and per-axis std in the scaled coordinates (`None` for
    /// the swiss roll).
    pub fn mixture(self) -> Option<(Vec<[f64; 2]>, f64)> {
        match self {
            Toy::SwissRoll => None,
            Toy::Gaussians25 => {
                let s = 2.828;
                let mut c = Vec::with_capacity(25);
                for i in -2..=2 {
                    for j in -2..=2 {
                        c.push([2.0 * i as f64 / s, 2.0 * j as f64 / s]);
                    }
                }
                Some((c, 0.05 / s))
            }
            Toy::Gaussians8 => {
                let s = 1.414;
                let r = std::f64::consts::FRAC_1_SQRT_2;
                let unit = [
                    (1.0, 0.0),
                    (-1.0, 0.0),
                    (0.0, 1.0),
                    (0.0, -1.0),
                    (r, r),
                    (r, -r),
                    (-r, r),
                    (-r, -r),
                ];
                let c = unit
                    .iter()
                    .map(|&(x, y)| [2.0 * x / s, 2.0 * y / s])
                    .collect();
                Some((c, 0.02 / s))
            }
        }
    }
}

/// A seeded stream of batches from one toy density.
pub struct ToySampler {
    toy: Toy,
    rng: ChaCha8Rng,
    mixture: Option<(Vec<[f64; 2]>, f64)>,
}

impl ToySampler {
    pub fn new(toy: Toy, seed: u64) -> Self {
        ToySampler {
            toy,
            rng: ChaCha8Rng::seed_from_u64(seed),
            mixture: toy.mixture(),
        }
    }

    /// `n` points, float32 `[n, 2]`.
    pub fn batch(&mut self, n: usize) -> Array2<f32> {
        let mut v = Vec::with_capacity(2 * n);
        for _ in 0..n {
            let p = self.point();
            v.push(p[0] as f32);
            v.push(p[1] as f32);
        }
        Array2::from_shape_vec((n, 2), v).expect("two values per point")
    }

    fn normal(&mut self) -> f64 {
        self.rng.sample(StandardNormal)
    }

    fn point(&mut self) -> [f64; 2] {
        match self.toy {
            Toy::SwissRoll => {
                // sklearn: t = 1.5π(1 + 2u); x = t cos t, y = 21 v, z = t sin t; + noise·N(0, I).
                let t = 1.5 * std::f64::consts::PI * (1.0 + 2.0 * self.rng.random::<f64>());
                let _y: f64 = self.rng.random(); // the unused height coordinate
                let x = t * t.cos() + 0.25 * self.normal();
                let _ny = self.normal();
                let z = t * t.sin() + 0.25 * self.normal();
                [x / 7.5, z / 7.5]
            }
            Toy::Gaussians25 | Toy::Gaussians8 => {
                let (centres, std) = self.mixture.as_ref().expect("mixture sets have centres");
                let (c, std) = (centres[self.rng.random_range(0..centres.len())], *std);
                [c[0] + std * self.normal(), c[1] + std * self.normal()]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_seeded_and_shaped() {
        for toy in Toy::ALL {
            let a = ToySampler::new(toy, 7).batch(300);
            let b = ToySampler::new(toy, 7).batch(300);
            let c = ToySampler::new(toy, 8).batch(300);
            assert_eq!(a.shape(), [300, 2]);
            assert_eq!(a, b, "{toy:?} not reproducible");
            assert_ne!(a, c, "{toy:?} ignores the seed");
            // Everything lies inside the plotted square [-2, 2]².
            assert!(a.iter().all(|v| v.abs() < 2.0), "{toy:?} leaves [-2,2]²");
        }
    }

    #[test]
    fn gaussian_points_sit_near_their_centres() {
        for toy in [Toy::Gaussians25, Toy::Gaussians8] {
            let (centres, std) = toy.mixture().unwrap();
            let x = ToySampler::new(toy, 1).batch(2000);
            let pts = x.as_slice().unwrap();
            let mut hits = vec![0usize; centres.len()];
            for p in pts.chunks(2) {
                let (i, d2) = centres
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        (
                            i,
                            (p[0] as f64 - c[0]).powi(2) + (p[1] as f64 - c[1]).powi(2),
                        )
                    })
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .unwrap();
                assert!(
                    d2.sqrt() < 6.0 * std,
                    "{toy:?}: point {p:?} far from every centre"
                );
                hits[i] += 1;
            }
            // Uniform over components: each holds roughly its share.
            let fair = 2000.0 / centres.len() as f64;
            assert!(
                hits.iter().all(|&h| (h as f64) > 0.5 * fair),
                "{toy:?}: {hits:?}"
            );
        }
    }

    #[test]
    fn swiss_roll_radius_follows_t() {
        // Without noise the radius is t/7.5 with t in [1.5π, 4.5π].
        let x = ToySampler::new(Toy::SwissRoll, 3).batch(5000);
        let r: Vec<f64> = x
            .rows()
            .into_iter()
            .map(|p| f64::from(p[0]).hypot(f64::from(p[1])))
            .collect();
        let lo = r.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let pi = std::f64::consts::PI;
        assert!(
            lo > 1.5 * pi / 7.5 - 0.15 && lo < 1.5 * pi / 7.5 + 0.1,
            "min radius {lo}"
        );
        assert!(
            hi < 4.5 * pi / 7.5 + 0.15 && hi > 4.5 * pi / 7.5 - 0.1,
            "max radius {hi}"
        );
    }
}
