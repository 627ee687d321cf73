//! Conditions in a build without Cedar: no policy file is ever accepted, so nothing is ever
//! evaluated.

use super::{ConditionsError, Outcome, Request};

/// Never built: `parse` always refuses.
#[derive(Debug)]
pub(super) struct Engine(std::convert::Infallible);

impl Engine {
    pub(super) fn parse(file: &str, _text: &str) -> Result<Engine, ConditionsError> {
        Err(ConditionsError::NotBuilt {
            file: file.to_owned(),
        })
    }

    pub(super) fn ids(&self) -> &[String] {
        match self.0 {}
    }

    pub(super) fn evaluate(&self, _request: &Request<'_>) -> Outcome {
        match self.0 {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_without_cedar_refuses_every_policy_file() {
        let refused = Engine::parse("p.cedar", "").unwrap_err();
        assert!(matches!(refused, ConditionsError::NotBuilt { .. }));
        assert!(refused.to_string().contains("p.cedar"), "{refused}");
        assert!(refused.to_string().contains("feature `cedar`"), "{refused}");
    }
}
