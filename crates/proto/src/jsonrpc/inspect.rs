//! The single-pass validating reader behind [`inspect`].

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Limits applied while reading a message.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The deepest nesting of arrays and objects accepted; the envelope object is depth 1.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_depth: 64 }
    }
}

/// What kind of JSON-RPC message this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Request,
    Notification,
    /// A response (`result` or `error`) sent by a client to a server's request.
    Response,
}

/// What the gateway needs to know about one message, borrowed from the body it was read from
/// (strings are copied only when they contain escapes).
#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub kind: Kind,
    /// The `id`, exactly as written (a string or a number); absent for notifications.
    pub id: Option<&'a RawValue>,
    pub method: Option<Cow<'a, str>>,
    /// `params.name`, when it is a string (tools/call, prompts/get).
    pub name: Option<Cow<'a, str>>,
    /// `params.uri`, when it is a string (resources/read, resources/subscribe).
    pub uri: Option<Cow<'a, str>>,
    /// `params.protocolVersion` (the version an `initialize` request asks for).
    pub requested_version: Option<Cow<'a, str>>,
    /// `params._meta["io.modelcontextprotocol/protocolVersion"]` (2026-07-28 requests).
    pub meta_version: Option<Cow<'a, str>>,
    /// `params._meta.progressToken`, exactly as written.
    pub progress_token: Option<&'a RawValue>,
    /// `params.arguments`, exactly as written (checked like the rest of the body: depth and
    /// repeated keys), for conditions on a request's arguments.
    pub arguments: Option<&'a RawValue>,
}

impl Message<'_> {
    /// The target of the request as `Mcp-Name` mirrors it, for the methods that have one.
    pub fn target(&self) -> Option<&str> {
        match crate::mcp::name_field(self.method.as_deref()?)? {
            crate::mcp::NameField::Name => self.name.as_deref(),
            crate::mcp::NameField::Uri => self.uri.as_deref(),
        }
    }
}

