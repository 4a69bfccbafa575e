//! The model configuration extension over REST, in the JSON shape Triton's
//! `GET /v2/models/{m}/config` answers (its protobuf's field names, enum
//! names as strings, dims as numbers).

use serde_json::{Value, json};
use sluice_core::serving::config_view::{ModelConfigView, WarmupSource};
use sluice_core::{DataType, Device, TensorSpec, VersionPolicy};

/// Triton's `TYPE_*` name of a datatype.
pub fn triton_type(datatype: DataType) -> String {
    match datatype {
        DataType::Bytes => "TYPE_STRING".to_owned(),
        other => format!("TYPE_{}", other.as_str()),
    }
}

fn policy(policy: &VersionPolicy) -> Value {
    match policy {
        VersionPolicy::Latest(n) => json!({ "latest": { "num_versions": n } }),
        VersionPolicy::All => json!({ "all": {} }),
        VersionPolicy::Specific(versions) => json!({ "specific": { "versions": versions } }),
    }
}

pub fn config_json(view: &ModelConfigView) -> Value {
    let inputs: Vec<Value> = view
        .inputs
        .iter()
        .map(|s: &TensorSpec| {
            json!({ "name": s.name, "data_type": triton_type(s.datatype), "format": "FORMAT_NONE", "dims": s.shape,
                    "is_shape_tensor": false, "allow_ragged_batch": false, "optional": false })
        })
        .collect();
    let outputs: Vec<Value> = view
        .outputs
        .iter()
        .map(|s| {
            json!({ "name": s.name, "data_type": triton_type(s.datatype), "dims": s.shape,
                    "label_filename": view.labels.get(&s.name).map_or("", String::as_str), "is_shape_tensor": false })
        })
        .collect();
    let kind = match view.device {
        Device::Cpu => "KIND_CPU",
        Device::Cuda(_) => "KIND_GPU",
    };
    let gpus = &view.gpus;
    let mut config = json!({
        "name": view.name,
        "platform": view.platform,
        "backend": view.backend,
        "version_policy": policy(&view.version_policy),
        "max_batch_size": view.max_batch_size,
        "input": inputs,
        "output": outputs,
        "instance_group": [{ "name": format!("{}_0", view.name), "kind": kind, "count": view.instance_count,
                             "gpus": gpus }],
        "default_model_filename": view.default_model_filename,
        "model_warmup": view.warmup.iter().map(|w| {
            let inputs: serde_json::Map<String, Value> = w.inputs.iter().map(|(name, datatype, dims, source)| {
                let mut input = json!({ "data_type": triton_type(*datatype), "dims": dims });
                match source {
                    WarmupSource::Zero => input["zero_data"] = json!(true),
                    WarmupSource::Random => input["random_data"] = json!(true),
                    WarmupSource::File(file) => input["input_data_file"] = json!(file),
                }
                (name.clone(), input)
            }).collect();
            json!({ "name": "warmup", "batch_size": w.batch_size, "count": w.count, "inputs": inputs })
        }).collect::<Vec<_>>(),
    });
    if let Some(batching) = &view.dynamic_batching {
        config["dynamic_batching"] = json!({
            "preferred_batch_size": batching.preferred_batch_sizes,
            "max_queue_delay_microseconds": batching.max_queue_delay_us,
            "preserve_ordering": false,
            "default_queue_policy": {
                "timeout_action": "REJECT",
                "default_timeout_microseconds": batching.default_timeout_us,
                "allow_timeout_override": true,
                "max_queue_size": batching.max_queue_size,
            },
        });
    }
    config
}
