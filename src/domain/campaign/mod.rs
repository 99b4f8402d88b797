//! Campaign definitions, in three parts: the file format (`file_format.rs`: the `*Def`
//! types, strict, with a JSON Schema), its checks (`checks.rs`) and the checked
//! [`Campaign`] built from it (`checked.rs`).
//!
//! [`CampaignDef::check`] turns a parsed file into a `Campaign` or into every problem it
//! has at once, each named by its key path (`steps[1].after`). Cross-file checks (templates,
//! tags known to other definitions) belong to the catalog that loads the files. Everything
//! is re-exported here, so the rest of herald names `campaign::Campaign`,
//! `campaign::CampaignDef` and so on without knowing which part holds them.

mod checked;
mod checks;
mod file_format;

pub use checked::{
    Audience, Campaign, CampaignKind, HOLDOUT, Question, QuestionKind, RateLimit, RetryRule,
    RoutingRule, Schedule, Step, Survey, TagRule, Variant,
};
pub use checks::FieldError;
pub use file_format::{
    AudienceDef, CampaignDef, CapDef, DateLike, OneOrMany, QuestionDef, RetryDef, RoutingDef,
    ScheduleDef, StepDef, SurveyDef, TagRuleDef, VariantDef, WindowDef,
};

/// A minimal definition that checks, shared by the tests of the checks and of the checked
/// campaign.
#[cfg(test)]
mod sample {
    use super::CampaignDef;

    pub(super) fn def(text: &str) -> CampaignDef {
        toml::from_str(text).unwrap()
    }

    pub(super) const BASE: &str = r#"
kind = "collection"
[audience]
lists = ["overdue"]
[schedule]
cron = "0 9 * * mon-fri"
timezone = "Europe/London"
[[steps]]
id = "sms"
channel = "sms"
template = "reminder"
"#;
}
