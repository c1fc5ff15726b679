//! TODO(owner: engine helper)
