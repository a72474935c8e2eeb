//! Everything that can go wrong in a run, as a value (never a panic).

use crate::config::ConfigError;
use std::fmt;

/// Everything that can go wrong in a run.
#[derive(Debug, Clone, PartialEq)]
pub enum ApdError {
    /// A hyperparameter is out of range.
    Config(ConfigError),
    /// Losses or parameters stopped being finite; the run keeps its last good state.
    Diverged {
        /// Step at which it was detected.
        step: usize,
        /// What happened and what to try.
        message: String,
    },
    /// A file or import is malformed.
    Format(String),
    /// A target or snapshot does not fit the configuration.
    Mismatch(String),
    /// The backend failed (e.g. a lost GPU device).
    Backend(String),
}

impl ApdError {
    /// The kind of failure, as the page's protocol names it: `invalid`
    /// (the input: settings, files, a target that does not fit),
    /// `diverged`, or `device-lost` (the backend failed). The page decides
    /// what to do on this, never on the message's text.
    pub fn kind(&self) -> &'static str {
        match self {
            ApdError::Config(_) | ApdError::Format(_) | ApdError::Mismatch(_) => "invalid",
            ApdError::Diverged { .. } => "diverged",
            ApdError::Backend(_) => "device-lost",
        }
    }

    pub(crate) fn data(e: impl fmt::Debug) -> Self {
        ApdError::Backend(format!("reading a tensor failed: {e:?}"))
    }
}

impl fmt::Display for ApdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApdError::Config(e) => write!(f, "{e}"),
            ApdError::Diverged { message, .. } => write!(f, "diverged: {message}"),
            ApdError::Format(m) => write!(f, "malformed input: {m}"),
            ApdError::Mismatch(m) => write!(f, "mismatch: {m}"),
            ApdError::Backend(m) => write!(f, "backend error: {m}"),
        }
    }
}

impl std::error::Error for ApdError {}

impl From<ConfigError> for ApdError {
    fn from(e: ConfigError) -> Self {
        ApdError::Config(e)
    }
}

impl From<burn::tensor::ExecutionError> for ApdError {
    fn from(e: burn::tensor::ExecutionError) -> Self {
        ApdError::Backend(format!("{e:?}"))
    }
}
