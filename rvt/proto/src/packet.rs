//! TODO(owner: wire helper)
