//! Device memory per loaded version (`model_gpu_memory_bytes{model,version,
//! device}`) and the per-device `--gpu-memory-budget`.
//!
//! What a version costs is measured, not estimated: the driver's used memory
//! on each of its GPUs before and after its instances load and warm up. GPU
//! loads take turns, so the difference is theirs (other processes sharing
//! the device are not accounted for: give sluice its GPUs). A load that
//! would take a device past its budget is undone — its instances dropped,
//! their memory returned — and fails, so the version already serving keeps
//! serving. The charge is released when the version has drained and its
//! instances have dropped their sessions.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use prometheus::{IntGaugeVec, Opts, Registry};

use crate::error::LoadError;

/// Used bytes of one device, or why they cannot be read.
pub type UsedMemory = Arc<dyn Fn(usize) -> Result<u64, String> + Send + Sync>;

pub struct GpuMemory {
    /// Bytes each device may hold for loaded versions; None: no limit.
    budget: Option<u64>,
    used: UsedMemory,
    gauge: IntGaugeVec,
    /// Charges per device.
    charges: Mutex<HashMap<usize, Vec<Charge>>>,
    /// Held for a whole GPU load, so measurements do not overlap.
    loading: Mutex<()>,
    /// Every GPU a load has been placed on.
    seen: Mutex<BTreeSet<usize>>,
    next_id: AtomicU64,
}

#[derive(Debug, Clone, PartialEq)]
struct Charge {
    id: u64,
    model: String,
    version: u64,
    bytes: u64,
}

fn driver_measure() -> UsedMemory {
    Arc::new(|ordinal| sluice_kernels::device_memory(ordinal).map(|m| m.used()).map_err(|e| e.to_string()))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}

impl GpuMemory {
    /// Measured with the CUDA driver (`cuMemGetInfo`), its gauge registered on `registry`.
    pub fn register(registry: &Registry, budget: Option<u64>) -> prometheus::Result<Arc<Self>> {
        let memory = Self::with_measure(budget, driver_measure())?;
        registry.register(Box::new(memory.gauge.clone()))?;
        Ok(memory)
    }

    /// The GPUs loads have been placed on, in order.
    pub fn devices_seen(&self) -> Vec<usize> {
        lock(&self.seen).iter().copied().collect()
    }

    /// Measured with the CUDA driver, its gauge on no registry.
    pub fn unregistered(budget: Option<u64>) -> Arc<Self> {
        Self::with_measure(budget, driver_measure()).expect("a valid gauge definition")
    }

    /// With another measure of used memory (tests).
    pub fn with_measure(budget: Option<u64>, used: UsedMemory) -> prometheus::Result<Arc<Self>> {
        let gauge = IntGaugeVec::new(
            Opts::new("model_gpu_memory_bytes", "Device memory a loaded version took, measured around its load."),
            &["model", "version", "device"],
        )?;
        Ok(Arc::new(GpuMemory {
            budget,
            used,
            gauge,
            charges: Mutex::default(),
            loading: Mutex::default(),
            seen: Mutex::default(),
            next_id: AtomicU64::new(1),
        }))
    }

    /// Bytes charged to loaded versions on `device`.
    pub fn charged(&self, device: usize) -> u64 {
        lock(&self.charges).get(&device).map_or(0, |c| c.iter().map(|c| c.bytes).sum())
    }

