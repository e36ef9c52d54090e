//! Transformer blocks of the score network.

use burn::module::Module;
use burn::nn::attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{activation::gelu, backend::Backend, Bool, Tensor};

/// `Linear(H -> E)(GELU(Dropout(Linear(E -> H)(u))))` (upstream order: dropout before GELU).
#[derive(Module, Debug)]
pub struct FeedForward<B: Backend> {
    /// E -> H.
    pub fc1: Linear<B>,
    /// H -> E.
    pub fc2: Linear<B>,
    /// Dropout before the activation.
    pub dropout: Dropout,
}

impl<B: Backend> FeedForward<B> {
    /// A feed-forward E -> H -> E.
    pub fn new(e: usize, h: usize, dropout: f64, device: &B::Device) -> Self {
        Self {
            fc1: LinearConfig::new(e, h).init(device),
            fc2: LinearConfig::new(h, e).init(device),
            dropout: DropoutConfig::new(dropout).init(),
        }
    }

    /// # Shapes
    /// - `u`: `[batch, n, E]` -> `[batch, n, E]`
    pub fn forward(&self, u: Tensor<B, 3>) -> Tensor<B, 3> {
        self.fc2.forward(gelu(self.dropout.forward(self.fc1.forward(u))))
    }
}

fn ln<B: Backend>(e: usize, device: &B::Device) -> LayerNorm<B> {
    LayerNormConfig::new(e).with_epsilon(1e-5).init(device)
}

fn mha<B: Backend>(e: usize, heads: usize, device: &B::Device) -> MultiHeadAttention<B> {
    MultiHeadAttentionConfig::new(e, heads).with_dropout(0.0).init(device)
}

/// Upstream block: a class token attends over the points (key-padding mask), goes through
/// LayerNorm + feed-forward + LayerNorm, is added to every point; then a point-wise
/// feed-forward with LayerNorm.
#[derive(Module, Debug)]
pub struct ClassTokenBlock<B: Backend> {
    /// Class-token cross-attention over the points.
    pub attn: MultiHeadAttention<B>,
    /// Feed-forward on the pooled token.
    pub ffn_cls: FeedForward<B>,
    /// Point-wise feed-forward.
    pub ffn: FeedForward<B>,
    /// LayerNorm after the attention residual.
    pub ln1: LayerNorm<B>,
    /// LayerNorm after the token feed-forward residual.
    pub ln2: LayerNorm<B>,
    /// LayerNorm after broadcasting the token to the points.
    pub ln3: LayerNorm<B>,
    /// LayerNorm after the point-wise feed-forward residual.
    pub ln4: LayerNorm<B>,
    /// Dropout after residual sums.
    pub dropout: Dropout,
}

impl<B: Backend> ClassTokenBlock<B> {
    /// A block of width `e`, feed-forward width `h`.
    pub fn new(e: usize, h: usize, heads: usize, dropout: f64, device: &B::Device) -> Self {
        Self {
            attn: mha(e, heads, device),
            ffn_cls: FeedForward::new(e, h, dropout, device),
            ffn: FeedForward::new(e, h, dropout, device),
            ln1: ln(e, device),
            ln2: ln(e, device),
            ln3: ln(e, device),
            ln4: ln(e, device),
            dropout: DropoutConfig::new(dropout).init(),
        }
    }

    /// # Shapes
    /// - `x`: `[batch, n, E]`, `cls`: `[batch, 1, E]`, `pad`: `[batch, n]` (true = padding)
    /// - output: `[batch, n, E]`
    pub fn forward(&self, x: Tensor<B, 3>, cls: Tensor<B, 3>, pad: Tensor<B, 2, Bool>) -> Tensor<B, 3> {
        let a = self.attn.forward(MhaInput::new(cls.clone(), x.clone(), x.clone()).mask_pad(pad)).context;
        let g1 = self.ln1.forward(self.dropout.forward(cls + a));
        let g2 = self.ln2.forward(self.dropout.forward(g1.clone() + self.ffn_cls.forward(g1)));
        let x = self.ln3.forward(x + g2);
        let f = self.ffn.forward(x.clone());
        self.ln4.forward(x + self.dropout.forward(f))
    }
}

/// Comparison block: full self-attention between points, then a point-wise feed-forward
/// (post-norm).
#[derive(Module, Debug)]
pub struct SelfAttentionBlock<B: Backend> {
    /// Self-attention over the points.
    pub attn: MultiHeadAttention<B>,
    /// Point-wise feed-forward.
    pub ffn: FeedForward<B>,
    /// LayerNorm after the attention residual.
    pub ln1: LayerNorm<B>,
    /// LayerNorm after the feed-forward residual.
    pub ln2: LayerNorm<B>,
    /// Dropout after residual sums.
    pub dropout: Dropout,
}

impl<B: Backend> SelfAttentionBlock<B> {
    /// A block of width `e`, feed-forward width `h`.
    pub fn new(e: usize, h: usize, heads: usize, dropout: f64, device: &B::Device) -> Self {
        Self {
            attn: mha(e, heads, device),
            ffn: FeedForward::new(e, h, dropout, device),
            ln1: ln(e, device),
            ln2: ln(e, device),
            dropout: DropoutConfig::new(dropout).init(),
        }
    }

    /// # Shapes
    /// - `x`: `[batch, n, E]`, `pad`: `[batch, n]` (true = padding) -> `[batch, n, E]`
    pub fn forward(&self, x: Tensor<B, 3>, pad: Tensor<B, 2, Bool>) -> Tensor<B, 3> {
        let a = self.attn.forward(MhaInput::self_attn(x.clone()).mask_pad(pad)).context;
        let x = self.ln1.forward(x + self.dropout.forward(a));
        let f = self.ffn.forward(x.clone());
        self.ln2.forward(x + self.dropout.forward(f))
    }
}
