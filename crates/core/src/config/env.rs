//! Environment overrides: `PORTCULLIS_<SECTION>__<KEY>`, typed by the key reference.

use super::ENV_PREFIX;
use super::error::{ConfigError, ConfigProblem};
use super::reference::{self, Kind};

/// Applies every `PORTCULLIS_…__…` variable to `table`. Variables without `__` (such as
/// `PORTCULLIS_CONFIG`) are not overrides and are left alone.
pub(super) fn apply_overrides<I, K, V>(table: &mut toml::Table, env: I) -> Result<(), ConfigError>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut problems = Vec::new();
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter_map(|(k, v)| {
            let k = k.as_ref();
            let rest = k.strip_prefix(ENV_PREFIX)?;
            rest.contains("__")
                .then(|| (k.to_owned(), v.as_ref().to_owned()))
        })
        .collect();
    // Sorted so that the outcome never depends on the order of the process environment.
    vars.sort();
    for (name, value) in vars {
        if let Err(problem) = apply_one(table, &name, &value) {
            problems.push(ConfigProblem { key: name, problem });
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError { problems })
    }
}

fn apply_one(table: &mut toml::Table, name: &str, value: &str) -> Result<(), String> {
    let rest = name.get(ENV_PREFIX.len()..).unwrap_or_default();
    let parts: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
    match parts.as_slice() {
        [section, key] => {
            let path = format!("{section}.{key}");
            let Some(spec) = reference::find(&path) else {
                return Err(format!("no configuration key `{path}`"));
            };
            let value = parse(spec.kind, value)?;
            let entry = table
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let Some(section_table) = entry.as_table_mut() else {
                return Err(format!("`{section}` is not a table"));
            };
            section_table.insert(key.clone(), value);
            Ok(())
        }
        [section, selector, key] => {
            let path = format!("{section}[].{key}");
            let Some(spec) = reference::find(&path) else {
                return Err(format!("no configuration key `{path}`"));
            };
            let value = parse(spec.kind, value)?;
            let Some(entries) = table
                .get_mut(section.as_str())
                .and_then(|v| v.as_array_mut())
            else {
                return Err(format!("there is no `[[{section}]]` entry to override"));
            };
            let entry = select(entries, selector).ok_or_else(|| {
                format!("no `[[{section}]]` entry named or numbered `{selector}`")
            })?;
            let Some(entry) = entry.as_table_mut() else {
                return Err(format!("`[[{section}]]` entries must be tables"));
            };
            entry.insert(key.clone(), value);
            Ok(())
        }
        _ => Err(
            "expected PORTCULLIS_<SECTION>__<KEY> or PORTCULLIS_<SECTION>__<NAME>__<KEY>"
                .to_owned(),
        ),
    }
}

/// Finds an array-of-tables entry by position or by name (compared upper-cased, `-` as `_`).
fn select<'a>(entries: &'a mut [toml::Value], selector: &str) -> Option<&'a mut toml::Value> {
    if let Ok(index) = selector.parse::<usize>() {
        return entries.get_mut(index);
    }
    // Upstreams have a `name`, validators an `id`, clients a `client_id`.
    entries.iter_mut().find(|entry| {
        ["name", "id", "client_id"].iter().any(|field| {
            entry
                .get(field)
                .and_then(|n| n.as_str())
                .is_some_and(|n| n.replace('-', "_").eq_ignore_ascii_case(selector))
        })
    })
}

fn parse(kind: Kind, raw: &str) -> Result<toml::Value, String> {
    match kind {
        Kind::String | Kind::Duration | Kind::Enum(_) => Ok(toml::Value::String(raw.to_owned())),
        Kind::Integer => raw
            .trim()
            .parse::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| format!("expected an integer, got {raw:?}")),
        Kind::Float => raw
            .trim()
            .parse::<f64>()
            .map(toml::Value::Float)
            .map_err(|_| format!("expected a number, got {raw:?}")),
        Kind::Bool => match raw.trim() {
            "true" | "1" => Ok(toml::Value::Boolean(true)),
            "false" | "0" => Ok(toml::Value::Boolean(false)),
            _ => Err(format!("expected true or false, got {raw:?}")),
        },
        Kind::StringList | Kind::StringMap => {
            let doc: toml::Table = format!("v = {raw}").parse().map_err(|_| {
                format!(
                    "expected a TOML {}, got {raw:?}",
                    if kind == Kind::StringList {
                        "array such as [\"a\", \"b\"]"
                    } else {
                        "inline table such as { A = \"b\" }"
                    }
                )
            })?;
            doc.get("v")
                .cloned()
                .ok_or_else(|| "empty value".to_owned())
        }
    }
}