    /// Runs `load` for a version whose instances run on `gpus`, measures
    /// what it took on each and charges it; refuses (dropping what `load`
    /// returned) a load that would exceed the budget. Blocking.
    pub fn load<T>(
        self: &Arc<Self>,
        model: &str,
        version: u64,
        gpus: &[usize],
        load: impl FnOnce() -> Result<T, LoadError>,
    ) -> Result<(T, GpuCharge), LoadError> {
        if gpus.is_empty() {
            return load().map(|loaded| (loaded, GpuCharge::default()));
        }
        let _turn = lock(&self.loading);
        if let Some(budget) = self.budget
            && let Some(&full) = gpus.iter().find(|&&g| self.charged(g) >= budget)
        {
            return Err(LoadError::GpuMemory(format!(
                "cuda:{full} has no room left in --gpu-memory-budget ({} of {} held by loaded versions)",
                gib(self.charged(full)),
                gib(budget)
            )));
        }
        let before: Vec<Result<u64, String>> = gpus.iter().map(|&g| (self.used)(g)).collect();
        let loaded = load()?;
        let mut taken = Vec::with_capacity(gpus.len());
        for (&gpu, before) in gpus.iter().zip(before) {
            let measured = before.and_then(|b| (self.used)(gpu).map(|after| after.saturating_sub(b)));
            match measured {
                Ok(bytes) => taken.push((gpu, bytes)),
                Err(why) if self.budget.is_some() => {
                    return Err(LoadError::GpuMemory(format!(
                        "cannot measure cuda:{gpu}'s memory to enforce --gpu-memory-budget: {why}"
                    )));
                }
                Err(why) => {
                    tracing::warn!(model, version, gpu, error = %why, "cannot measure the version's GPU memory");
                    taken.push((gpu, 0));
                }
            }
        }
        if let Some(budget) = self.budget {
            for &(gpu, bytes) in &taken {
                let held = self.charged(gpu);
                if held + bytes > budget {
                    drop(loaded);
                    return Err(LoadError::GpuMemory(format!(
                        "{model} version {version} took {} on cuda:{gpu}; with the {} loaded versions hold there it \
                         would exceed --gpu-memory-budget ({}): not loaded",
                        gib(bytes),
                        gib(held),
                        gib(budget)
                    )));
                }
            }
        }
        lock(&self.seen).extend(gpus.iter().copied());
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut charges = lock(&self.charges);
            for &(gpu, bytes) in &taken {
                charges.entry(gpu).or_default().push(Charge { id, model: model.to_owned(), version, bytes });
            }
        }
        for &(gpu, _) in &taken {
            self.publish(model, version, gpu);
        }
        tracing::info!(model, version, ?taken, "GPU memory charged");
        Ok((loaded, GpuCharge { memory: Some(self.clone()), id, model: model.to_owned(), version, taken }))
    }

    /// Sets the version's series on `gpu` to what its loaded copies hold.
    fn publish(&self, model: &str, version: u64, gpu: usize) {
        let charges = lock(&self.charges);
        let copies: Vec<&Charge> = charges
            .get(&gpu)
            .map(|c| c.iter().filter(|c| c.model == model && c.version == version).collect())
            .unwrap_or_default();
        let labels = [model, &version.to_string(), &format!("cuda:{gpu}")];
        if copies.is_empty() {
            let _ = self.gauge.remove_label_values(&labels);
        } else {
            let bytes: u64 = copies.iter().map(|c| c.bytes).sum();
            self.gauge.with_label_values(&labels).set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
    }

    fn release(&self, id: u64, model: &str, version: u64, taken: &[(usize, u64)]) {
        {
            let mut charges = lock(&self.charges);
            for (gpu, _) in taken {
                if let Some(list) = charges.get_mut(gpu) {
                    list.retain(|c| c.id != id);
                }
            }
        }
        for &(gpu, _) in taken {
            self.publish(model, version, gpu);
        }
    }
}

/// A loaded version's device memory; released when dropped, which the
/// lifecycle does once the version's instances have dropped their sessions.
#[derive(Default)]
pub struct GpuCharge {
    memory: Option<Arc<GpuMemory>>,
    id: u64,
    model: String,
    version: u64,
    taken: Vec<(usize, u64)>,
}

impl GpuCharge {
    /// Bytes taken per GPU ordinal.
    pub fn taken(&self) -> &[(usize, u64)] {
        &self.taken
    }
}

