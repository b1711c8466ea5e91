//! The edge of parsing, which a first reading can skip: refusing frames
//! nested too deep before serde recurses into them, and working out which
//! error code a refused frame earns and which field is wrong, so that the
//! page (or a person with a WebSocket client) is told exactly what to fix.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::wire::{ErrorCode, Rejection, Request};

/// The deepest nesting of `[` and `{` in `text`, ignoring brackets in strings.
/// A linear scan, so deep input is refused before any recursive parse.
pub(super) fn nesting_depth(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Work out which error code a refused frame deserves, and which field is
/// wrong. Everything it knows about requests comes from serde's errors, so a
/// field or a request type added to [`Request`] is classified with no change
/// here. Only runs on the failure path, so parsing again costs nothing in
/// normal operation.
pub(super) fn classify(text: &str, err: &serde_json::Error) -> Rejection {
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(err) => return Rejection::new(ErrorCode::BadJson, format!("invalid JSON: {err}")),
    };
    let (Some(object), Some(kind)) = (value.as_object(), value["type"].as_str()) else {
        return Rejection::new(
            ErrorCode::BadRequest,
            "expected a JSON object with a string \"type\" field",
        );
    };
    // The type alone: serde says "unknown variant `dance`, expected one of
    // `join`, `leave`, ..." when it does not know it.
    if let Err(unknown) = Request::deserialize(&single(kind, None)) {
        let unknown = unknown.to_string();
        if unknown.starts_with("unknown variant") {
            return Rejection::new(
                ErrorCode::UnknownType,
                format!("unknown type {kind:?}; expected {}", known_types(&unknown)),
            );
        }
    }
    let problem = match Request::deserialize(&value) {
        Err(problem) => field_problem(kind, object, &problem.to_string()),
        // The text had something the `Value` lost: a field given twice.
        Ok(_) => None,
    };
    Rejection::new(
        ErrorCode::BadField,
        problem.unwrap_or_else(|| format!("bad field: {err}")),
    )
}

/// `{"type": kind}`, with one more field when `field` is given.
fn single(kind: &str, field: Option<(&String, &Value)>) -> Value {
    let mut object = Map::new();
    object.insert("type".into(), kind.into());
    if let Some((name, value)) = field {
        object.insert(name.clone(), value.clone());
    }
    Value::Object(object)
}

/// The list at the end of serde's "unknown variant" error, in words:
/// "join, leave, message, typing or history".
fn known_types(unknown: &str) -> String {
    let list = unknown.rsplit(", expected ").next().unwrap_or_default();
    let names: Vec<&str> = list
        .trim_start_matches("one of ")
        .split(", ")
        .map(|name| name.trim_matches('`'))
        .collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

/// Which field is missing or of the wrong type, in words. serde names a
/// missing field itself ("missing field `room`"), but not the field whose
/// value is wrong ("invalid type: integer `5`, expected a string"). That
/// field is found by giving serde each field of the frame alone: the one that
/// earns the very same complaint is it. Each field is tried once, on its own,
/// so this stays linear in the size of the frame.
fn field_problem(kind: &str, object: &Map<String, Value>, problem: &str) -> Option<String> {
    if let Some(name) = problem
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        return Some(format!("missing field \"{name}\""));
    }
    let (found, expected) = problem.rsplit_once(", expected ")?;
    let found = found
        .strip_prefix("invalid type: ")
        .or_else(|| found.strip_prefix("invalid value: "))?;
    let (name, _) = object
        .iter()
        .filter(|(name, _)| *name != "type")
        .find(|&field| {
            Request::deserialize(&single(kind, Some(field)))
                .is_err_and(|alone| alone.to_string() == problem)
        })?;
    let expected = match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number",
        other => other,
    };
    Some(format!(
        "field \"{name}\" must be {expected} (found {found})"
    ))
}
