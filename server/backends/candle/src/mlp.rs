//! The MLP itself: linear layers with an activation after each.

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::Linear;
use sluice_core::BackendError;

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpSpec {
    /// Standardisation applied to the input first: `(x - mean) / std`, the
    /// training transform sluice-trainer exports with its weights.
    pub scaler: Option<ScalerSpec>,
    pub layers: Vec<LayerSpec>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalerSpec {
    /// safetensors name of the `[in]` mean vector.
    pub mean: String,
    /// safetensors name of the `[in]` standard deviation vector.
    pub std: String,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerSpec {
    /// safetensors name of the `[out, in]` weight matrix.
    pub weight: String,
    /// safetensors name of the `[out]` bias, if the layer has one.
    pub bias: Option<String>,
    #[serde(default)]
    pub activation: Activation,
}

#[derive(Debug, Clone, Copy, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    #[default]
    None,
    Relu,
    Gelu,
    Tanh,
    Sigmoid,
    /// Over the last dimension.
    Softmax,
}

impl Activation {
    fn apply(self, x: Tensor) -> candle_core::Result<Tensor> {
        match self {
            Activation::None => Ok(x),
            Activation::Relu => x.relu(),
            Activation::Gelu => x.gelu(),
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => candle_nn::ops::sigmoid(&x),
            Activation::Softmax => candle_nn::ops::softmax_last_dim(&x),
        }
    }
}

pub struct Mlp {
    scaler: Option<(Tensor, Tensor)>,
    layers: Vec<(Linear, Activation)>,
    in_features: usize,
    out_features: usize,
}

impl Mlp {
    pub fn load(path: &Path, spec: &MlpSpec, dtype: DType, device: &Device) -> Result<Self, BackendError> {
        let fail = |e: &dyn std::fmt::Display| BackendError::Load(format!("cannot load {}: {e}", path.display()));
        let mut weights =
            candle_core::safetensors::load(path, device).map_err(|e| fail(&crate::without_backtrace(&e)))?;
        let mut take = |name: &str| -> Result<Tensor, BackendError> {
            weights
                .remove(name)
                .ok_or_else(|| fail(&format!("no tensor named '{name}'")))?
                .to_dtype(dtype)
                .map_err(|e| fail(&crate::without_backtrace(&e)))
        };
        let mut layers = Vec::with_capacity(spec.layers.len());
        let mut dims: Vec<(usize, usize)> = Vec::new();
        for layer in &spec.layers {
            let weight = take(&layer.weight)?;
            let (out_f, in_f) =
                weight.dims2().map_err(|e| fail(&format!("'{}': {}", layer.weight, crate::without_backtrace(&e))))?;
            if let Some(&(_, prev_out)) = dims.last()
                && prev_out != in_f
            {
                return Err(fail(&format!(
                    "'{}' takes {in_f} features but the previous layer gives {prev_out}",
                    layer.weight
                )));
            }
            let bias = match &layer.bias {
                Some(name) => {
                    let b = take(name)?;
                    if b.dims() != [out_f] {
                        return Err(fail(&format!("bias '{name}' has shape {:?}, expected [{out_f}]", b.dims())));
                    }
                    Some(b)
                }
                None => None,
            };
            dims.push((in_f, out_f));
            layers.push((Linear::new(weight, bias), layer.activation));
        }
        let (Some(&(in_features, _)), Some(&(_, out_features))) = (dims.first(), dims.last()) else {
            return Err(fail(&"[candle] layers is empty"));
        };
        let scaler = match &spec.scaler {
            None => None,
            Some(scaler) => {
                let (mean, std) = (take(&scaler.mean)?, take(&scaler.std)?);
                for (name, t) in [(&scaler.mean, &mean), (&scaler.std, &std)] {
                    if t.dims() != [in_features] {
                        return Err(fail(&format!(
                            "scaler '{name}' has shape {:?}, expected [{in_features}]",
                            t.dims()
                        )));
                    }
                }
                Some((mean, std))
            }
        };
        Ok(Mlp { scaler, layers, in_features, out_features })
    }

    pub fn features(&self) -> (usize, usize) {
        (self.in_features, self.out_features)
    }

    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = match &self.scaler {
            Some((mean, std)) => x.broadcast_sub(mean)?.broadcast_div(std)?,
            None => x.clone(),
        };
        for (linear, activation) in &self.layers {
            x = activation.apply(linear.forward(&x)?)?;
        }
        Ok(x)
    }
}
