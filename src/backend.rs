//! Choosing where tensors live, by name.
//!
//! `cpu` is burn's pure-Rust `flex` backend: it builds for wasm32 (with
//! SIMD128) as well as natively, so the CLI, the native tests and the
//! page's CPU fallback all run the same kernels. `ndarray` (deprecated in
//! burn 0.22) measured neither faster nor slower across our models
//! (docs/performance.md); it is only compiled with the `ndarray` feature,
//! to repeat that measurement.
//! `cpu` needs the `cpu` feature (on by default; the page's WebGPU
//! package leaves it out).
//! `wgpu` is burn's wgpu backend: Vulkan/Metal/DX12 natively, WebGPU in a
//! browser; only in builds with the `webgpu` feature (the default; the
//! page's CPU-only package leaves it out).

use crate::error::ApdError;
use burn::tensor::Device;

/// A backend a user can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// burn's pure-Rust CPU backend (`flex`).
    Cpu,
    /// burn's wgpu backend.
    Wgpu,
    /// burn's deprecated `ndarray` CPU backend, in builds with the
    /// `ndarray` feature only: kept to measure it against `flex`.
    #[cfg(feature = "ndarray")]
    Ndarray,
}

impl BackendKind {
    /// Parses `cpu` or `wgpu` (`webgpu` is accepted as a synonym).
    pub fn parse(s: &str) -> Result<Self, ApdError> {
        match s {
            "cpu" => Ok(BackendKind::Cpu),
            "wgpu" | "webgpu" | "gpu" => Ok(BackendKind::Wgpu),
            #[cfg(feature = "ndarray")]
            "ndarray" => Ok(BackendKind::Ndarray),
            other => Err(ApdError::Format(format!("unknown backend {other:?}; use cpu or wgpu"))),
        }
    }

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Cpu => "cpu",
            BackendKind::Wgpu => "wgpu",
            #[cfg(feature = "ndarray")]
            BackendKind::Ndarray => "ndarray",
        }
    }
}

/// The CPU device, for work that reads results on the host (a saved
/// report's views, say). Builds without the `cpu` feature (the page's
/// WebGPU package, whose worker hands all such work to the CPU package)
/// say so instead.
pub fn host() -> Result<Device, ApdError> {
    #[cfg(feature = "cpu")]
    return Ok(Device::flex());
    #[cfg(not(feature = "cpu"))]
    Err(ApdError::Backend("this build has no CPU backend (built without the `cpu` feature)".into()))
}

/// Whether `device` (with or without autodiff) is the CPU backend, where
/// some of a step runs as loops of its own (`apd::host`, `spd::fused`).
pub fn is_cpu(device: &Device) -> bool {
    #[cfg(feature = "cpu")]
    return matches!(device.clone().inner().as_dispatch(), burn::backend::DispatchDevice::Flex(_));
    #[cfg(not(feature = "cpu"))]
    {
        let _ = device;
        false
    }
}

/// The device for `kind`. For wgpu, fails with a clear error when no
/// adapter is available rather than panicking.
pub async fn device(kind: BackendKind) -> Result<Device, ApdError> {
    match kind {
        BackendKind::Cpu => host(),
        #[cfg(feature = "webgpu")]
        BackendKind::Wgpu => Device::wgpu_options()
            .init_async()
            .await
            .map_err(|e| ApdError::Backend(format!("no usable WebGPU/wgpu adapter: {e}"))),
        #[cfg(not(feature = "webgpu"))]
        BackendKind::Wgpu => Err(ApdError::Backend("this build has no WebGPU backend (built without the `webgpu` feature)".into())),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)]
        BackendKind::Ndarray => Ok(Device::ndarray()),
    }
}
