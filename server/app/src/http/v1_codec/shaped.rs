//! Nested JSON arrays of scalars read in one pass, without a JSON tree.

use super::super::json_data::{FlatData, Scalar};

/// Nested arrays of scalars, flattened, with the length seen at each depth:
/// a regular nesting has one length per depth and every scalar at the same
/// depth.
#[derive(Default)]
pub(super) struct ShapedData {
    pub(super) values: FlatData,
    dims: Vec<Option<usize>>,
    leaf_depth: Option<usize>,
    regular: bool,
}

impl ShapedData {
    pub(super) fn shape(&self) -> Option<Vec<usize>> {
        if !self.regular || self.leaf_depth != Some(self.dims.len()) {
            return None;
        }
        self.dims.iter().copied().collect()
    }

    pub(super) fn has_strings(&self) -> bool {
        self.values.0.iter().any(|s| matches!(s, Scalar::Str(_)))
    }

    fn leaf(&mut self, depth: usize, scalar: Scalar) {
        self.regular &= *self.leaf_depth.get_or_insert(depth) == depth;
        self.values.0.push(scalar);
    }
}

impl<'de> serde::Deserialize<'de> for ShapedData {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = ShapedData { regular: true, ..Default::default() };
        d.deserialize_any(ShapeVisitor { out: &mut out, depth: 0 })?;
        Ok(out)
    }
}

struct ShapeVisitor<'a> {
    out: &'a mut ShapedData,
    depth: usize,
}

impl<'de> serde::de::Visitor<'de> for ShapeVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("nested arrays of numbers")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.out.leaf(self.depth, Scalar::Bool(v));
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.out.leaf(self.depth, Scalar::Int(v));
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        let scalar = i64::try_from(v).map_or(Scalar::Uint(v), Scalar::Int);
        self.out.leaf(self.depth, scalar);
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.out.leaf(self.depth, Scalar::Float(v));
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.out.leaf(self.depth, Scalar::Str(v.to_owned()));
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let depth = self.depth;
        let mut count = 0usize;
        while seq.next_element_seed(ShapeSeed { out: &mut *self.out, depth: depth + 1 })?.is_some() {
            count += 1;
        }
        // Inner arrays finish first: lengths are kept by depth.
        if self.out.dims.len() <= depth {
            self.out.dims.resize(depth + 1, None);
        }
        match self.out.dims[depth] {
            Some(seen) => self.out.regular &= seen == count,
            None => self.out.dims[depth] = Some(count),
        }
        Ok(())
    }
}

struct ShapeSeed<'a> {
    out: &'a mut ShapedData,
    depth: usize,
}

impl<'de> serde::de::DeserializeSeed<'de> for ShapeSeed<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(ShapeVisitor { out: self.out, depth: self.depth })
    }
}
