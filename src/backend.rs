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

/// A flex tensor laid out contiguously from its storage's start (copied
/// only where it is not), so that its values are the first of
/// [`contiguous_values`]'s slice: the CPU loops of
/// `spd::fused` and `decomp::adam` read and write them in place.
#[cfg(feature = "cpu")]
pub(crate) fn contiguous(
    t: burn::backend::tensor::FloatTensor<burn::backend::Flex>,
) -> burn::backend::tensor::FloatTensor<burn::backend::Flex> {
    let n = t.layout().num_elements();
    if t.layout().contiguous_offsets() == Some((0, n)) {
        t
    } else {
        t.to_contiguous()
    }
}

/// The values of a tensor [`contiguous`] returned, borrowed.
#[cfg(feature = "cpu")]
pub(crate) fn contiguous_values(t: &burn::backend::tensor::FloatTensor<burn::backend::Flex>) -> &[f32] {
    &t.storage::<f32>()[..t.layout().num_elements()]
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
///
/// The wgpu device is made once per process (per page: the worker holds
/// one engine) and handed out again to every later run: burn registers a
/// device's runtime once and refuses a second registration, so a second
/// `init_async` would fail and a page's second WebGPU run would land on
/// the CPU. After [`forget_gpu`] (a lost device) the next call asks the
/// browser for a fresh adapter and device instead.
pub async fn device(kind: BackendKind) -> Result<Device, ApdError> {
    match kind {
        BackendKind::Cpu => host(),
        #[cfg(feature = "webgpu")]
        BackendKind::Wgpu => gpu::device().await,
        #[cfg(not(feature = "webgpu"))]
        BackendKind::Wgpu => Err(ApdError::Backend("this build has no WebGPU backend (built without the `webgpu` feature)".into())),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)]
        BackendKind::Ndarray => Ok(Device::ndarray()),
    }
}

/// Drops the wgpu device [`device`] hands out, after it was lost: the next
/// WebGPU run gets a fresh one (or a clear error where the browser has none
/// to give). Runs still holding the old device fail on their next call.
pub fn forget_gpu() {
    #[cfg(feature = "webgpu")]
    gpu::forget();
}

/// How many wgpu devices this process has made (for tests: two runs in a
/// row must share one).
pub fn gpu_devices_made() -> usize {
    #[cfg(feature = "webgpu")]
    return gpu::made();
    #[cfg(not(feature = "webgpu"))]
    0
}

#[cfg(feature = "webgpu")]
mod gpu {
    use crate::error::ApdError;
    use burn::tensor::wgpu::{wgpu, WgpuSetup};
    use burn::tensor::Device;
    use std::sync::Mutex;

    struct Held {
        /// The device runs get; `None` once forgotten.
        device: Option<Device>,
        /// The instance of the first setup, which fresh devices come from.
        instance: Option<wgpu::Instance>,
        made: usize,
    }

    // Not a thread-local: the native tests ask from several threads, and
    // burn's registry is process-wide too. Never held across an await.
    static HELD: Mutex<Held> = Mutex::new(Held { device: None, instance: None, made: 0 });

    fn held() -> std::sync::MutexGuard<'static, Held> {
        HELD.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn made() -> usize {
        held().made
    }

    pub(super) fn forget() {
        held().device = None;
    }

    fn no_adapter(e: impl std::fmt::Display) -> ApdError {
        ApdError::Backend(format!("no usable WebGPU/wgpu adapter: {e}"))
    }

    pub(super) async fn device() -> Result<Device, ApdError> {
        let instance = {
            let h = held();
            if let Some(d) = &h.device {
                return Ok(d.clone());
            }
            h.instance.clone()
        };
        let device = match instance {
            // The first: burn acquires the adapter and registers the default device.
            None => {
                let (device, setup) = Device::wgpu_options().init_with_setup_async().await.map_err(no_adapter)?;
                held().instance = Some(setup.instance);
                device
            }
            // After a loss the default device's registration stays taken:
            // a fresh adapter and device are registered under a new identity.
            Some(instance) => fresh(instance).await?,
        };
        let mut h = held();
        if let Some(d) = &h.device {
            // Another thread made one meanwhile (natively only); use that.
            return Ok(d.clone());
        }
        h.device = Some(device.clone());
        h.made += 1;
        Ok(device)
    }

    async fn fresh(instance: wgpu::Instance) -> Result<Device, ApdError> {
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(no_adapter)?;
        // What burn asks for on WebGPU (cubecl-wgpu's WGSL device request).
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                required_features: adapter.features().difference(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS),
                required_limits: adapter.limits(),
                memory_hints: wgpu::MemoryHints::MemoryUsage,
                ..Default::default()
            })
            .await
            .map_err(no_adapter)?;
        let backend = adapter.get_info().backend;
        Device::wgpu_options().setup(WgpuSetup { instance, adapter, device, queue, backend }).init().map_err(no_adapter)
    }
}
