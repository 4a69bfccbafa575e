//! What a repository load request may change (Triton's `config` load
//! parameter, a model-config JSON document): the version policy, the batch
//! size, the dynamic batcher's knobs and the instances. Triton's spelling
//! and model.toml's are both accepted; anything else is refused, and the
//! result is validated exactly like model.toml.

use serde_json::{Map, Value};

use crate::error::InferError;
use crate::model::backend::Device;
use crate::model::config::{ModelConfig, VersionPolicy};

/// Overrides of one load request, kept until the model's next load.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadOverride {
    pub version_policy: Option<VersionPolicy>,
    pub max_batch_size: Option<usize>,
    pub max_queue_delay_us: Option<u64>,
    pub preferred_batch_sizes: Option<Vec<usize>>,
    pub max_queue_size: Option<usize>,
    pub default_timeout_us: Option<u64>,
    pub inline_max_compute_us: Option<u64>,
    pub instance_count: Option<usize>,
    pub device: Option<Device>,
    /// GPUs to spread over; set with `device` (an empty list: `device` alone).
    pub devices: Option<Vec<usize>>,
}

fn bad(why: impl std::fmt::Display) -> InferError {
    InferError::InvalidInput(format!("invalid 'config' load parameter: {why}"))
}

/// Numbers may come as JSON numbers or strings (protobuf JSON's int64).
fn number(value: &Value, what: &str) -> Result<u64, InferError> {
    value
        .as_u64()
        .or_else(|| value.as_str()?.parse().ok())
        .ok_or_else(|| bad(format!("{what} must be a non-negative integer, not {value}")))
}

fn object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>, InferError> {
    value.as_object().ok_or_else(|| bad(format!("{what} must be an object, not {value}")))
}

fn only(map: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), InferError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(other) => Err(bad(format!("{what}.{other} cannot be overridden at load time (allowed: {allowed:?})"))),
        None => Ok(()),
    }
}

