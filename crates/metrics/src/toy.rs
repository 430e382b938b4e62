//! Numbers for the 2-D toy densities of Figure 2, where the paper shows only
//! pictures: mode coverage of generator samples and KL(p_data || p_E) on a grid.
//!
//! Grids are `[g, g]` tensors over the square `[lo, hi]²`, indexed `[row, col]`
//! with row = y (ascending) and col = x (ascending), cell centres at
//! `lo + (i + 0.5) (hi - lo) / g`.

use tch::{Device, Kind, Tensor};

/// Mode coverage of samples from a Gaussian mixture.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModeCoverage {
    /// Share of samples within 3σ (Euclidean) of their nearest centre.
    pub high_quality_share: f64,
    /// Modes holding at least 20% of their fair share (high-quality count / K)
    /// of the high-quality samples.
    pub modes_covered: usize,
    pub modes_total: usize,
    /// High-quality samples per mode, in the order of the centres.
    pub counts: Vec<usize>,
}

/// Mode coverage of `samples` (`[N, 2]`) for a mixture with these centres and
/// per-axis standard deviation.
pub fn mode_coverage(samples: &Tensor, centres: &[[f64; 2]], std: f64) -> ModeCoverage {
    let x = samples.to_kind(Kind::Double).to_device(Device::Cpu);
    let flat: Vec<f64> = centres.iter().flatten().copied().collect();
    let c = Tensor::from_slice(&flat).reshape([-1, 2]);
    // Squared distances [N, K].
    let d2 = (x.unsqueeze(1) - c.unsqueeze(0))
        .square()
        .sum_dim_intlist(2, false, Kind::Double);
    let (min_d2, nearest) = d2.min_dim(1, false);
    let hq = min_d2.le(9.0 * std * std);
    let n = x.size()[0];
    let k = centres.len();
    let nearest_hq = nearest.masked_select(&hq);
    let counts_t = nearest_hq.bincount::<Tensor>(None, k as i64);
    let counts: Vec<usize> = Vec::<i64>::try_from(counts_t)
        .unwrap()
        .into_iter()
        .map(|c| c as usize)
        .collect();
    let total_hq: usize = counts.iter().sum();
    let fair = total_hq as f64 / k as f64;
    let covered = counts
        .iter()
        .filter(|&&c| total_hq > 0 && c as f64 >= 0.2 * fair)
        .count();
    ModeCoverage {
        high_quality_share: if n > 0 {
            total_hq as f64 / n as f64
        } else {
            0.0
        },
        modes_covered: covered,
        modes_total: k,
        counts,
    }
}

/// Cell-centre coordinates of the grid as `[g*g, 2]` float32 (x, y) points,
/// row-major over `[row = y, col = x]`.
pub fn grid_points(lo: f64, hi: f64, g: i64) -> Tensor {
    let step = (hi - lo) / g as f64;
    let axis = Tensor::arange(g, (Kind::Double, Device::Cpu)) * step + (lo + 0.5 * step);
    let ys = axis.unsqueeze(1).expand([g, g], false);
    let xs = axis.unsqueeze(0).expand([g, g], false);
    Tensor::stack(&[xs.reshape([-1]), ys.reshape([-1])], 1).to_kind(Kind::Float)
}

/// Exact probability of each grid cell under the mixture (1/K) Σ N(c_k, std² I),
/// renormalized over the grid: `[g, g]`, float64.
pub fn mixture_cell_probs(centres: &[[f64; 2]], std: f64, lo: f64, hi: f64, g: i64) -> Tensor {
    let step = (hi - lo) / g as f64;
    let edges = Tensor::arange(g + 1, (Kind::Double, Device::Cpu)) * step + lo;
    // Mass of N(c, std²) on each interval of one axis: Φ(b) - Φ(a).
    let axis_mass = |c: f64| {
        let cdf = ((&edges - c) / (std * std::f64::consts::SQRT_2)).erf() * 0.5 + 0.5;
        cdf.narrow(0, 1, g) - cdf.narrow(0, 0, g)
    };
    let mut p = Tensor::zeros([g, g], (Kind::Double, Device::Cpu));
    for c in centres {
        p += axis_mass(c[1]).unsqueeze(1) * axis_mass(c[0]).unsqueeze(0);
    }
    &p / p.sum(Kind::Double)
}

/// Normalized 2-D histogram of `samples` (`[N, 2]`, x then y) on the grid;
/// samples outside the square are dropped. `[g, g]`, float64.
pub fn histogram_probs(samples: &Tensor, lo: f64, hi: f64, g: i64) -> Tensor {
    let x = samples.to_kind(Kind::Double).to_device(Device::Cpu);
    let idx = ((&x - lo) / (hi - lo) * g as f64)
        .floor()
        .to_kind(Kind::Int64);
    let inside = idx.ge(0).logical_and(&idx.lt(g)).all_dim(1, false);
    let idx = idx.index_select(0, &inside.nonzero().squeeze_dim(1));
    let flat = idx.select(1, 1) * g + idx.select(1, 0);
    let counts = flat.bincount::<Tensor>(None, g * g).to_kind(Kind::Double);
    let total = counts.sum(Kind::Double);
    (counts / total).reshape([g, g])
}

