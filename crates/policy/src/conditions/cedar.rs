//! Conditions evaluated with `cedar-policy`.
//!
//! The user's policies are forbids; one permit of Portcullis's own (`PERMIT_ID`, added after
//! validation) stands for the role decision that already allowed the request, so Cedar's answer
//! is "allow" unless a forbid matches. Cedar skips a policy whose evaluation fails, which for a
//! forbid would mean "allow": any evaluation error refuses the request instead.

use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision, Effect, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    PolicyId, PolicySet, RestrictedExpression, Schema, ValidationMode, Validator,
};
use miette::Diagnostic;
use serde_json::Value;

use super::{ConditionsError, Outcome, Problem, Request, SCHEMA};

/// The id of the permit that stands for the role decision; a user policy may not take it.
const PERMIT_ID: &str = "portcullis.roles";

/// The entity types requests are described with, parsed once.
#[derive(Debug)]
struct Types {
    caller: EntityTypeName,
    upstream: EntityTypeName,
    tool: EntityTypeName,
    prompt: EntityTypeName,
    resource: EntityTypeName,
    action: EntityTypeName,
    arguments: EntityTypeName,
    long_arguments: EntityTypeName,
    bool_arguments: EntityTypeName,
}

impl Types {
    fn new() -> Result<Types, String> {
        let name = |n: &str| EntityTypeName::from_str(n).map_err(|e| e.to_string());
        Ok(Types {
            caller: name("Caller")?,
            upstream: name("Upstream")?,
            tool: name("Tool")?,
            prompt: name("Prompt")?,
            resource: name("Resource")?,
            action: name("Action")?,
            arguments: name("Arguments")?,
            long_arguments: name("LongArguments")?,
            bool_arguments: name("BoolArguments")?,
        })
    }
}

#[derive(Debug)]
pub(super) struct Engine {
    policies: PolicySet,
    schema: Schema,
    /// The schema's actions: the MCP methods conditions see.
    actions: std::collections::HashSet<String>,
    /// The last `context.now` built, by second: `RestrictedExpression::new_datetime` parses
    /// the extension's name each time, which costs more than the whole evaluation.
    now: std::sync::Mutex<Option<(i64, RestrictedExpression)>>,
    ids: Vec<String>,
    types: Types,
    authorizer: Authorizer,
}

/// `line:column` of a byte offset in `text`.
fn position(text: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .unwrap_or_default()
        .chars()
        .count()
        + 1;
    format!("{line}:{column}")
}

