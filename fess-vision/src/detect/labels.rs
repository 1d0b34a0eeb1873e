//! Class labels: COCO-80 built in, or one label per line from a file.

use std::path::Path;

/// The 80 COCO classes in the order COCO-trained detectors (CenterNet, RTMDet) number them.
pub const COCO80: [&str; 80] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
];

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LabelsError {
    #[error("cannot read labels file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("labels file {path} has no labels (one label per line expected)")]
    Empty { path: String },
    #[error(
        "labels file {path} has {found} labels but the model predicts {expected} classes; \
         give one label per line, in the model's class order"
    )]
    CountMismatch {
        path: String,
        found: usize,
        expected: usize,
    },
}

/// The names of a model's classes, indexed by class id.
#[derive(Debug, Clone, PartialEq)]
pub struct Labels(Vec<String>);

impl Default for Labels {
    fn default() -> Self {
        Labels(COCO80.iter().map(|s| s.to_string()).collect())
    }
}

impl Labels {
    /// Reads one label per line; blank lines and lines starting with `#` are skipped.
    pub fn from_file(path: &Path) -> Result<Self, LabelsError> {
        let text = std::fs::read_to_string(path).map_err(|e| LabelsError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let labels: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect();
        if labels.is_empty() {
            return Err(LabelsError::Empty {
                path: path.display().to_string(),
            });
        }
        Ok(Labels(labels))
    }

    /// Fails unless there is exactly one label per class the model predicts.
    pub fn check_count(&self, path: &Path, expected: usize) -> Result<(), LabelsError> {
        if self.0.len() != expected {
            return Err(LabelsError::CountMismatch {
                path: path.display().to_string(),
                found: self.0.len(),
                expected,
            });
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The label of `class_id`, or `class_<id>` for ids past the end.
    pub fn name(&self, class_id: usize) -> std::borrow::Cow<'_, str> {
        match self.0.get(class_id) {
            Some(l) => std::borrow::Cow::Borrowed(l.as_str()),
            None => std::borrow::Cow::Owned(format!("class_{class_id}")),
        }
    }

    /// The class id of `label`, if there is one.
    pub fn id_of(&self, label: &str) -> Option<usize> {
        self.0.iter().position(|l| l == label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coco_order() {
        let l = Labels::default();
        assert_eq!(l.len(), 80);
        assert_eq!(l.name(0), "person");
        assert_eq!(l.name(16), "dog");
        assert_eq!(l.name(79), "toothbrush");
        assert_eq!(l.name(80), "class_80");
        assert_eq!(l.id_of("car"), Some(2));
    }

    #[test]
    fn file_with_comments_and_wrong_count() {
        let dir = std::env::temp_dir().join(format!("fess-labels-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("l.txt");
        std::fs::write(&p, "# mine\nperson\n\nforklift\n").unwrap();
        let l = Labels::from_file(&p).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l.name(1), "forklift");
        let err = l.check_count(&p, 80).unwrap_err();
        assert!(err
            .to_string()
            .contains("has 2 labels but the model predicts 80"));
        std::fs::write(&p, "\n# nothing\n").unwrap();
        assert!(matches!(
            Labels::from_file(&p),
            Err(LabelsError::Empty { .. })
        ));
        assert!(matches!(
            Labels::from_file(&dir.join("missing.txt")),
            Err(LabelsError::Read { .. })
        ));
    }
}