/// `softmax(-E)` over all grid cells: the model density normalized on the grid.
pub fn energy_probs(energy: &Tensor) -> Tensor {
    let e = energy.to_kind(Kind::Double);
    (-e.reshape([-1]))
        .softmax(0, Kind::Double)
        .reshape(energy.size())
}

/// KL(p || softmax(-E)) in nats, both on the same grid; terms with p = 0 contribute 0.
pub fn grid_kl(p: &Tensor, energy: &Tensor) -> f64 {
    let p = p.to_kind(Kind::Double).reshape([-1]);
    let log_q = (-energy.to_kind(Kind::Double).reshape([-1])).log_softmax(0, Kind::Double);
    let mask = p.gt(0.0);
    let pm = p.masked_select(&mask);
    (&pm * (pm.log() - log_q.masked_select(&mask)))
        .sum(Kind::Double)
        .double_value(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_counts_modes_and_quality() {
        let centres = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]];
        let std = 0.01;
        // 30 points at mode 0, 10 at mode 1, 1 at mode 2 (below 20% of the fair share 41/4),
        // none at mode 3, and 9 far from every centre.
        let mut pts = vec![];
        pts.extend(std::iter::repeat_n([0.0, 0.02], 30));
        pts.extend(std::iter::repeat_n([1.0, -0.02], 10));
        pts.push([0.0, 1.0]);
        pts.extend(std::iter::repeat_n([0.5, 0.5], 9));
        let flat: Vec<f32> = pts
            .iter()
            .flat_map(|p: &[f64; 2]| [p[0] as f32, p[1] as f32])
            .collect();
        let cov = mode_coverage(&Tensor::from_slice(&flat).reshape([-1, 2]), &centres, std);
        assert_eq!(cov.counts, [30, 10, 1, 0]);
        assert_eq!(cov.modes_covered, 2);
        assert!((cov.high_quality_share - 41.0 / 50.0).abs() < 1e-12);
    }

    #[test]
    fn mixture_cells_match_a_fine_histogram_and_kl_behaves() {
        let centres = [[-0.5, 0.5], [1.0, -1.0]];
        let (std, g) = (0.2, 40);
        let p = mixture_cell_probs(&centres, std, -2.0, 2.0, g);
        assert!((p.sum(Kind::Double).double_value(&[]) - 1.0).abs() < 1e-12);
        // Cell of the first centre (x = -0.5 -> col 15, y = 0.5 -> row 25) holds more than
        // a cell between the modes.
        assert!(p.double_value(&[25, 15]) > 100.0 * p.double_value(&[20, 20]));
        // Monte Carlo: a histogram of many mixture samples approaches the exact cell masses.
        tch::manual_seed(3);
        let n = 400_000;
        let comp = Tensor::randint(2, [n], (Kind::Int64, Device::Cpu));
        let c = Tensor::from_slice(&[-0.5f64, 0.5, 1.0, -1.0])
            .reshape([2, 2])
            .index_select(0, &comp);
        let x = c + Tensor::randn([n, 2], (Kind::Double, Device::Cpu)) * std;
        let h = histogram_probs(&x, -2.0, 2.0, g);
        let tv = (&h - &p).abs().sum(Kind::Double).double_value(&[]) / 2.0;
        assert!(tv < 0.03, "total variation {tv}");
        // KL is zero for the matching energy E = -log p and positive for a flat one.
        let e_match = -(p.clamp_min(1e-300)).log();
        assert!(grid_kl(&p, &e_match).abs() < 1e-9);
        let flat = Tensor::zeros([g, g], (Kind::Double, Device::Cpu));
        let kl_flat = grid_kl(&p, &flat);
        let entropy = -(&p * p.clamp_min(1e-300).log())
            .sum(Kind::Double)
            .double_value(&[]);
        assert!((kl_flat - ((g * g) as f64).ln() + entropy).abs() < 1e-9);
        assert!((energy_probs(&flat).double_value(&[3, 4]) - 1.0 / (g * g) as f64).abs() < 1e-15);
    }

    #[test]
    fn grid_points_are_cell_centres() {
        let pts = grid_points(-2.0, 2.0, 4);
        assert_eq!(pts.size(), [16, 2]);
        let v: Vec<f32> = Vec::try_from(pts.reshape([-1])).unwrap();
        assert_eq!(&v[..4], &[-1.5, -1.5, -0.5, -1.5]); // row 0 (y = -1.5), cols 0 and 1
        assert_eq!(&v[30..], &[1.5, 1.5]);
    }
}
