//! `gpu_memory_used_bytes{device}` and `gpu_memory_total_bytes{device}`: the
//! driver's view of each GPU that model versions were loaded on, read at
//! every scrape. Beside `model_gpu_memory_bytes` (what each version took at
//! its load) it shows what the device holds now: an arena that grew under
//! load, memory that did not come back after an unload, another process.

use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntGaugeVec, Opts};
use sluice_kernels::DeviceMemory;

use super::gpu_memory::GpuMemory;

/// A device's memory, or why it cannot be read.
pub type DeviceMeasure = Arc<dyn Fn(usize) -> Result<DeviceMemory, String> + Send + Sync>;

pub struct DeviceMemoryCollector {
    memory: Arc<GpuMemory>,
    measure: DeviceMeasure,
    used: IntGaugeVec,
    total: IntGaugeVec,
}

impl DeviceMemoryCollector {
    pub fn new(memory: Arc<GpuMemory>, measure: DeviceMeasure) -> prometheus::Result<Self> {
        let gauge = |name: &str, help: &str| IntGaugeVec::new(Opts::new(name, help), &["device"]);
        Ok(DeviceMemoryCollector {
            memory,
            measure,
            used: gauge("gpu_memory_used_bytes", "Device memory in use on the GPU, as its driver reports it.")?,
            total: gauge("gpu_memory_total_bytes", "Device memory of the GPU, as its driver reports it.")?,
        })
    }

    /// With the CUDA driver's `cuMemGetInfo`.
    pub fn driver(memory: Arc<GpuMemory>) -> prometheus::Result<Self> {
        Self::new(memory, Arc::new(|ordinal| sluice_kernels::device_memory(ordinal).map_err(|e| e.to_string())))
    }
}

fn to_i64(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

impl Collector for DeviceMemoryCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.used.desc().into_iter().chain(self.total.desc()).collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        for gpu in self.memory.devices_seen() {
            let device = format!("cuda:{gpu}");
            match (self.measure)(gpu) {
                Ok(memory) => {
                    self.used.with_label_values(&[&device]).set(to_i64(memory.used()));
                    self.total.with_label_values(&[&device]).set(to_i64(memory.total));
                }
                // An unreadable device shows no value rather than a stale one.
                Err(_) => {
                    let _ = self.used.remove_label_values(&[&device]);
                    let _ = self.total.remove_label_values(&[&device]);
                }
            }
        }
        self.used.collect().into_iter().chain(self.total.collect()).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::lifecycle::gpu_memory::UsedMemory;

    fn values(collector: &DeviceMemoryCollector) -> Vec<(String, String, i64)> {
        let mut out = Vec::new();
        for family in collector.collect() {
            for metric in family.get_metric() {
                let device = metric.get_label().iter().map(|l| l.value().to_owned()).collect();
                out.push((family.name().to_owned(), device, metric.get_gauge().get_value() as i64));
            }
        }
        out.sort();
        out
    }

    #[test]
    fn reports_the_devices_versions_were_loaded_on_as_the_driver_sees_them_now() {
        let in_use = Arc::new(Mutex::new(0u64));
        let read = in_use.clone();
        let used: UsedMemory = Arc::new(move |_| Ok(*read.lock().expect("lock")));
        let memory = GpuMemory::with_measure(None, used).expect("gauge");
        let read = in_use.clone();
        let measure: DeviceMeasure = Arc::new(move |gpu| match gpu {
            1 => Ok(DeviceMemory { free: 1000 - *read.lock().expect("lock"), total: 1000 }),
            _ => Err("gone".to_owned()),
        });
        let collector = DeviceMemoryCollector::new(memory.clone(), measure).expect("gauges");
        assert!(values(&collector).is_empty(), "no GPU used yet: no series, and no driver call");

        let (_loaded, _charge) = memory
            .load("m", 1, &[1], || {
                *in_use.lock().expect("lock") += 300;
                Ok(())
            })
            .expect("loads");
        assert_eq!(
            values(&collector),
            [
                ("gpu_memory_total_bytes".to_owned(), "cuda:1".to_owned(), 1000),
                ("gpu_memory_used_bytes".to_owned(), "cuda:1".to_owned(), 300),
            ]
        );
        *in_use.lock().expect("lock") += 200; // the arena grew under load
        assert!(values(&collector).contains(&("gpu_memory_used_bytes".to_owned(), "cuda:1".to_owned(), 500)));

        let (_other, _other_charge) = memory.load("n", 1, &[2], || Ok(())).expect("loads, unmeasured there");
        assert!(
            values(&collector).iter().all(|(_, device, _)| device == "cuda:1"),
            "an unreadable device has no series"
        );
    }
}
