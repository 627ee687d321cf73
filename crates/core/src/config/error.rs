//! Configuration errors, each naming the key and the problem.

use std::fmt;

/// One problem with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The key path (`server.listen`, `upstreams[files].url`) or environment variable.
    pub key: String,
    /// What is wrong, in words an operator can act on.
    pub problem: String,
}

/// Every problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

impl ConfigError {
    pub(crate) fn single(key: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError {
            problems: vec![ConfigProblem {
                key: key.into(),
                problem: problem.into(),
            }],
        }
    }

    /// Adds the line and column of a TOML parse error to its message.
    pub(crate) fn with_span(mut self, text: &str, span: Option<std::ops::Range<usize>>) -> Self {
        if let (Some(span), Some(p)) = (span, self.problems.first_mut()) {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            p.problem = format!("{} (line {line}, column {column})", p.problem);
        }
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {}", p.key, p.problem)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}