/// A request body: one message, or a batch (only valid before 2025-06-18).
#[derive(Debug, Clone)]
pub enum Body<'a> {
    Single(Message<'a>),
    Batch(Vec<Message<'a>>),
}

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectError {
    /// Not JSON, too deep, or an object with a repeated key: JSON-RPC -32700.
    #[error("{0}")]
    Parse(String),
    /// JSON, but not a valid JSON-RPC message: JSON-RPC -32600.
    #[error("{0}")]
    InvalidRequest(String),
}

impl InspectError {
    /// The JSON-RPC error code for this problem.
    pub fn code(&self) -> i64 {
        match self {
            InspectError::Parse(_) => crate::mcp::code::PARSE_ERROR,
            InspectError::InvalidRequest(_) => crate::mcp::code::INVALID_REQUEST,
        }
    }
}

// Errors raised inside the visitors carry a marker so that envelope problems (-32600) can be
// told apart from syntax problems (-32700) after serde_json wraps them.
const INVALID_MARK: &str = "\u{1}invalid:";

fn invalid<E: de::Error>(msg: impl fmt::Display) -> E {
    E::custom(format_args!("{INVALID_MARK}{msg}"))
}

/// Implements the scalar and array visits of a visitor that only accepts objects.
macro_rules! only_objects {
    ($ty:ty, $msg:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<$ty, E> {
            Err(invalid($msg))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<$ty, E> {
            Err(invalid($msg))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<$ty, E> {
            Err(invalid($msg))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<$ty, E> {
            Err(invalid($msg))
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<$ty, E> {
            Err(invalid($msg))
        }
        fn visit_unit<E: de::Error>(self) -> Result<$ty, E> {
            Err(invalid($msg))
        }
    };
}

/// Reads `bytes` as a JSON-RPC message or batch, enforcing `limits`.
pub fn inspect(bytes: &[u8], limits: Limits) -> Result<Body<'_>, InspectError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let body = Top { limits }
        .deserialize(&mut de)
        .and_then(|b| de.end().map(|()| b));
    body.map_err(|e| {
        let text = e.to_string();
        match text.find(INVALID_MARK) {
            Some(at) => {
                let rest = text.get(at + INVALID_MARK.len()..).unwrap_or_default();
                // Drop serde_json's " at line 1 column N" suffix: positions mean little here.
                let msg = rest.rsplit_once(" at line ").map_or(rest, |(m, _)| m);
                InspectError::InvalidRequest(msg.to_owned())
            }
            None => InspectError::Parse(format!("invalid JSON: {text}")),
        }
    })
}

struct Top {
    limits: Limits,
}

impl<'de> DeserializeSeed<'de> for Top {
    type Value = Body<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Body<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Top {
    type Value = Body<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC message object or a batch array")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Body<'de>, A::Error> {
        MessageVisitor {
            limits: self.limits,
        }
        .visit_map(map)
        .map(Body::Single)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Body<'de>, A::Error> {
        let mut messages = Vec::new();
        while let Some(m) = seq.next_element_seed(MessageSeed {
            limits: self.limits,
        })? {
            messages.push(m);
        }
        if messages.is_empty() {
            return Err(invalid("an empty batch is not a valid request"));
        }
        Ok(Body::Batch(messages))
    }
    only_objects!(Body<'de>, "the body must be a JSON-RPC message object");
}

struct MessageSeed {
    limits: Limits,
}

impl<'de> DeserializeSeed<'de> for MessageSeed {
    type Value = Message<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Message<'de>, D::Error> {
        d.deserialize_any(MessageVisitor {
            limits: self.limits,
        })
    }
}

struct MessageVisitor {
    limits: Limits,
}

impl<'de> Visitor<'de> for MessageVisitor {
    type Value = Message<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC message object")
    }

    only_objects!(
        Message<'de>,
        "each batch element must be a JSON-RPC message object"
    );

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Message<'de>, A::Error> {
        Err(invalid("batches cannot be nested"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Message<'de>, A::Error> {
        let depth = 1;
        let mut keys = KeySet::default();
        let mut jsonrpc: Option<Cow<'de, str>> = None;
        let mut id: Option<&'de RawValue> = None;
        let mut method: Option<Cow<'de, str>> = None;
        let mut params = Params::default();
        let (mut has_result, mut has_error) = (false, false);
        while let Some(key) = map.next_key::<Key<'de>>()? {
            keys.insert::<A::Error>(&key.0)?;
            match key.0.as_ref() {
                "jsonrpc" => jsonrpc = Some(map.next_value::<Key<'de>>()?.0),
                "id" => {
                    let raw: &'de RawValue = map.next_value()?;
                    let text = raw.get();
                    let ok = text.starts_with('"')
                        || text.starts_with('-')
                        || text.starts_with(|c: char| c.is_ascii_digit());
                    if !ok {
                        return Err(invalid("the id must be a string or a number"));
                    }
                    id = Some(raw);
                }
                "method" => match map.next_value_seed(MaybeString {
                    depth: depth + 1,
                    limits: self.limits,
                })? {
                    Some(m) => method = Some(m),
                    None => return Err(invalid("the method must be a string")),
                },
                "params" => {
                    params = map.next_value_seed(ParamsSeed {
                        depth: depth + 1,
                        limits: self.limits,
                    })?
                }
                "result" => {
                    has_result = true;
                    map.next_value_seed(Walk {
                        depth: depth + 1,
                        limits: self.limits,
                    })?;
                }
                "error" => {
                    has_error = true;
                    map.next_value_seed(Walk {
                        depth: depth + 1,
                        limits: self.limits,
                    })?;
                }
                _ => map.next_value_seed(Walk {
                    depth: depth + 1,
                    limits: self.limits,
                })?,
            }
        }
        if jsonrpc.as_deref() != Some("2.0") {
            return Err(invalid("the jsonrpc member must be \"2.0\""));
        }
        let kind = match (&method, &id, has_result || has_error) {
            (Some(_), Some(_), false) => Kind::Request,
            (Some(_), None, false) => Kind::Notification,
            (None, Some(_), true) if has_result != has_error => Kind::Response,
            (None, _, true) => {
                return Err(invalid(
                    "a response needs an id and exactly one of result or error",
                ));
            }
            _ => {
                return Err(invalid(
                    "a message needs a method (request or notification) or a result or error (response)",
                ));
            }
        };
        Ok(Message {
            kind,
            id,
            method,
            name: params.name,
            uri: params.uri,
            requested_version: params.protocol_version,
            meta_version: params.meta_version,
            progress_token: params.progress_token,
            arguments: params.arguments,
        })
    }
}

#[derive(Default)]
struct Params<'de> {
    name: Option<Cow<'de, str>>,
    uri: Option<Cow<'de, str>>,
    protocol_version: Option<Cow<'de, str>>,
    meta_version: Option<Cow<'de, str>>,
    progress_token: Option<&'de RawValue>,
    arguments: Option<&'de RawValue>,
}

struct ParamsSeed {
    depth: usize,
    limits: Limits,
}

impl<'de> DeserializeSeed<'de> for ParamsSeed {
    type Value = Params<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Params<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ParamsSeed {
    type Value = Params<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("params as an object or an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Params<'de>, A::Error> {
        Walk {
            depth: self.depth,
            limits: self.limits,
        }
        .visit_seq(seq)?;
        Ok(Params::default())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Params<'de>, A::Error> {
        check_depth::<A::Error>(self.depth, self.limits)?;
        let mut keys = KeySet::default();
        let mut params = Params::default();
        let inner = MaybeString {
            depth: self.depth + 1,
            limits: self.limits,
        };
        while let Some(key) = map.next_key::<Key<'de>>()? {
            keys.insert::<A::Error>(&key.0)?;
            match key.0.as_ref() {
                "name" => params.name = map.next_value_seed(inner)?,
                "uri" => params.uri = map.next_value_seed(inner)?,
                "protocolVersion" => params.protocol_version = map.next_value_seed(inner)?,
                "arguments" => {
                    let raw: &'de RawValue = map.next_value()?;
                    walk_raw::<A::Error>(raw, self.depth + 1, self.limits)?;
                    params.arguments = Some(raw);
                }
                "_meta" => {
                    let meta = map.next_value_seed(MetaSeed {
                        depth: self.depth + 1,
                        limits: self.limits,
                    })?;
                    params.meta_version = meta.0;
                    params.progress_token = meta.1;
                }
                _ => map.next_value_seed(Walk {
                    depth: self.depth + 1,
                    limits: self.limits,
                })?,
            }
        }
        Ok(params)
    }
    only_objects!(Params<'de>, "params must be an object or an array");
}

struct MetaSeed {
    depth: usize,
    limits: Limits,
}

/// What `_meta` says: the protocol version and the progress token.
type Meta<'de> = (Option<Cow<'de, str>>, Option<&'de RawValue>);

impl<'de> DeserializeSeed<'de> for MetaSeed {
    type Value = Meta<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MetaSeed {
    type Value = Meta<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("_meta as an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        check_depth::<A::Error>(self.depth, self.limits)?;
        let mut keys = KeySet::default();
        let mut out = (None, None);
        while let Some(key) = map.next_key::<Key<'de>>()? {
            keys.insert::<A::Error>(&key.0)?;
            match key.0.as_ref() {
                crate::mcp::META_PROTOCOL_VERSION => {
                    out.0 = map.next_value_seed(MaybeString {
                        depth: self.depth + 1,
                        limits: self.limits,
                    })?;
                }
                "progressToken" => {
                    let raw: &'de RawValue = map.next_value()?;
                    let text = raw.get();
                    if !(text.starts_with('"')
                        || text.starts_with('-')
                        || text.starts_with(|c: char| c.is_ascii_digit()))
                    {
                        return Err(invalid("a progressToken must be a string or a number"));
                    }
                    out.1 = Some(raw);
                }
                _ => map.next_value_seed(Walk {
                    depth: self.depth + 1,
                    limits: self.limits,
                })?,
            }
        }
        Ok(out)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Walk {
            depth: self.depth,
            limits: self.limits,
        }
        .visit_seq(seq)?;
        Err(invalid("_meta must be an object"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok((None, None))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(invalid("_meta must be an object"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(invalid("_meta must be an object"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(invalid("_meta must be an object"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(invalid("_meta must be an object"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(invalid("_meta must be an object"))
    }
}

/// Captures a string value; any other value is validated and yields `None`.
#[derive(Clone, Copy)]
struct MaybeString {
    depth: usize,
    limits: Limits,
}

/// A captured string: borrowed from the input unless it contained escapes.
type MaybeStr<'de> = Option<Cow<'de, str>>;

impl<'de> DeserializeSeed<'de> for MaybeString {
    type Value = MaybeStr<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<MaybeStr<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MaybeString {
    type Value = MaybeStr<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<MaybeStr<'de>, E> {
        Ok(Some(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<MaybeStr<'de>, E> {
        Ok(Some(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<MaybeStr<'de>, E> {
        Ok(Some(Cow::Owned(v)))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<MaybeStr<'de>, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<MaybeStr<'de>, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<MaybeStr<'de>, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<MaybeStr<'de>, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<MaybeStr<'de>, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<MaybeStr<'de>, A::Error> {
        Walk {
            depth: self.depth,
            limits: self.limits,
        }
        .visit_seq(seq)
        .map(|()| None)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<MaybeStr<'de>, A::Error> {
        Walk {
            depth: self.depth,
            limits: self.limits,
        }
        .visit_map(map)
        .map(|()| None)
    }
}

/// Validates any value: depth within the limit and no duplicate keys in any object.
#[derive(Clone, Copy)]
struct Walk {
    depth: usize,
    limits: Limits,
}

/// Checks a value kept as written (`params.arguments`) as `Walk` checks the rest: a second pass
/// over its text alone.
fn walk_raw<E: de::Error>(raw: &RawValue, depth: usize, limits: Limits) -> Result<(), E> {
    let mut de = serde_json::Deserializer::from_str(raw.get());
    Walk { depth, limits }.deserialize(&mut de).map_err(|e| {
        let text = e.to_string();
        // Positions are relative to the value, not the body: drop them.
        E::custom(
            text.rsplit_once(" at line ")
                .map_or(text.as_str(), |(m, _)| m),
        )
    })
}

fn check_depth<E: de::Error>(depth: usize, limits: Limits) -> Result<(), E> {
    if depth > limits.max_depth {
        Err(E::custom(format_args!(
            "nesting deeper than {} levels",
            limits.max_depth
        )))
    } else {
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Walk {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        check_depth::<A::Error>(self.depth, self.limits)?;
        let inner = Walk {
            depth: self.depth + 1,
            limits: self.limits,
        };
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        check_depth::<A::Error>(self.depth, self.limits)?;
        let inner = Walk {
            depth: self.depth + 1,
            limits: self.limits,
        };
        let mut keys = KeySet::default();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            keys.insert::<A::Error>(&key.0)?;
            map.next_value_seed(inner)?;
        }
        Ok(())
    }
}

/// An object key, borrowed from the input unless it contained escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Key<'de>, E> {
                Err(invalid("the jsonrpc member must be \"2.0\""))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Key<'de>, E> {
                Err(invalid("the jsonrpc member must be \"2.0\""))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Key<'de>, E> {
                Err(invalid("the jsonrpc member must be \"2.0\""))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Key<'de>, E> {
                Err(invalid("the jsonrpc member must be \"2.0\""))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Key<'de>, E> {
                Err(invalid("the jsonrpc member must be \"2.0\""))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Key<'de>, A::Error> {
                Err(invalid("the jsonrpc member must be \"2.0\""))
            }
            fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Key<'de>, A::Error> {
                Err(invalid("the jsonrpc member must be \"2.0\""))
            }
        }
        d.deserialize_str(V)
    }
}

/// How many keys of one object are kept inline, compared one by one, before they move to a
/// hash set. Objects of JSON-RPC messages are small: the envelope, `params`, `_meta`, arguments.
const INLINE_KEYS: usize = 8;

/// The keys seen in one object: a short list on the stack (so a typical message is checked
/// without allocating), switching to a hash set for large objects so a hostile object with many
/// keys costs linear time, not quadratic.
#[derive(Default)]
struct KeySet<'a> {
    small: [Option<Cow<'a, str>>; INLINE_KEYS],
    len: usize,
    large: Option<std::collections::HashSet<Cow<'a, str>>>,
}

impl<'a> KeySet<'a> {
    // A `&Cow` rather than `&str`: cloning it keeps a borrowed key borrowed.
    #[allow(clippy::ptr_arg)]
    fn insert<E: de::Error>(&mut self, key: &Cow<'a, str>) -> Result<(), E> {
        let fresh = match &mut self.large {
            Some(set) => set.insert(key.clone()),
            None => {
                if self.small.iter().flatten().any(|k| k == key) {
                    false
                } else if let Some(slot) = self.small.get_mut(self.len) {
                    *slot = Some(key.clone());
                    self.len += 1;
                    true
                } else {
                    let mut set: std::collections::HashSet<_> =
                        self.small.iter_mut().filter_map(Option::take).collect();
                    set.insert(key.clone());
                    self.large = Some(set);
                    true
                }
            }
        };
        if fresh {
            Ok(())
        } else {
            Err(E::custom(format_args!(
                "duplicate object key {:?}",
                key.as_ref()
            )))
        }
    }
}