impl LoadOverride {
    pub fn parse(config: &str) -> Result<LoadOverride, InferError> {
        let value: Value = serde_json::from_str(config).map_err(bad)?;
        let top = object(&value, "config")?;
        let allowed =
            ["name", "version_policy", "max_batch_size", "dynamic_batching", "batching", "instance_group", "instances"];
        if let Some(other) = top.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(bad(format!(
                "'{other}' cannot be overridden at load time; version_policy, max_batch_size, dynamic_batching \
                 and instance_group can"
            )));
        }
        let mut out = LoadOverride::default();
        if let Some(policy) = top.get("version_policy") {
            out.version_policy = Some(parse_policy(policy).ok_or_else(|| {
                bad(format!(
                    "version_policy {policy} is not one of {{\"latest\": {{\"num_versions\": N}}}}, {{\"all\": {{}}}}, \
                     {{\"specific\": {{\"versions\": [..]}}}}"
                ))
            })?);
        }
        if let Some(n) = top.get("max_batch_size") {
            out.max_batch_size = Some(number(n, "max_batch_size")? as usize);
        }
        if let Some(batching) = top.get("dynamic_batching") {
            let batching = object(batching, "dynamic_batching")?;
            only(
                batching,
                &["preferred_batch_size", "max_queue_delay_microseconds", "default_queue_policy"],
                "dynamic_batching",
            )?;
            out.read_preferred(batching.get("preferred_batch_size"))?;
            if let Some(delay) = batching.get("max_queue_delay_microseconds") {
                out.max_queue_delay_us = Some(number(delay, "max_queue_delay_microseconds")?);
            }
            if let Some(policy) = batching.get("default_queue_policy") {
                let policy = object(policy, "default_queue_policy")?;
                only(
                    policy,
                    &["max_queue_size", "default_timeout_microseconds", "timeout_action", "allow_timeout_override"],
                    "default_queue_policy",
                )?;
                if let Some(size) = policy.get("max_queue_size") {
                    out.max_queue_size = Some(number(size, "max_queue_size")? as usize);
                }
                if let Some(timeout) = policy.get("default_timeout_microseconds") {
                    out.default_timeout_us = Some(number(timeout, "default_timeout_microseconds")?);
                }
            }
        }
        if let Some(batching) = top.get("batching") {
            // model.toml's spelling.
            let batching = object(batching, "batching")?;
            only(
                batching,
                &[
                    "max_queue_delay_us",
                    "preferred_batch_sizes",
                    "max_queue_size",
                    "default_timeout_us",
                    "inline_max_compute_us",
                ],
                "batching",
            )?;
            out.read_preferred(batching.get("preferred_batch_sizes"))?;
            if let Some(v) = batching.get("max_queue_delay_us") {
                out.max_queue_delay_us = Some(number(v, "max_queue_delay_us")?);
            }
            if let Some(v) = batching.get("max_queue_size") {
                out.max_queue_size = Some(number(v, "max_queue_size")? as usize);
            }
            if let Some(v) = batching.get("default_timeout_us") {
                out.default_timeout_us = Some(number(v, "default_timeout_us")?);
            }
            if let Some(v) = batching.get("inline_max_compute_us") {
                out.inline_max_compute_us = Some(number(v, "inline_max_compute_us")?);
            }
        }
        if let Some(groups) = top.get("instance_group") {
            let groups = groups.as_array().ok_or_else(|| bad("instance_group must be a list"))?;
            let [group] = groups.as_slice() else {
                return Err(bad("instance_group must hold exactly one group (one device per model)"));
            };
            let group = object(group, "instance_group[0]")?;
            only(group, &["name", "count", "kind", "gpus"], "instance_group[0]")?;
            out.read_instances(group.get("count"), group.get("kind"), group.get("gpus"))?;
        }
        if let Some(instances) = top.get("instances") {
            let instances = object(instances, "instances")?;
            only(instances, &["count", "instance_count", "device", "devices"], "instances")?;
            let count = instances.get("count").or_else(|| instances.get("instance_count"));
            out.read_instances(count, None, None)?;
            if let Some(device) = instances.get("device") {
                let text = device.as_str().ok_or_else(|| bad("instances.device must be a string"))?;
                out.device = Some(text.parse().map_err(bad)?);
                out.devices = Some(Vec::new());
            }
            if let Some(devices) = instances.get("devices") {
                out.devices = Some(gpu_list(devices)?);
            }
        }
        Ok(out)
    }

    fn read_preferred(&mut self, value: Option<&Value>) -> Result<(), InferError> {
        if let Some(list) = value {
            let list = list.as_array().ok_or_else(|| bad("preferred batch sizes must be a list"))?;
            let sizes: Result<Vec<usize>, InferError> =
                list.iter().map(|v| number(v, "a preferred batch size").map(|n| n as usize)).collect();
            self.preferred_batch_sizes = Some(sizes?);
        }
        Ok(())
    }

    fn read_instances(
        &mut self,
        count: Option<&Value>,
        kind: Option<&Value>,
        gpus: Option<&Value>,
    ) -> Result<(), InferError> {
        if let Some(count) = count {
            self.instance_count = Some(number(count, "instance count")? as usize);
        }
        let gpus = gpus.map(gpu_list).transpose()?.unwrap_or_default();
        match kind.and_then(Value::as_str) {
            None | Some("KIND_AUTO") if gpus.is_empty() => {}
            Some("KIND_CPU") => {
                self.device = Some(Device::Cpu);
                self.devices = Some(Vec::new());
            }
            None | Some("KIND_AUTO") | Some("KIND_GPU") => {
                // Triton runs `count` instances on each listed GPU.
                self.device = Some(Device::Cuda(gpus.first().copied().unwrap_or(0)));
                self.devices = Some(if gpus.len() > 1 { gpus } else { Vec::new() });
            }
            Some(other) => return Err(bad(format!("instance_group kind {other} is not KIND_CPU or KIND_GPU"))),
        }
        Ok(())
    }

    /// model.toml with these overrides, validated as model.toml is.
    pub fn apply(&self, config: &ModelConfig) -> Result<ModelConfig, InferError> {
        let mut out = config.clone();
        if let Some(policy) = &self.version_policy {
            out.version_policy = policy.clone();
        }
        if let Some(n) = self.max_batch_size {
            out.max_batch_size = n;
            out.defaulted.max_batch_size = false;
        }
        if let Some(delay) = self.max_queue_delay_us {
            out.batching.max_queue_delay_us = delay;
        }
        if let Some(sizes) = &self.preferred_batch_sizes {
            out.batching.preferred_batch_sizes = sizes.clone();
        }
        if let Some(size) = self.max_queue_size {
            out.batching.max_queue_size = size;
        }
        if let Some(timeout) = self.default_timeout_us {
            out.batching.default_timeout_us = timeout;
        }
        if let Some(limit) = self.inline_max_compute_us {
            out.batching.inline_max_compute_us = limit;
        }
        if let Some(count) = self.instance_count {
            out.instances.count = count;
            out.defaulted.instance_count = false;
        }
        if let Some(device) = self.device {
            out.instances.device = device;
        }
        if let Some(devices) = &self.devices {
            out.instances.devices = devices.clone();
        }
        out.check().map_err(|why| bad(format!("the overridden configuration is invalid: {why}")))?;
        Ok(out)
    }
}

fn gpu_list(value: &Value) -> Result<Vec<usize>, InferError> {
    let list = value.as_array().ok_or_else(|| bad(format!("a GPU list must be a list, not {value}")))?;
    list.iter().map(|g| number(g, "a GPU ordinal").map(|n| n as usize)).collect()
}

