use sluice_core::InferResponse;

use super::*;

const LIMITS: DecodeLimits = DecodeLimits { max_elements: 1 << 20, max_json_depth: 100 };

fn spec(name: &str, datatype: DataType, shape: &[i64]) -> TensorSpec {
    TensorSpec { name: name.into(), datatype, shape: shape.to_vec() }
}

fn run(body: &str, specs: &[TensorSpec]) -> Result<(InferRequest, Layout), InferError> {
    decode(body.as_bytes(), "m".into(), None, specs, LIMITS)
}

#[test]
fn rows_and_columns_for_one_and_several_inputs() {
    let one = [spec("x", DataType::Fp32, &[-1, 2])];
    let (request, layout) = run(r#"{"instances": [[1, 2], [3, 4.5]]}"#, &one).expect("rows");
    assert_eq!((layout, request.inputs[0].shape.clone()), (Layout::Rows, vec![2, 2]));
    let (columns, layout) = run(r#"{"signature_name": "serving_default", "inputs": [[1, 2]]}"#, &one).expect("cols");
    assert_eq!((layout, columns.inputs[0].shape.clone()), (Layout::Columns, vec![1, 2]));
    let two = [spec("a", DataType::Int64, &[-1]), spec("s", DataType::Bytes, &[-1])];
    let (request, _) =
        run(r#"{"instances": [{"a": 1, "s": "x"}, {"s": {"b64": "eXo="}, "a": 2}]}"#, &two).expect("keyed");
    assert_eq!(request.inputs[0].shape, vec![2]);
    assert_eq!(&request.inputs[1].data[..], b"\x01\0\0\0x\x02\0\0\0yz");
    let (request, _) = run(r#"{"inputs": {"a": [1, 2, 3], "s": ["p", "q", "r"]}}"#, &two).expect("keyed cols");
    assert_eq!(request.inputs[1].shape, vec![3]);
}

#[test]
fn the_fast_path_reads_regular_numbers_and_leaves_the_rest() {
    let spec = spec("x", DataType::Fp32, &[-1, 2]);
    let (tensor, layout) = fast_numeric(br#"{"instances": [[1, 2], [3, 4.5]]}"#, &spec, 100).expect("fast");
    assert_eq!((tensor.shape, layout), (vec![2, 2], Layout::Rows));
    let (tensor, layout) = fast_numeric(br#"{"inputs": [[[1], [2]]]}"#, &spec, 100).expect("fast columns");
    assert_eq!((tensor.shape, layout), (vec![1, 2, 1], Layout::Columns));
    for slow in [
        r#"{"instances": [[1, 2], [3]]}"#,
        r#"{"instances": [[1, 2], [3, [4]]]}"#,
        r#"{"instances": [{"x": [1, 2]}]}"#,
        r#"{"instances": [["a", "b"]]}"#,
        r#"{"instances": []}"#,
        r#"{"instances": [[1, 2]], "other": 1}"#,
    ] {
        assert!(fast_numeric(slow.as_bytes(), &spec, 100).is_none(), "{slow}");
    }
}

#[test]
fn explains_each_mistake() {
    let one = [spec("x", DataType::Fp32, &[-1, 2])];
    let two = [spec("a", DataType::Int64, &[-1]), spec("b", DataType::Int64, &[-1])];
    let cases: [(&str, &[TensorSpec], &str); 9] = [
        (r#"{"instances": [[1, 2], [3]]}"#, &one, "ragged"),
        (r#"{"instances": [["a", "b"]]}"#, &one, "expects FP32 values"),
        (r#"{"instances": []}"#, &one, "is empty"),
        (r#"{"instances": [[1, 2]], "inputs": [[1, 2]]}"#, &one, "not both"),
        (r#"{"rows": []}"#, &one, "needs \"instances\""),
        (r#"{"instances": [[1, 2]], "extra": 1}"#, &one, "unknown member"),
        (r#"{"instances": [{"a": 1}]}"#, &two, "no value for input 'b'"),
        (r#"{"instances": [{"a": 1, "b": 2, "c": 3}]}"#, &two, "'c', which is not an input"),
        (r#"{"instances": [1, 2]}"#, &two, "must be an object keyed by input name"),
    ];
    for (body, specs, want) in cases {
        let err = run(body, specs).expect_err(body);
        assert!(matches!(err, InferError::InvalidInput(_)), "{body}");
        assert!(err.to_string().contains(want), "{body}: {err}");
    }
}

#[test]
fn answers_in_the_request_layout() {
    let tensor = |name: &str, values: &[f32]| {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
        Tensor::new(name, DataType::Fp32, vec![2, values.len() / 2], data.into())
    };
    let response = |outputs| InferResponse { model_name: "m".into(), model_version: 1, id: None, outputs };
    let one = response(vec![tensor("p", &[0.1, 0.9, 0.5, 0.5])]);
    let text = |layout| String::from_utf8(encode(&one, layout).expect("encodes")).expect("utf-8");
    assert_eq!(text(Layout::Rows), r#"{"predictions":[[0.1,0.9],[0.5,0.5]]}"#);
    assert_eq!(text(Layout::Columns), r#"{"outputs":[[0.1,0.9],[0.5,0.5]]}"#);
    let two = response(vec![tensor("p", &[1.0, 2.0]), tensor("q", &[3.0, 4.0])]);
    let rows = String::from_utf8(encode(&two, Layout::Rows).expect("encodes")).expect("utf-8");
    assert_eq!(rows, r#"{"predictions":[{"p":[1.0],"q":[3.0]},{"p":[2.0],"q":[4.0]}]}"#);
}
