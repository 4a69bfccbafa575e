//! The model configuration extension over gRPC: the core's view as
//! Triton's `ModelConfig` protobuf (field numbers from model_config.proto).

use std::collections::HashMap;

use sluice_core::serving::config_view::{ModelConfigView, WarmupSource};
use sluice_core::{DataType, Device, VersionPolicy};
use sluice_proto::model_config::SchedulingChoice;
use sluice_proto::model_version_policy::{All, Latest, PolicyChoice, Specific};
use sluice_proto::model_warmup::input::InputDataType;
use sluice_proto::*;

fn triton_type(datatype: DataType) -> i32 {
    (match datatype {
        DataType::Bool => sluice_proto::DataType::TypeBool,
        DataType::Uint8 => sluice_proto::DataType::TypeUint8,
        DataType::Uint16 => sluice_proto::DataType::TypeUint16,
        DataType::Uint32 => sluice_proto::DataType::TypeUint32,
        DataType::Uint64 => sluice_proto::DataType::TypeUint64,
        DataType::Int8 => sluice_proto::DataType::TypeInt8,
        DataType::Int16 => sluice_proto::DataType::TypeInt16,
        DataType::Int32 => sluice_proto::DataType::TypeInt32,
        DataType::Int64 => sluice_proto::DataType::TypeInt64,
        DataType::Fp16 => sluice_proto::DataType::TypeFp16,
        DataType::Bf16 => sluice_proto::DataType::TypeBf16,
        DataType::Fp32 => sluice_proto::DataType::TypeFp32,
        DataType::Fp64 => sluice_proto::DataType::TypeFp64,
        DataType::Bytes => sluice_proto::DataType::TypeString,
    }) as i32
}

fn policy(policy: &VersionPolicy) -> ModelVersionPolicy {
    let choice = match policy {
        VersionPolicy::Latest(n) => PolicyChoice::Latest(Latest { num_versions: *n as u32 }),
        VersionPolicy::All => PolicyChoice::All(All {}),
        VersionPolicy::Specific(versions) => {
            PolicyChoice::Specific(Specific { versions: versions.iter().map(|&v| v as i64).collect() })
        }
    };
    ModelVersionPolicy { policy_choice: Some(choice) }
}

pub fn config(view: ModelConfigView) -> ModelConfig {
    let kind = match view.device {
        Device::Cpu => model_instance_group::Kind::Cpu,
        Device::Cuda(_) => model_instance_group::Kind::Gpu,
    };
    let gpus: Vec<i32> = view.gpus.iter().map(|&g| g as i32).collect();
    let warmup = view.warmup.map(|w| ModelWarmup {
        name: "warmup".into(),
        batch_size: w.batch_size as u32,
        count: w.count as u32,
        inputs: w
            .inputs
            .into_iter()
            .map(|(name, datatype, dims, source)| {
                let data = match source {
                    WarmupSource::Zero => InputDataType::ZeroData(true),
                    WarmupSource::Random => InputDataType::RandomData(true),
                    WarmupSource::File(file) => InputDataType::InputDataFile(file),
                };
                let input = model_warmup::Input { data_type: triton_type(datatype), dims, input_data_type: Some(data) };
                (name, input)
            })
            .collect::<HashMap<_, _>>(),
    });
    let batching = view.dynamic_batching.map(|b| {
        SchedulingChoice::DynamicBatching(ModelDynamicBatching {
            preferred_batch_size: b.preferred_batch_sizes.iter().map(|&n| n as i32).collect(),
            max_queue_delay_microseconds: b.max_queue_delay_us,
            preserve_ordering: false,
            default_queue_policy: Some(ModelQueuePolicy {
                timeout_action: model_queue_policy::TimeoutAction::Reject as i32,
                default_timeout_microseconds: b.default_timeout_us,
                allow_timeout_override: true,
                max_queue_size: b.max_queue_size.min(u32::MAX as usize) as u32,
            }),
        })
    });
    ModelConfig {
        instance_group: vec![ModelInstanceGroup {
            name: format!("{}_0", view.name),
            kind: kind as i32,
            count: view.instance_count as i32,
            gpus,
        }],
        name: view.name,
        platform: view.platform,
        backend: view.backend.to_owned(),
        version_policy: Some(policy(&view.version_policy)),
        max_batch_size: view.max_batch_size as i32,
        input: view
            .inputs
            .into_iter()
            .map(|s| ModelInput {
                name: s.name,
                data_type: triton_type(s.datatype),
                dims: s.shape,
                ..Default::default()
            })
            .collect(),
        output: view
            .outputs
            .into_iter()
            .map(|s| ModelOutput {
                label_filename: view.labels.get(&s.name).cloned().unwrap_or_default(),
                name: s.name,
                data_type: triton_type(s.datatype),
                dims: s.shape,
                ..Default::default()
            })
            .collect(),
        scheduling_choice: batching,
        default_model_filename: view.default_model_filename.to_owned(),
        model_warmup: warmup.into_iter().collect(),
    }
}
