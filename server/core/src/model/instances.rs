//! `[instances]` in model.toml: how many copies of a model run, and where.
//!
//! ```toml
//! [instances]
//! count = 2            # per device
//! device = "cuda"      # cpu, cuda or cuda:N
//! devices = [0, 1]     # optional: spread over these GPUs (Triton's instance_group gpus)
//! ```
//! With `devices`, `count` instances run on *each* listed GPU, as Triton's
//! `instance_group { count: 2, gpus: [0, 1] }` runs four.

use crate::model::spec::Device;

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InstancesConfig {
    #[serde(alias = "instance_count")]
    pub count: usize,
    pub device: Device,
    /// GPU ordinals to spread the instances over; empty: `device` alone.
    #[serde(alias = "gpus")]
    pub devices: Vec<usize>,
}

impl Default for InstancesConfig {
    fn default() -> Self {
        InstancesConfig { count: 1, device: Device::Cpu, devices: Vec::new() }
    }
}

impl InstancesConfig {
    pub fn check(&self) -> Result<(), String> {
        if self.count == 0 {
            return Err("instances.count must be at least 1".into());
        }
        if self.devices.is_empty() {
            return Ok(());
        }
        match self.device {
            Device::Cpu => {
                Err("instances.devices lists GPUs, but instances.device is \"cpu\": set device = \"cuda\"".into())
            }
            Device::Cuda(n) if n != 0 && !self.devices.contains(&n) => {
                Err(format!("instances.device is cuda:{n}, which instances.devices {:?} does not list", self.devices))
            }
            Device::Cuda(_) => match self.devices.iter().enumerate().find(|(i, d)| self.devices[..*i].contains(d)) {
                Some((_, twice)) => Err(format!("instances.devices lists GPU {twice} twice")),
                None => Ok(()),
            },
        }
    }

    /// The GPUs the instances run on (none for CPU models).
    pub fn gpus(&self) -> Vec<usize> {
        match self.device {
            Device::Cpu => Vec::new(),
            Device::Cuda(n) if self.devices.is_empty() => vec![n],
            Device::Cuda(_) => self.devices.clone(),
        }
    }

    /// One device per instance, GPU by GPU: `count` on each.
    pub fn placements(&self) -> Vec<Device> {
        match self.device {
            Device::Cpu => vec![Device::Cpu; self.count],
            Device::Cuda(_) => {
                self.gpus().into_iter().flat_map(|g| std::iter::repeat_n(Device::Cuda(g), self.count)).collect()
            }
        }
    }

    /// The devices as one label value: `cpu`, `cuda:0` or `cuda:0,cuda:1`.
    pub fn label(&self) -> String {
        match self.device {
            Device::Cpu => Device::Cpu.to_string(),
            Device::Cuda(_) => self.gpus().iter().map(|g| Device::Cuda(*g).to_string()).collect::<Vec<_>>().join(","),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<InstancesConfig, String> {
        let config: InstancesConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        config.check().map(|()| config)
    }

    #[test]
    fn one_device_runs_every_instance() {
        let cpu = parse("count = 3").expect("valid");
        assert_eq!(cpu.placements(), vec![Device::Cpu; 3]);
        assert_eq!((cpu.gpus(), cpu.label(), cpu.placements().len()), (vec![], "cpu".to_owned(), 3));
        let gpu = parse("count = 2\ndevice = \"cuda:1\"").expect("valid");
        assert_eq!(gpu.placements(), vec![Device::Cuda(1); 2]);
        assert_eq!((gpu.gpus(), gpu.label()), (vec![1], "cuda:1".to_owned()));
    }

    #[test]
    fn devices_spread_count_instances_over_each_gpu_like_triton() {
        let spread = parse("count = 2\ndevice = \"cuda\"\ndevices = [0, 1]").expect("valid");
        assert_eq!(spread.placements(), vec![Device::Cuda(0), Device::Cuda(0), Device::Cuda(1), Device::Cuda(1)]);
        assert_eq!((spread.placements().len(), spread.label()), (4, "cuda:0,cuda:1".to_owned()));
        let triton_name = parse("device = \"cuda:2\"\ngpus = [3, 2]").expect("gpus is an alias");
        assert_eq!(triton_name.placements(), vec![Device::Cuda(3), Device::Cuda(2)]);
    }

    #[test]
    fn refuses_device_lists_that_contradict_themselves() {
        let cpu = parse("devices = [0]").expect_err("cpu with GPUs");
        assert!(cpu.contains("set device = \"cuda\""), "{cpu}");
        let outside = parse("device = \"cuda:3\"\ndevices = [0, 1]").expect_err("device not listed");
        assert!(outside.contains("cuda:3"), "{outside}");
        let twice = parse("device = \"cuda\"\ndevices = [1, 0, 1]").expect_err("duplicate");
        assert!(twice.contains("GPU 1 twice"), "{twice}");
        assert!(parse("count = 0").expect_err("no instance").contains("at least 1"));
    }
}
