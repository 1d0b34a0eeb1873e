//! What a model declares about its tensors, independent of ONNX Runtime so decoders can be
//! chosen and checked in plain unit tests.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorType {
    F32,
    U8,
    I32,
    I64,
    Other,
}

/// A declared input or output; `-1` marks a dynamic dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub dims: Vec<i64>,
    pub ty: TensorType,
}

impl TensorInfo {
    pub fn new(name: &str, dims: &[i64], ty: TensorType) -> Self {
        TensorInfo {
            name: name.to_string(),
            dims: dims.to_vec(),
            ty,
        }
    }
}

impl fmt::Display for TensorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, DimsDisplay(&self.dims))?;
        if self.ty != TensorType::F32 {
            write!(f, " {:?}", self.ty)?;
        }
        Ok(())
    }
}

/// Shows dims as `[1,3,?,?]`.
pub struct DimsDisplay<'a>(pub &'a [i64]);

impl fmt::Display for DimsDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ",")?;
            }
            if *d < 0 {
                write!(f, "?")?;
            } else {
                write!(f, "{d}")?;
            }
        }
        write!(f, "]")
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelSignature {
    pub inputs: Vec<TensorInfo>,
    pub outputs: Vec<TensorInfo>,
}

impl ModelSignature {
    pub fn output_index(&self, pred: impl Fn(&TensorInfo) -> bool) -> Option<usize> {
        self.outputs.iter().position(pred)
    }

    pub fn outputs_display(&self) -> String {
        self.outputs
            .iter()
            .map(|o| o.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Whether a declared dimension accepts `actual` (dynamic dims accept anything).
pub fn dim_matches(declared: i64, actual: i64) -> bool {
    declared < 0 || declared == actual
}

/// One output of a run, borrowed from the runtime.
#[derive(Debug, Clone, Copy)]
pub struct OutputTensor<'a> {
    pub shape: &'a [usize],
    pub data: OutputData<'a>,
}

#[derive(Debug, Clone, Copy)]
pub enum OutputData<'a> {
    F32(&'a [f32]),
    I64(&'a [i64]),
    I32(&'a [i32]),
}

impl OutputData<'_> {
    /// Element `i` as f32 (class ids come as floats, int32 or int64 depending on the export).
    pub fn get_f32(&self, i: usize) -> f32 {
        match self {
            OutputData::F32(d) => d[i],
            OutputData::I64(d) => d[i] as f32,
            OutputData::I32(d) => d[i] as f32,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            OutputData::F32(d) => d.len(),
            OutputData::I64(d) => d.len(),
            OutputData::I32(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
