//! How every method stores its components: per decomposed matrix, factors
//! `A` (`d_in x C*m`) and `B` (`C*m x d_out`), so that column block c of `A`
//! and row block c of `B` make component c and `A @ B` is the sum of all
//! components. APD's components have rank m in every matrix; SPD's
//! subcomponents are the case m = 1.

use crate::rng::Rng;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// The learned factors, read back to the host.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Decomposition {
    /// C.
    pub n_components: usize,
    /// m.
    pub rank: usize,
    /// One entry per decomposed matrix.
    pub layers: Vec<FactorPair>,
}

/// The factors of one decomposed matrix, row-major.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct FactorPair {
    /// Matrix name (`W`, `H1`, ...).
    pub name: String,
    /// Rows of the matrix.
    pub d_in: usize,
    /// Columns of the matrix.
    pub d_out: usize,
    /// `d_in x C*m`, row-major.
    pub a: Vec<f32>,
    /// `C*m x d_out`, row-major.
    pub b: Vec<f32>,
}

impl Decomposition {
    /// Checks that these factors have `rank` and one of `counts` components
    /// and fit matrices of `shapes` (`name, d_in, d_out`). The error says
    /// what does not fit.
    pub fn check_shapes(&self, shapes: &[(String, usize, usize)], counts: &[usize], rank: usize) -> Result<(), String> {
        let (c, m) = (self.n_components, rank);
        if !counts.contains(&c) || self.rank != m {
            return Err("`components` do not match the configuration's n_components and rank".into());
        }
        if self.layers.len() != shapes.len() {
            return Err(format!("`components` has {} layers, the model {}", self.layers.len(), shapes.len()));
        }
        for (f, (name, d_in, d_out)) in self.layers.iter().zip(shapes) {
            if &f.name != name || f.d_in != *d_in || f.d_out != *d_out || f.a.len() != d_in * c * m || f.b.len() != c * m * d_out {
                return Err(format!("factors of layer `{name}` have the wrong shape"));
            }
        }
        Ok(())
    }

    /// Every component of every layer as a row-major `d_in x d_out` matrix,
    /// indexed `[layer][component]`.
    pub fn components(&self) -> Vec<Vec<Vec<f32>>> {
        self.layers.iter().map(|f| (0..self.n_components).map(|c| f.component(c, self.n_components, self.rank)).collect()).collect()
    }

    /// The same factors with only the components in `keep` (in that order).
    pub fn select(&self, keep: &[usize]) -> Decomposition {
        let m = self.rank;
        let (cm_old, cm) = (self.n_components * m, keep.len() * m);
        let layers = self
            .layers
            .iter()
            .map(|f| {
                let mut a = Vec::with_capacity(f.d_in * cm);
                for i in 0..f.d_in {
                    for &c in keep {
                        a.extend_from_slice(&f.a[i * cm_old + c * m..i * cm_old + (c + 1) * m]);
                    }
                }
                let mut b = Vec::with_capacity(cm * f.d_out);
                for &c in keep {
                    b.extend_from_slice(&f.b[c * m * f.d_out..(c + 1) * m * f.d_out]);
                }
                FactorPair { name: f.name.clone(), d_in: f.d_in, d_out: f.d_out, a, b }
            })
            .collect();
        Decomposition { n_components: keep.len(), rank: m, layers }
    }
}

impl FactorPair {
    /// Component c as a row-major `d_in x d_out` matrix.
    pub fn component(&self, c: usize, n_components: usize, rank: usize) -> Vec<f32> {
        let cm = n_components * rank;
        let mut p = vec![0.0f32; self.d_in * self.d_out];
        for i in 0..self.d_in {
            for j in 0..rank {
                let aij = self.a[i * cm + c * rank + j];
                let brow = &self.b[(c * rank + j) * self.d_out..(c * rank + j + 1) * self.d_out];
                for (k, bv) in brow.iter().enumerate() {
                    p[i * self.d_out + k] += aij * bv;
                }
            }
        }
        p
    }
}

/// Normally distributed factors for matrices of `shapes` (`d_in, d_out`):
/// per matrix, `A` with standard deviation `std(d_in, d_out).0` and `B`
/// with `.1`. `A` is drawn component by component (the layout of draws over
/// a `[C, d_in, m]` tensor), then `B` row by row. Row-major host vectors.
#[allow(clippy::type_complexity)]
pub fn normal_factors(
    rng: &mut Rng,
    shapes: &[(usize, usize)],
    c: usize,
    m: usize,
    std: impl Fn(usize, usize) -> (f32, f32),
) -> Vec<(Vec<f32>, Vec<f32>)> {
    shapes
        .iter()
        .map(|&(d_in, d_out)| {
            let (std_a, std_b) = std(d_in, d_out);
            let mut a = vec![0.0f32; d_in * c * m];
            for ci in 0..c {
                for i in 0..d_in {
                    for j in 0..m {
                        a[i * c * m + ci * m + j] = rng.normal() * std_a;
                    }
                }
            }
            let b = rng.normal_vec(c * m * d_out, std_b);
            (a, b)
        })
        .collect()
}

/// A row-major `B x C` mask (or weighting) of components with each value
/// repeated over its component's rank, `B x C*m`: the layout of the
/// factors' inner dimension. On the host, where the masks are made: as a
/// tensor operation (`repeat_dim`) it was a seventh of an APD step on
/// tms-5-2.
pub fn over_rank(mask: &[f32], rank: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(mask.len() * rank);
    for &v in mask {
        out.extend(std::iter::repeat_n(v, rank));
    }
    out
}

/// Factors of N instances side by side (per matrix `A`: `N x d_in x C*m`,
/// `B`: `N x C*m x d_out`) read back to the host: one decomposition per
/// instance, its matrices named `names`.
pub async fn read_stacked(
    a: Vec<Tensor<3>>,
    b: Vec<Tensor<3>>,
    names: &[String],
    n_components: usize,
    rank: usize,
) -> Result<Vec<Decomposition>, crate::error::ApdError> {
    let n = a[0].dims()[0];
    let mut out: Vec<Decomposition> = (0..n).map(|_| Decomposition { n_components, rank, layers: Vec::new() }).collect();
    for ((name, a), b) in names.iter().zip(a).zip(b) {
        let [_, d_in, _] = a.dims();
        let [_, _, d_out] = b.dims();
        let (a, b) = (crate::data::read_vec(a).await?, crate::data::read_vec(b).await?);
        for (d, (a, b)) in out.iter_mut().zip(a.chunks(a.len() / n).zip(b.chunks(b.len() / n))) {
            d.layers.push(FactorPair { name: name.clone(), d_in, d_out, a: a.to_vec(), b: b.to_vec() });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_keeps_the_chosen_components() {
        // Three rank-1 components of a 2 x 2 matrix: A = [[1, 2, 3], [4, 5, 6]], B rows [1, 0], [0, 1], [1, 1].
        let f = FactorPair { name: "W".into(), d_in: 2, d_out: 2, a: vec![1., 2., 3., 4., 5., 6.], b: vec![1., 0., 0., 1., 1., 1.] };
        let d = Decomposition { n_components: 3, rank: 1, layers: vec![f] };
        let kept = d.select(&[2, 0]);
        assert_eq!(kept.n_components, 2);
        assert_eq!(kept.layers[0].a, vec![3., 1., 6., 4.]);
        assert_eq!(kept.layers[0].b, vec![1., 1., 1., 0.]);
        assert_eq!(kept.layers[0].component(0, 2, 1), d.layers[0].component(2, 3, 1));
        assert_eq!(kept.components()[0][1], vec![1., 0., 4., 0.]);
    }
}