/// A problem from a Cedar diagnostic: its message, its help, and where its first label points.
fn problem(text: &str, policy: Option<String>, error: &(dyn Diagnostic + '_)) -> Problem {
    let at = error
        .labels()
        .and_then(|mut labels| labels.next())
        .map(|label| position(text, label.offset()));
    let mut message = error.to_string();
    if let Some(help) = error.help() {
        message.push_str(&format!(" ({help})"));
    }
    Problem {
        policy,
        at,
        message,
    }
}

fn invalid(file: &str, problems: Vec<Problem>) -> ConditionsError {
    ConditionsError::Invalid {
        file: file.to_owned(),
        problems,
    }
}

impl Engine {
    pub(super) fn parse(file: &str, text: &str) -> Result<Engine, ConditionsError> {
        let internal = |message: String| {
            invalid(
                file,
                vec![Problem {
                    policy: None,
                    at: None,
                    message,
                }],
            )
        };
        let (schema, _) = Schema::from_cedarschema_str(SCHEMA)
            .map_err(|e| internal(format!("Portcullis's own schema: {e}")))?;
        let types = Types::new().map_err(internal)?;
        let parsed = PolicySet::from_str(text).map_err(|errors| {
            invalid(
                file,
                errors
                    .iter()
                    .map(|e| problem(text, None, e as &dyn Diagnostic))
                    .collect(),
            )
        })?;

        let mut problems = Vec::new();
        for template in parsed.templates() {
            problems.push(Problem {
                policy: Some(
                    template
                        .annotation("id")
                        .map_or_else(|| template.id().to_string(), str::to_owned),
                ),
                at: None,
                message: "a template (a policy with ?principal or ?resource) is never linked by \
                          Portcullis, so it would be unattached: name the entity in the policy \
                          instead"
                    .to_owned(),
            });
        }
        let mut policies = PolicySet::new();
        let mut ids = Vec::new();
        for policy in parsed.policies() {
            let id = policy
                .annotation("id")
                .map_or_else(|| policy.id().to_string(), str::to_owned);
            if policy.effect() == Effect::Permit {
                problems.push(Problem {
                    policy: Some(id.clone()),
                    at: None,
                    message: "a permit: conditions can only forbid (roles grant, and a condition \
                              takes away); write it as a forbid, or grant a role"
                        .to_owned(),
                });
            }
            if id == PERMIT_ID || ids.contains(&id) {
                problems.push(Problem {
                    policy: Some(id.clone()),
                    at: None,
                    message: "this id is used twice (or is Portcullis's own)".to_owned(),
                });
                continue;
            }
            if let Err(e) = policies.add(policy.new_id(PolicyId::new(&id))) {
                problems.push(Problem {
                    policy: Some(id.clone()),
                    at: None,
                    message: e.to_string(),
                });
            }
            ids.push(id);
        }
        let validation = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        for error in validation.validation_errors() {
            let id = error.policy_id().to_string();
            let mut found = problem(text, Some(id.clone()), error as &dyn Diagnostic);
            // Cedar starts its messages with the policy, which the problem already names.
            if let Some(rest) = found.message.strip_prefix(&format!("for policy `{id}`, ")) {
                found.message = rest.to_owned();
            }
            problems.push(found);
        }
        if !problems.is_empty() {
            return Err(invalid(file, problems));
        }
        let permit = cedar_policy::Policy::parse(
            Some(PolicyId::new(PERMIT_ID)),
            "permit (principal, action, resource);",
        )
        .map_err(|e| internal(e.to_string()))?;
        policies.add(permit).map_err(|e| internal(e.to_string()))?;
        let actions = schema
            .actions()
            .map(|action| action.id().unescaped().to_owned())
            .collect();
        Ok(Engine {
            policies,
            actions,
            now: std::sync::Mutex::new(None),
            schema,
            ids,
            types,
            authorizer: Authorizer::new(),
        })
    }

    pub(super) fn ids(&self) -> &[String] {
        &self.ids
    }

    pub(super) fn evaluate(&self, request: &Request<'_>) -> Outcome {
        let (cedar_request, entities) = match self.describe(request) {
            Ok(described) => described,
            Err(error) => {
                return Outcome::Failed {
                    policy: None,
                    error,
                };
            }
        };
        let response = self
            .authorizer
            .is_authorized(&cedar_request, &self.policies, &entities);
        let diagnostics = response.diagnostics();
        if let Some(cedar_policy::AuthorizationError::PolicyEvaluationError(error)) =
            diagnostics.errors().next()
        {
            return Outcome::Failed {
                policy: Some(error.policy_id().to_string()),
                error: error.inner().to_string(),
            };
        }
        match response.decision() {
            Decision::Allow => Outcome::Pass,
            Decision::Deny => match diagnostics.reason().map(ToString::to_string).min() {
                Some(id) => Outcome::Forbidden(id),
                None => Outcome::Failed {
                    policy: None,
                    error: "denied with no policy named".to_owned(),
                },
            },
        }
    }

    /// `now` as a Cedar `datetime`, built once per second.
    fn datetime(&self, now: time::OffsetDateTime) -> Result<RestrictedExpression, String> {
        let second = now.unix_timestamp();
        if let Ok(last) = self.now.lock()
            && let Some((at, expression)) = last.as_ref()
            && *at == second
        {
            return Ok(expression.clone());
        }
        let stamp = now
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| e.to_string())?;
        let expression = RestrictedExpression::new_datetime(stamp);
        if let Ok(mut last) = self.now.lock() {
            *last = Some((second, expression.clone()));
        }
        Ok(expression)
    }

    fn uid(&self, kind: &EntityTypeName, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(kind.clone(), EntityId::new(id))
    }

    /// The Cedar request and entities for `request`, checked against the schema.
    fn describe(&self, request: &Request<'_>) -> Result<(cedar_policy::Request, Entities), String> {
        let string = |s: &str| RestrictedExpression::new_string(s.to_owned());
        let strings =
            |items: &[String]| RestrictedExpression::new_set(items.iter().map(|s| string(s)));
        let caller = &request.caller;
        let mut attributes = vec![
            ("subject".to_owned(), string(caller.subject)),
            ("validator".to_owned(), string(caller.validator)),
            (
                "service".to_owned(),
                RestrictedExpression::new_bool(caller.service),
            ),
            (
                "email_verified".to_owned(),
                RestrictedExpression::new_bool(caller.email_verified),
            ),
            ("groups".to_owned(), strings(caller.groups)),
            ("scopes".to_owned(), strings(caller.scopes)),
            ("amr".to_owned(), strings(caller.amr)),
        ];
        for (name, value) in [
            ("tenant", caller.tenant),
            ("email", caller.email),
            ("name", caller.name),
            ("login", caller.login),
            ("client_id", caller.client_id),
        ] {
            if let Some(value) = value {
                attributes.push((name.to_owned(), string(value)));
            }
        }
        let principal = self.uid(&self.types.caller, caller.subject);
        let upstream = self.uid(&self.types.upstream, request.upstream);
        let mut entities = vec![
            Entity::new_with_tags(principal.clone(), attributes, [], [])
                .map_err(|e| e.to_string())?,
            Entity::new_with_tags(
                upstream.clone(),
                [("name".to_owned(), string(request.upstream))],
                [],
                [],
            )
            .map_err(|e| e.to_string())?,
        ];

        let target = |kind: &EntityTypeName, key: &str| match request.target {
            Some(target) => Ok((kind.clone(), key.to_owned(), target)),
            None => Err(format!("{} names nothing", request.method)),
        };
        let resource = match request.method {
            "tools/call" => Some(target(&self.types.tool, "name")?),
            "prompts/get" => Some(target(&self.types.prompt, "name")?),
            "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
                Some(target(&self.types.resource, "uri")?)
            }
            _ => None,
        };
        let resource = match resource {
            Some((kind, key, target)) => {
                let uid = self.uid(&kind, target);
                entities.push(
                    Entity::new_with_tags(
                        uid.clone(),
                        [
                            (key, string(target)),
                            ("upstream".to_owned(), string(request.upstream)),
                        ],
                        [upstream.clone()],
                        [],
                    )
                    .map_err(|e| e.to_string())?,
                );
                uid
            }
            None => upstream,
        };

        let arguments = Arguments::read(request.arguments)?;
        // An argument entity without tags is left out of the store: `hasTag` on it is false all
        // the same, and every entity less is less work for Cedar's hierarchy computation.
        let mut tagged = |kind: &EntityTypeName, tags: Vec<(String, RestrictedExpression)>| {
            let uid = self.uid(kind, "request");
            if !tags.is_empty() {
                entities.push(
                    Entity::new_with_tags(uid.clone(), [], [], tags).map_err(|e| e.to_string())?,
                );
            }
            Ok::<_, String>(uid)
        };
        let strings_uid = tagged(&self.types.arguments, arguments.strings)?;
        let longs_uid = tagged(&self.types.long_arguments, arguments.longs)?;
        let bools_uid = tagged(&self.types.bool_arguments, arguments.bools)?;

        let now = time::OffsetDateTime::from_unix_timestamp(request.now)
            .map_err(|e| format!("the time {}: {e}", request.now))?;
        let stamp = self.datetime(now)?;
        let mut context = vec![
            ("now".to_owned(), stamp),
            (
                "unix_time".to_owned(),
                RestrictedExpression::new_long(request.now),
            ),
            (
                "hour".to_owned(),
                RestrictedExpression::new_long(i64::from(now.hour())),
            ),
            (
                "weekday".to_owned(),
                RestrictedExpression::new_long(i64::from(now.weekday().number_from_monday())),
            ),
            (
                "argument_names".to_owned(),
                RestrictedExpression::new_set(
                    arguments
                        .names
                        .into_iter()
                        .map(RestrictedExpression::new_string),
                ),
            ),
            (
                "arguments".to_owned(),
                RestrictedExpression::new_entity_uid(strings_uid),
            ),
            (
                "long_arguments".to_owned(),
                RestrictedExpression::new_entity_uid(longs_uid),
            ),
            (
                "bool_arguments".to_owned(),
                RestrictedExpression::new_entity_uid(bools_uid),
            ),
        ];
        if let (Some(hints), "tools/call") = (request.hints, request.method) {
            let annotations = RestrictedExpression::new_record([
                (
                    "readOnlyHint".to_owned(),
                    RestrictedExpression::new_bool(hints.read_only),
                ),
                (
                    "destructiveHint".to_owned(),
                    RestrictedExpression::new_bool(!hints.non_destructive),
                ),
            ])
            .map_err(|e| e.to_string())?;
            context.push(("annotations".to_owned(), annotations));
        }

        let action = self.uid(&self.types.action, request.method);
        let context = Context::from_pairs(context).map_err(|e| e.to_string())?;
        // The request and entities are built here alone, in shapes the tests check against the
        // schema (debug builds); release builds skip those checks, which cost several times the
        // evaluation (the context's type rebuilt, the schema's actions copied into every
        // request's entities). A method the schema lacks is refused in both: no policy can
        // name it.
        if !self.actions.contains(request.method) {
            return Err(format!("{} is not an action of the schema", request.method));
        }
        let schema = cfg!(debug_assertions).then_some(&self.schema);
        let cedar_request =
            cedar_policy::Request::new(principal, action, resource, context, schema)
                .map_err(|e| e.to_string())?;
        let entities = Entities::from_entities(entities, schema).map_err(|e| e.to_string())?;
        Ok((cedar_request, entities))
    }
}

