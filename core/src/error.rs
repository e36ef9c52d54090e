//! Errors of the core library.

use thiserror::Error;

/// Errors raised by tdsm-core.
#[derive(Debug, Error)]
pub enum CoreError {
    /// A binning XML file is malformed or incomplete.
    #[error("binning XML: {0}")]
    Xml(String),
    /// An argument or configuration value is invalid.
    #[error("{0}")]
    Invalid(String),
    /// Input data is inconsistent with the geometry or the model.
    #[error("data: {0}")]
    Data(String),
}