fn parse_policy(value: &Value) -> Option<VersionPolicy> {
    if value.as_str() == Some("all") {
        return Some(VersionPolicy::All);
    }
    let (kind, body) = value.as_object().filter(|o| o.len() == 1)?.iter().next()?;
    let number = |v: &Value| v.as_u64().or_else(|| v.as_str()?.parse().ok());
    match kind.as_str() {
        "all" => Some(VersionPolicy::All),
        "latest" => {
            let n = number(body.get("num_versions").unwrap_or(body))?;
            (n > 0).then_some(VersionPolicy::Latest(n as usize))
        }
        "specific" => {
            let list = body.get("versions").unwrap_or(body).as_array()?;
            let versions: Option<Vec<u64>> = list.iter().map(number).collect();
            versions.filter(|v| !v.is_empty()).map(VersionPolicy::Specific)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> ModelConfig {
        ModelConfig::from_toml("backend = \"onnx\"\nmax_batch_size = 8\n", "m").expect("valid")
    }

    #[test]
    fn parses_triton_and_toml_version_policies() {
        let policy = |s: &str| LoadOverride::parse(s).map(|o| o.version_policy);
        assert_eq!(
            policy(r#"{"version_policy": {"specific": {"versions": [2]}}}"#).ok(),
            Some(Some(VersionPolicy::Specific(vec![2])))
        );
        assert_eq!(
            policy(r#"{"version_policy": {"specific": ["1", 3]}}"#).ok(),
            Some(Some(VersionPolicy::Specific(vec![1, 3])))
        );
        assert_eq!(
            policy(r#"{"version_policy": {"latest": {"num_versions": 2}}}"#).ok(),
            Some(Some(VersionPolicy::Latest(2)))
        );
        assert_eq!(policy(r#"{"name": "m", "version_policy": {"all": {}}}"#).ok(), Some(Some(VersionPolicy::All)));
        assert_eq!(policy(r#"{"version_policy": "all"}"#).ok(), Some(Some(VersionPolicy::All)));
        for bad in [
            "not json",
            "[]",
            r#"{"version_policy": {"latest": {"num_versions": 0}}}"#,
            r#"{"sequence_batching": {}}"#,
            r#"{"version_policy": {"specific": {"versions": []}}}"#,
            r#"{"version_policy": {"newest": 1}}"#,
        ] {
            assert!(matches!(LoadOverride::parse(bad), Err(InferError::InvalidInput(_))), "{bad}");
        }
    }

    #[test]
    fn batching_and_instances_in_tritons_spelling_apply_and_validate() {
        let o = LoadOverride::parse(
            r#"{"max_batch_size": 32, "dynamic_batching": {"preferred_batch_size": [8, 16],
                "max_queue_delay_microseconds": "300", "default_queue_policy": {"max_queue_size": 10,
                "default_timeout_microseconds": 900}}, "instance_group": [{"count": 3, "kind": "KIND_CPU"}]}"#,
        )
        .expect("valid");
        let config = o.apply(&base()).expect("valid result");
        assert_eq!(config.max_batch_size, 32);
        assert_eq!(config.batching.preferred_batch_sizes, vec![8, 16]);
        assert_eq!((config.batching.max_queue_delay_us, config.batching.max_queue_size), (300, 10));
        assert_eq!(config.batching.default_timeout_us, 900);
        assert_eq!((config.instances.count, config.instances.device), (3, Device::Cpu));
        let gpu = LoadOverride::parse(r#"{"instance_group": [{"kind": "KIND_GPU", "gpus": [1]}]}"#).expect("gpu");
        assert_eq!(gpu.device, Some(Device::Cuda(1)));
        let spread = LoadOverride::parse(r#"{"instance_group": [{"count": 2, "kind": "KIND_GPU", "gpus": [1, 0]}]}"#)
            .expect("several gpus")
            .apply(&base())
            .expect("valid result");
        let placed = spread.instances.placements();
        assert_eq!(placed, vec![Device::Cuda(1), Device::Cuda(1), Device::Cuda(0), Device::Cuda(0)]);
        let twice = LoadOverride::parse(r#"{"instance_group": [{"kind": "KIND_GPU", "gpus": [0, 0]}]}"#)
            .expect("parses")
            .apply(&base());
        assert!(matches!(twice, Err(InferError::InvalidInput(m)) if m.contains("twice")));
        let back_to_cpu = LoadOverride::parse(r#"{"instances": {"device": "cpu"}}"#).expect("cpu").apply(&spread);
        assert_eq!(back_to_cpu.expect("cpu clears the GPU list").instances.placements(), vec![Device::Cpu; 2]);
    }

    #[test]
    fn toml_spelling_and_invalid_results_are_handled() {
        let o = LoadOverride::parse(
            r#"{"batching": {"max_queue_delay_us": 50, "inline_max_compute_us": 0}, "instances": {"count": 2}}"#,
        )
        .expect("toml spelling");
        assert_eq!((o.max_queue_delay_us, o.instance_count), (Some(50), Some(2)));
        assert_eq!(o.apply(&base()).expect("valid").batching.inline_max_compute_us, 0);
        let too_big = LoadOverride::parse(r#"{"dynamic_batching": {"preferred_batch_size": [64]}}"#).expect("parses");
        let err = too_big.apply(&base()).expect_err("64 > max_batch_size 8");
        assert!(err.to_string().contains("preferred_batch_sizes holds 64"), "{err}");
        let zero = LoadOverride::parse(r#"{"instance_group": [{"count": 0}]}"#).expect("parses");
        assert!(zero.apply(&base()).is_err());
        let unknown = LoadOverride::parse(r#"{"dynamic_batching": {"priority_levels": 2}}"#).expect_err("unknown");
        assert!(unknown.to_string().contains("priority_levels"), "{unknown}");
    }
}
