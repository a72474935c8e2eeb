//! The activations a decomposed matrix reads, kept as sums of products so
//! that the residual MLP's wide stream is read in the features' basis.

use burn::tensor::Tensor;

/// An activation that one use of a decomposed matrix reads, kept as a sum
/// of products `coeff_i @ basis_i` (a plain tensor is one term without a
/// basis). The residual MLP's stream is kept so: it starts as `x W_E` and
/// each layer adds `h W_out`, so a `d_resid`-wide product of the stream,
/// `r M`, is `x (W_E M) + h (W_out M)`: products with the features' and
/// the neurons' few columns, and one per step of the wide matrices, not
/// one per input (about a tenth of the arithmetic at 1,000 wide, the same
/// function up to rounding). Where `fold` is off (TMS) every operation is
/// done at once, in the order a plain tensor's would be: the same bits.
#[derive(Clone)]
pub struct Stream<const D: usize = 2> {
    terms: Vec<(Tensor<D>, Option<Tensor<D>>)>,
    fold: bool,
}

impl<const D: usize> Stream<D> {
    /// `t` itself, every operation on it done at once.
    pub fn dense(t: Tensor<D>) -> Self {
        Stream { terms: vec![(t, None)], fold: false }
    }

    /// `t` itself, products with it kept as products (folded).
    pub fn folded(t: Tensor<D>) -> Self {
        Stream { terms: vec![(t, None)], fold: true }
    }

    /// `coeff @ basis`, folded where this stream is.
    pub fn like(&self, coeff: Tensor<D>, basis: Tensor<D>) -> Self {
        if self.fold {
            Stream { terms: vec![(coeff, Some(basis))], fold: true }
        } else {
            Stream::dense(coeff.matmul(basis))
        }
    }

    /// This stream times `w`: each term's basis times `w` when folded.
    pub fn times(&self, w: Tensor<D>) -> Self {
        if !self.fold {
            return Stream::dense(self.value().matmul(w));
        }
        let cols = w.dims()[D - 1];
        let terms = self
            .terms
            .iter()
            .map(|(c, b)| match b {
                None => (c.clone(), Some(w.clone())),
                Some(b) => {
                    // Folding, `c (b w)`, costs k d cols + B k cols; through
                    // the full width, `(c b) w`, B k d + B d cols. A wide
                    // basis read by a wide matrix (a decomposition's C*m
                    // columns at a small batch) is cheaper unfolded.
                    let (rows, k, d) = (c.dims()[D - 2], c.dims()[D - 1], b.dims()[D - 1]);
                    if k * d * cols + rows * k * cols <= rows * k * d + rows * d * cols {
                        (c.clone(), Some(b.clone().matmul(w.clone())))
                    } else {
                        (c.clone().matmul(b.clone()), Some(w.clone()))
                    }
                }
            })
            .collect();
        Stream { terms, fold: true }
    }

    /// `self @ w` as a tensor.
    pub fn matmul(&self, w: Tensor<D>) -> Tensor<D> {
        self.times(w).value()
    }

    /// The sum of the terms, as a tensor.
    pub fn value(&self) -> Tensor<D> {
        let term = |(c, b): &(Tensor<D>, Option<Tensor<D>>)| match b {
            Some(b) => c.clone().matmul(b.clone()),
            None => c.clone(),
        };
        let mut terms = self.terms.iter();
        let first = term(terms.next().expect("a stream has a term"));
        terms.fold(first, |sum, t| sum + term(t))
    }

    /// The sum of two streams.
    pub fn plus(self, other: Stream<D>) -> Self {
        if !self.fold {
            return Stream::dense(self.value() + other.value());
        }
        let mut terms = self.terms;
        terms.extend(other.terms);
        Stream { terms, fold: true }
    }

    /// Every row scaled by `s` (`... x B x 1`).
    pub fn scale_rows(self, s: Tensor<D>) -> Self {
        if !self.fold {
            return Stream::dense(self.value() * s);
        }
        Stream { terms: self.terms.into_iter().map(|(c, b)| (c * s.clone(), b)).collect(), fold: true }
    }

    /// The same on the autodiff device.
    pub fn autodiff(&self) -> Self {
        Stream { terms: self.terms.iter().map(|(c, b)| (c.clone().autodiff(), b.clone().map(|b| b.autodiff()))).collect(), fold: self.fold }
    }
}
