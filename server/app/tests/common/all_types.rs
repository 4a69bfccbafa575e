//! Every v2 datatype as JSON values, and comparing what comes back: shared
//! by the protocol tests and the IO binding tests.

use serde_json::{Value, json};

/// Values for a [2, 2] tensor of each datatype, as JSON.
pub fn all_types_values() -> Vec<(&'static str, Value)> {
    vec![
        ("BOOL", json!([[true, false], [false, true]])),
        ("UINT8", json!([[0, 255], [7, 8]])),
        ("UINT16", json!([[0, 65535], [7, 8]])),
        ("UINT32", json!([[0, 4294967295u64], [7, 8]])),
        ("UINT64", json!([[0, 18446744073709551615u64], [7, 8]])),
        ("INT8", json!([[-128, 127], [-1, 0]])),
        ("INT16", json!([[-32768, 32767], [-1, 0]])),
        ("INT32", json!([[-2147483648i64, 2147483647], [-1, 0]])),
        ("INT64", json!([[-9223372036854775808i64, 9223372036854775807i64], [-1, 0]])),
        ("FP16", json!([[0.5, -1.25], [2048.0, 0.0]])),
        ("BF16", json!([[0.5, -1.25], [256.0, 0.0]])),
        ("FP32", json!([[0.1, -1.25], [3.4e38, 0.0]])),
        ("FP64", json!([[0.1, -1.25], [1.7e308, 0.0]])),
        ("BYTES", json!([["a", ""], ["héllo", "x y"]])),
    ]
}

pub fn flat(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.iter().flat_map(flat).collect(),
        other => vec![other.clone()],
    }
}

/// The same element as the reference (floats compared at the tensor's precision).
pub fn same_element(datatype: &str, got: &Value, want: &Value) -> bool {
    match datatype {
        "FP16" | "BF16" | "FP32" => got.as_f64().map(|g| g as f32) == want.as_f64().map(|w| w as f32),
        "FP64" => got.as_f64() == want.as_f64(),
        _ => got == want,
    }
}

/// A v2 JSON request with one [2, 2] input per datatype holding `values`.
pub fn json_request(values: &[(&str, Value)]) -> Value {
    let inputs: Vec<Value> = values
        .iter()
        .map(|(dt, data)| json!({ "name": format!("INPUT_{dt}"), "datatype": dt, "shape": [2, 2], "data": data }))
        .collect();
    json!({ "inputs": inputs })
}

/// Asserts each `OUTPUT_<datatype>` of a JSON response echoes what was sent.
pub fn assert_echoed(body: &Value, values: &[(&str, Value)]) {
    let outputs = body["outputs"].as_array().expect("outputs");
    for (dt, sent) in values {
        let name = format!("OUTPUT_{dt}");
        let out = outputs.iter().find(|o| o["name"] == name.as_str()).unwrap_or_else(|| panic!("{name} in {body}"));
        assert_eq!((&out["datatype"], &out["shape"]), (&json!(dt), &json!([2, 2])), "{dt}");
        let (got, want) = (flat(&out["data"]), flat(sent));
        assert_eq!(got.len(), 4, "{dt}");
        for (g, w) in got.iter().zip(&want) {
            assert!(same_element(dt, g, w), "{dt}: got {g}, sent {w}");
        }
    }
}