impl Drop for GpuCharge {
    fn drop(&mut self) {
        if let Some(memory) = self.memory.take() {
            memory.release(self.id, &self.model, self.version, &self.taken);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A device whose used memory is whatever the test's loads allocate.
    struct FakeDevice(Arc<Mutex<HashMap<usize, u64>>>);

    impl FakeDevice {
        fn new() -> (Self, UsedMemory) {
            let state: Arc<Mutex<HashMap<usize, u64>>> = Arc::default();
            let read = state.clone();
            let used: UsedMemory = Arc::new(move |gpu| Ok(lock(&read).get(&gpu).copied().unwrap_or(0)));
            (FakeDevice(state), used)
        }

        /// Loads something holding `bytes` on each of `gpus` until dropped.
        fn allocate(&self, gpus: &[usize], bytes: u64) -> Allocation {
            for gpu in gpus {
                *lock(&self.0).entry(*gpu).or_default() += bytes;
            }
            Allocation { state: self.0.clone(), gpus: gpus.to_vec(), bytes }
        }
    }

    struct Allocation {
        state: Arc<Mutex<HashMap<usize, u64>>>,
        gpus: Vec<usize>,
        bytes: u64,
    }

    impl Drop for Allocation {
        fn drop(&mut self) {
            for gpu in &self.gpus {
                *lock(&self.state).entry(*gpu).or_default() -= self.bytes;
            }
        }
    }

    /// The series' value, if it exists.
    fn gauge(memory: &GpuMemory, model: &str, version: &str, device: &str) -> Option<i64> {
        use prometheus::core::Collector;
        let families = memory.gauge.collect();
        let metrics = families.first().map(|f| f.get_metric().to_vec()).unwrap_or_default();
        metrics
            .iter()
            .find(|m| {
                let labels: Vec<&str> = m.get_label().iter().map(|l| l.value()).collect();
                labels.contains(&model) && labels.contains(&version) && labels.contains(&device)
            })
            .map(|m| m.get_gauge().get_value() as i64)
    }

    #[test]
    fn charges_what_each_load_took_per_device_and_releases_it_on_drop() {
        let (device, used) = FakeDevice::new();
        let memory = GpuMemory::with_measure(None, used).expect("gauge");
        let (a, a_charge) = memory.load("a", 1, &[0, 1], || Ok(device.allocate(&[0, 1], 300))).expect("loads");
        let (b, b_charge) = memory.load("b", 2, &[1], || Ok(device.allocate(&[1], 500))).expect("loads");
        assert_eq!(a_charge.taken(), &[(0, 300), (1, 300)]);
        assert_eq!((memory.charged(0), memory.charged(1)), (300, 800));
        assert_eq!(gauge(&memory, "b", "2", "cuda:1"), Some(500));
        drop((a, a_charge));
        assert_eq!((memory.charged(0), memory.charged(1)), (0, 500));
        assert_eq!(gauge(&memory, "a", "1", "cuda:0"), None, "the series goes with the version");
        drop((b, b_charge));
        assert_eq!(memory.charged(1), 0);
        let (_cpu, none) = memory.load("c", 1, &[], || Ok(())).expect("CPU loads are not measured");
        assert!(none.taken().is_empty());
    }

    #[test]
    fn a_load_past_the_budget_is_undone_and_the_loaded_versions_keep_their_memory() {
        let (device, used) = FakeDevice::new();
        let memory = GpuMemory::with_measure(Some(1000), used).expect("gauge");
        let (_old, _old_charge) = memory.load("m", 1, &[0], || Ok(device.allocate(&[0], 700))).expect("fits");
        let refused = memory.load("m", 2, &[0], || Ok(device.allocate(&[0], 400))).err().expect("over budget");
        assert!(matches!(&refused, LoadError::GpuMemory(why) if why.contains("would exceed --gpu-memory-budget")));
        assert_eq!(memory.charged(0), 700, "version 1 still holds its memory");
        assert_eq!((device.0.lock().expect("state")[&0]), 700, "the refused load's memory came back");
        let (_small, _small_charge) =
            memory.load("n", 1, &[0], || Ok(device.allocate(&[0], 300))).expect("exactly fits");
        let full = memory.load("o", 1, &[0], || -> Result<(), LoadError> { panic!("not even tried") });
        assert!(matches!(full, Err(LoadError::GpuMemory(why)) if why.contains("no room left")));
    }

    #[test]
    fn an_unmeasurable_device_refuses_only_when_a_budget_needs_the_measure() {
        let broken: UsedMemory = Arc::new(|_| Err("no CUDA driver".to_owned()));
        let unlimited = GpuMemory::with_measure(None, broken.clone()).expect("gauge");
        let (_, charge) = unlimited.load("m", 1, &[0], || Ok(())).expect("loads, unmeasured");
        assert_eq!(charge.taken(), &[(0, 0)]);
        let limited = GpuMemory::with_measure(Some(1 << 30), broken).expect("gauge");
        let refused = limited.load("m", 1, &[0], || Ok(())).err().expect("cannot enforce");
        assert!(matches!(refused, LoadError::GpuMemory(why) if why.contains("no CUDA driver")));
        let failed = limited.load("m", 1, &[0], || -> Result<(), LoadError> { Err(LoadError::Config("bad".into())) });
        assert!(matches!(failed, Err(LoadError::Config(_))), "the load's own error comes first");
    }
}