/// A request's arguments as Cedar tags, by the JSON type of their values.
#[derive(Debug, Default)]
struct Arguments {
    names: Vec<String>,
    strings: Vec<(String, RestrictedExpression)>,
    longs: Vec<(String, RestrictedExpression)>,
    bools: Vec<(String, RestrictedExpression)>,
}

impl Arguments {
    /// Reads `params.arguments`: an object (or absent, or `null`); anything else fails. Values
    /// that are neither strings, integers that fit an `i64`, nor booleans are only named.
    fn read(raw: Option<&str>) -> Result<Arguments, String> {
        let mut arguments = Arguments::default();
        let Some(raw) = raw else {
            return Ok(arguments);
        };
        let object = match serde_json::from_str::<Value>(raw) {
            Ok(Value::Object(object)) => object,
            Ok(Value::Null) => return Ok(arguments),
            Ok(_) => return Err("the arguments are not an object".to_owned()),
            Err(e) => return Err(format!("the arguments: {e}")),
        };
        for (name, value) in object {
            match value {
                Value::String(s) => arguments
                    .strings
                    .push((name.clone(), RestrictedExpression::new_string(s))),
                Value::Bool(b) => arguments
                    .bools
                    .push((name.clone(), RestrictedExpression::new_bool(b))),
                Value::Number(n) => {
                    if let Some(n) = n.as_i64() {
                        arguments
                            .longs
                            .push((name.clone(), RestrictedExpression::new_long(n)));
                    }
                }
                Value::Null | Value::Array(_) | Value::Object(_) => {}
            }
            arguments.names.push(name);
        }
        Ok(arguments)
    }
}
